/**
 * `romana-agent`: the node side of Romana. Sets the node up (romana-lo, sysctls, table and
 * rule), then keeps table `romana` routing to every other host's pods; `romana-agent plan`
 * prints the changes it would make now, and why, without making them.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { Command, InvalidArgumentError, Option } from 'commander';
import { pino } from 'pino';
import { readTokenFile } from '../client/token-file.ts';
import { RomanadApiError, RomanadClient } from '../client/index.ts';
import { formatPlan } from '../policy/index.ts';
import { Agent } from './agent.ts';
import type { PolicyMode } from './policy-sync.ts';
import { AgentMetrics, serveMetrics } from './metrics.ts';
import {
  ensureRule,
  nameTable,
  primaryLink,
  provisionInterface,
  sysctls,
  sysctls6,
  hasIpv6,
  type Log,
} from './provision.ts';
import { inNetns, ProcessExec } from '../exec.ts';
import { hostCidr } from '../net/addr.ts';
import { VERSION } from '../version.ts';
import { invalidInput, notFound } from '../errors.ts';
import { readBooleanEnv } from '../env-flags.ts';
import { runProgram, runUntilSignalled, startWhenReachable } from '../program.ts';

interface Flags {
  romanadUrl: string;
  tokenFile?: string;
  caFile?: string;
  hostname: string;
  provisionIface: boolean;
  gatewayIp: string;
  provisionSysctls: boolean;
  routeTable: number;
  rtTablesFile: string;
  multihop: boolean;
  bgp: boolean;
  metricsPort: number;
  metricsHost: string;
  resyncInterval: number;
  register: boolean;
  hostIp?: string;
  hostIp6?: string;
  hostTag: string[];
  logLevel: string;
  netns?: string;
  policy: boolean;
  policyMode: PolicyMode;
  vips: boolean;
  linkName?: string;
}

const env = (flag: string) => `ROMANA_AGENT_${flag.toUpperCase().replace(/-/g, '_')}`;

function intArg(flag: string, min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`'${v}' is not a whole number from ${min} to ${max}`);
    }
    return n;
  };
}

function options(cmd: Command): Command {
  const opt = (flags: string, help: string, name: string) => new Option(flags, help).env(env(name));
  return cmd
    .addOption(
      opt('--romanad-url <url>', "romanad's URL", 'romanad-url').default('http://127.0.0.1:9600'),
    )
    .addOption(
      opt(
        '--token-file <file>',
        'file holding a bearer token for romanad (node role)',
        'token-file',
      ),
    )
    .addOption(
      opt('--ca-file <file>', 'CA certificate (PEM) to trust for an https romanad', 'ca-file'),
    )
    .addOption(
      opt('--hostname <name>', "this host's name in romanad", 'hostname').default(os.hostname()),
    )
    .addOption(
      opt(
        '--provision-iface',
        'create romana-lo holding the gateway address',
        'provision-iface',
      ).default(false),
    )
    .addOption(
      opt('--gateway-ip <ip>', "the pods' gateway address", 'gateway-ip').default('172.142.0.1'),
    )
    .addOption(
      opt(
        '--provision-sysctls',
        'set proxy_arp (default, all), ip_forward and IPv6 forwarding to 1',
        'provision-sysctls',
      ).default(false),
    )
    .addOption(
      opt('--route-table <id>', 'routing table of the routes to other hosts', 'route-table')
        .default(10)
        .argParser(intArg('route-table', 1, 2 ** 31 - 1)),
    )
    .addOption(
      opt(
        '--rt-tables-file <file>',
        "where the table's name 'romana' is written",
        'rt-tables-file',
      ).default('/etc/iproute2/rt_tables'),
    )
    .addOption(
      opt('--multihop', 'also route pods of hosts reached through a gateway', 'multihop').default(
        false,
      ),
    )
    .addOption(
      opt(
        '--bgp',
        'BGP (romana-route-publisher) routes the pods of hosts beyond a gateway (docs/bgp.md)',
        'bgp',
      )
        .default(false)
        .conflicts('multihop'),
    )
    .addOption(
      opt('--metrics-port <port>', 'port of /metrics and /healthz (0: off)', 'metrics-port')
        .default(9607)
        .argParser(intArg('metrics-port', 0, 65535)),
    )
    .addOption(
      opt(
        '--metrics-host <addr>',
        'address /metrics listens on (0.0.0.0 for every address, e.g. for a Prometheus elsewhere)',
        'metrics-host',
      ).default('127.0.0.1'),
    )
    .addOption(
      opt(
        '--resync-interval <s>',
        'seconds between full reconciles that repair drift',
        'resync-interval',
      )
        .default(30)
        .argParser(intArg('resync-interval', 1, 86400)),
    )
    .addOption(
      opt(
        '--register',
        'add this host to romanad if it is not there (needs --host-ip)',
        'register',
      ).default(false),
    )
    .addOption(opt('--host-ip <ip>', "this host's IP, for --register", 'host-ip'))
    .addOption(
      opt('--host-ip6 <ip6>', "this host's IPv6 address, for --register (IPv6 routes)", 'host-ip6'),
    )
    .addOption(
      new Option('--host-tag <k=v>', 'a tag for --register (repeatable)')
        .default([])
        .argParser((v: string, prev: string[]) => [...prev, v]),
    )
    .addOption(
      opt('--log-level <level>', 'fatal, error, warn, info or debug', 'log-level').default('info'),
    )
    .addOption(
      opt('--policy', 'enforce Romana policies with iptables and ipset', 'policy').default(false),
    )
    .addOption(
      opt(
        '--policy-mode <mode>',
        'romana (2.x: pod ingress denied unless a policy allows it) or kubernetes (NetworkPolicy semantics: isolation only from policies)',
        'policy-mode',
      )
        .choices(['romana', 'kubernetes'])
        .default('romana'),
    )
    .addOption(
      opt(
        '--no-vips',
        "do not hold this node's VIPs (PUT /vips) as /32s on the primary link",
        'no-vips',
      ),
    )
    .addOption(
      opt(
        '--link-name <if>',
        "the node's primary interface (default: the default route's); checked at start",
        'link-name',
      ),
    )
    .addOption(
      opt(
        '--netns <name>',
        'manage network namespace NAME instead of this one (kernel commands run through nsenter)',
        'netns',
      ),
    );
}

function connection(
  f: Flags,
  warn: (msg: string) => void,
): { client: RomanadClient; token?: string; ca?: Buffer } {
  const token =
    f.tokenFile === undefined ? undefined : readTokenFile(f.tokenFile, '--token-file', warn);
  const ca = f.caFile === undefined ? undefined : readFileSync(f.caFile);
  return {
    client: new RomanadClient({ baseUrl: f.romanadUrl, token, ca, timeoutMs: 10_000 }),
    token,
    ca,
  };
}

function kernel(f: Flags) {
  const exec = new ProcessExec();
  return f.netns === undefined ? exec : inNetns(exec, f.netns);
}

async function register(client: RomanadClient, f: Flags, log: Log): Promise<void> {
  try {
    await client.getHost(f.hostname);
    return;
  } catch (err) {
    if (!(err instanceof RomanadApiError) || err.code !== 'NotFound') throw err;
  }
  if (f.hostIp === undefined) throw invalidInput('--register needs --host-ip');
  const tags: Record<string, string> = {};
  for (const t of f.hostTag) {
    const eq = t.indexOf('=');
    if (eq <= 0) throw invalidInput(`--host-tag: '${t}' is not key=value`);
    tags[t.slice(0, eq)] = t.slice(eq + 1);
  }
  const ip6 = f.hostIp6 === undefined ? {} : { ip6: f.hostIp6 };
  await client.addHost({ name: f.hostname, ip: f.hostIp, ...ip6, tags });
  log('info', 'registered this host with romanad', {
    host: f.hostname,
    ip: f.hostIp,
    ...ip6,
    tags,
  });
}

async function run(f: Flags): Promise<number> {
  const logger = pino({ level: f.logLevel, base: { program: 'romana-agent', host: f.hostname } });
  const log: Log = (level, msg, extra) => logger[level](extra ?? {}, msg);
  const metrics = new AgentMetrics();
  const { client, token, ca } = connection(f, (msg) => log('warn', msg));
  const exec = kernel(f);
  if (f.register) await register(client, f, log);
  if (f.provisionIface)
    log('info', 'romana-lo ready', { kind: await provisionInterface(exec, f.gatewayIp, log) });
  await sysctls(exec, f.provisionSysctls);
  const ipv6 = await hasIpv6(exec);
  if (ipv6) await sysctls6(exec, f.provisionSysctls, log);
  await nameTable(f.rtTablesFile, f.routeTable);
  const link = await primaryLink(exec, f.linkName);
  log('info', 'primary link', { link });
  for (const family of ipv6 ? ([4, 6] as const) : ([4] as const)) {
    if (await ensureRule(exec, f.routeTable, family))
      log('info', 'added the policy rule', { table: f.routeTable, family });
  }
  const agent = new Agent({
    client,
    baseUrl: f.romanadUrl,
    token,
    ca,
    hostname: f.hostname,
    table: f.routeTable,
    multihop: f.multihop,
    bgp: f.bgp,
    exec,
    resyncMs: f.resyncInterval * 1000,
    log,
    metrics,
    policy: f.policy,
    policyMode: f.policyMode,
    vipLink: f.vips ? link : undefined,
  });
  const server =
    f.metricsPort > 0
      ? await serveMetrics(metrics, f.metricsPort, f.metricsHost, () => agent.healthy)
      : undefined;
  await startWhenReachable(
    () => agent.start(),
    (attempt, err) =>
      log('warn', 'romanad is not reachable yet; retrying', { attempt, err: String(err) }),
  );
  log('info', 'romana-agent running', { table: f.routeTable, romanad: f.romanadUrl });
  return runUntilSignalled(() => {
    agent.stop();
    server?.close();
  });
}

/**
 * Checks that romanad knows this host: a plan for a name it does not know would be empty and
 * look like "nothing to do". Throws a NotFound error naming the flag, the name and the URL.
 */
