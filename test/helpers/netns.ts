/**
 * Throwaway network namespaces for tests, the one helper every namespace test uses: create one
 * with `lo` up (and optionally a veth pair, one end holding an address, the other end here or
 * in another namespace), run commands inside, and remove it with everything in it (processes,
 * links, routes, iptables and ipset state all go with it).
 *
 * Several engineers and suites run at once on one machine: build names with `uniqueNetnsName`
 * so that two runs never meet.
 */
import {
  execFileSync,
  spawn,
  spawnSync,
  type ChildProcess,
  type SpawnOptions,
  type SpawnSyncReturns,
} from 'node:child_process';
import { inNetns, ProcessExec, type Exec } from '../../src/exec.ts';

/**
 * A veth pair made in a namespace: `name` stays there (holding `address`, a CIDR, when given),
 * `peer` goes to namespace `peerNs` when given (holding `peerAddress`). Both ends are set up.
 */
export interface VethOptions {
  name: string;
  peer: string;
  address?: string;
  peerNs?: string;
  peerAddress?: string;
}

export interface TestNetns {
  readonly name: string;
  /** The namespace file, /var/run/netns/<name> (what CNI_NETNS and `nsenter --net=` take). */
  readonly path: string;
  /** The project's `Exec` seam, every command run inside this namespace. */
  readonly exec: Exec;
  /** Runs `ip -n <name> …` and returns its output; throws on a non-zero exit. */
  ip(...args: string[]): string;
  /** Runs `argv` inside and returns its stdout; throws on a non-zero exit. */
  run(argv: readonly string[], stdin?: string): string;
  /** Runs `argv` inside and returns whatever happened, never throwing. */
  tryRun(argv: readonly string[], stdin?: string): SpawnSyncReturns<string>;
  /** Starts `argv` inside as a child process (ended by `remove` at the latest). */
  spawn(argv: readonly string[], options?: SpawnOptions): ChildProcess;
  /** Adds a veth pair (see `VethOptions`). */
  addVeth(veth: VethOptions): void;
  /** Ends the processes inside and deletes the namespace; absent is fine. */
  remove(): void;
}

let counter = 0;

/**
 * A namespace name no other run uses: `<tag>-<pid>-<n>`, e.g. `seams-del-4711-0`.
 *
 * @example const ns = createNetns(uniqueNetnsName('pk'));
 */
export function uniqueNetnsName(tag: string): string {
  return `${tag}-${process.pid.toString(36)}-${(counter++).toString(36)}`;
}

/** The file of namespace `name`. */
export function netnsPath(name: string): string {
  return `/var/run/netns/${name}`;
}

/**
 * Creates namespace `name` with `lo` up; `options.veth` adds a pair at once. A string as second
 * argument is the older short form: veth `v0` (holding that CIDR) and `v1`, both in `name`, so
 * that the address's subnet is "directly connected".
 *
 * @example
 * const pod = createNetns(uniqueNetnsName('pod'), { veth: { name: 'eth0', peer: 'p0', peerNs: 'sw' } });
 * try { pod.run(['ping', '-c1', '10.0.0.1']); } finally { pod.remove(); }
 */
export function createNetns(
  name: string,
  options: string | { veth?: VethOptions } = {},
): TestNetns {
  const opts =
    typeof options === 'string'
      ? { veth: { name: 'v0', peer: 'v1', address: options, peerNs: undefined } }
      : options;
  execFileSync('ip', ['netns', 'add', name]);
  const ns = handle(name);
  try {
    ns.ip('link', 'set', 'lo', 'up');
    if (opts.veth) ns.addVeth(opts.veth);
  } catch (err) {
    ns.remove();
    throw err;
  }
  return ns;
}

/** A handle on namespace `name` (which must exist for the commands to work). */
export function netnsHandle(name: string): TestNetns {
  return handle(name);
}

function handle(name: string): TestNetns {
  const path = netnsPath(name);
  const enter = (argv: readonly string[]) => [`--net=${path}`, ...argv];
  const ns: TestNetns = {
    name,
    path,
    exec: inNetns(new ProcessExec(), name),
    ip: (...args) => execFileSync('ip', ['-n', name, ...args], { encoding: 'utf8' }),
    run: (argv, stdin) =>
      execFileSync('nsenter', enter(argv), {
        encoding: 'utf8',
        ...(stdin === undefined ? {} : { input: stdin }),
      }),
    tryRun: (argv, stdin) =>
      spawnSync('nsenter', enter(argv), {
        encoding: 'utf8',
        ...(stdin === undefined ? {} : { input: stdin }),
      }),
    spawn: (argv, options = {}) => spawn('nsenter', enter(argv), options),
    addVeth: (v) => addVeth(ns, v),
    remove: () => removeNetns(name),
  };
  return ns;
}

function addVeth(ns: TestNetns, v: VethOptions): void {
  const peerNs = v.peerNs === undefined ? [] : ['netns', v.peerNs];
  ns.ip('link', 'add', v.name, 'type', 'veth', 'peer', 'name', v.peer, ...peerNs);
  if (v.address !== undefined) ns.ip('addr', 'add', v.address, 'dev', v.name);
  ns.ip('link', 'set', v.name, 'up');
  const peerIp = (...args: string[]) =>
    execFileSync('ip', ['-n', v.peerNs ?? ns.name, ...args], { encoding: 'utf8' });
  if (v.peerAddress !== undefined) peerIp('addr', 'add', v.peerAddress, 'dev', v.peer);
  peerIp('link', 'set', v.peer, 'up');
}

/** Ends the processes in namespace `name` and deletes it; absent is fine. */
export function removeNetns(name: string): void {
  const pids = spawnSync('ip', ['netns', 'pids', name], { encoding: 'utf8' });
  for (const pid of (pids.stdout ?? '').split('\n').filter((p) => /^\d+$/.test(p))) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // already gone
    }
  }
  spawnSync('ip', ['netns', 'del', name]);
}
