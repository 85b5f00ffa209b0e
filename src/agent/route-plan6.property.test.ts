/**
 * Route planning over random nested dual-stack topologies (an IPv4 and an IPv6 network in one
 * topology, hosts with `ip` and `ip6`), built by the real IPAM engine and checked against an
 * oracle that knows nothing of planning: every route covers only blocks of the host it goes
 * via, by that host's address of the route's family; every block of another host is covered by
 * one; no two routes overlap.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { allocationsArb, rootsArb, toMap } from '../../test/helpers/nested-topology.ts';
import { Ipam } from '../ipam/index.ts';
import { BOTH_FAMILIES, Cidr } from '../net/addr.ts';
import { planRoutes, type Reach } from './route-plan.ts';

const caseArb = fc
  .record({
    roots: rootsArb,
    allocations: allocationsArb(30),
    self: fc.nat(),
  })
  .filter(({ roots }) => toMap(roots, { ip6: true }).hosts.length >= 2);

const cidr = (text: string) => Cidr.parse(text, 'cidr', BOTH_FAMILIES);

describe('route planning over random nested dual-stack topologies', () => {
  it('routes every remote block of each family via its host’s address of that family', () => {
    fc.assert(
      fc.property(caseArb, ({ roots, allocations, self: pick }) => {
        const { map, hosts } = toMap(roots, { ip6: true });
        const ipam = new Ipam();
        ipam.updateTopology({
          networks: [
            { name: 'pods', cidr: '10.0.0.0/12', block_mask: 28 },
            { name: 'pods6', cidr: 'fd00:10::/40', block_mask: 120 },
          ],
          topologies: [{ networks: ['pods', 'pods6'], map }],
        });
        const wanted: Array<[string, string]> = hosts.map((h) => [h, 't1']);
        for (const [i, tenant] of allocations) wanted.push([hosts[i % hosts.length]!, tenant]);
        wanted.forEach(([host, tenant], i) => ipam.allocate({ name: `a${i}`, host, tenant }));
        const self = hosts[pick % hosts.length]!;
        const hostViews = ipam.listHosts().hosts;
        const viaOf = (host: string, family: 4 | 6) => {
          const h = hostViews.find((x) => x.name === host)!;
          return family === 4 ? h.ip : h.ip6;
        };
        const reach = new Map<string, Reach>(
          hostViews
            .filter((h) => h.name !== self)
            .flatMap((h) => [h.ip, h.ip6!].map((ip) => [ip, { dev: 'eth0' }] as const)),
        );
        const blocks = ipam.listAllBlocks().blocks;
        assert.ok(
          blocks.some((b) => cidr(b.cidr).family === 6),
          'IPv6 blocks were allocated',
        );
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
          const dst = cidr(r.dst);
          for (const b of blocks) {
            if (!dst.contains(cidr(b.cidr))) continue;
            assert.equal(
              viaOf(b.host, dst.family),
              r.via,
              `${r.dst} via ${r.via} covers ${b.cidr}`,
            );
          }
        }
        for (const b of blocks) {
          if (b.host === self) continue;
          const c = cidr(b.cidr);
          const route = plan.routes.find((r) => cidr(r.dst).contains(c));
          assert.ok(route, `block ${b.cidr} of ${b.host} has a route`);
          assert.equal(route.via, viaOf(b.host, c.family), `block ${b.cidr} goes via ${b.host}`);
        }
        for (const a of plan.routes) {
          for (const b of plan.routes) {
            if (a !== b)
              assert.ok(!cidr(a.dst).contains(cidr(b.dst)), `${a.dst} overlaps ${b.dst}`);
          }
        }
      }),
      { numRuns: 50 },
    );
  });
});
