/**
 * The advisor on topologies small enough to work by hand. Every expected figure is derived in
 * the comment above it from the carving rules of docs/ipam.md.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { isRomanaError } from '../errors.ts';
import { simulate } from './simulate.ts';
import type { BlockSizeReport, SimulationInput } from './types.ts';

/**
 * 1 zone x 2 racks x 2 hosts in 10.0.0.0/24: the one zone is the root (10.0.0.0/24), the racks
 * get a /25 each (rack-1-1 10.0.0.0/25, rack-1-2 10.0.0.128/25), 8 blocks of /28 per rack.
 */
const SMALL: SimulationInput = {
  shape: { zones: 1, racks: 2, hosts: 2, cidr: '10.0.0.0/24' },
  pods: 5,
  block_masks: [28],
};

function only(input: SimulationInput): BlockSizeReport {
  const r = simulate(input);
  assert.equal(r.block_sizes.length, 1);
  const b = r.block_sizes[0]!;
  assert.equal(b.error, undefined, b.error);
  return b;
}

describe('advisor on 2 racks x 2 hosts, /28 blocks', () => {
  it('5 pods per host: one block per host, 44 of 64 addresses wasted', () => {
    const b = only(SMALL);
    // 4 hosts x 5 pods = 20 pods, each host's 5 fit one /28: 4 blocks = 64 addresses, 44 unused.
    assert.deepEqual(
      { ...b.addresses, blocks_per_host: undefined },
      {
        pods: 20,
        blocks: 4,
        block_addresses: 64,
        wasted: 44,
        wasted_ratio: 0.6875,
        blocks_per_host: undefined,
      },
    );
    assert.equal(b.initial_blocks, 4);
  });

  it('counts routes per tier by hand', () => {
    const r = only(SMALL).routes!;
    // A host routes the one block of its rack peer (the rack is shared: no aggregate).
    assert.deepEqual([r.host.devices, r.host.romana.max, r.host.romana.min], [4, 1, 1]);
    assert.equal(r.host.per_block.max, 1);
    assert.equal(r.host.per_host.max, 1);
    // A ToR holds its 2 hosts' blocks: 2 routes, as one per block and one per host.
    assert.deepEqual([r.tor.devices, r.tor.romana.max, r.tor.per_block.max], [2, 2, 2]);
    // The spine (the zone) holds one /25 per rack: 2, against 4 blocks and 4 hosts.
    assert.deepEqual(
      [r.spine.devices, r.spine.romana.max, r.spine.per_block.max, r.spine.per_host.max],
      [1, 2, 4, 4],
    );
    // The core holds the zone's /24: 1 route.
    assert.deepEqual([r.core?.romana.max, r.core?.per_block.max], [1, 4]);
  });

  it('capacity: 8 blocks of 16 shared by 2 hosts is 64 pods per host', () => {
    const c = only(SMALL).capacity!;
    assert.deepEqual(c, {
      pods_per_host: 64,
      group: 'rack-1-1',
      cidr: '10.0.0.0/25',
      hosts: 2,
      blocks: 8,
    });
  });

  it('two segments: each host needs a block per segment', () => {
    const b = only({
      ...SMALL,
      segments: [
        { tenant: 't', segment: 'a' },
        { tenant: 't', segment: 'b' },
      ],
    });
    // 5 pods round-robin: 3 for a, 2 for b, one block each: 8 blocks, 128 - 20 = 108 wasted.
    assert.equal(b.addresses!.blocks, 8);
    assert.equal(b.addresses!.wasted, 108);
    // Host: peer's 2 blocks; ToR: 4; spine still one /25 per rack; per block at the spine: 8.
    assert.equal(b.routes!.host.romana.max, 2);
    assert.equal(b.routes!.tor.romana.max, 4);
    assert.equal(b.routes!.spine.romana.max, 2);
    assert.equal(b.routes!.spine.per_block.max, 8);
    // 8 blocks per rack, 2 hosts x 2 segments: 2 blocks per segment, 2 x 2 x 16 = 64 per host.
    assert.equal(b.capacity!.pods_per_host, 64);
  });

  it('a group per host: the ToR holds one route per host however many blocks', () => {
    // Each rack /25 splits into two host groups of /26 (4 blocks each).
    const b = only({
      ...SMALL,
      shape: { ...SMALL.shape!, host_groups: true },
      pods: 20,
    });
    // 20 pods: 2 blocks per host, 8 in all; 128 - 80 = 48 wasted.
    assert.equal(b.addresses!.blocks, 8);
    assert.equal(b.addresses!.wasted, 48);
    const r = b.routes!;
    // Host: its peer's /26. ToR: 2 x /26. Spine: 2 x /25. Per block: 2, 4, 8.
    assert.deepEqual([r.host.romana.max, r.tor.romana.max, r.spine.romana.max], [1, 2, 2]);
    assert.deepEqual([r.host.per_block.max, r.tor.per_block.max, r.spine.per_block.max], [2, 4, 8]);
    // Each host group holds 4 blocks: 64 pods per host.
    assert.equal(b.capacity!.pods_per_host, 64);
    assert.equal(b.capacity!.hosts, 1);
  });

  it('churn in host groups changes no aggregated route, and every block route without', () => {
    const b = only({
      ...SMALL,
      shape: { ...SMALL.shape!, host_groups: true },
      pods: 20,
      churn: { rounds: 4, fraction: 0.5 },
    });
    const c = b.churn!;
    // 80 pods running; each of 4 rounds stops half of them and starts as many.
    assert.equal(c.pods_stopped, 160);
    assert.equal(c.pods_started, 160);
    const events = c.blocks_acquired + c.blocks_released;
    assert.ok(events > 0, 'half the pods moving must empty and fill some blocks');
    for (const tier of ['host', 'tor', 'spine', 'core'] as const) {
      assert.equal(c.route_updates[tier].romana, 0, tier);
    }
    // Without aggregation each block event changes the peer host, the ToR, spine and core.
    assert.equal(c.route_updates.tor.per_block, events);
    assert.equal(c.route_updates.host.per_block, events);
    assert.equal(c.route_updates.spine.per_block, events);
  });

  it('ECMP: both hosts of a rack announce the rack /25, the ToR holds one route', () => {
    const b = only({ ...SMALL, ecmp: true, churn: { rounds: 3, fraction: 0.5 } });
    const r = b.routes!;
    // The ToR learns 10.0.0.0/25 from both hosts: one route with two next hops.
    assert.equal(r.tor.romana.max, 1);
    // The hosts still route their peer's block; the spine one /25 per rack.
    assert.deepEqual([r.host.romana.max, r.spine.romana.max], [1, 2]);
    // Blocks come and go behind a prefix that never changes.
    assert.equal(b.churn!.route_updates.tor.romana, 0);
  });

  it('several block sizes: a size the groups cannot hold is reported, the others computed', () => {
    const r = simulate({ ...SMALL, block_masks: [24, 28] });
    // A /24 block does not fit in a /25 rack group.
    assert.match(r.block_sizes[0]!.error ?? '', /block/);
    assert.equal(r.block_sizes[1]!.addresses?.pods, 20);
  });

  it('pods that do not fit give an error and the capacity', () => {
    // 65 pods per host need 5 blocks each, 10 per rack of 8.
    const r = simulate({ ...SMALL, pods: 65 });
    const b = r.block_sizes[0]!;
    assert.match(b.error ?? '', /do not fit with \/28 blocks/);
    assert.equal(b.capacity?.pods_per_host, 64);
  });

  it('is the same for the same seed, and skewed loads total mean x hosts', () => {
    const input: SimulationInput = {
      ...SMALL,
      pods: { distribution: 'skewed', mean: 10, exponent: 1.2 },
      churn: { rounds: 3, fraction: 0.3 },
      seed: 7,
    };
    const a = simulate(input);
    assert.deepEqual(simulate(input), a);
    assert.equal(a.pods, 40);
    assert.equal(a.block_sizes[0]!.addresses!.pods, 40);
  });

  it('given pods per host: hosts not listed run none', () => {
    const b = only({
      ...SMALL,
      pods: { distribution: 'given', per_host: { 'host-1-1-1': 17, 'host-1-2-2': 3 } },
    });
    // 17 pods need two /28 blocks, 3 pods one: 3 blocks = 48 addresses, 28 wasted.
    assert.deepEqual([b.addresses!.pods, b.addresses!.blocks, b.addresses!.wasted], [20, 3, 28]);
    assert.deepEqual([b.addresses!.blocks_per_host.min, b.addresses!.blocks_per_host.max], [0, 2]);
  });

  it('hosts placed by their tags in examples/topology.json', () => {
    const topology = JSON.parse(
      readFileSync(new URL('../../examples/topology.json', import.meta.url), 'utf8'),
    ) as SimulationInput['topology'];
    const b = only({
      topology,
      hosts: [
        { name: 'a1-1', ip: '192.168.1.1', tags: { zone: 'a', rack: 'a1' } },
        { name: 'a1-2', ip: '192.168.1.2', tags: { zone: 'a', rack: 'a1' } },
        { name: 'a2-1', ip: '192.168.1.3', tags: { zone: 'a', rack: 'a2' } },
        { name: 'b1-1', ip: '192.168.1.4', tags: { zone: 'b', rack: 'b1' } },
      ],
      pods: 20,
    });
    // 10.112.0.0/12 in 3 groups padded to 4 (/14 each); zones split into 2 racks of /15.
    // Placement takes the eligible leaf with the fewest hosts: a1-1 rack-a1; a1-2 "unlabelled"
    // (0 hosts, and it accepts any tags) rather than rack-a1 (1); a2-1 rack-a2; b1-1 rack-b1.
    // Every group then holds one host, so every host announces its group whole.
    const r = b.routes!;
    // 4 ToRs (3 racks and "unlabelled"), 1 route each; no host has a peer behind its ToR.
    assert.deepEqual([r.tor.devices, r.tor.romana.max, r.tor.romana.min], [4, 1, 1]);
    assert.deepEqual([r.host.romana.max, r.host.romana.min], [0, 0]);
    // Spines: zone-a holds its 2 racks' /15s; zone-b the /14 that b1-1 alone holds; the
    // network above "unlabelled" its /14. The core: one route from each.
    assert.deepEqual([r.spine.devices, r.spine.romana.max, r.spine.romana.min], [3, 2, 1]);
    assert.equal(r.core?.romana.max, 3);
    // 20 pods: 2 blocks of /28 per host.
    assert.equal(b.addresses!.blocks, 8);
  });

  it('refuses bad input naming the field', () => {
    const refused = (input: SimulationInput, re: RegExp) =>
      assert.throws(
        () => simulate(input),
        (e: unknown) => isRomanaError(e, 'InvalidInput') && re.test(e.message),
      );
    refused(
      { ...SMALL, topology: { networks: [], topologies: [] } },
      /^topology: give exactly one/,
    );
    refused({ ...SMALL, block_masks: [] }, /^block_masks: 0 block sizes/);
    refused({ ...SMALL, pods: 20_000 }, /^pods: 20000 pods per host/);
    refused({ ...SMALL, pods: { distribution: 'uniform', min: 5, max: 2 } }, /^pods.max/);
  });
});
