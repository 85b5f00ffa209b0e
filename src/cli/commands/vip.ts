/** `romana vip list|show|set|remove`: addresses exposed on one node (docs/api.md, VIPs). */
import type { Command } from 'commander';
import type { Vip } from '../../client/index.ts';
import { examples, type Runner } from '../context.ts';
import { fields, table } from '../output.ts';

/** Defines the subcommands of `vip` (the command itself is made by main.ts). */
export function registerVips(vip: Command, run: Runner): void {
  examples(
    vip
      .command('list')
      .description('list VIPs')
      .action(
        run(async (ctx) => {
          const list = await ctx.client.listVips();
          ctx.show(list, () =>
            table(
              ['NAME', 'IP', 'HOST', 'NAMESPACE'],
              list.map((v) => [v.name, v.ip, v.host, v.namespace ?? '']),
            ),
          );
        }),
      ),
    'romana vip list',
  );
  examples(
    vip
      .command('show')
      .description('one VIP')
      .argument('<name>')
      .action(
        run(async (ctx, name: string) => {
          const v = await ctx.client.getVip(name);
          ctx.show(v, () => vipDetail(v));
        }),
      ),
    'romana vip show web.default',
  );
  examples(
    vip
      .command('set')
      .description('create a VIP, or move it to another host')
      .argument('<name>')
      .requiredOption('--ip <ip>', 'the IPv4 address, outside every Romana network')
      .requiredOption('--host <name>', 'the host that holds it')
      .option('--namespace <ns>', 'Kubernetes namespace of the Service it serves')
      .action(
        run(async (ctx, name: string, opts: { ip: string; host: string; namespace?: string }) => {
          const v = await ctx.client.putVip(name, opts);
          ctx.show(v, () => vipDetail(v));
        }),
      ),
    'romana vip set web.default --ip 192.168.0.200 --host node-1',
    'romana vip set web.default --ip 192.168.0.200 --host node-2   # moves it',
  );
  examples(
    vip
      .command('remove')
      .description('delete a VIP; its host drops the address')
      .argument('<name>')
      .action(
        run(async (ctx, name: string) => {
          const answer = await ctx.client.removeVip(name);
          ctx.show(answer, () => `VIP ${name} removed.\n`);
        }),
      ),
    'romana vip remove web.default',
  );
}

function vipDetail(v: Vip): string {
  return fields([
    ['Name', v.name],
    ['IP', v.ip],
    ['Host', v.host],
    ['Namespace', v.namespace ?? ''],
  ]);
}
