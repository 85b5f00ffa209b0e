/**
 * The advisor: places pods with the real IPAM engine (in-process, no romanad) for each block
 * size and reports the routes each tier holds, the addresses blocks waste, how far the groups
 * stretch, and the route updates churn causes.
 */
import { invalidInput, isRomanaError } from '../errors.ts';
import { Ipam, type TopologyUpdateRequest } from '../ipam/index.ts';
import { capacityReport } from './capacity.ts';
import { ChurnCounter } from './churn.ts';
import { Fabric } from './fabric.ts';
import { Rng } from './rng.ts';
import { routeReport, spread } from './routes.ts';
import { shapeTopology } from './shape.ts';
import type {
  AddressReport,
  BlockSizeReport,
  SimulationInput,
  SimulationReport,
  TierInput,
} from './types.ts';
import { podsPerHost, WeightedPick } from './workload.ts';
import { checkLimits, type Limits } from './limits.ts';

type Owner = { tenant: string; segment: string };

/** A pod the simulation runs: its address name, host index and owner. */
interface Pod {
  name: string;
  host: number;
  owner: Owner;
}

/**
 * Runs the simulation for every block size of `input`.
 *
 * @example simulate({ shape: { zones: 1, racks: 2, hosts: 2, cidr: '10.0.0.0/24' }, pods: 5, block_masks: [28] })
 */
export function simulate(input: SimulationInput, limits?: Limits): SimulationReport {
  checkLimits(input, limits);
  const seed = input.seed ?? 1;
  const segments: Owner[] = input.segments ?? [{ tenant: 'default', segment: 'default' }];
  const masks: Array<number | undefined> = input.block_masks ?? [undefined];
  const reports: BlockSizeReport[] = [];
  let hosts = 0;
  let pods = 0;
  let tiers: SimulationReport['tiers'] = { tor: null, spine: null };
  for (const mask of masks) {
    const r = simulateOne(input, mask, segments, seed);
    reports.push(r.report);
    if (r.hosts > 0) {
      hosts = r.hosts;
      pods = r.pods;
      tiers = r.tiers;
    }
  }
  return { hosts, pods, segments: segments.length, seed, tiers, block_sizes: reports };
}

interface OneRun {
  report: BlockSizeReport;
  hosts: number;
  pods: number;
  tiers: SimulationReport['tiers'];
}

function simulateOne(
  input: SimulationInput,
  mask: number | undefined,
  segments: Owner[],
  seed: number,
): OneRun {
  const built = buildEngine(input, mask);
  if ('error' in built) {
    return {
      report: { block_mask: mask ?? 0, block_size: 0, error: built.error },
      hosts: 0,
      pods: 0,
      tiers: { tor: null, spine: null },
    };
  }
  const { ipam, tiers, blockMask } = built;
  const topo = ipam.getTopology();
  const fabric = new Fabric(topo, tiers);
  const hostNames = ipam.listHosts().hosts.map((h) => h.name);
  const targets = podsPerHost(hostNames, input.pods, seed);
  const blockSize = 2 ** (32 - blockMask);
  const counter = new ChurnCounter(fabric, input.ecmp === true);
  const base: BlockSizeReport = { block_mask: blockMask, block_size: blockSize };
  const run: OneRun = {
    report: base,
    hosts: hostNames.length,
    pods: targets.reduce((a, b) => a + b, 0),
    tiers: { tor: fabric.torDepth, spine: fabric.spineDepth },
  };
  const live: Pod[] = [];
  try {
    fill(ipam, hostNames, targets, segments, counter, live);
  } catch (err) {
    if (!isRomanaError(err, 'NoAvailableIP')) throw err;
    base.error = `the pods do not fit with /${blockMask} blocks: ${err.message}`;
    base.capacity = capacityReport(topo, fabric, segments);
    return run;
  }
  base.initial_blocks = counter.acquired;
  base.routes = routeReport(fabric, ipam.listAllBlocks().blocks, { ecmp: input.ecmp === true });
  base.addresses = addressReport(ipam, live.length, blockSize);
  base.capacity = capacityReport(topo, fabric, segments);
  if (input.churn !== undefined && input.churn.rounds > 0) {
    counter.mark();
    const rng = new Rng(seed ^ 0x5bd1e995);
    base.churn = churn(ipam, counter, hostNames, targets, live, input.churn, rng);
  }
  return run;
}

