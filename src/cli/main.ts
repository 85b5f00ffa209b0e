/**
 * `romana`, the command-line client of romanad: builds the command tree and maps every
 * outcome to an exit code (0 ok, 1 refused, 2 usage, 3 unreachable). Only `--help`,
 * `--version` and command output go to stdout; errors are one line on stderr.
 */
import { Command, CommanderError } from 'commander';
import { registerAddresses } from './commands/address.ts';
import { registerHosts } from './commands/host.ts';
import { registerNamespaces } from './commands/namespace.ts';
import { registerNetworks } from './commands/network.ts';
import { registerPolicies } from './commands/policy.ts';
import { registerTopology } from './commands/topology.ts';
import { registerVips } from './commands/vip.ts';
import { DEFAULT_ROOT_URL, ENV } from './config.ts';
import { runner } from './context.ts';
import { describeError, EXIT } from './errors.ts';
import { processIo, type Io } from './io.ts';
import { VERSION } from '../version.ts';

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
 * The command tree, writing to `io`.
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
  registerNetworks(program, run);
  registerHosts(program, run);
  registerAddresses(program, run);
  registerTopology(program, run);
  registerPolicies(program, run);
  registerVips(program, run);
  registerNamespaces(program, run);
  return program;
}
