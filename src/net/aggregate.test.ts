import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Addr, BOTH_FAMILIES, Cidr } from './addr.ts';
import {
  Aggregates,
  hostGroup,
  soleHostGroups,
  sortByPrefix,
  type GroupTree,
} from './aggregate.ts';

/** A group holds 0 to 3 hosts (0: padding) or 1 to 3 groups. */
type Shape = { hosts: number } | { kids: Shape[] };

function shapeArb(depth: number): fc.Arbitrary<Shape> {
  const leaf = fc.integer({ min: 0, max: 3 }).map((hosts): Shape => ({ hosts }));
  if (depth === 0) return leaf;
  const group = fc
    .array(shapeArb(depth - 1), { minLength: 1, maxLength: 3 })
    .map((kids): Shape => ({ kids }));
  return fc.oneof({ weight: 1, arbitrary: leaf }, { weight: 2, arbitrary: group });
}

/** Carves each group a quarter-nibble deeper than its parent, as the topology carver would. */
function build(shape: Shape, cidr: Cidr, next: { host: number; group: number }): GroupTree {
  const name = `g${next.group++}`;
  if ('hosts' in shape) {
    const groups = Array.from({ length: shape.hosts }, () => ({
      name: `h${next.host}`,
      ip: `192.168.0.${++next.host}`,
    }));
    return { name, cidr: cidr.toString(), groups };
  }
  const groups = shape.kids.map((k, i) => build(k, cidr.subnet(cidr.prefix + 4, i), next));
  return { name, cidr: cidr.toString(), groups };
}

/** Distinct hosts below a node, counted the plain way. */
function hostsBelow(e: GroupTree): Set<string> {
  if (e.ip !== undefined) return new Set([e.name!]);
  return new Set((e.groups ?? []).flatMap((g) => [...hostsBelow(g)]));
}

/** Every group with one host whose ancestors (with a CIDR) all hold other hosts too. */
function oracle(roots: GroupTree[]): string[] {
  const out: string[] = [];
  const walk = (e: GroupTree, ancestorSole: boolean) => {
    if (e.ip !== undefined) return;
    const sole = hostsBelow(e).size === 1;
    if (sole && !ancestorSole) out.push(`${e.cidr} ${[...hostsBelow(e)][0]}`);
    for (const g of e.groups ?? []) walk(g, ancestorSole || sole);
  };
  roots.forEach((r) => walk(r, false));
  return out.sort();
}

describe('soleHostGroups', () => {
  it('does not route whole a group whose single child group holds several hosts', () => {
    const tree: GroupTree = {
      name: 'zone',
      cidr: '10.0.0.0/16',
      groups: [
        {
          name: 'rack',
          cidr: '10.0.0.0/20',
          groups: [
            { name: 'h1', ip: '192.168.0.1' },
            { name: 'h2', ip: '192.168.0.2' },
          ],
        },
      ],
    };
    assert.deepEqual(soleHostGroups([tree]), []);
  });

  it('routes nothing for a group without a CIDR, and names a group by its CIDR when it has no name', () => {
    const roots: GroupTree[] = [
      { name: 'uncarved', groups: [{ name: 'h1', ip: '192.168.0.1' }] },
      { cidr: '10.0.64.0/18', groups: [{ name: 'h2', ip: '192.168.0.2' }] },
      { name: '', cidr: '10.0.128.0/18', groups: [{ ip: '192.168.0.3' }] },
    ];
    assert.deepEqual(
      soleHostGroups(roots).map((g) => [g.name, g.cidr.toString(), g.host]),
      [
        ['10.0.64.0/18', '10.0.64.0/18', 'h2'],
        ['10.0.128.0/18', '10.0.128.0/18', ''],
      ],
    );
  });

  it("refuses a group's CIDR that is not one, naming the field", () => {
    assert.throws(
      () =>
        soleHostGroups([
          { name: 'r', cidr: '10.0.0.0', groups: [{ name: 'h', ip: '192.168.0.1' }] },
        ]),
      /^RomanaError: cidr: '10\.0\.0\.0' is not a CIDR/,
    );
  });

  for (const [family, root] of [
    [4, '10.0.0.0/8'],
    [6, 'fd00::/48'],
  ] as const) {
    it(`finds exactly the largest single-host groups of random nested IPv${family} maps`, () => {
      fc.assert(
        fc.property(fc.array(shapeArb(3), { minLength: 1, maxLength: 3 }), (shapes) => {
          const top = Cidr.parse(root, 'cidr', BOTH_FAMILIES);
          const next = { host: 0, group: 0 };
          const roots = shapes.map((s, i) => build(s, top.subnet(top.prefix + 4, i), next));
          const got = soleHostGroups(roots);
          assert.deepEqual(got.map((g) => `${g.cidr} ${g.host}`).sort(), oracle(roots));
          for (const a of got) {
            assert.equal(a.cidr.family, family);
            for (const b of got) if (a !== b) assert.ok(!a.cidr.overlaps(b.cidr));
          }
        }),
        { numRuns: 300 },
      );
    });
  }
});

