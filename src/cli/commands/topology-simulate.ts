/**
 * `romana topology simulate`: the topology advisor, run locally with the real IPAM engine (no
 * romanad needed unless the topology is the live one). Also the flag parsing and tables that
 * `romana topology routes` shares.
 */
import type { Command } from 'commander';
import type {
  BlockSizeReport,
  PodsInput,
  SimulationInput,
  SimulationReport,
  Spread,
  TierRoutes,
} from '../../advisor/index.ts';
import { isRomanaError } from '../../errors.ts';
import type { TopologyUpdateRequest } from '../../ipam/index.ts';
import { examples, type Ctx, type Runner } from '../context.ts';
import { RefusedInput, UsageError } from '../errors.ts';
import { parseDocument, readInput } from '../io.ts';
import { table, type Cell } from '../output.ts';

/** Flags shared by `simulate` and `routes`. */
export interface AdvisorFlags {
  shape?: string;
  cidr: string;
  hostGroups?: boolean;
  pods: string;
  segments?: string;
  seed?: string;
  torDepth?: string;
  spineDepth?: string;
  ecmp?: boolean;
}

/** Adds the flags that describe the topology and the load. */
export function advisorOptions(cmd: Command): Command {
  return cmd
    .argument(
      '[file]',
      'topology document (JSON or YAML); "-" reads stdin; none: romanad\'s live one',
    )
    .option(
      '--shape <ZxRxH>',
      'generate zones x racks x hosts-per-rack instead of a file, e.g. 8x16x8',
    )
    .option('--cidr <cidr>', 'pod network of a generated shape', '10.0.0.0/8')
    .option('--host-groups', 'give each host of a generated shape a group of its own')
    .option(
      '--pods <spec>',
      'pods per host: N, uniform:MIN-MAX or skewed:MEAN[:EXPONENT] (Zipf-like)',
      '30',
    )
    .option('--segments <spec>', 'owners the pods are spread over: N, or tenant:segment,...')
    .option('--seed <n>', 'seed of distributions and churn (default 1)')
    .option('--tor-depth <n>', 'depth of the rack groups (0 = the network; default: the leaf)')
    .option('--spine-depth <n>', 'depth of the zone groups (default: the ToR depth - 1)')
    .option('--ecmp', 'hosts announce their whole group (ECMP at the ToR) instead of their blocks');
}

/** Registers `topology simulate` under `topology`. */
export function registerTopologySimulate(topology: Command, run: Runner): void {
  const cmd = advisorOptions(
    topology
      .command('simulate')
      .description(
        'routes per tier (host, ToR, spine) and wasted addresses for block sizes, by the real IPAM engine',
      ),
  )
    .option(
      '--block-masks <list>',
      "block sizes to compare, e.g. 26,27,28,29 (default: the topology's)",
    )
    .option('--churn <rounds:fraction>', 'stop and restart a fraction of the pods, e.g. 10:0.2');
  cmd.action(
    run(async (ctx, file: string | undefined, flags: AdvisorFlags & SimulateFlags) => {
      const input = await advisorInput(ctx, file, flags);
      if (flags.blockMasks !== undefined)
        input.block_masks = intList(flags.blockMasks, '--block-masks');
      if (flags.churn !== undefined) input.churn = churnSpec(flags.churn);
      const report = await runSimulation(input);
      ctx.show(report, () => simulationText(report));
    }),
  );
  examples(
    cmd,
    'romana topology simulate --shape 8x16x8 --cidr 10.112.0.0/12 --pods 30 --block-masks 26,27,28,29',
    'romana topology simulate examples/topology-1024.json --pods skewed:30:1.1 --churn 10:0.2',
    'romana topology simulate --block-masks 27,28 -o json   # the live topology from romanad',
  );
}

interface SimulateFlags {
  blockMasks?: string;
  churn?: string;
}

/** Runs the advisor, turning its refusals into the CLI's (exit 1, one line). */
export async function runSimulation(input: SimulationInput): Promise<SimulationReport> {
  const { simulate } = await import('../../advisor/index.ts');
  try {
    return simulate(input);
  } catch (e) {
    if (isRomanaError(e, 'InvalidInput')) throw new RefusedInput(e.message);
    throw e;
  }
}

/** The advisor's input from a file, a shape or the live topology, and the load flags. */
export async function advisorInput(
  ctx: Ctx,
  file: string | undefined,
  flags: AdvisorFlags,
): Promise<SimulationInput> {
  const input: SimulationInput = { pods: podsSpec(flags.pods) };
  if (flags.shape !== undefined) {
    if (file !== undefined) throw new UsageError('give a FILE or --shape, not both');
    const m = /^(\d+)x(\d+)x(\d+)$/.exec(flags.shape);
    if (m === null)
      throw new UsageError(`--shape: '${flags.shape}' is not ZONESxRACKSxHOSTS, e.g. 8x16x8`);
    input.shape = { zones: +m[1]!, racks: +m[2]!, hosts: +m[3]!, cidr: flags.cidr };
    if (flags.hostGroups === true) input.shape.host_groups = true;
  } else if (file !== undefined) {
    const src = await readInput(ctx.io, file);
    input.topology = (await parseDocument(src.text, src.name)) as TopologyUpdateRequest;
  } else {
    input.topology = (await ctx.client.getTopology()) as TopologyUpdateRequest;
  }
  if (flags.segments !== undefined) input.segments = segmentsSpec(flags.segments);
  if (flags.seed !== undefined) input.seed = int(flags.seed, '--seed');
  if (flags.ecmp === true) input.ecmp = true;
  if (flags.torDepth !== undefined || flags.spineDepth !== undefined) {
    const tor = int(flags.torDepth ?? '2', '--tor-depth');
    input.tiers = {
      tor,
      spine: int(flags.spineDepth ?? String(Math.max(0, tor - 1)), '--spine-depth'),
    };
  }
  return input;
}

