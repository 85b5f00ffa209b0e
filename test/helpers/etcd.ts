/**
 * Real etcd for tests: Debian's `etcd-server` (3.4) on free 127.0.0.1 ports with a throwaway
 * data directory. Nothing listens on anything but loopback, except members given a
 * `placement`: those run in network namespaces the caller made (see etcd-partition.ts).
 *
 * Each member runs under a tiny `sh` wrapper whose stdin is a pipe from this process: when the
 * pipe closes (a test calls `stop`, or this process dies for any reason, even SIGKILL), the
 * wrapper kills etcd. Temp directories are removed by `stop*`, and by an exit hook as a fallback.
 *
 * @example
 * const etcd = await startEtcd();
 * after(() => etcd.stop());
 * const store = new EtcdStore({ endpoints: etcd.endpoints });
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { reservePort } from './ports.ts';

const ETCD = process.env['ROMANA_TEST_ETCD'] ?? '/usr/bin/etcd';
const HEALTH_TIMEOUT_MS = 20_000;

/**
 * Kills etcd when our end of stdin closes; each line on stdin sends that signal (STOP and CONT
 * freeze and thaw it); after a TERM, the end of stdin does not turn it into a KILL.
 */
const WRAPPER = `
exec 3<&0
"$0" "$@" </dev/null 3<&- &
p=$!
{ last=; while read sig; do last=$sig; kill -"$sig" "$p" 2>/dev/null; done;
  [ "$last" = TERM ] || kill -KILL "$p" 2>/dev/null; } <&3 &
wait "$p"
`;

const liveDirs = new Set<string>();
process.on('exit', () => {
  for (const d of liveDirs) rmSync(d, { recursive: true, force: true });
});

/** Serve clients over TLS and require client certificates signed by `ca` (PEM paths). */
export interface EtcdTls {
  ca: string;
  cert: string;
  key: string;
}

/** Where a member runs when not on loopback: its network namespace and address there. */
export interface MemberPlacement {
  netns: string;
  ip: string;
}

interface Member {
  name: string;
  /** Address it listens on (client and peer). */
  host: string;
  /** Network namespace it runs in (undefined: this one). */
  netns: string | undefined;
  /** Plain-HTTP port for /health when clients must use TLS. */
  metricsPort: number | undefined;
  clientPort: number;
  peerPort: number;
  dataDir: string;
  proc: ChildProcess | undefined;
  stderr: string;
  exited: Promise<void> | undefined;
  memberId: string | undefined;
}

/** One etcd: `stop` ends it and removes its data; `restart` keeps the data (for reconnect tests). */
export interface EtcdHandle {
  endpoints: string[];
  stop(): Promise<void>;
  /** Stops the server (SIGKILL by default) and starts it again on the same ports and data. */
  restart(signal?: 'SIGKILL' | 'SIGTERM'): Promise<void>;
  /** Stops the server, keeping its data, until `start`. */
  kill(signal?: 'SIGKILL' | 'SIGTERM'): Promise<void>;
  start(): Promise<void>;
}

/** A multi-member cluster, for failover tests. */
export interface EtcdCluster {
  /** Client endpoints (host:port) of all members, in member order. */
  endpoints: string[];
  size: number;
  /** Name and client endpoint of each member, and whether it is running now. */
  members(): Array<{ name: string; endpoint: string; running: boolean }>;
  /** Stops member `i` (SIGKILL by default), keeping its data. */
  stop(i: number, signal?: 'SIGKILL' | 'SIGTERM'): Promise<void>;
  /** Starts member `i` again and waits until it is healthy. */
  start(i: number): Promise<void>;
  /** Freezes member `i` (SIGSTOP): its sockets stay open, it answers nothing. */
  freeze(i: number): void;
  /** Thaws a frozen member (SIGCONT). */
  thaw(i: number): void;
  /** Index of the current leader (waits through an election). */
  leaderIndex(): Promise<number>;
  /** Stops every member and removes all data. Idempotent. */
  stopAll(): Promise<void>;
}

/** How to start etcd: TLS, and extra command-line flags for every member. */
export interface EtcdOptions {
  tls?: EtcdTls;
  /** Appended to each member's flags, e.g. `['--quota-backend-bytes', String(16 << 20)]`. */
  extraArgs?: string[];
}

/**
 * Starts a single-member etcd and waits until it is healthy.
 *
 * @example const etcd = await startEtcd(); try { ... } finally { await etcd.stop(); }
 */
