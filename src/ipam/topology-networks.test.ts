/**
 * The networks and topologies of a topology document, field by field: every bad field named
 * with its path, block masks resolved and bounded for each family, tenant lists in normal form,
 * overlaps named inner and outer, and the list shapes of `topologies`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatTags, parseTopology, type NetworkDefinition } from './topology.ts';

/** A document using every network it defines (by the names that are strings). */
function using(nets: unknown[]) {
  const names = nets.flatMap((n) =>
    typeof n === 'object' && n !== null && typeof (n as { name?: unknown }).name === 'string'
      ? [(n as { name: string }).name]
      : [],
  );
  return { networks: nets, topologies: [{ networks: names, map: [] }] };
}

function problemsOf(input: unknown): string[] {
  const r = parseTopology(input);
  assert.equal(r.ok, false, 'expected the document to be refused');
  return r.ok ? [] : r.problems;
}

function networksOf(input: unknown): NetworkDefinition[] {
  const r = parseTopology(input);
  assert.ok(r.ok, r.ok ? '' : r.problems.join('\n'));
  return r.spec.request.networks;
}

describe('topology networks, field by field', () => {
  it('names each bad network field with its path', () => {
    assert.deepEqual(
      problemsOf(
        using([
          7,
          { cidr: '10.0.0.0/16' },
          { name: 7, cidr: '10.1.0.0/16' },
          { name: 'a b', cidr: '10.2.0.0/16' },
          { name: 'd', cidr: 7 },
          { name: 'e', cidr: '10.3.0.0/33' },
          { name: 'f', cidr: '10.4.0.0/16', block_mask: '29' },
          { name: 'g', cidr: '10.5.0.0/16', block_mask: 29.5 },
          { name: 'h', cidr: '10.6.0.0/16', block_mask: 15 },
          { name: 'i', cidr: '10.7.0.0/16', block_mask: 33 },
          { name: 'j', cidr: 'fd00:1::/48', block_mask: 63 },
          { name: 'k', cidr: 'bad', block_mask: 99 },
          { name: 'l', cidr: '10.8.0.0/16', tenants: 'x' },
          { name: '', cidr: '10.9.0.0/16' },
        ]),
      ),
      [
        'networks[0]: must be an object with "name" and "cidr"',
        'networks[1].name: required, a non-empty string',
        'networks[2].name: required, a non-empty string',
        `networks[3].name: must be 1-253 letters, digits, '.', '_' or '-', beginning and ending with a letter or digit, not an IP address, got "a b"`,
        'networks[4].cidr: required, a string a.b.c.d/n or an IPv6 address/n',
        'networks[5].cidr: prefix length 33 is not between 0 and 32',
        'networks[6].block_mask: must be an integer prefix length, got "29"',
        'networks[7].block_mask: must be an integer prefix length, got 29.5',
        'networks[8].block_mask: invalid blockmask(15) for network(h), must be 16 <= blockmask <= 32',
        'networks[9].block_mask: invalid blockmask(33) for network(i), must be 16 <= blockmask <= 32',
        'networks[10].block_mask: 63 is too large a block for IPv6 network j: an IPv6 block is a /64 or longer (e.g. /120, /112, /64)',
        "networks[11].cidr: 'bad' is not a CIDR (expected a.b.c.d/n)",
        'networks[12].tenants: must be a list of tenant names',
        'networks[13].name: required, a non-empty string',
        'topologies[0].networks[10]: Network with name  not defined',
      ],
    );
  });

  it('resolves a missing block mask per family, never shorter than the network, and takes the bounds', () => {
    const nets = networksOf(
      using([
        { name: 'a', cidr: '10.0.0.0/30' },
        { name: 'b', cidr: 'fd00:1::/124', block_mask: 0 },
        { name: 'c', cidr: 'fd00:2::/48', block_mask: null },
        { name: 'd', cidr: '10.1.0.0/16', block_mask: 16 },
        { name: 'e', cidr: '10.2.0.0/16', block_mask: 32 },
        { name: 'f', cidr: 'fd00:3::/48', block_mask: 64 },
        { name: 'g', cidr: 'fd00:4::/48', block_mask: 128 },
        { name: 'h', cidr: '10.3.0.0/16' },
      ]),
    );
    assert.deepEqual(
      nets.map((n) => [n.name, n.block_mask]),
      [
        ['a', 30],
        ['b', 124],
        ['c', 120],
        ['d', 16],
        ['e', 32],
        ['f', 64],
        ['g', 128],
        ['h', 29],
      ],
    );
  });

  it('lists tenants once each, in order; none, an empty list or "*" means every tenant', () => {
    const nets = networksOf(
      using([
        { name: 'a', cidr: '10.0.0.0/16', tenants: ['x', 'y', 'x'] },
        { name: 'b', cidr: '10.1.0.0/16', tenants: [] },
        { name: 'c', cidr: '10.2.0.0/16', tenants: ['x', '*'] },
        { name: 'd', cidr: '10.3.0.0/16', tenants: null },
        { name: 'e', cidr: '10.4.0.0/16', tenants: ['*'] },
      ]),
    );
    assert.deepEqual(nets, [
      { name: 'a', cidr: '10.0.0.0/16', block_mask: 29, tenants: ['x', 'y'] },
      { name: 'b', cidr: '10.1.0.0/16', block_mask: 29 },
      { name: 'c', cidr: '10.2.0.0/16', block_mask: 29 },
      { name: 'd', cidr: '10.3.0.0/16', block_mask: 29 },
      { name: 'e', cidr: '10.4.0.0/16', block_mask: 29 },
    ]);
  });

  it('names each overlap inner and outer, at the later network, leaving out invalid ones', () => {
    assert.deepEqual(
      problemsOf({
        networks: [
          { name: 'a', cidr: '10.0.0.0/16' },
          { name: 'b', cidr: '10.0.0.0/8' },
          { name: 'c', cidr: '10.0.0.0/16' },
          { name: 'd', cidr: '10.0.0.0/24', block_mask: 99 },
          { name: 'e', cidr: '192.168.0.0/16' },
        ],
        topologies: [{ networks: ['a', 'b', 'c', 'd', 'e'], map: [] }],
      }),
      [
        'networks[3].block_mask: invalid blockmask(99) for network(d), must be 24 <= blockmask <= 32',
        'networks[1].cidr: CIDR 10.0.0.0/16 of network a already is contained in CIDR 10.0.0.0/8 of network b',
        'networks[2].cidr: CIDR 10.0.0.0/16 of network a already is contained in CIDR 10.0.0.0/16 of network c',
        'networks[2].cidr: CIDR 10.0.0.0/16 of network c already is contained in CIDR 10.0.0.0/8 of network b',
      ],
    );
  });
});

