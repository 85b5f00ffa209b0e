/**
 * Announcements over random nested topologies built by the real IPAM engine, checked against
 * an oracle that walks the map on its own: no announced prefix can hold another host's
 * addresses (its blocks now, or its group, where its future blocks are carved), except, with
 * ECMP on, those of the hosts of this host's own group; and every block of the host is covered.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { allocationsArb, rootsArb, toMap } from '../../test/helpers/nested-topology.ts';
import { Ipam, type GroupOrHost } from '../ipam/index.ts';
import { Cidr } from '../net/addr.ts';
import { announce, announceAll, isEcmp } from './announce.ts';

/** Each host's leaf group CIDR, read from the map as romanad returns it (with group CIDRs). */
function leafGroups(map: GroupOrHost[], netCidr: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (e: GroupOrHost, cidr: string) => {
    for (const k of e.groups ?? []) {
      if (k.ip !== undefined) out.set(k.name!, cidr);
      else walk(k, k.cidr!);
    }
  };
  walk({ groups: map }, netCidr);
  return out;
}

const overlap = (a: string, b: string) => {
  const x = Cidr.parse(a);
  const y = Cidr.parse(b);
  return x.contains(y) || y.contains(x);
};

const caseArb = fc.record({
  roots: rootsArb,
  allocations: allocationsArb(40),
  /** ECMP off, or on from the publisher's flag, the topology's `ecmp`, or both. */
  ecmpFrom: fc.constantFrom('off', 'flag', 'topology', 'both'),
});

