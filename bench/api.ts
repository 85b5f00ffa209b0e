/**
 * romanad over HTTP, driven by an external load generator (`wrk`, Debian package `wrk`) so that
 * the client does not share romanad's process: unique `POST /address` bodies over the 1,024-host
 * topology, at concurrency 64, for each store (embedded, etcd), with the request log written at
 * the default level (info) to a file. The floor is a bare fastify handler of the same request in
 * its own process, with the same load, measured before each store and after the last: each
 * store's ratio is to the mean of the floors just before and just after it, so that a machine
 * that speeds up or slows down during the run moves both sides. After each run every address is
 * listed back: no IP may appear twice. A second run at 256 connections samples romanad's RSS
 * against its idle RSS.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startEtcd, type EtcdHandle } from '../test/helpers/etcd.ts';
import { agent, request } from '../test/helpers/romanad.ts';
import type { Report } from './run.ts';
import { rackTopology } from './topology.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const SECONDS = Number(process.env['BENCH_API_SECONDS'] ?? 10);
/** Which stores to measure (comma-separated; default both). */
const STORES = (process.env['BENCH_API_STORES'] ?? 'embedded,etcd').split(',');
/** Node options for romanad only (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`), space-separated. */
export const ROMANAD_NODE_ARGS = (process.env['BENCH_API_ROMANAD_NODE_ARGS'] ?? '')
  .split(' ')
  .filter((a) => a !== '');

interface Server {
  url: string;
  proc: ChildProcess;
  stop(): Promise<void>;
}

/** Spawns `args` with stdout into `logFile`; resolves once the log says where it listens. */
export async function spawnServer(args: string[], logFile: string): Promise<Server> {
  const out = openSync(logFile, 'w');
  const proc = spawn(process.execPath, args, { stdio: ['ignore', out, 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<never>((_, reject) =>
    proc.once('exit', (code) => reject(new Error(`${args.join(' ')} exited ${code}: ${err}`))),
  );
  exited.catch(() => {});
  let url: string | undefined;
  for (let i = 0; i < 600 && url === undefined; i++) {
    await Promise.race([new Promise((r) => setTimeout(r, 50)), exited]);
    url = /listening on "?(http[^"\s]+)/.exec(readFileSync(logFile, 'utf8'))?.[1];
  }
  if (url === undefined) throw new Error(`${args.join(' ')} did not start: ${err}`);
  return {
    url,
    proc,
    stop: async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const done = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await done;
    },
  };
}

/** A wrk script sending unique allocation bodies, round-robin over `hosts`. */
export function wrkScript(dir: string, hosts: string[], tag: string): string {
  const file = path.join(dir, `${tag}.lua`);
  writeFileSync(
    file,
    `local hosts = {${hosts.map((h) => `"${h}"`).join(',')}}
local threads = 0
function setup(thread) thread:set("tid", threads); threads = threads + 1 end
local n = 0
local headers = { ["Content-Type"] = "application/json" }
request = function()
  n = n + 1
  local body = string.format('{"name":"${tag}-%d-%d","host":"%s","tenant":"bench","segment":"s%d"}',
    tid, n, hosts[(n % #hosts) + 1], n % 4)
  return wrk.format("POST", "/address", headers, body)
end
`,
  );
  return file;
}

interface WrkResult {
  perSecond: number;
  requests: number;
  errors: number;
  p50: number;
  p99: number;
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60000 };