describe('topology lists, field by field', () => {
  it('names each bad topology entry with its path', () => {
    assert.deepEqual(
      problemsOf({ networks: [{ name: 'a', cidr: '10.0.0.0/16' }], topologies: {} }),
      [
        'topologies: required, a list of topologies',
        `networks[0]: Network a is not used by any topology; list it in a topology's "networks" or remove it`,
      ],
    );
    assert.deepEqual(
      problemsOf({
        networks: [
          { name: 'a', cidr: '10.0.0.0/16' },
          { name: 'b', cidr: 'bad' },
        ],
        topologies: [
          7,
          { networks: 'a' },
          { networks: ['a'], map: {} },
          { networks: [7, 'a', 'b'] },
        ],
      }),
      [
        "networks[1].cidr: 'bad' is not a CIDR (expected a.b.c.d/n)",
        'topologies[0]: must be an object with "networks" and "map"',
        'topologies[1].networks: required, a list of network names',
        'topologies[2].map: must be a list of groups or hosts',
        'topologies[3].networks[0]: must be a network name',
      ],
    );
  });

  it('lists the known fields in the message about an unknown one', () => {
    assert.deepEqual(
      problemsOf({
        networks: [{ name: 'a', cidr: '10.0.0.0/16', mask: 29 }],
        topologies: [{ networks: ['a'], map: [], ecmp: false, maps: [] }],
        extra: 1,
      }),
      [
        'extra: unknown field (known: networks, topologies, vip_cidr)',
        'networks[0].mask: unknown field (known: name, cidr, block_mask, tenants)',
        'topologies[0].maps: unknown field (known: networks, map, ecmp)',
      ],
    );
  });

  it('checks tenants by the tenant rule: no dots, at most 63 characters', () => {
    const rule =
      "must be 1-63 letters, digits, '_' or '-', beginning and ending with a letter or digit";
    assert.deepEqual(
      problemsOf(
        using([{ name: 'a', cidr: '10.0.0.0/16', tenants: ['ok', 'a.b', 't'.repeat(64)] }]),
      ),
      [
        `networks[0].tenants[1]: Bad tenant name: ${rule}, got "a.b"`,
        'networks[0].tenants[2]: Bad tenant name: must be at most 63 characters, got 64',
      ],
    );
    assert.deepEqual(
      networksOf(using([{ name: 'a', cidr: '10.0.0.0/16', tenants: ['t'.repeat(63)] }]))[0]!
        .tenants,
      ['t'.repeat(63)],
    );
  });

  it('takes a null vip_cidr or ecmp as absent', () => {
    const r = parseTopology({
      networks: [{ name: 'a', cidr: '10.0.0.0/16' }],
      topologies: [{ networks: ['a'], map: [], ecmp: null }],
      vip_cidr: null,
    });
    assert.ok(r.ok, r.ok ? '' : r.problems.join('\n'));
    assert.deepEqual(r.spec.request, {
      networks: [{ name: 'a', cidr: '10.0.0.0/16', block_mask: 29 }],
      topologies: [{ networks: ['a'], map: [] }],
    });
  });

  it('reports only the bad field of a network it cannot read, not the carving of its map', () => {
    const map = [{ name: 'g1' }, { name: 'g2' }];
    assert.deepEqual(
      problemsOf({
        networks: [{ name: 'a', cidr: 'bad' }],
        topologies: [{ networks: ['a'], map }],
      }),
      ["networks[0].cidr: 'bad' is not a CIDR (expected a.b.c.d/n)"],
    );
  });

  it('takes a topology without a map as an empty one, and keeps only network names', () => {
    const r = parseTopology({
      networks: [{ name: 'a', cidr: '10.0.0.0/16' }],
      topologies: [{ networks: ['a'] }],
    });
    assert.ok(r.ok);
    assert.deepEqual(r.spec.request.topologies, [{ networks: ['a'], map: [] }]);
    assert.deepEqual(r.spec.trees.get('a')?.children, []);
  });
});

describe('tags in messages', () => {
  it('are sorted by key, or "no tags"', () => {
    assert.equal(formatTags({ zone: 'a', rack: 'r1' }), 'tags rack=r1, zone=a');
    assert.equal(formatTags(null), 'no tags');
    assert.equal(formatTags(undefined), 'no tags');
    assert.equal(formatTags({}), 'no tags');
  });
});
