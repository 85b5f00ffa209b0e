import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { BOTH_FAMILIES, Cidr } from './addr.ts';
import { Aggregates, soleHostGroups, sortByPrefix, type GroupTree } from './aggregate.ts';

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
  });
});
