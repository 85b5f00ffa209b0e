/** `romana topology show|update|validate`. */
import type { Command } from 'commander';
import type { Topology } from '../../client/index.ts';
import type { GroupOrHost } from '../../ipam/index.ts';
import { examples, type Runner } from '../context.ts';
import { RefusedInput } from '../errors.ts';
import { parseDocument, readInput } from '../io.ts';
import { table, tagsText, type Cell } from '../output.ts';
import { registerTopologyApply } from './topology-apply.ts';
import { registerTopologyRoutes } from './topology-routes.ts';
import { registerTopologySimulate } from './topology-simulate.ts';

/** Defines the subcommands of `topology` (the command itself is made by main.ts). */
export function registerTopology(topology: Command, run: Runner): void {
  examples(
    topology
      .command('show')
      .description('the topology, with the CIDR carved for each group')
      .action(
        run(async (ctx) => {
          const doc = await ctx.client.getTopology();
          ctx.show(doc, () => topologyText(doc));
        }),
      ),
    'romana topology show',
    'romana topology show -f json > topology.json',
  );
  examples(
    topology
      .command('update')
      .description('replace the topology with a document (JSON or YAML) from FILE or stdin')
      .argument('[file]', 'the document; "-" or nothing reads stdin')
      .action(
        run(async (ctx, file: string | undefined) => {
          const input = await readInput(ctx.io, file);
          const doc = await parseDocument(input.text, input.name);
          const answer = await ctx.client.updateTopology(doc);
          ctx.show(answer, () => 'Topology updated.\n');
        }),
      ),
    'romana topology update topology.json',
    'romana topology show -f json | jq ".networks[0].block_mask = 27" | romana topology update -',
  );
  examples(
    topology
      .command('validate')
      .description('check a topology file locally (no server) and print every problem')
      .argument('<file>', 'the document (JSON or YAML); "-" reads stdin')
      .action(
        run(async (ctx, file: string) => {
          const input = await readInput(ctx.io, file);
          const doc = await parseDocument(input.text, input.name);
          const { parseTopology } = await import('../../ipam/index.ts');
          const result = parseTopology(doc);
          const problems = result.ok ? [] : result.problems;
          ctx.show({ valid: result.ok, problems }, () =>
            result.ok ? `${input.name}: valid\n` : problems.map((p) => `${p}\n`).join(''),
          );
          if (!result.ok) {
            throw new RefusedInput(
              `${input.name} is not a valid topology: ${problems.length} problem(s)`,
            );
          }
        }),
      ),
    'romana topology validate topology.json',
  );
  registerTopologyApply(topology, run);
  registerTopologySimulate(topology, run);
  registerTopologyRoutes(topology, run);
}

function topologyText(doc: Topology): string {
  const networks = table(
    ['NETWORK', 'CIDR', 'BLOCK MASK', 'TENANTS'],
    doc.networks.map((n) => [n.name, n.cidr, n.block_mask, (n.tenants ?? []).join(',')]),
  );
  const trees = doc.topologies.map((t) => {
    const rows: Cell[][] = [];
    for (const g of t.map) groupRows(g, 0, rows);
    return `\nTopology of ${t.networks.join(', ')}:\n${table(['GROUP', 'CIDR', 'ASSIGNMENT'], rows)}`;
  });
  return networks + trees.join('');
}

function groupRows(g: GroupOrHost, depth: number, rows: Cell[][]): void {
  const indent = '  '.repeat(depth);
  const name = g.ip === undefined ? (g.name ?? '') : `${g.name ?? ''} (host ${g.ip})`;
  rows.push([indent + name, g.cidr, tagsText(g.assignment)]);
  for (const child of g.groups ?? []) groupRows(child, depth + 1, rows);
}
