/**
 * How many pods every host of a group can run at once before the group has no block left: a
 * group of `n` hosts and `B` blocks, each host spreading its pods evenly over its `k` owners
 * (one block list per owner), holds `P` pods per host while `n x blocksFor(P) <= B`.
 * src/advisor/capacity.test.ts checks this against the engine filled until it refuses.
 */
import type { TopologyUpdateRequest } from '../ipam/index.ts';
import type { Fabric } from './fabric.ts';
import type { CapacityReport } from './types.ts';

/**
 * Blocks one host needs for `pods` pods spread round-robin over `owners` owners.
 *
 * @example blocksFor(40, 2, 16) // 20 + 20 pods: 2 + 2 blocks
 */
export function blocksFor(pods: number, owners: number, blockSize: number): number {
  const each = Math.floor(pods / owners);
  const extra = pods % owners;
  return extra * Math.ceil((each + 1) / blockSize) + (owners - extra) * Math.ceil(each / blockSize);
}

/** The largest `P` with `hosts x blocksFor(P) <= blocks`. */
export function podsPerHostCapacity(
  hosts: number,
  blocks: number,
  owners: number,
  blockSize: number,
): number {
  let lo = 0;
  let hi = blocks * blockSize;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (hosts * blocksFor(mid, owners, blockSize) <= blocks) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** The network each owner's pods go to: the first listing its tenant, else the first open one. */
function ownersPerNetwork(
  topo: TopologyUpdateRequest,
  segments: ReadonlyArray<{ tenant: string }>,
): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of segments) {
    const net =
      topo.networks.find((n) => n.tenants?.includes(s.tenant) === true) ??
      topo.networks.find((n) => n.tenants === undefined || n.tenants.length === 0);
    if (net !== undefined) out.set(net.name, (out.get(net.name) ?? 0) + 1);
  }
  return out;
}

/**
 * The group that runs out first under an even load, and at how many pods per host.
 *
 * @example capacityReport(ipam.getTopology(), fabric, [{ tenant: 't', segment: 's' }]).pods_per_host
 */
export function capacityReport(
  topo: TopologyUpdateRequest,
  fabric: Fabric,
  segments: ReadonlyArray<{ tenant: string }>,
): CapacityReport | undefined {
  const owners = ownersPerNetwork(topo, segments);
  const masks = new Map(topo.networks.map((n) => [n.name, n.block_mask ?? 29]));
  const leaves = new Map<string, { hosts: number; p: (typeof fabric.placements)[number] }>();
  for (const p of fabric.placements) {
    const id = `${p.network}|${p.path[p.path.length - 1]!.key}`;
    const cur = leaves.get(id);
    if (cur === undefined) leaves.set(id, { hosts: 1, p });
    else cur.hosts++;
  }
  let best: CapacityReport | undefined;
  for (const { hosts, p } of leaves.values()) {
    const k = owners.get(p.network) ?? 0;
    if (k === 0) continue;
    const leaf = p.path[p.path.length - 1]!;
    const size = 2 ** (leaf.cidr.addr.bits - masks.get(p.network)!);
    const blocks = Number(leaf.cidr.size / BigInt(size));
    const cap = podsPerHostCapacity(hosts, blocks, k, size);
    if (best === undefined || cap < best.pods_per_host) {
      best = { pods_per_host: cap, group: leaf.name, cidr: leaf.cidr.toString(), hosts, blocks };
    }
  }
  return best;
}
