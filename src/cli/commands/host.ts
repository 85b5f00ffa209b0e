/** `romana host list|show|add|remove|label`. */
import type { Command } from 'commander';
import type { Host, HostDetail, RemovedHost } from '../../client/index.ts';
import { collect, examples, keyValues, type Runner } from '../context.ts';
import { UsageError } from '../errors.ts';
import { fields, table, tagsText } from '../output.ts';

/** Defines the subcommands of `host` (the command itself is made by main.ts). */
export function registerHosts(host: Command, run: Runner): void {
  examples(
    host
      .command('list')
      .description('list hosts')
      .action(
        run(async (ctx) => {
          const list = await ctx.client.listHosts();
          ctx.show(list, () => hostsTable(list.hosts));
        }),
      ),
    'romana host list',
  );
  examples(
    host
      .command('show')
      .description('a host, its groups and address count')
      .argument('<name>')
      .action(
        run(async (ctx, name: string) => {
          const h = await ctx.client.getHost(name);
          ctx.show(h, () => hostDetail(h));
        }),
      ),
    'romana host show node-1',
  );
  registerAdd(host, run);
  registerRemove(host, run);
  registerLabel(host, run);
}

interface HostAddOptions {
  tag?: string[];
  agentPort?: string;
  ip6?: string;
}

function registerAdd(host: Command, run: Runner): void {
  examples(
    host
      .command('add')
      .description('add a host; prints it with the groups it was placed in')
      .argument('<name>')
      .argument('<ip>')
      .option('--tag <key=value>', 'a tag (repeatable), matched against group assignments', collect)
      .option('--agent-port <port>', "port of the host agent (default: romanad's, 9604)")
      .option('--ip6 <address>', "the host's own IPv6 address (next hop of its IPv6 blocks)")
      .action(
        run(async (ctx, name: string, ip: string, opts: HostAddOptions) => {
          const tags = keyValues(opts.tag ?? [], '--tag');
          await ctx.client.addHost({
            name,
            ip,
            ...(opts.ip6 === undefined ? {} : { ip6: opts.ip6 }),
            ...(opts.tag ? { tags } : {}),
            ...(opts.agentPort === undefined ? {} : { agent_port: port(opts.agentPort) }),
          });
          const h = await ctx.client.getHost(name);
          ctx.show(h, () => hostDetail(h));
        }),
      ),
    'romana host add node-1 192.168.0.11 --tag zone=a --tag rack=a1',
  );
}

function registerRemove(host: Command, run: Runner): void {
  examples(
    host
      .command('remove')
      .description('remove a host (refused while it holds addresses, unless --force)')
      .argument('<name>')
      .option('--force', "also release the host's addresses")
      .action(
        run(async (ctx, name: string, opts: { force?: boolean }) => {
          const removed = await ctx.client.removeHost(name, opts.force === true);
          ctx.show(removed, () => removedText(removed));
        }),
      ),
    'romana host remove node-1',
    'romana host remove node-1 --force',
  );
}

function registerLabel(host: Command, run: Runner): void {
  examples(
    host
      .command('label')
      .description('set tags (key=value) or remove them (key-); other tags are kept')
      .argument('<name>')
      .argument('<key=value|key-...>')
      .action(
        run(async (ctx, name: string, changes: string[]) => {
          const labels = parseLabels(changes);
          const current = await ctx.client.getHost(name);
          const tags = applyLabels(current.tags ?? {}, labels);
          const h = await ctx.client.patchHost(name, { tags });
          ctx.show(h, () => hostDetail(h));
        }),
      ),
    'romana host label node-1 role=web',
    'romana host label node-1 role-',
  );
}

/** Label changes: tags to set and tag keys to remove. */
export interface LabelChanges {
  set: Record<string, string>;
  remove: string[];
}

/**
 * Parses `key=value` (set) and `key-` (remove) arguments.
 *
 * @throws UsageError naming an argument that is neither.
 * @example parseLabels(['role=web', 'tier-']) // { set: { role: 'web' }, remove: ['tier'] }
 */
export function parseLabels(args: string[]): LabelChanges {
  const remove = args.filter((a) => /^[^=]+-$/.test(a)).map((a) => a.slice(0, -1));
  const set = keyValues(
    args.filter((a) => !/^[^=]+-$/.test(a)),
    'label',
  );
  return { set, remove };
}

/**
 * The tags after the changes, keeping the other tags in their order.
 *
 * @example applyLabels({ zone: 'a', tier: '1' }, parseLabels(['rack=a1', 'tier-'])) // { zone: 'a', rack: 'a1' }
 */
export function applyLabels(
  tags: Record<string, string>,
  changes: LabelChanges,
): Record<string, string> {
  const out = { ...tags, ...changes.set };
  for (const k of changes.remove) delete out[k];
  return out;
}

function port(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 65535) {
    throw new UsageError(`--agent-port: '${text}' is not a port number (1-65535)`);
  }
  return n;
}

function hostsTable(list: Host[]): string {
  // The IPv6 column only once some host has an IPv6 address.
  if (list.every((h) => h.ip6 === undefined)) {
    return table(
      ['NAME', 'IP', 'AGENT PORT', 'TAGS'],
      list.map((h) => [h.name, h.ip, h.agent_port, tagsText(h.tags)]),
    );
  }
  return table(
    ['NAME', 'IP', 'IP6', 'AGENT PORT', 'TAGS'],
    list.map((h) => [h.name, h.ip, h.ip6 ?? '-', h.agent_port, tagsText(h.tags)]),
  );
}

function hostDetail(h: HostDetail): string {
  const k8s: Array<[string, string]> =
    h.k8s_info === null ? [] : [['K8s info', JSON.stringify(h.k8s_info)]];
  const head = fields([
    ['Name', h.name],
    ['IP', h.ip],
    ...(h.ip6 === undefined ? [] : ([['IP6', h.ip6]] as Array<[string, string]>)),
    ['Agent port', h.agent_port],
    ['Tags', tagsText(h.tags)],
    ...k8s,
    ['Addresses', h.address_count],
  ]);
  const groups = table(
    ['NETWORK', 'GROUP', 'CIDR'],
    h.groups.map((g) => [g.network, g.group, g.cidr]),
  );
  return `${head}\n${groups}`;
}

function removedText(r: RemovedHost): string {
  const addresses = r.releasedAddresses.length;
  const blocks = r.releasedBlocks.length;
  return `Host ${r.name} (${r.ip}) removed; released ${addresses} address(es) and ${blocks} block(s).\n`;
}
