/**
 * romana-cni: the CNI plugin's entry. Reads CNI_COMMAND and the configuration on stdin, runs the
 * command, prints the result or the CNI error JSON on stdout (and nothing else there), and
 * resolves to the exit code.
 */
import { readFileSync } from 'node:fs';
import { cmdAdd, cmdCheck, cmdDel, cmdGc, cmdStatus, type Deps } from './commands.ts';
import {
  parseCommand,
  parseEnv,
  parseNetConf,
  SUPPORTED_VERSIONS,
  type Command,
  type NetConf,
} from './config.ts';
import { CniCode, CniError, errorJson } from './errors.ts';
import { ProcessExec, type Exec } from '../exec.ts';
import { runInstaller } from './install.ts';
import { makeLog } from './log.ts';
import { versionResult } from './result.ts';
import { Romanad } from './romanad.ts';
import { VERSION } from '../version.ts';

export interface Io {
  env: NodeJS.ProcessEnv;
  /** Reads all of stdin. */
  stdin: () => string;
  stdout: (text: string) => void;
  exec: Exec;
}

const processIo: Io = {
  env: process.env,
  stdin: () => readFileSync(0, 'utf8'),
  stdout: (text) => process.stdout.write(text),
  exec: new ProcessExec(),
};

/**
 * Runs one CNI command. Resolves to 0 on success, 1 after printing an error. A DEL whose input
 * is unusable (no retry could help) resolves to 0, so the runtime does not loop on it; a DEL
 * that could not release its address fails (code 11 when a retry can help).
 *
 * @example
 * process.exitCode = await main(process.argv.slice(2));
 */
export async function main(argv: string[] = [], io: Io = processIo): Promise<number> {
  // Without CNI_COMMAND an operator is at a shell (or an init container): install, uninstall.
  if (!io.env['CNI_COMMAND'] && (argv[0] === 'install' || argv[0] === 'uninstall')) {
    return runInstaller(argv, {
      out: io.stdout,
      err: (text) => process.stderr.write(text),
      script: process.argv[1] ?? '',
      execPath: process.execPath,
    });
  }
  // The runtime passes no arguments; these are for the operator at a shell.
  if (argv.includes('--version')) {
    io.stdout(`romana-cni ${VERSION} (CNI ${SUPPORTED_VERSIONS.join(', ')})\n`);
    return 0;
  }
  if (argv.includes('--help') || argv.includes('-h')) {
    io.stdout(HELP);
    return 0;
  }
  let input = '';
  let command: Command | undefined;
  let conf: NetConf | undefined;
  try {
    command = parseCommand(io.env);
    try {
      input = io.stdin();
    } catch (err) {
      throw new CniError(
        CniCode.IoFailure,
        'cannot read the network configuration on stdin',
        String(err),
      );
    }
    if (command === 'VERSION') {
      io.stdout(JSON.stringify(versionResult(askedVersion(input))) + '\n');
      return 0;
    }
    conf = parseNetConf(input);
    const result = await run(command, conf, io);
    if (result !== undefined) io.stdout(JSON.stringify(result) + '\n');
    return 0;
  } catch (err) {
    if (command === 'DEL' && unusableInput(err)) {
      makeLog(
        conf?.logFile,
        'DEL',
      )(`failed before cleaning up (reported as success): ${String(err)}`);
      return 0;
    }
    const version = conf?.cniVersion ?? askedVersion(input) ?? '1.1.0';
    const out = errorJson(err, version);
    makeLog(conf?.logFile, command ?? '?')(`error ${out.code}: ${out.msg} ${out.details}`);
    io.stdout(JSON.stringify(out) + '\n');
    return 1;
  }
}

const HELP = `Usage: CNI_COMMAND=ADD|DEL|CHECK|STATUS|GC|VERSION ... romana-cni < netconf.json
       romana-cni install [options] | uninstall [options]   (see romana-cni install --help)
       romana-cni --help | --version

The Romana CNI plugin, run by the container runtime for every pod: ADD allocates the pod's
address through romanad and wires its veth, address and routes; DEL undoes it (and succeeds
when there is nothing left); CHECK, STATUS, GC and VERSION follow the CNI spec (1.1).
'romana-cni install' copies it to /opt/cni/bin/romana and writes /etc/cni/net.d/10-romana.conflist
('uninstall' removes them); by hand, install dist/romana-cni.cjs as /opt/cni/bin/romana and
name it in a network configuration:

  {"cniVersion": "1.0.0", "name": "romana", "type": "romana",
   "romanad_url": "http://127.0.0.1:9600"}

Network configuration keys (all optional): romanad_url, token_file, romanad_ca_file,
romana_host_name, gateway_ip, mtu, segment_label_name, kubernetes_config, use_policy,
use_annotations, log_file. The result or error JSON is the only output on stdout.
Supported CNI versions: ${SUPPORTED_VERSIONS.join(', ')}.
`;

async function run(command: Command, conf: NetConf, io: Io): Promise<unknown> {
  const cniEnv =
    command === 'ADD' || command === 'DEL' || command === 'CHECK'
      ? parseEnv(io.env, command)
      : undefined;
  const tag = cniEnv ? `${command} ${cniEnv.containerId.slice(0, 12)}` : command;
  const log = makeLog(conf.logFile, tag);
  const api = new Romanad({
    url: conf.romanadUrl,
    tokenFile: conf.tokenFile,
    caFile: conf.caFile,
    warn: log,
  });
  const d: Deps = { api, exec: io.exec, log };
  switch (command) {
    case 'ADD':
      return cmdAdd(conf, cniEnv!, d);
    case 'DEL':
      return cmdDel(conf, cniEnv!, d);
    case 'CHECK':
      return cmdCheck(conf, cniEnv!, d);
    case 'STATUS':
      return cmdStatus(conf, d);
    case 'GC':
      return cmdGc(conf, d);
    default:
      return undefined;
  }
}

/** Input a DEL can never act on, however often the runtime retries: not worth failing for. */
function unusableInput(err: unknown): boolean {
  const input: number[] = [
    CniCode.IncompatibleVersion,
    CniCode.UnsupportedField,
    CniCode.InvalidEnvironment,
    CniCode.DecodingFailure,
    CniCode.InvalidConfig,
  ];
  return err instanceof CniError && input.includes(err.code);
}

/** The cniVersion stdin asks for, when it is JSON carrying one. */
function askedVersion(input: string): string | undefined {
  try {
    const v = (JSON.parse(input) as { cniVersion?: unknown } | null)?.cniVersion;
    return typeof v === 'string' && v !== '' ? v : undefined;
  } catch {
    return undefined;
  }
}