describe('Aggregates', () => {
  it('covers a prefix exactly when one aggregate contains it', () => {
    const aggs = new Aggregates([Cidr.parse('10.0.0.0/16'), Cidr.parse('10.2.0.0/24')]);
    assert.ok(aggs.covers(Cidr.parse('10.0.3.0/28')));
    assert.ok(aggs.covers(Cidr.parse('10.2.0.0/24')));
    assert.ok(!aggs.covers(Cidr.parse('10.2.0.0/23')), 'larger than the aggregate');
    assert.ok(!aggs.covers(Cidr.parse('10.1.0.0/28')));
    assert.ok(!aggs.covers(Cidr.parse('::/0', 'cidr', BOTH_FAMILIES)));
  });
});

describe('sortByPrefix', () => {
  it('orders by family, then start address, then prefix length', () => {
    const dsts = ['fd00::/64', '10.1.0.0/16', '10.0.0.0/8', '10.0.0.0/16', '9.255.0.0/16', '::/0'];
    assert.deepEqual(
      sortByPrefix(dsts, (d) => d),
      ['9.255.0.0/16', '10.0.0.0/8', '10.0.0.0/16', '10.1.0.0/16', '::/0', 'fd00::/64'],
    );
    assert.deepEqual(
      sortByPrefix(['10.1.0.0/16', '10.0.0.0/24', '10.0.0.0/8'], (d) => d),
      ['10.0.0.0/8', '10.0.0.0/24', '10.1.0.0/16'],
      'a later start with a shorter prefix still comes after',
    );
  });

  it('orders any list of prefixes as a plain comparison of (family, start, length) does', () => {
    // Few distinct addresses, so that equal starts (and equal prefixes) come up often.
    const prefix = fc.oneof(
      fc
        .tuple(fc.integer({ min: 0, max: 15 }), fc.integer({ min: 0, max: 32 }))
        .map(([n, len]) => Cidr.containing(Addr.fromBigInt(4, BigInt(n) << 26n), len)),
      fc
        .tuple(fc.integer({ min: 0, max: 15 }), fc.integer({ min: 0, max: 128 }))
        .map(([n, len]) => Cidr.containing(Addr.fromBigInt(6, BigInt(n) << 122n), len)),
    );
    fc.assert(
      fc.property(fc.array(prefix, { maxLength: 12 }), (cidrs) => {
        const texts = cidrs.map((c) => c.toString());
        const key = (t: string) => {
          const c = Cidr.parse(t, 'cidr', BOTH_FAMILIES);
          return [c.family, c.start, c.prefix] as const;
        };
        const want = [...texts].sort((a, b) => {
          const [ka, kb] = [key(a), key(b)];
          for (let i = 0; i < 3; i++) if (ka[i] !== kb[i]) return ka[i]! < kb[i]! ? -1 : 1;
          return 0;
        });
        assert.deepEqual(
          sortByPrefix(texts, (t) => t),
          want,
        );
      }),
      { numRuns: 300 },
    );
  });

  it('refuses a prefix that is not one, naming the field', () => {
    assert.throws(
      () => sortByPrefix(['10.0.0.0/33'], (d) => d),
      /^RomanaError: cidr: prefix length 33 is not between 0 and 32$/,
    );
  });
});

describe('hostGroup', () => {
  const roots: GroupTree[] = [
    { name: 'empty', cidr: '10.1.0.0/16', groups: [] },
    {
      name: 'zone',
      cidr: '10.0.0.0/16',
      groups: [
        { name: 'h0', ip: '192.168.0.10' },
        {
          name: 'rack-1',
          cidr: '10.0.0.0/20',
          groups: [
            { name: 'h1', ip: '192.168.0.1' },
            { name: 'h2', ip: '192.168.0.2' },
          ],
        },
        { cidr: '10.0.16.0/20', groups: [{ name: 'h3', ip: '192.168.0.3' }] },
        { name: 'rack-x', groups: [{ name: 'hx', ip: '192.168.0.9' }] },
        { name: 'h4', cidr: '10.0.32.0/20', groups: [] },
      ],
    },
    { name: 'dc-2', cidr: '10.2.0.0/16', groups: [{ name: 'h5', ip: '192.168.0.5' }] },
  ];
  const found = (host: string) => {
    const g = hostGroup(roots, host);
    return g === undefined ? undefined : `${g.name} ${g.cidr.toString()}`;
  };

  it('finds the group a host sits in directly, however deep', () => {
    assert.equal(found('h0'), 'zone 10.0.0.0/16');
    assert.equal(found('h2'), 'rack-1 10.0.0.0/20');
    assert.equal(found('h5'), 'dc-2 10.2.0.0/16', 'in a later root');
  });

  it('names a group without a name by its CIDR', () => {
    assert.equal(found('h3'), '10.0.16.0/20 10.0.16.0/20');
  });

  it('finds nothing for a host not in the map, a group of that name, or a group without a CIDR', () => {
    assert.equal(found('h9'), undefined);
    assert.equal(found('h4'), undefined, 'h4 is a group, not a host');
    assert.equal(found('hx'), undefined, 'its group has no CIDR');
    assert.equal(hostGroup([], 'h1'), undefined);
    assert.equal(hostGroup([{ name: 'bare', ip: '192.168.0.1' }], 'bare'), undefined);
  });

  it("refuses the CIDR of a host's group that is not one, naming the field", () => {
    const bad = [{ name: 'r', cidr: '10.0.0.1/8', groups: [{ name: 'h', ip: '192.168.0.1' }] }];
    assert.throws(() => hostGroup(bad, 'h'), /^RomanaError: cidr: '10\.0\.0\.1\/8'/);
  });
});