/** The engine with the topology (and extra hosts) for one block size, or why it refused. */
function buildEngine(
  input: SimulationInput,
  mask: number | undefined,
): { ipam: Ipam; tiers: TierInput | undefined; blockMask: number } | { error: string } {
  let doc: TopologyUpdateRequest;
  let tiers = input.tiers;
  if (input.shape !== undefined) {
    const s = shapeTopology(input.shape, mask ?? 28);
    doc = s.doc;
    tiers ??= s.tiers;
  } else if (input.topology !== undefined) {
    doc = withBlockMask(input.topology, mask);
  } else {
    throw invalidInput('topology: give a topology document or a shape', {
      resourceType: 'simulation',
    });
  }
  const ipam = new Ipam();
  try {
    ipam.updateTopology(doc);
    for (const h of input.hosts ?? []) {
      ipam.addHost({ name: h.name, ip: h.ip, ...(h.tags === undefined ? {} : { tags: h.tags }) });
    }
  } catch (err) {
    if (isRomanaError(err, 'InvalidInput')) return { error: err.message };
    throw err;
  }
  const first = ipam.listNetworks()[0];
  return { ipam, tiers, blockMask: first?.block_mask ?? mask ?? 0 };
}

/** The document with every network's `block_mask` replaced (unchanged for `undefined`). */
export function withBlockMask(
  doc: TopologyUpdateRequest,
  mask: number | undefined,
): TopologyUpdateRequest {
  if (mask === undefined) return doc;
  return { ...doc, networks: doc.networks.map((n) => ({ ...n, block_mask: mask })) };
}

/** Places every host's pods, one pod per host per round, owners round-robin. */
function fill(
  ipam: Ipam,
  hosts: string[],
  targets: number[],
  segments: Owner[],
  counter: ChurnCounter,
  live: Pod[],
): void {
  const rounds = Math.max(0, ...targets);
  for (let r = 0; r < rounds; r++) {
    for (let h = 0; h < hosts.length; h++) {
      if (targets[h]! <= r) continue;
      const owner = segments[r % segments.length]!;
      const name = `${hosts[h]}/pod-${r + 1}`;
      const view = ipam.allocate({ name, host: hosts[h]!, ...owner });
      counter.allocated(view);
      live.push({ name, host: h, owner });
    }
  }
}

function addressReport(ipam: Ipam, pods: number, blockSize: number): AddressReport {
  const perHost = new Map<string, number>();
  for (const h of ipam.listHosts().hosts) perHost.set(h.name, 0);
  let blocks = 0;
  for (const b of ipam.listAllBlocks().blocks) {
    if (b.host === '') continue;
    blocks++;
    perHost.set(b.host, (perHost.get(b.host) ?? 0) + 1);
  }
  const blockAddresses = blocks * blockSize;
  const wasted = blockAddresses - pods;
  return {
    pods,
    blocks,
    block_addresses: blockAddresses,
    wasted,
    wasted_ratio: blockAddresses === 0 ? 0 : Math.round((wasted / blockAddresses) * 10000) / 10000,
    blocks_per_host: spread([...perHost.values()]),
  };
}

/** Rounds of stopping a share of the pods and starting as many again, hosts drawn by load. */
function churn(
  ipam: Ipam,
  counter: ChurnCounter,
  hosts: string[],
  targets: number[],
  live: Pod[],
  spec: { rounds: number; fraction: number },
  rng: Rng,
): NonNullable<BlockSizeReport['churn']> {
  const pick = new WeightedPick(targets);
  let stopped = 0;
  for (let round = 1; round <= spec.rounds; round++) {
    const n = Math.floor(live.length * spec.fraction);
    const order = rng.shuffle(live.map((_, i) => i)).slice(0, n);
    const gone = new Set(order);
    const stopping = order.map((i) => live[i]!);
    for (const p of stopping) counter.freed(ipam.release(p.name));
    const kept = live.filter((_, i) => !gone.has(i));
    stopping.forEach((p, i) => {
      const h = pick.pick(rng);
      const name = `${hosts[h]}/churn-${round}-${i + 1}`;
      counter.allocated(ipam.allocate({ name, host: hosts[h]!, ...p.owner }));
      kept.push({ name, host: h, owner: p.owner });
    });
    live.splice(0, live.length, ...kept);
    stopped += n;
  }
  return counter.report(spec.rounds, stopped);
}