function int(text: string, flag: string): number {
  if (!/^\d+$/.test(text)) throw new UsageError(`${flag}: '${text}' is not a whole number`);
  return Number(text);
}

function intList(text: string, flag: string): number[] {
  return text.split(',').map((t) => int(t.trim(), flag));
}

/**
 * `30`, `uniform:10-50`, `skewed:30` or `skewed:30:1.2`.
 *
 * @example podsSpec('uniform:10-50') // { distribution: 'uniform', min: 10, max: 50 }
 */
export function podsSpec(text: string): PodsInput {
  if (/^\d+$/.test(text)) return Number(text);
  let m = /^uniform:(\d+)-(\d+)$/.exec(text);
  if (m !== null) return { distribution: 'uniform', min: +m[1]!, max: +m[2]! };
  m = /^skewed:(\d+(?:\.\d+)?)(?::(\d+(?:\.\d+)?))?$/.exec(text);
  if (m !== null) {
    return m[2] === undefined
      ? { distribution: 'skewed', mean: +m[1]! }
      : { distribution: 'skewed', mean: +m[1]!, exponent: +m[2] };
  }
  throw new UsageError(`--pods: '${text}' is not N, uniform:MIN-MAX or skewed:MEAN[:EXPONENT]`);
}

function segmentsSpec(text: string): Array<{ tenant: string; segment: string }> {
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    if (n < 1) throw new UsageError('--segments: give at least 1');
    return Array.from({ length: n }, (_, i) => ({
      tenant: 'default',
      segment: `segment-${i + 1}`,
    }));
  }
  return text.split(',').map((pair) => {
    const [tenant, segment, ...rest] = pair.split(':');
    if (!tenant || !segment || rest.length > 0) {
      throw new UsageError(`--segments: '${pair}' is not tenant:segment`);
    }
    return { tenant, segment };
  });
}

function churnSpec(text: string): { rounds: number; fraction: number } {
  const m = /^(\d+):(0?\.\d+|1(?:\.0*)?)$/.exec(text);
  if (m === null) throw new UsageError(`--churn: '${text}' is not ROUNDS:FRACTION, e.g. 10:0.2`);
  return { rounds: +m[1]!, fraction: +m[2]! };
}

const TIER_NAMES = ['host', 'tor', 'spine', 'core'] as const;

function mma(s: Spread): string {
  return s.min === s.max ? String(s.max) : `${s.min}/${s.avg}/${s.max}`;
}

/** Route rows of one block size: a row per tier. */
export function routeRows(b: BlockSizeReport): Cell[][] {
  const rows: Cell[][] = [];
  for (const t of TIER_NAMES) {
    const tier: TierRoutes | null | undefined = b.routes?.[t];
    if (tier === null || tier === undefined) continue;
    rows.push([
      `/${b.block_mask}`,
      t === 'tor' ? 'ToR' : t,
      tier.devices,
      mma(tier.romana),
      mma(tier.per_block),
      mma(tier.per_host),
    ]);
  }
  return rows;
}

export const ROUTE_HEAD = ['BLOCK', 'TIER', 'DEVICES', 'ROMANA', 'PER BLOCK', 'PER HOST'];

/** The report as tables: routes per tier, then addresses, capacity and churn per block size. */
export function simulationText(r: SimulationReport): string {
  const head = `${r.hosts} hosts, ${r.pods} pods, ${r.segments} segment(s), seed ${r.seed}\n\n`;
  const routes = table(ROUTE_HEAD, r.block_sizes.flatMap(routeRows));
  const updates = (b: BlockSizeReport, t: 'tor' | 'spine'): string | undefined => {
    const u = b.churn?.route_updates[t];
    return u === undefined ? undefined : `${u.romana}/${u.per_block}`;
  };
  const rows = r.block_sizes.map((b): Cell[] => [
    `/${b.block_mask}`,
    b.block_size,
    b.addresses?.blocks,
    b.addresses?.wasted,
    b.addresses === undefined ? undefined : `${(b.addresses.wasted_ratio * 100).toFixed(1)}%`,
    b.capacity?.pods_per_host,
    b.churn === undefined ? undefined : b.churn.blocks_acquired + b.churn.blocks_released,
    updates(b, 'tor'),
    updates(b, 'spine'),
    b.error,
  ]);
  const addr = table(
    [
      'BLOCK',
      'SIZE',
      'BLOCKS',
      'WASTED',
      'WASTED %',
      'MAX PODS/HOST',
      'CHURN BLOCK EVENTS',
      'ToR UPDATES',
      'SPINE UPDATES',
      'ERROR',
    ],
    rows,
  );
  const note =
    '\nROMANA, PER BLOCK, PER HOST: routes per device (min/avg/max when they differ).\n' +
    'MAX PODS/HOST: pods every host can run at once before its group has no block left.\n' +
    'UPDATES: route updates under churn, summed over the tier, Romana/one route per block.\n';
  return head + routes + '\n' + addr + note;
}