export async function startEtcd(opts: EtcdOptions = {}): Promise<EtcdHandle> {
  const c = await startEtcdCluster(1, opts);
  return {
    endpoints: c.endpoints,
    stop: () => c.stopAll(),
    kill: (signal) => c.stop(0, signal),
    start: () => c.start(0),
    restart: async (signal) => {
      await c.stop(0, signal);
      await c.start(0);
    },
  };
}

/**
 * Starts an `n`-member etcd cluster on loopback and waits until every member is healthy.
 *
 * @example
 * const cluster = await startEtcdCluster(3);
 * await cluster.stop(await cluster.leaderIndex());
 */
export async function startEtcdCluster(
  n = 3,
  opts: EtcdOptions & { placement?: MemberPlacement[] } = {},
): Promise<EtcdCluster> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await tryStartCluster(n, opts.tls, opts.placement, opts.extraArgs ?? []);
    } catch (err) {
      // A reserved port is nobody else's, but a program outside the tests may bind it first.
      if (attempt >= 3 || !/address already in use/.test(String(err))) throw err;
    }
  }
}

async function tryStartCluster(
  n: number,
  tls: EtcdTls | undefined,
  placement: MemberPlacement[] | undefined,
  extraArgs: string[],
): Promise<EtcdCluster> {
  const scheme = tls === undefined ? 'http' : 'https';
  const root = mkdtempSync(path.join(os.tmpdir(), 'romana-etcd-'));
  liveDirs.add(root);
  const token = `romana-test-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const members: Member[] = [];
  for (let i = 0; i < n; i++) {
    const at = placement?.[i];
    members.push({
      name: `m${i}`,
      host: at?.ip ?? '127.0.0.1',
      netns: at?.netns,
      // A member in its own namespace has the standard ports to itself.
      clientPort: at === undefined ? await reservePort() : 2379,
      peerPort: at === undefined ? await reservePort() : 2380,
      metricsPort: tls === undefined ? undefined : await reservePort(),
      dataDir: path.join(root, `m${i}`),
      proc: undefined,
      stderr: '',
      exited: undefined,
      memberId: undefined,
    });
  }
  const initialCluster = members.map((m) => `${m.name}=http://${m.host}:${m.peerPort}`).join(',');
  const launch = (m: Member): void => {
    const args = [
      '--name',
      m.name,
      '--data-dir',
      m.dataDir,
      '--listen-client-urls',
      `${scheme}://${m.host}:${m.clientPort}`,
      '--advertise-client-urls',
      `${scheme}://${m.host}:${m.clientPort}`,
      ...(tls === undefined
        ? []
        : [
            '--cert-file',
            tls.cert,
            '--key-file',
            tls.key,
            '--trusted-ca-file',
            tls.ca,
            '--client-cert-auth',
            '--listen-metrics-urls',
            `http://127.0.0.1:${m.metricsPort}`,
          ]),
      '--listen-peer-urls',
      `http://${m.host}:${m.peerPort}`,
      '--initial-advertise-peer-urls',
      `http://${m.host}:${m.peerPort}`,
      '--initial-cluster',
      initialCluster,
      '--initial-cluster-state',
      'new',
      '--initial-cluster-token',
      token,
      '--heartbeat-interval',
      '50',
      '--election-timeout',
      '500',
      '--logger',
      'zap',
      '--log-outputs',
      'stderr',
      '--log-level',
      'warn',
      ...extraArgs,
    ];
    const command = m.netns === undefined ? [ETCD] : ['ip', 'netns', 'exec', m.netns, ETCD];
    const proc = spawn('sh', ['-c', WRAPPER, ...command, ...args], {
      stdio: ['pipe', 'ignore', 'pipe'],
      env: { ...process.env, ...unsupportedArchEnv() },
    });
    m.proc = proc;
    m.stderr = '';
    proc.stderr!.on('data', (b: Buffer) => {
      m.stderr = (m.stderr + b.toString()).slice(-8192);
    });
    proc.stdin!.on('error', () => {}); // the wrapper may be gone already
    m.exited = new Promise((resolve) => proc.on('exit', () => resolve()));
    // Do not keep this process alive for etcd's sake: if it exits, the pipe closes and the
    // wrapper kills etcd.
    proc.unref();
    (proc.stdin as unknown as net.Socket).unref();
    (proc.stderr as unknown as net.Socket).unref();
  };
  const stopMember = async (m: Member, signal: 'SIGKILL' | 'SIGTERM'): Promise<void> => {
    const proc = m.proc;
    if (proc === undefined) return;
    m.proc = undefined;
    proc.ref(); // keep this process alive until etcd is gone
    proc.stdin!.end(signal === 'SIGTERM' ? 'TERM\n' : 'KILL\n');
    await m.exited;
  };
  let stopped = false;
  const stopAll = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await Promise.all(members.map((m) => stopMember(m, 'SIGKILL')));
    rmSync(root, { recursive: true, force: true });
    liveDirs.delete(root);
  };
  try {
    members.forEach(launch);
    await Promise.all(members.map((m) => waitHealthy(m)));
  } catch (err) {
    await stopAll();
    throw err;
  }
  const member = (i: number): Member => {
    const m = members[i];
    if (m === undefined) throw new Error(`etcd cluster has ${n} members; no member ${i}`);
    return m;
  };
  return {
    endpoints: members.map((m) =>
      tls === undefined ? `${m.host}:${m.clientPort}` : `https://${m.host}:${m.clientPort}`,
    ),
    size: n,
    members: () =>
      members.map((m) => ({
        name: m.name,
        endpoint: `${m.host}:${m.clientPort}`,
        running: m.proc !== undefined,
      })),
    stop: (i, signal = 'SIGKILL') => stopMember(member(i), signal),
    start: async (i) => {
      const m = member(i);
      if (m.proc !== undefined) return;
      launch(m);
      await waitHealthy(m);
    },
    leaderIndex: () => leaderIndex(members),
    freeze: (i) => void member(i).proc?.stdin!.write('STOP\n'),
    thaw: (i) => void member(i).proc?.stdin!.write('CONT\n'),
    stopAll,
  };
}