describe('announce over random nested topologies', () => {
  it('never announces a prefix that can hold another host’s addresses; covers its own', () => {
    fc.assert(
      fc.property(caseArb, ({ roots, allocations, ecmpFrom }) => {
        const ecmp = ecmpFrom !== 'off';
        const { map, hosts } = toMap(roots);
        const ipam = new Ipam();
        const inTopology = ecmpFrom === 'topology' || ecmpFrom === 'both';
        ipam.updateTopology({
          networks: [{ name: 'pods', cidr: '10.0.0.0/12', block_mask: 28 }],
          topologies: [{ networks: ['pods'], map, ...(inTopology ? { ecmp: true } : {}) }],
        });
        const wanted: Array<[string, string]> = hosts.map((h) => [h, 't1']);
        for (const [i, tenant] of allocations) wanted.push([hosts[i % hosts.length]!, tenant]);
        wanted.forEach(([host, tenant], i) => ipam.allocate({ name: `a${i}`, host, tenant }));
        const topology = ipam.getTopology();
        const blocks = ipam.listAllBlocks().blocks;
        const groups = leafGroups(topology.topologies[0]!.map, '10.0.0.0/12');
        const all = announceAll(hosts, {
          topology,
          blocks,
          ecmpNetworks: new Set(ecmpFrom === 'flag' || ecmpFrom === 'both' ? ['pods'] : []),
        });
        for (const self of hosts) {
          const own = groups.get(self)!;
          const out = all.get(self)!;
          for (const a of out) {
            if (a.kind === 'ecmp-group') {
              assert.ok(ecmp);
              assert.equal(a.prefix, own, `${self} announces its own group only`);
            }
            for (const [other, g] of groups) {
              if (other === self || (ecmp && g === own)) continue;
              const theirs = blocks.filter((b) => b.host === other).map((b) => b.cidr);
              for (const c of theirs) assert.ok(!overlap(a.prefix, c), `${a.prefix} holds ${c}`);
              assert.ok(
                !Cidr.parse(a.prefix).contains(Cidr.parse(g)),
                `${self} announces ${a.prefix}, which holds ${other}'s group ${g}`,
              );
            }
          }
          for (const b of blocks.filter((x) => x.host === self)) {
            const n = out.filter((a) => Cidr.parse(a.prefix).contains(Cidr.parse(b.cidr)));
            assert.equal(n.length, 1, `block ${b.cidr} of ${self} announced exactly once`);
          }
          for (const a of out) {
            for (const b of out) {
              if (a !== b) assert.ok(!overlap(a.prefix, b.prefix), `${a.prefix} ${b.prefix}`);
            }
          }
        }
      }),
      { numRuns: 150 },
    );
  });

  it('announces a rack of single-host groups as one group prefix per host', () => {
    const ipam = new Ipam();
    ipam.updateTopology({
      networks: [{ name: 'pods', cidr: '10.112.0.0/16', block_mask: 28 }],
      topologies: [
        {
          networks: ['pods'],
          map: [
            {
              name: 'rack-1',
              groups: [
                { name: 'slot-1', groups: [{ name: 'h1', ip: '192.168.1.11' }] },
                { name: 'slot-2', groups: [{ name: 'h2', ip: '192.168.1.12' }] },
              ],
            },
            {
              name: 'rack-2',
              groups: [
                { name: 'h3', ip: '192.168.2.11' },
                { name: 'h4', ip: '192.168.2.12' },
              ],
            },
          ],
        },
      ],
    });
    for (const h of ['h1', 'h3', 'h3']) ipam.allocate({ name: `p-${h}-${Math.random()}`, host: h });
    const topology = ipam.getTopology();
    const blocks = ipam.listAllBlocks().blocks;
    const h1 = announce({ self: 'h1', topology, blocks });
    assert.deepEqual(
      h1.map((a) => [a.prefix, a.kind, a.group]),
      [['10.112.0.0/18', 'group', 'slot-1']],
    );
    // Rack 2 is shared by h3 and h4: h3 announces its block, h4 (no block) nothing.
    const h3 = announce({ self: 'h3', topology, blocks });
    assert.deepEqual(
      h3.map((a) => [a.prefix, a.kind]),
      [['10.112.128.0/28', 'block']],
    );
    assert.deepEqual(announce({ self: 'h4', topology, blocks }), []);
    const ecmp = announce({ self: 'h4', topology, blocks, ecmpNetworks: new Set(['pods']) });
    assert.deepEqual(
      ecmp.map((a) => [a.prefix, a.kind, a.group]),
      [['10.112.128.0/17', 'ecmp-group', 'rack-2']],
    );
  });

  it("announces the group whole from the topology's ecmp, without the flag", () => {
    const ipam = new Ipam();
    const map = [
      { name: 'rack-1', groups: [{ name: 'h1', ip: '192.168.1.11' }] },
      {
        name: 'rack-2',
        groups: [
          { name: 'h3', ip: '192.168.2.11' },
          { name: 'h4', ip: '192.168.2.12' },
        ],
      },
    ];
    const networks = [{ name: 'pods', cidr: '10.112.0.0/16', block_mask: 28 }];
    ipam.updateTopology({ networks, topologies: [{ networks: ['pods'], map }] });
    ipam.allocate({ name: 'p3', host: 'h3' });
    const decide = () => {
      const topology = ipam.getTopology();
      const blocks = ipam.listAllBlocks().blocks;
      const all = announceAll(['h1', 'h3', 'h4'], { topology, blocks });
      return [...all].map(([h, out]) => [h, out.map((a) => `${a.prefix} ${a.kind}`)]);
    };
    assert.deepEqual(decide(), [
      ['h1', ['10.112.0.0/17 group']],
      ['h3', ['10.112.128.0/28 block']],
      ['h4', []],
    ]);
    // The same document with `ecmp: true`: both hosts of rack-2 announce it whole; rack-1 (h1
    // alone) is its own group either way.
    ipam.updateTopology({ networks, topologies: [{ networks: ['pods'], map, ecmp: true }] });
    assert.deepEqual(decide(), [
      ['h1', ['10.112.0.0/17 ecmp-group']],
      ['h3', ['10.112.128.0/17 ecmp-group']],
      ['h4', ['10.112.128.0/17 ecmp-group']],
    ]);
    assert.equal(isEcmp({ networks: ['pods'], map: [] }, new Set(['pods'])), true);
    assert.equal(isEcmp({ networks: ['pods'], map: [], ecmp: true }, new Set()), true);
    assert.equal(isEcmp({ networks: ['pods'], map: [] }, new Set(['other'])), false);
  });
});
