/** `romana network list|show` and `romana block list|show`. */
import type { Command } from 'commander';
import type { Block, Network } from '../../client/index.ts';
import { examples, type Runner } from '../context.ts';
import { RefusedInput } from '../errors.ts';
import { fields, table } from '../output.ts';

/** Defines the subcommands of `network` (the command itself is made by main.ts). */
export function registerNetworks(network: Command, run: Runner): void {
  examples(
    network
      .command('list')
      .description('list networks')
      .action(
        run(async (ctx) => {
          const list = await ctx.client.listNetworks();
          ctx.show(list, () => networksTable(list));
        }),
      ),
    'romana network list',
    'romana network list -f json',
  );
  examples(
    network
      .command('show')
      .description('a network and its blocks')
      .argument('<name>')
      .action(
        run(async (ctx, name: string) => {
          const { blocks } = await ctx.client.listBlocks(name); // 404 for an unknown network
          const found = (await ctx.client.listNetworks()).find((n) => n.id === name);
          if (found === undefined) throw new RefusedInput(`network ${name} disappeared meanwhile`);
          ctx.show(found, () => networkDetail(found, blocks));
        }),
      ),
    'romana network show pods',
  );
}

/** Defines the subcommands of `block` (the command itself is made by main.ts). */
export function registerBlocks(block: Command, run: Runner): void {
  examples(
    block
      .command('list')
      .description('list blocks, optionally of one network or one host')
      .option('--network <name>', 'only blocks of this network')
      .option('--host <name>', 'only blocks of this host')
      .action(
        run(async (ctx, opts: { network?: string; host?: string }) => {
          const list = await ctx.client.listBlocks(opts.network);
          if (opts.host !== undefined)
            list.blocks = list.blocks.filter((b) => b.host === opts.host);
          ctx.show(list, () => blocksTable(list.blocks));
        }),
      ),
    'romana block list',
    'romana block list --network pods --host node-1 -f json',
  );
  examples(
    block
      .command('show')
      .description('one block')
      .argument('<cidr>')
      .action(
        run(async (ctx, cidr: string) => {
          const { blocks } = await ctx.client.listBlocks();
          const found = blocks.find((b) => b.cidr === cidr);
          if (found === undefined) {
            throw new RefusedInput(`no block ${cidr} (romana block list shows the blocks)`);
          }
          ctx.show(found, () => blockDetail(found));
        }),
      ),
    'romana block show 10.112.0.0/28',
  );
}

function networksTable(list: Network[]): string {
  return table(
    ['NAME', 'CIDR', 'BLOCK MASK', 'REVISION'],
    list.map((n) => [n.id, n.cidr, n.block_mask, n.revision]),
  );
}

function networkDetail(n: Network, blocks: Block[]): string {
  const used = blocks.reduce((sum, b) => sum + b.allocated_ip_count, 0);
  const head = fields([
    ['Name', n.id],
    ['CIDR', n.cidr],
    ['Block mask', n.block_mask],
    ['Revision', n.revision],
    ['Blocks', blocks.length],
    ['Addresses', used],
  ]);
  return blocks.length === 0 ? head : `${head}\n${blocksTable(blocks)}`;
}

/** Blocks as a table. */
export function blocksTable(list: Block[]): string {
  return table(
    ['CIDR', 'NETWORK', 'HOST', 'TENANT', 'SEGMENT', 'ADDRESSES', 'REVISION'],
    list.map((b) => [
      b.cidr,
      b.network,
      b.host,
      b.tenant,
      b.segment,
      b.allocated_ip_count,
      b.revision,
    ]),
  );
}

function blockDetail(b: Block): string {
  return fields([
    ['CIDR', b.cidr],
    ['Network', b.network],
    ['Host', b.host],
    ['Tenant', b.tenant],
    ['Segment', b.segment],
    ['Addresses', b.allocated_ip_count],
    ['Revision', b.revision],
  ]);
}
