/**
 * Route planning over random nested topologies (groups within groups, several levels, hosts
 * spread over them), checked against an oracle that knows nothing of how planning works: every
 * planned route covers only blocks of the host it goes via, and every block of another host is
 * covered by a route via that host.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { allocationsArb, rootsArb, toMap } from '../../test/helpers/nested-topology.ts';
import { Ipam } from '../ipam/index.ts';
import { Cidr } from '../net/addr.ts';
import { planRoutes, type Reach } from './route-plan.ts';

const caseArb = fc
  .record({
    roots: rootsArb,
    allocations: allocationsArb(40),
    self: fc.nat(),
  })
  .filter(({ roots }) => toMap(roots).hosts.length >= 2);

function range(cidr: string): [number, number] {
  const [ip, len] = cidr.split('/') as [string, string];
  const v = ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
  return [v, v + 2 ** (32 - Number(len)) - 1];
}

function covers(outer: string, inner: string): boolean {
  const [olo, ohi] = range(outer);
  const [ilo, ihi] = range(inner);
  return ilo >= olo && ihi <= ohi;
}

describe('route planning over random nested topologies', () => {
  it('routes every remote block via its host, and never captures another host’s block', () => {
    fc.assert(
      fc.property(caseArb, ({ roots, allocations, self: pick }) => {
        const { map, hosts } = toMap(roots);
        const ipam = new Ipam();
        ipam.updateTopology({
          networks: [{ name: 'pods', cidr: '10.0.0.0/12', block_mask: 28 }],
          topologies: [{ networks: ['pods'], map }],
        });
        // Every host holds at least one block, then more at random.
        const wanted: Array<[string, string]> = hosts.map((h) => [h, 't1']);
        for (const [i, tenant] of allocations) wanted.push([hosts[i % hosts.length]!, tenant]);
        wanted.forEach(([host, tenant], i) => ipam.allocate({ name: `a${i}`, host, tenant }));
        const self = hosts[pick % hosts.length]!;
        const hostViews = ipam.listHosts().hosts;
        const ipOf = new Map(hostViews.map((h) => [h.name, h.ip]));
        const reach = new Map<string, Reach>(
          hostViews.filter((h) => h.name !== self).map((h) => [h.ip, { dev: 'eth0' }]),
        );
        const blocks = ipam.listAllBlocks().blocks;
        const plan = planRoutes({
          self,
          hosts: hostViews,
          blocks,
          topology: ipam.getTopology(),
          reach,
          multihop: false,
        });
        assert.deepEqual(plan.skipped, []);
        for (const r of plan.routes) {
          for (const b of blocks) {
            if (!covers(r.dst, b.cidr)) continue;
            assert.equal(
              ipOf.get(b.host),
              r.via,
              `route ${r.dst} via ${r.via} covers block ${b.cidr} of ${b.host}`,
            );
          }
        }
        for (const b of blocks) {
          if (b.host === self) continue;
          const route = plan.routes.find((r) => covers(r.dst, b.cidr));
          assert.ok(route, `block ${b.cidr} of ${b.host} has a route`);
          assert.equal(route.via, ipOf.get(b.host), `block ${b.cidr} goes via ${b.host}`);
          assert.ok(Cidr.parse(route.dst).contains(Cidr.parse(b.cidr)));
        }
        // Routes never overlap: the kernel would pick by prefix length, hiding a mistake.
        for (const a of plan.routes) {
          for (const b of plan.routes) {
            if (a !== b) assert.ok(!covers(a.dst, b.dst), `${a.dst} overlaps ${b.dst}`);
          }
        }
      }),
      { numRuns: 200 },
    );
  });
});
