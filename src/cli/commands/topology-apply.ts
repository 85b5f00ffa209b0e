/**
 * `romana topology apply FILE [--dry-run]`: replace the topology, or with `--dry-run` show what
 * the change would do to the live state (romanad computes it with the real update, on a copy:
 * `POST /topology?dryRun=true`) and change nothing.
 */
import type { Command } from 'commander';
import type { TopologyPreview } from '../../advisor/index.ts';
import { examples, type Runner } from '../context.ts';
import { parseDocument, readInput } from '../io.ts';
import { table, type Cell } from '../output.ts';

/** Registers `topology apply` under `topology`. */
export function registerTopologyApply(topology: Command, run: Runner): void {
  const cmd = topology
    .command('apply')
    .description(
      'replace the topology; with --dry-run, show what it would change and change nothing',
    )
    .argument('[file]', 'the document (JSON or YAML); "-" or nothing reads stdin')
    .option('--dry-run', 'only show the groups re-carved, hosts moved, addresses and routes')
    .action(
      run(async (ctx, file: string | undefined, flags: { dryRun?: boolean }) => {
        const input = await readInput(ctx.io, file);
        const doc = await parseDocument(input.text, input.name);
        if (flags.dryRun !== true) {
          const answer = await ctx.client.updateTopology(doc);
          ctx.show(answer, () => 'Topology updated.\n');
          return;
        }
        const preview = await ctx.client.call<TopologyPreview>('POST', '/topology', {
          query: { dryRun: 'true' },
          body: doc,
        });
        ctx.show(preview, () => previewText(preview));
      }),
    );
  examples(
    cmd,
    'romana topology apply --dry-run new-topology.json',
    'romana topology show -f json | jq ".networks[0].block_mask = 27" | romana topology apply --dry-run -',
    'romana topology apply new-topology.json',
  );
}

/** The preview for people: groups, hosts, addresses, then routes per tier before and after. */
export function previewText(p: TopologyPreview): string {
  const lines: string[] = ['Dry run: nothing was changed.', ''];
  const groups: Cell[][] = p.groups.changed.map((g) => [
    g.network,
    g.group,
    g.before ?? '(new)',
    g.after ?? '(gone)',
  ]);
  lines.push(
    `Groups: ${p.groups.changed.length} re-carved, added or removed; ${p.groups.unchanged} unchanged.`,
  );
  if (groups.length > 0)
    lines.push(table(['NETWORK', 'GROUP', 'BEFORE', 'AFTER'], groups).trimEnd());
  lines.push(
    '',
    `Hosts: ${p.hosts.moved.length} moved or re-carved, ${p.hosts.added.length} added, ${p.hosts.dropped.length} dropped.`,
  );
  if (p.hosts.moved.length > 0) {
    lines.push(
      table(
        ['HOST', 'NETWORK', 'BEFORE', 'AFTER'],
        p.hosts.moved.map((m) => [m.host, m.network, m.before, m.after]),
      ).trimEnd(),
    );
  }
  lines.push(
    '',
    `Addresses: ${p.addresses.total}, ${p.addresses.all_kept ? 'every one keeps its IP' : `${p.addresses.moved.length} change IP`}.`,
    `Blocks: ${p.blocks.before} before, ${p.blocks.after} after.`,
    '',
  );
  const rows: Cell[][] = [];
  for (const t of ['host', 'tor', 'spine', 'core'] as const) {
    const b = p.routes.before[t];
    const a = p.routes.after[t];
    if (b === null && a === null) continue;
    rows.push([
      t === 'tor' ? 'ToR' : t,
      b?.romana.max,
      a?.romana.max,
      b?.per_block.max,
      a?.per_block.max,
    ]);
  }
  lines.push(
    table(['TIER', 'ROUTES BEFORE', 'ROUTES AFTER', 'PER BLOCK BEFORE', 'PER BLOCK AFTER'], rows),
  );
  return lines.join('\n');
}
