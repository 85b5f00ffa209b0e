/** `romana address list|show|allocate|release` and `romana blackout list|add|remove`. */
import type { Command } from 'commander';
import type { Address, Blackout, RomanadClient } from '../../client/index.ts';
import { examples, type Runner } from '../context.ts';
import { RefusedInput } from '../errors.ts';
import { fields, table } from '../output.ts';

/** Defines the subcommands of `address` (the command itself is made by main.ts). */
export function registerAddresses(address: Command, run: Runner): void {
  examples(
    address
      .command('list')
      .description('list addresses, optionally of one host')
      .option('--host <name>', 'only addresses on this host')
      .action(
        run(async (ctx, opts: { host?: string }) => {
          const list = await ctx.client.listAddresses(opts.host);
          ctx.show(list, () => addressesTable(list));
        }),
      ),
    'romana address list --host node-1',
  );
  examples(
    address
      .command('show')
      .description('one address, by name, or the pod at an IP')
      .argument('<name-or-ip>')
      .action(
        run(async (ctx, nameOrIp: string) => {
          const a = (await podAt(ctx.client, nameOrIp)) ?? (await ctx.client.getAddress(nameOrIp));
          ctx.show(a, () => addressDetail(a));
        }),
      ),
    'romana address show pod-a',
    'romana address show 10.112.0.3',
  );
  examples(
    address
      .command('allocate')
      .description('allocate an address on a host; prints it')
      .argument('<name>')
      .requiredOption('--host <name>', 'host the address is for')
      .option('--tenant <tenant>', 'tenant (default: none)')
      .option('--segment <segment>', 'segment within the tenant (default: none)')
      .action(
        run(
          async (ctx, name: string, opts: { host: string; tenant?: string; segment?: string }) => {
            await ctx.client.allocateAddress({ name, ...opts });
            const a = await ctx.client.getAddress(name);
            ctx.show(a, () => addressDetail(a));
          },
        ),
      ),
    'romana address allocate pod-a --host node-1 --tenant web --segment frontend',
  );
  examples(
    address
      .command('release')
      .description('release an address, by name, or the pod at an IP')
      .argument('<name-or-ip>')
      .action(
        run(async (ctx, nameOrIp: string) => {
          const pod = await podAt(ctx.client, nameOrIp);
          const answer = await ctx.client.releaseAddress(pod?.name ?? nameOrIp);
          ctx.show(answer, () => `Address ${nameOrIp} released.\n`);
        }),
      ),
    'romana address release pod-a',
    'romana address release 10.112.0.1',
  );
}

/** A dotted-quad IPv4 address as romanad writes it (no leading zeros). */
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/**
 * An argument that is an IP address (either family) means the pod at that IP: names cannot look like IP
 * addresses (docs/api.md, "Names and limits"), but one stored before that rule could, and
 * romanad looks a name up before an IP. `undefined` when the argument is a name.
 */
async function podAt(client: RomanadClient, arg: string): Promise<Address | undefined> {
  // An IPv6 address has a ':', which no address name has.
  if (!IPV4.test(arg) && !arg.includes(':')) return undefined;
  const found = (await client.listAddresses()).find((a) => ipsOf(a).some((x) => x.ip === arg));
  if (found === undefined) throw new RefusedInput(`No pod holds IP ${arg}`);
  return found;
}

/** Defines the subcommands of `blackout` (the command itself is made by main.ts). */
export function registerBlackouts(blackout: Command, run: Runner): void {
  examples(
    blackout
      .command('list')
      .description('list blackouts')
      .action(
        run(async (ctx) => {
          const list = await ctx.client.listBlackouts();
          ctx.show(list, () => blackoutsTable(list));
        }),
      ),
    'romana blackout list',
  );
  examples(
    blackout
      .command('add')
      .description('reserve a range')
      .argument('<cidr>')
      .action(
        run(async (ctx, cidr: string) => {
          const b = await ctx.client.addBlackout(cidr);
          ctx.show(b, () => blackoutsTable([b]));
        }),
      ),
    'romana blackout add 10.127.255.0/24',
  );
  examples(
    blackout
      .command('remove')
      .description('lift a reservation')
      .argument('<cidr>')
      .action(
        run(async (ctx, cidr: string) => {
          const answer = await ctx.client.removeBlackout(cidr);
          ctx.show(answer, () => `Blackout ${cidr} removed.\n`);
        }),
      ),
    'romana blackout remove 10.127.255.0/24',
  );
}

/** The pod an address belongs to, as `namespace/name`; `-` when none. */
export function podColumn(a: Address): string {
  return a.pod === undefined ? '-' : `${a.pod.namespace}/${a.pod.name}`;
}

/** Every family's address of a name (`ips`; a server before dual-stack sends only `ip`). */
function ipsOf(a: Address): Array<{ ip: string; network: string; block: string }> {
  return a.ips ?? [{ ip: a.ip, network: a.network, block: a.block }];
}

/** One field of every family's address, IPv4 first, joined by ','. */
function each(a: Address, field: 'ip' | 'network' | 'block'): string {
  return ipsOf(a)
    .map((x) => x[field])
    .join(',');
}

function addressesTable(list: Address[]): string {
  return table(
    ['NAME', 'IP', 'HOST', 'TENANT', 'SEGMENT', 'NETWORK', 'BLOCK', 'POD'],
    list.map((a) => [
      a.name,
      each(a, 'ip'),
      a.host,
      a.tenant,
      a.segment,
      each(a, 'network'),
      each(a, 'block'),
      podColumn(a),
    ]),
  );
}

function addressDetail(a: Address): string {
  return fields([
    ['Name', a.name],
    ['IP', each(a, 'ip')],
    ['Host', a.host],
    ['Tenant', a.tenant],
    ['Segment', a.segment],
    ['Network', each(a, 'network')],
    ['Block', each(a, 'block')],
    ...(a.pod === undefined ? [] : ([['Pod', podColumn(a)]] as Array<[string, string]>)),
  ]);
}

function blackoutsTable(list: Blackout[]): string {
  return table(
    ['CIDR', 'NETWORK'],
    list.map((b) => [b.cidr, b.network]),
  );
}
