/**
 * `romana`, the command-line client of romanad: builds the command tree and maps every
 * outcome to an exit code (0 ok, 1 refused, 2 usage, 3 unreachable). Only `--help`,
 * `--version` and command output go to stdout; errors are one line on stderr.
 */
import { Command, CommanderError } from 'commander';
import { DEFAULT_ROOT_URL, ENV } from './config.ts';
import { runner, type Runner } from './context.ts';
import { describeError, EXIT } from './errors.ts';
import { processIo, type Io, type Out } from './io.ts';
import { VERSION } from '../version.ts';

/** Defines a command's subcommands, options and actions on the command given. */
type Define = (cmd: Command, run: Runner) => void;

/**
 * The commands, in the order `romana --help` lists them. Each module is loaded only when its
 * command runs (or its help is asked for): `romana host list` loads nothing of `topology
 * simulate` (the IPAM engine), of policies or of YAML.
 */
const COMMANDS: ReadonlyArray<{ name: string; description: string; load(): Promise<Define> }> = [
  {
    name: 'network',
    description: 'networks of the topology (read-only)',
    load: async () => (await import('./commands/network.ts')).registerNetworks,
  },
  {
    name: 'block',
    description: 'address blocks carved for hosts (read-only)',
    load: async () => (await import('./commands/network.ts')).registerBlocks,
  },
  {
    name: 'host',
    description: 'hosts (nodes) that receive address blocks',
    load: async () => (await import('./commands/host.ts')).registerHosts,
  },
  {
    name: 'address',
    description: 'pod addresses',
    load: async () => (await import('./commands/address.ts')).registerAddresses,
  },
  {
    name: 'blackout',
    description: 'reserved ranges never allocated from',
    load: async () => (await import('./commands/address.ts')).registerBlackouts,
  },
  {
    name: 'topology',
    description: 'networks and the group tree hosts are placed in',
    load: async () => (await import('./commands/topology.ts')).registerTopology,
  },
  {
    name: 'policy',
    description: 'network policies',
    load: async () => (await import('./commands/policy.ts')).registerPolicies,
  },
  {
    name: 'vip',
    description: 'virtual IPs held by one host each',
    load: async () => (await import('./commands/vip.ts')).registerVips,
  },
  {
    name: 'namespace',
    description: 'Kubernetes namespaces and their labels, as the listener records them',
    load: async () => (await import('./commands/namespace.ts')).registerNamespaces,
  },
];

/**
 * Runs `romana` with `argv` (without `node` and the script) and resolves to the exit code.
 * Never throws and never calls `process.exit`.
 *
 * @example process.exitCode = await main(['host', 'list', '-f', 'json']);
 */
export async function main(argv: string[], io: Io = processIo()): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT.ok;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    const { line, code } = describeError(e);
    io.stderr.write(`${line}\n`);
    return code;
  }
}

/**
 * The command tree, writing to `io`: the top-level commands with their descriptions, each
 * defined further when it runs (`defineAll` defines them all at once).
 *
 * @example buildProgram(processIo()).helpInformation()
 */
export function buildProgram(io: Io): Command {
  const program = new Command('romana')
    .description('Command-line client of romanad, the Romana control plane')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => void io.stdout.write(s),
      writeErr: (s) => void io.stderr.write(s),
      // As commander's defaults (a terminal's width, else 80), but asking io, which makes
      // process.stdout only for a terminal.
      getOutHelpWidth: () => (io.stdout.isTTY === true ? io.stdout.columns : undefined) ?? 80,
      getErrHelpWidth: () => (io.stderr.isTTY === true ? io.stderr.columns : undefined) ?? 80,
      getOutHasColors: () => colors(io.stdout, io.env),
      getErrHasColors: () => colors(io.stderr, io.env),
      outputError: (s, write) =>
        write(`romana: ${s.replace(/^error: /, '').trimEnd()} (see --help)\n`),
    })
    .option(
      '-r, --root-url <url>',
      `romanad's URL (env ${ENV.rootUrl}; default ${DEFAULT_ROOT_URL})`,
    )
    .option(
      '-f, --format <format>',
      `output: table, json or yaml (env ${ENV.format}; default table)`,
    )
    .option('-o, --output <format>', 'the same as --format, as kubectl spells it: -o json, -o yaml')
    .option('--token <token>', `bearer token (env ${ENV.token})`)
    .option(
      '--timeout <duration>',
      `give up when romanad has not answered for this long: 30s, 500ms, 2m; 0 waits forever (env ${ENV.timeout}; default 30s)`,
    )
    .option(
      '-c, --config <file>',
      `YAML file with root-url, format, token, timeout (env ${ENV.config}; default ~/.romana.yaml, then /etc/romana/cli.yaml)`,
    )
    .version(`romana ${VERSION}`, '--version', 'print the version')
    .helpCommand(false)
    .addHelpText(
      'after',
      '\nSettings: flags override environment variables, which override the config file.\n' +
        'Exit codes: 0 ok, 1 refused by romanad, 2 usage error, 3 romanad unreachable.\n' +
        '\nExamples:\n  $ romana host list\n  $ romana -r http://10.0.0.1:9600 -o json address list --host node-1\n  $ romana --timeout 5s host list\n',
    );
  const run = runner(io);
  for (const c of COMMANDS) program.command(c.name).description(c.description);
  // A command's subcommands are defined when it is dispatched to, before it parses the rest.
  program.hook('preSubcommand', async (_, cmd) => defineCommand(cmd, run));
  return program;
}

/** Defines the subcommands of top-level command `cmd`, once. */
async function defineCommand(cmd: Command, run: Runner): Promise<void> {
  const entry = COMMANDS.find((c) => c.name === cmd.name());
  if (entry === undefined || cmd.commands.length > 0) return;
  (await entry.load())(cmd, run);
}

/**
 * Defines every command of `program` (made by `buildProgram(io)`), as running each would: for
 * walking the whole tree (help texts, docs).
 *
 * @example const program = await defineAll(buildProgram(io), io);
 */
export async function defineAll(program: Command, io: Io): Promise<Command> {
  const run = runner(io);
  for (const cmd of program.commands) await defineCommand(cmd, run);
  return program;
}

/** Whether help may keep colour codes: commander's rule (NO_COLOR, FORCE_COLOR, a terminal). */
function colors(out: Out, env: Io['env']): boolean {
  if (env['NO_COLOR'] || env['FORCE_COLOR'] === '0' || env['FORCE_COLOR'] === 'false') return false;
  if (env['FORCE_COLOR'] || env['CLICOLOR_FORCE'] !== undefined) return true;
  return out.isTTY === true && (out.hasColors?.() ?? false);
}
