/** `romana namespace list|show`: Kubernetes namespaces and their labels (docs/api.md). */
import type { Command } from 'commander';
import type { Namespace } from '../../client/index.ts';
import { examples, type Runner } from '../context.ts';
import { fields, table, tagsText } from '../output.ts';

/** Defines the subcommands of `namespace` (the command itself is made by main.ts). */
export function registerNamespaces(ns: Command, run: Runner): void {
  examples(
    ns
      .command('list')
      .description('list namespaces with their labels')
      .action(
        run(async (ctx) => {
          const list = await ctx.client.listNamespaces();
          ctx.show(list, () => namespacesTable(list));
        }),
      ),
    'romana namespace list',
  );
  examples(
    ns
      .command('show')
      .description('one namespace')
      .argument('<name>')
      .action(
        run(async (ctx, name: string) => {
          const n = await ctx.client.getNamespace(name);
          ctx.show(n, () =>
            fields([
              ['Name', n.name],
              ['Labels', tagsText(n.labels)],
            ]),
          );
        }),
      ),
    'romana namespace show default',
  );
}

/** NAME and LABELS (`key=value,…`), one row per namespace. */
export function namespacesTable(list: Namespace[]): string {
  return table(
    ['NAME', 'LABELS'],
    list.map((n) => [n.name, tagsText(n.labels)]),
  );
}