function latencyMs(text: string, pct: string): number {
  const m = new RegExp(`^\\s*${pct}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(text);
  if (!m) throw new Error(`wrk printed no ${pct}% latency:\n${text}`);
  return Number(m[1]) * UNIT_MS[m[2]!]!;
}

/** Runs wrk against `url` and parses its summary. */
export async function runWrk(url: string, script: string, connections: number): Promise<WrkResult> {
  const args = ['-t2', `-c${connections}`, `-d${SECONDS}s`, '--latency', '-s', script, url];
  const text = await new Promise<string>((resolve, reject) => {
    const p = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.once('error', reject);
    p.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`wrk: ${code}`))));
  });
  const num = (re: RegExp) => Number(re.exec(text)?.[1] ?? 0);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const errors =
    num(/Non-2xx or 3xx responses: (\d+)/) +
    (socket ? socket.slice(1).reduce((s, v) => s + Number(v), 0) : 0);
  return {
    perSecond: num(/Requests\/sec:\s+([\d.]+)/),
    requests: num(/(\d+) requests in/),
    errors,
    p50: latencyMs(text, '50'),
    p99: latencyMs(text, '99'),
  };
}

/** CPU time (user + system) `pid` has used so far, in ms (`/proc/<pid>/stat`, 100 ticks/s). */
function cpuMs(pid: number): number {
  // Fields after the command name (which may hold spaces), from field 3 on.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

/**
 * wrk against `url` with the CPU time the server `pid` spent meanwhile, per request in µs: on a
 * shared machine a steadier figure than requests/s, which also counts what other work took.
 */
export async function runWrkCpu(
  pid: number,
  url: string,
  script: string,
  connections: number,
): Promise<WrkResult & { cpuUsPerRequest: number }> {
  const before = cpuMs(pid);
  const r = await runWrk(url, script, connections);
  return { ...r, cpuUsPerRequest: ((cpuMs(pid) - before) * 1000) / Math.max(1, r.requests) };
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

/** wrk at `connections` while sampling the RSS of `pid`; resolves with the peak in MB. */
async function peakRssUnder(pid: number, run: () => Promise<WrkResult>): Promise<number> {
  let peak = rssMb(pid);
  const timer = setInterval(() => (peak = Math.max(peak, rssMb(pid))), 100);
  try {
    await run();
  } finally {
    clearInterval(timer);
  }
  return Math.max(peak, rssMb(pid));
}

/** Every address romanad holds; fails when an IP is held twice. */
export async function checkNoDuplicate(url: string): Promise<number> {
  const r = await request(`${url}/addresses`, 'GET');
  if (r.status !== 200) throw new Error(`GET /addresses: ${r.status}`);
  const list = r.body as { name: string; ip: string }[];
  const seen = new Set<string>();
  for (const a of list) {
    if (seen.has(a.ip)) throw new Error(`duplicate address ${a.ip} (${a.name})`);
    seen.add(a.ip);
  }
  return list.length;
}

/** The floor under the c=64 load; reported as `<label>_c64_*`. Resolves with its requests/s. */
async function measureFloor(
  report: Report,
  dir: string,
  script: string,
  label: string,
): Promise<number> {
  const floor = await spawnServer(
    [path.join(ROOT, 'bench/api-floor.mjs')],
    path.join(dir, `${label}.log`),
  );
  try {
    await runWrk(floor.url, script, 64); // warm-up
    const r = await runWrkCpu(floor.proc.pid!, floor.url, script, 64);
    report(`${label}_c64_requests_per_s`, r.perSecond, 'req/s', 'bare fastify, same request');
    report(`${label}_c64_p99_ms`, r.p99, 'ms');
    report(`${label}_c64_cpu_us_per_request`, r.cpuUsPerRequest, 'µs');
    return r.perSecond;
  } finally {
    await floor.stop();
  }
}

/** romanad on one store; resolves with its allocations/s at c=64. */
async function measureRomanad(
  report: Report,
  label: string,
  storeArgs: string[],
  dir: string,
): Promise<number> {
  const topo = rackTopology(8, 16, 8);
  const d = await spawnServer(
    [
      ...ROMANAD_NODE_ARGS,
      path.join(ROOT, 'bin/romanad.js'),
      ...['--port', '0', '--log-level', 'info', ...storeArgs],
    ],
    path.join(dir, `${label}.log`),
  );
  try {
    const t = await request(`${d.url}/topology`, 'POST', topo.doc);
    if (t.status !== 200) throw new Error(`topology: ${t.status} ${JSON.stringify(t.body)}`);
    await runWrk(d.url, wrkScript(dir, topo.hosts, `${label}-warm`), 64);
    const script64 = wrkScript(dir, topo.hosts, `${label}-c64`);
    const r = await runWrkCpu(d.proc.pid!, d.url, script64, 64);
    report(`${label}_c64_allocations_per_s`, r.perSecond, 'ops/s', `${r.requests} allocations`);
    report(`${label}_c64_cpu_us_per_allocation`, r.cpuUsPerRequest, 'µs', 'romanad only');
    report(`${label}_c64_p50_ms`, r.p50, 'ms');
    report(`${label}_c64_p99_ms`, r.p99, 'ms');
    report(`${label}_c64_errors`, r.errors, 'count');
    const script256 = wrkScript(dir, topo.hosts, `${label}-c256`);
    // Idle: after the run above (its addresses held), once romanad has settled.
    await new Promise((r) => setTimeout(r, 1000));
    const idle = rssMb(d.proc.pid!);
    const peak = await peakRssUnder(d.proc.pid!, () => runWrk(d.url, script256, 256));
    report(`${label}_rss_idle_mb`, idle, 'MB');
    report(`${label}_rss_c256_peak_mb`, peak, 'MB');
    report(`${label}_rss_c256_ratio_to_idle`, peak / idle, 'ratio');
    const held = await checkNoDuplicate(d.url);
    report(`${label}_addresses_without_duplicate`, held, 'count');
    return r.perSecond;
  } finally {
    await d.stop();
  }
}

export async function run(report: Report): Promise<void> {
  if (spawnSync('wrk', ['--version']).error) {
    throw new Error('the api bench needs wrk (Debian package wrk): apt-get install wrk');
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'romana-bench-api-'));
  let etcd: EtcdHandle | undefined;
  try {
    const hosts = rackTopology(8, 16, 8).hosts;
    const floorScript = wrkScript(dir, hosts, 'floor');
    // floor, store, floor, store, floor: each store between two floors.
    let before = await measureFloor(report, dir, floorScript, 'floor');
    for (const store of STORES) {
      let args: string[];
      if (store === 'embedded') args = ['--store', `embedded:${path.join(dir, 'store')}`];
      else if (store === 'etcd') {
        etcd = await startEtcd();
        args = ['--store', 'etcd', '--etcd-endpoints', etcd.endpoints.join(',')];
      } else throw new Error(`BENCH_API_STORES: unknown store ${JSON.stringify(store)}`);
      const perSecond = await measureRomanad(report, store, args, dir);
      await etcd?.stop();
      etcd = undefined;
      const after = await measureFloor(report, dir, floorScript, `floor_after_${store}`);
      const floor = (before + after) / 2;
      report(
        `${store}_c64_ratio_to_floor`,
        perSecond / floor,
        'ratio',
        'to the mean of the floors before and after',
      );
      before = after;
    }
  } finally {
    await etcd?.stop();
    agent.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}
