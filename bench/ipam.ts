/**
 * IPAM engine, in process: a 1,000-host topology (8 zones x 16 racks x 8 hosts), 200,000
 * allocations spread over every host and 8 owners, then 200,000 releases in random order,
 * 200,000 re-allocations, a snapshot and a restore (each timed alone, after a smaller warm-up
 * round on a throwaway engine); and the heap each allocated address costs (names included).
 * Run once over an IPv4 network (`10.0.0.0/8`, /29 blocks) and once over an IPv6 one
 * (`fd00:10::/48`, /120 blocks; metrics suffixed `_ipv6`), with the IPv6 allocation rate as a
 * ratio to the IPv4 one measured in the same run.
 */
import { Ipam, type NetworkDefinition } from '../src/ipam/index.ts';
import type { Report } from './run.ts';
import { BENCH_NETWORK_V4, BENCH_NETWORK_V6, rackTopology } from './topology.ts';

const ZONES = 8;
const RACKS = 16;
const HOSTS_PER_RACK = 8;
const OPS = 200_000;
const OWNERS = [
  ['web', 'front'],
  ['web', 'back'],
  ['db', 'default'],
  ['db', 'replica'],
  ['batch', 'default'],
  ['ml', 'gpu'],
  ['ml', 'cpu'],
  ['ops', 'default'],
] as const;

export function bigTopology(network: NetworkDefinition = BENCH_NETWORK_V4): {
  ipam: Ipam;
  hosts: string[];
} {
  const { doc, hosts } = rackTopology(ZONES, RACKS, HOSTS_PER_RACK, network);
  const ipam = new Ipam();
  ipam.updateTopology(doc);
  return { ipam, hosts };
}

function shuffled<T>(xs: T[]): T[] {
  let seed = 42;
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    const j = seed % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

function allocateAll(ipam: Ipam, hosts: string[], name: (i: number) => string): void {
  for (let i = 0; i < OPS; i++) {
    const [tenant, segment] = OWNERS[(i / hosts.length) & 7]!;
    ipam.allocate({ name: name(i), host: hosts[i % hosts.length]!, tenant, segment });
  }
}

function heapUsed(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with --expose-gc (npm run bench does)');
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** A smaller round of every operation, on an engine thrown away, so the JIT is warm. */
function warmUp(network: NetworkDefinition): void {
  const { ipam, hosts } = bigTopology(network);
  const names = Array.from({ length: OPS / 10 }, (_, i) => `warm-${i}`);
  for (let i = 0; i < names.length; i++) {
    const [tenant, segment] = OWNERS[i & 7]!;
    ipam.allocate({ name: names[i]!, host: hosts[i % hosts.length]!, tenant, segment });
  }
  new Ipam(JSON.parse(JSON.stringify(ipam.toSnapshot())));
  for (const n of shuffled(names)) ipam.release(n);
}

/** Every figure of one network; returns the allocation rate. */
async function runOne(report: Report, network: NetworkDefinition, suffix: string): Promise<number> {
  const m = (metric: string) => `${metric}${suffix}`;
  const t0 = performance.now();
  const { ipam, hosts } = bigTopology(network);
  report(m('topology_build'), performance.now() - t0, 'ms', `${hosts.length} hosts`);

  const names = Array.from({ length: OPS }, (_, i) => `pod-${i}`);
  const a0 = performance.now();
  allocateAll(ipam, hosts, (i) => names[i]!);
  const rate = (OPS / (performance.now() - a0)) * 1000;
  report(m('allocations_per_s'), rate, 'ops/s', `${OPS} allocations in ${network.cidr}`);

  const order = shuffled(names);
  const r0 = performance.now();
  for (const n of order) ipam.release(n);
  const releaseMs = performance.now() - r0;
  report(m('releases_per_s'), (OPS / releaseMs) * 1000, 'ops/s', `${OPS} releases, random order`);
  if (ipam.listAddresses().length !== 0) throw new Error('addresses leaked');

  const again = performance.now();
  allocateAll(ipam, hosts, (i) => names[i]!);
  report(
    m('reallocations_per_s'),
    (OPS / (performance.now() - again)) * 1000,
    'ops/s',
    'into released blocks',
  );
  // The snapshot alone: its timer starts after the re-allocation loop.
  const s0 = performance.now();
  const snap = ipam.toSnapshot();
  const json = JSON.stringify(snap);
  const mb = (json.length / 1e6).toFixed(1);
  report(m('snapshot_ms'), performance.now() - s0, 'ms', `${mb} MB JSON`);
  const l0 = performance.now();
  new Ipam(JSON.parse(json));
  report(m('restore_ms'), performance.now() - l0, 'ms', `${OPS} addresses`);

  // Heap per address: a fresh engine; names are built inside the loop, so the engine's
  // references are what keeps them alive and their bytes count.
  const fresh = bigTopology(network);
  const h0 = heapUsed();
  allocateAll(fresh.ipam, fresh.hosts, (i) => `pod-${i}`);
  const h1 = heapUsed();
  report(m('heap_bytes_per_address'), (h1 - h0) / OPS, 'bytes', 'names included');
  if (fresh.ipam.revisions.allocation < OPS) throw new Error('allocations missing');
  return rate;
}

export async function run(report: Report): Promise<void> {
  warmUp(BENCH_NETWORK_V4);
  warmUp(BENCH_NETWORK_V6);
  const v4 = await runOne(report, BENCH_NETWORK_V4, '');
  const v6 = await runOne(report, BENCH_NETWORK_V6, '_ipv6');
  report(
    'ipv4_to_ipv6_allocation_ratio',
    v4 / v6,
    'x',
    'IPv4 allocations/s over IPv6 allocations/s in this run; target <= 1.5',
  );
}
