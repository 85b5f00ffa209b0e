/**
 * What every command runs with: the settings, a client of romanad, and the output.
 */
import type { Command } from 'commander';
import { RomanadClient } from '../client/index.ts';
import { resolveSettings, type Format, type GlobalFlags, type Settings } from './config.ts';
import type { Io } from './io.ts';
import { json, loadWideTables, WideTextNeeded } from './output.ts';
import { UsageError } from './errors.ts';

/** A command's view of the world. */
export interface Ctx {
  io: Io;
  settings: Settings;
  client: RomanadClient;
  /**
   * Prints `body` (the server's JSON) with `--format json` or `yaml`, else the text `table()`
   * renders.
   */
  show(body: unknown, table: () => string): void;
}

/** Wraps a command's body into a commander action that first builds the context. */
export type Runner = <A extends unknown[]>(
  fn: (ctx: Ctx, ...args: A) => Promise<void>,
) => (...args: unknown[]) => Promise<void>;

/**
 * The runner of one invocation of `romana`.
 *
 * @example cmd.action(runner(io)(async (ctx, name: string) => ctx.show(await ctx.client.getHost(name), …)))
 */
export function runner(io: Io): Runner {
  return <A extends unknown[]>(fn: (ctx: Ctx, ...args: A) => Promise<void>) =>
    async (...args: unknown[]) => {
      const cmd = args[args.length - 1] as Command;
      const settings = await resolveSettings(cmd.optsWithGlobals<GlobalFlags>(), io.env, io.home);
      const client = new RomanadClient({
        baseUrl: settings.rootUrl,
        bareSocket: true, // one request or two, then exit: node:http would cost more to load
        ...(settings.token === undefined ? {} : { token: settings.token }),
        ...(settings.timeoutMs > 0 ? { timeoutMs: settings.timeoutMs } : {}),
      });
      const render = await renderer(settings.format);
      // A table beyond printable ASCII needs cli-table3, loaded then: that output, and any
      // after it, is written once it is loaded, before the command ends.
      let later: Promise<void> | undefined;
      const show = (body: unknown, table: () => string) => {
        const write = () => void io.stdout.write(render === undefined ? table() : render(body));
        if (later !== undefined) {
          later = later.then(write);
          return;
        }
        try {
          write();
        } catch (e) {
          if (!(e instanceof WideTextNeeded)) throw e;
          later = loadWideTables().then(write);
        }
      };
      try {
        await fn({ io, settings, client, show }, ...(args.slice(0, -1) as A));
      } finally {
        await later;
      }
    };
}

/** The renderer of a machine-readable format, or `undefined` for tables (yaml loads lazily). */
async function renderer(format: Format): Promise<((body: unknown) => string) | undefined> {
  if (format === 'json') return json;
  if (format === 'yaml') {
    const { stringify } = await import('yaml');
    return (body) => stringify(body);
  }
  return undefined;
}

/**
 * Adds an Examples section to a command's `--help`.
 *
 * @example examples(cmd, 'romana host list', 'romana host list -f json')
 */
export function examples(cmd: Command, ...lines: string[]): Command {
  return cmd.addHelpText('after', `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`);
}

/**
 * Parses `key=value` arguments into an object (later keys win).
 *
 * @throws UsageError naming the argument that is not `key=value`.
 * @example keyValues(['zone=a', 'rack=a1'], '--tag') // { zone: 'a', rack: 'a1' }
 */
export function keyValues(items: string[], what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const i = item.indexOf('=');
    if (i <= 0) throw new UsageError(`${what}: '${item}' is not key=value`);
    out[item.slice(0, i)] = item.slice(i + 1);
  }
  return out;
}

/** Commander collector for repeatable options: `--tag a=1 --tag b=2` → `['a=1', 'b=2']`. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
