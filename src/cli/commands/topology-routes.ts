/**
 * `romana topology routes`: for a topology and a pod count, the routes a host, a ToR and a
 * spine hold under Romana's aggregation, next to one route per block and one per host, computed
 * by the real IPAM engine with the topology's own block size.
 */
import type { Command } from 'commander';
import { examples, type Runner } from '../context.ts';
import { table } from '../output.ts';
import {
  advisorInput,
  advisorOptions,
  ROUTE_HEAD,
  routeRows,
  runSimulation,
  type AdvisorFlags,
} from './topology-simulate.ts';

/** Registers `topology routes` under `topology`. */
export function registerTopologyRoutes(topology: Command, run: Runner): void {
  const cmd = advisorOptions(
    topology
      .command('routes')
      .description('routes per tier for a topology and pod count, with its own block size'),
  );
  cmd.action(
    run(async (ctx, file: string | undefined, flags: AdvisorFlags) => {
      const report = await runSimulation(await advisorInput(ctx, file, flags));
      const b = report.block_sizes[0]!;
      ctx.show(report, () => {
        const head = `${report.hosts} hosts, ${report.pods} pods, /${b.block_mask} blocks\n\n`;
        if (b.error !== undefined) return `${head}${b.error}\n`;
        return head + table(ROUTE_HEAD, routeRows(b));
      });
    }),
  );
  examples(
    cmd,
    'romana topology routes examples/topology-1024.json --pods 30',
    'romana topology routes --shape 2x4x16 --cidr 10.0.0.0/16 --host-groups --pods 100',
    'romana topology routes -o json   # the live topology from romanad',
  );
}
