/**
 * `romana-route-publisher`: on a node that speaks BGP, keeps BIRD 2 announcing this host's
 * prefixes (docs/bgp.md). `romana-route-publisher status` prints BIRD's sessions and the
 * prefixes it holds for Romana.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { Command, InvalidArgumentError, Option } from 'commander';
import { pino } from 'pino';
import { readTokenFile } from '../client/token-file.ts';
import { RomanadClient } from '../client/index.ts';
import { ProcessExec } from '../exec.ts';
import { VERSION } from '../version.ts';
import { readBooleanEnv } from '../env-flags.ts';
import { runProgram, runUntilSignalled, startWhenReachable } from '../program.ts';
import { BirdControl } from './bird.ts';
import { PublisherMetrics, serveMetrics } from './metrics.ts';
import { parsePeer } from './peers.ts';
import { Publisher, type Log } from './publisher.ts';
import { checkBirdConfig, DEFAULT_TIMERS, staticProtocol } from './render.ts';

interface Flags {
  romanadUrl: string;
  tokenFile?: string;
  caFile?: string;
  hostname: string;
  config: string;
  socket: string;
  birdc: string;
  template?: string;
  peer: string[];
  passwordFile?: string;
  localAs: number;
  routerId?: string;
  ecmpNetwork: string[];
  gracefulRestart: number;
  holdTime: number;
  keepaliveTime: number;
  connectRetryTime: number;
  errorWaitTime: number;
  kernel: boolean;
  metricsPort: number;
  metricsHost: string;
  logLevel: string;
  json: boolean;
}

const env = (flag: string) => `ROMANA_BGP_${flag.toUpperCase().replace(/-/g, '_')}`;

function intArg(min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`'${v}' is not a whole number from ${min} to ${max}`);
    }
    return n;
  };
}

const list = (v: string, prev: string[]) => [...prev, v];

function birdOptions(cmd: Command): Command {
  const opt = (flags: string, help: string) =>
    new Option(flags, help).env(env(flags.split(' ')[0]!.slice(2)));
  return cmd
    .addOption(opt('--socket <path>', "BIRD's control socket").default('/run/bird/bird.ctl'))
    .addOption(opt('--birdc <program>', 'the birdc program').default('birdc'));
}

function options(cmd: Command): Command {
  const opt = (flags: string, help: string) =>
    new Option(flags, help).env(env(flags.split(' ')[0]!.slice(2)));
  return birdOptions(cmd)
    .addOption(opt('--romanad-url <url>', "romanad's URL").default('http://127.0.0.1:9600'))
    .addOption(opt('--token-file <file>', 'bearer token for romanad (node role)'))
    .addOption(opt('--ca-file <file>', 'CA certificate (PEM) to trust for an https romanad'))
    .addOption(opt('--hostname <name>', "this host's name in romanad").default(os.hostname()))
    .addOption(opt('--config <file>', "BIRD's configuration file").default('/etc/bird/bird.conf'))
    .addOption(opt('--template <file>', 'an eta template rendered instead of the default'))
    .addOption(
      new Option('--peer <spec>', 'a BGP peer ADDRESS,AS[,bfd][,multihop=TTL] (repeatable)')
        .default([])
        .argParser(list),
    )
    .addOption(opt('--password-file <file>', 'TCP MD5 password for every session'))
    .addOption(
      opt('--local-as <as>', "this host's AS (host tag bgp-as wins)")
        .default(65534)
        .argParser(intArg(1, 4_294_967_295)),
    )
    .addOption(opt('--router-id <ip>', "BGP router id (default: the host's IP)"))
    .addOption(
      new Option(
        '--ecmp-network <name>',
        "announce this network's host groups whole from each of their hosts (repeatable); " +
          "adds to the topology's own `ecmp: true` (either turns ECMP on, the flag cannot turn it off)",
      )
        .default([])
        .argParser(list),
    )
    .addOption(
      opt('--graceful-restart <s>', 'graceful restart time (0: off)')
        .default(120)
        .argParser(intArg(0, 4095)),
    )
    .addOption(
      opt('--hold-time <s>', 'BGP hold time')
        .default(DEFAULT_TIMERS.hold)
        .argParser(intArg(3, 65535)),
    )
    .addOption(
      opt('--keepalive-time <s>', 'BGP keepalive time')
        .default(DEFAULT_TIMERS.keepalive)
        .argParser(intArg(1, 65535)),
    )
    .addOption(
      opt('--connect-retry-time <s>', 'seconds between connection attempts')
        .default(DEFAULT_TIMERS.connectRetry)
        .argParser(intArg(1, 65535)),
    )
    .addOption(
      opt('--error-wait-time <s>', 'seconds before a failed session is tried again')
        .default(DEFAULT_TIMERS.errorWait)
        .argParser(intArg(1, 65535)),
    )
    .addOption(opt('--no-kernel', 'do not install the unreachable routes in the kernel'))
    .addOption(
      opt('--metrics-port <port>', '/metrics and /healthz port (0: off)')
        .default(9608)
        .argParser(intArg(0, 65535)),
    )
    .addOption(opt('--metrics-host <addr>', 'address /metrics listens on').default('127.0.0.1'))
    .addOption(opt('--log-level <level>', 'fatal, error, warn, info or debug').default('info'));
}

async function run(f: Flags): Promise<number> {
  const logger = pino({
    level: f.logLevel,
    base: { program: 'romana-route-publisher', host: f.hostname },
  });
  const log: Log = (level, msg, extra) => logger[level](extra ?? {}, msg);
  f.peer.forEach((p) => parsePeer(p, 'flag', '--peer')); // bad flags fail before anything runs
  const timers = {
    hold: f.holdTime,
    keepalive: f.keepaliveTime,
    connectRetry: f.connectRetryTime,
    errorWait: f.errorWaitTime,
  };
  checkBirdConfig({
    host: f.hostname,
    routerId: f.routerId ?? '127.0.0.1',
    localAs: f.localAs,
    networks: [],
    announcements: [],
    peers: [],
    gracefulRestart: f.gracefulRestart,
    timers,
    kernel: f.kernel,
  });
  const token =
    f.tokenFile === undefined
      ? undefined
      : readTokenFile(f.tokenFile, '--token-file', (msg) => log('warn', msg));
  const ca = f.caFile === undefined ? undefined : readFileSync(f.caFile, 'utf8');
  const password =
    f.passwordFile === undefined ? undefined : readFileSync(f.passwordFile, 'utf8').trim();
  const metrics = new PublisherMetrics();
  const publisher = new Publisher({
    client: new RomanadClient({ baseUrl: f.romanadUrl, token, ca, timeoutMs: 10_000 }),
    baseUrl: f.romanadUrl,
    token,
    ca,
    host: f.hostname,
    bird: new BirdControl(new ProcessExec(), f.socket, f.birdc),
    configFile: f.config,
    template: f.template,
    peerFlags: f.peer,
    password,
    localAs: f.localAs,
    routerId: f.routerId,
    ecmpNetworks: new Set(f.ecmpNetwork),
    gracefulRestart: f.gracefulRestart,
    timers,
    kernel: f.kernel,
    metrics,
    log,
  });
  const server =
    f.metricsPort > 0
      ? await serveMetrics(metrics, f.metricsPort, f.metricsHost, () => publisher.applied)
      : undefined;
  // Before starting: a SIGHUP while romanad is listed must not end the process (its default).
  const hup = () => {
    log('info', 'SIGHUP: rendering again');
    void publisher.publish();
  };
  process.on('SIGHUP', hup);
  await startWhenReachable(
    () => publisher.start(),
    (attempt, err) =>
      log('warn', 'romanad is not reachable yet; retrying', { attempt, err: String(err) }),
  );
  log('info', 'romana-route-publisher running', { config: f.config, socket: f.socket });
  return runUntilSignalled(() => {
    process.off('SIGHUP', hup);
    publisher.stop();
    server?.close();
  });
}

async function status(f: Pick<Flags, 'socket' | 'birdc' | 'json'>): Promise<number> {
  const bird = new BirdControl(new ProcessExec(), f.socket, f.birdc);
  const protocols = await bird.protocols();
  const sessions = protocols.filter((p) => p.proto === 'BGP');
  const statics = protocols.filter(
    (p) => p.name === staticProtocol(4) || p.name === staticProtocol(6),
  );
  const routes: string[] = [];
  for (const s of statics) {
    for (const line of (await bird.routes('protocol', s.name)).split('\n')) {
      const m = /^([0-9a-fA-F.:]+\/\d+)\s/.exec(line);
      if (m) routes.push(m[1]!);
    }
  }
  if (f.json) {
    process.stdout.write(`${JSON.stringify({ sessions, announced: routes }, null, 2)}\n`);
    return 0;
  }
  const out = ['PROTOCOL                        NEIGHBOR          AS          STATE'];
  for (const s of sessions) {
    out.push(
      [
        s.name.padEnd(31),
        (s.neighbor ?? '').padEnd(17),
        String(s.neighborAs ?? '').padEnd(11),
        `${s.bgpState ?? s.state}${s.lastError ? ` (${s.lastError})` : ''}`,
      ].join(' '),
    );
  }
  out.push('', `announced (${routes.length}):`, ...routes.map((r) => `  ${r}`));
  process.stdout.write(`${out.join('\n')}\n`);
  return sessions.every((s) => s.bgpState?.startsWith('Established')) ? 0 : 3;
}

/** Exit statuses: 0 done, 1 failure, 2 bad usage, 3 (status) a session not established. */
export async function main(argv: string[]): Promise<number> {
  const program = options(new Command('romana-route-publisher'))
    .description("Keeps BIRD 2 announcing this host's Romana prefixes over BGP (docs/bgp.md)")
    .version(`romana-route-publisher ${VERSION}`, '--version', 'print the version')
    .enablePositionalOptions() // `status --socket S`: the subcommand's own options
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .hook('preAction', (_cmd, action) => {
      readBooleanEnv(program);
      if (action !== program) readBooleanEnv(action);
    });
  let code = 0;
  program.action(async (f: Flags) => {
    code = await run(f);
  });
  birdOptions(program.command('status'))
    .description("print BIRD's BGP sessions and the prefixes announced for Romana")
    .option('--json', 'print JSON', false)
    .action(async (o: Flags) => {
      code = await status(o);
    });
  return runProgram(program, argv, () => code);
}