async function checkKnown(client: RomanadClient, f: Flags): Promise<void> {
  try {
    await client.getHost(f.hostname);
  } catch (err) {
    if (!(err instanceof RomanadApiError) || err.code !== 'NotFound') throw err;
    throw notFound(
      'host',
      f.hostname,
      `--hostname: romanad at ${f.romanadUrl} has no host '${f.hostname}'; ` +
        `give this node's name in romanad (romana host list), or register it first`,
    );
  }
}

async function plan(f: Flags): Promise<number> {
  const { client } = connection(f, (msg) => process.stderr.write(`romana-agent: ${msg}\n`));
  await checkKnown(client, f);
  const agent = new Agent({
    client,
    baseUrl: f.romanadUrl,
    hostname: f.hostname,
    table: f.routeTable,
    multihop: f.multihop,
    bgp: f.bgp,
    exec: kernel(f),
    resyncMs: 0,
    log: () => undefined,
    policy: f.policy,
    policyMode: f.policyMode,
    vipLink: f.vips ? await primaryLink(kernel(f), f.linkName) : undefined,
  });
  await agent.refresh();
  const p = await agent.reconciler.plan();
  const why = new Map(p.routes.map((r) => [r.dst, r.reason]));
  const out: string[] = [
    `# table ${f.routeTable} on ${f.hostname}: ${p.changes.length} change(s), ${p.routes.length} route(s) wanted`,
  ];
  for (const line of p.changes) {
    const dst = line.split(' ')[2]!;
    out.push(`# ${why.get(dst) ?? 'no longer wanted'}`, line);
  }
  for (const s of p.skipped) out.push(`# not routed: host ${s.host}: ${s.why}`);
  if (agent.policies) {
    const desired = agent.policies.desired();
    out.push(
      '',
      '# policy: changes to the firewall (ipset restore, then iptables-restore --noflush)',
    );
    for (const s of desired.skipped)
      out.push(`# not enforced: policy ${s.id}: ${s.problems.join('; ')}`);
    for (const [family, plan] of await agent.policies.plan()) {
      out.push(`# IPv${family}`, formatPlan(plan, family === 6 ? 'ip6tables' : 'iptables'));
    }
  }
  if (agent.vips) {
    const v = await agent.vips.plan();
    out.push('', `# vips on ${agent.vips.link}: ${v.add.length + v.remove.length} change(s)`);
    for (const ip of v.remove) out.push(`addr del ${hostCidr(ip)} dev ${agent.vips.link}`);
    for (const ip of v.add) out.push(`addr add ${hostCidr(ip)} dev ${agent.vips.link}`);
  }
  process.stdout.write(out.join('\n') + '\n');
  return 0;
}

/** Exit statuses: 0 done, 1 failure, 2 bad usage. */
export async function main(argv: string[]): Promise<number> {
  const program = options(new Command('romana-agent'))
    .description("Keeps this node's routes to every other host's pods (see docs/node.md)")
    .version(`romana-agent ${VERSION}`, '--version', 'print the version')
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
  options(program.command('plan'))
    .description('print the route changes this node would make now, and why; change nothing')
    .action(async (_o: unknown, cmd: Command) => {
      code = await plan(cmd.optsWithGlobals<Flags>());
    });
  return runProgram(program, argv, () => code);
}
