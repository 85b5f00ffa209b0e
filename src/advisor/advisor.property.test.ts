/**
 * Invariants of the advisor over random shapes, loads and block sizes, and two cross-checks
 * against other code: the host tier against the agent's own route plan, and the capacity figure
 * against the engine filled until it refuses.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { planRoutes, type Reach } from '../agent/route-plan.ts';
import { isRomanaError } from '../errors.ts';
import { Ipam } from '../ipam/index.ts';
import { Fabric } from './fabric.ts';
import { routeReport } from './routes.ts';
import { shapeTopology } from './shape.ts';
import { simulate } from './simulate.ts';
import type { ShapeInput } from './types.ts';

const shapeArb = fc.record({
  zones: fc.integer({ min: 1, max: 2 }),
  racks: fc.integer({ min: 1, max: 3 }),
  hosts: fc.integer({ min: 1, max: 3 }),
  cidr: fc.constant('10.0.0.0/18'),
  host_groups: fc.boolean(),
});

const TIERS = ['host', 'tor', 'spine'] as const;

describe('advisor invariants', () => {
  it('addresses add up, aggregation never needs more routes than blocks, churn balances', () => {
    fc.assert(
      fc.property(
        shapeArb,
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 26, max: 30 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer(),
        (shape, a, b, mask, segs, seed) => {
          const segments = Array.from({ length: segs }, (_, i) => ({
            tenant: 't',
            segment: `s${i}`,
          }));
          const r = simulate({
            shape,
            pods: { distribution: 'uniform', min: Math.min(a, b), max: Math.max(a, b) },
            block_masks: [mask],
            segments,
            churn: { rounds: 2, fraction: 0.4 },
            seed,
          });
          const rep = r.block_sizes[0]!;
          if (rep.error !== undefined) return; // the pods did not fit this small network
          const ad = rep.addresses!;
          const size = 2 ** (32 - mask);
          assert.equal(ad.pods, r.pods);
          assert.equal(ad.block_addresses, ad.blocks * size);
          assert.equal(ad.wasted, ad.blocks * size - ad.pods);
          assert.ok(ad.wasted >= 0);
          assert.equal(ad.blocks_per_host.total, ad.blocks);
          // Every host holds a pod, so each host has a block: aggregates can only merge routes.
          for (const t of TIERS) {
            const tier = rep.routes![t];
            assert.ok(tier.romana.total <= tier.per_block.total, `${t} total`);
            assert.ok(tier.romana.max <= tier.per_block.max, `${t} max`);
          }
          const core = rep.routes!.core;
          if (core !== null) assert.ok(core.romana.total <= core.per_block.total, 'core');
          assert.equal(rep.routes!.spine.per_block.total, ad.blocks);
          const c = rep.churn!;
          assert.equal(c.pods_started, c.pods_stopped);
          for (const t of [...TIERS, 'core'] as const) {
            assert.ok(c.route_updates[t].romana <= c.route_updates[t].per_block, t);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('the host tier is what the agent plans for peers behind the same ToR', () => {
    fc.assert(
      fc.property(shapeArb, fc.integer({ min: 1, max: 40 }), (shape, pods) => {
        const { ipam, tiers } = filled(shape, 28, pods);
        const topology = ipam.getTopology();
        const fabric = new Fabric(topology, tiers);
        const blocks = ipam.listAllBlocks().blocks;
        const report = routeReport(fabric, blocks);
        const hosts = ipam.listHosts().hosts;
        const ipOf = new Map(hosts.map((h) => [h.name, h.ip]));
        const counts = hosts.map((h) => {
          const p = fabric.placementOf('pods', h.name)!;
          const peers = fabric.torMembers.get(`pods|${p.tor.key}`)!;
          const reach = new Map<string, Reach>(peers.map((q) => [ipOf.get(q.host)!, {}]));
          return planRoutes({ self: h.name, hosts, blocks, topology, reach, multihop: false })
            .routes.length;
        });
        assert.equal(
          report.host.romana.total,
          counts.reduce((x, y) => x + y, 0),
        );
        assert.equal(report.host.romana.max, Math.max(...counts));
        assert.equal(report.host.romana.min, Math.min(...counts));
      }),
      { numRuns: 40 },
    );
  });

  it('capacity is the pods per host the engine holds when filled evenly until it refuses', () => {
    fc.assert(
      fc.property(
        shapeArb,
        fc.integer({ min: 27, max: 30 }),
        fc.integer({ min: 1, max: 3 }),
        (shape, mask, segs) => {
          const small = { ...shape, cidr: '10.0.0.0/22' };
          const segments = Array.from({ length: segs }, (_, i) => ({
            tenant: 't',
            segment: `s${i}`,
          }));
          const r = simulate({ shape: small, pods: 1, block_masks: [mask], segments });
          const expected = r.block_sizes[0]!.capacity?.pods_per_host;
          if (r.block_sizes[0]!.error !== undefined) return;
          const { ipam } = filled(small, mask, 0);
          const hosts = ipam.listHosts().hosts.map((h) => h.name);
          const count = new Map(hosts.map((h) => [h, 0]));
          try {
            for (let round = 0; ; round++) {
              for (const h of hosts) {
                const owner = segments[round % segs]!;
                ipam.allocate({ name: `${h}/${round}`, host: h, ...owner });
                count.set(h, round + 1);
              }
            }
          } catch (e) {
            if (!isRomanaError(e, 'NoAvailableIP')) throw e;
          }
          assert.equal(Math.min(...count.values()), expected);
        },
      ),
      { numRuns: 40 },
    );
  });
});

/** An engine with the shape's topology and `pods` pods on every host (one owner). */
function filled(shape: ShapeInput, mask: number, pods: number) {
  const { doc, tiers } = shapeTopology(shape, mask);
  const ipam = new Ipam();
  ipam.updateTopology(doc);
  for (const h of ipam.listHosts().hosts) {
    for (let i = 0; i < pods; i++)
      ipam.allocate({ name: `${h.name}/${i}`, host: h.name, tenant: 't', segment: 's' });
  }
  return { ipam, tiers };
}