async function waitHealthy(m: Member): Promise<void> {
  const deadline = Date.now() + HEALTH_TIMEOUT_MS;
  let exited = false;
  void m.exited?.then(() => (exited = true));
  while (Date.now() < deadline) {
    if (exited) throw new Error(`etcd ${m.name} exited during start-up: ${m.stderr.trim()}`);
    try {
      const res = await fetch(`http://${m.host}:${m.metricsPort ?? m.clientPort}/health`, {
        signal: AbortSignal.timeout(1000),
      });
      const body = (await res.json()) as { health?: string };
      if (body.health === 'true') return;
    } catch {
      // not up yet
    }
    await sleep(50);
  }
  throw new Error(`etcd ${m.name} not healthy after ${HEALTH_TIMEOUT_MS} ms: ${m.stderr.trim()}`);
}

async function memberStatus(m: Member): Promise<{ memberId: string; leader: string } | undefined> {
  try {
    const res = await fetch(`http://${m.host}:${m.clientPort}/v3/maintenance/status`, {
      method: 'POST',
      body: '{}',
      signal: AbortSignal.timeout(1000),
    });
    const body = (await res.json()) as { header?: { member_id?: string }; leader?: string };
    if (body.header?.member_id === undefined || body.leader === undefined) return undefined;
    return { memberId: body.header.member_id, leader: body.leader };
  } catch {
    return undefined;
  }
}

async function leaderIndex(members: Member[]): Promise<number> {
  const deadline = Date.now() + HEALTH_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const statuses = await Promise.all(members.map((m) => (m.proc ? memberStatus(m) : undefined)));
    statuses.forEach((s, i) => {
      if (s !== undefined) members[i]!.memberId = s.memberId;
    });
    for (const s of statuses) {
      if (s === undefined || s.leader === '0') continue;
      const idx = members.findIndex((m) => m.memberId === s.leader);
      if (idx >= 0 && members[idx]!.proc !== undefined) return idx;
    }
    await sleep(50);
  }
  throw new Error(`etcd cluster has no leader after ${HEALTH_TIMEOUT_MS} ms`);
}

/** etcd 3.4 refuses to start on arches other than amd64, arm64 and ppc64le unless told. */
function unsupportedArchEnv(): Record<string, string> {
  const goArch: Record<string, string> = {
    arm: 'arm',
    ia32: '386',
    s390x: 's390x',
    riscv64: 'riscv64',
    mips: 'mips',
  };
  const arch = goArch[process.arch];
  return arch === undefined ? {} : { ETCD_UNSUPPORTED_ARCH: arch };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
