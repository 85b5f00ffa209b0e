/**
 * Where romanad's time goes under the `api` bench's load: `npm run profile -- TARGET`.
 *
 * TARGET is `embedded`, `etcd` or `floor` (the bare fastify handler of bench/api-floor.mjs).
 * romanad runs from its sources through tsx, so that the profile names each module (the built
 * bundle is minified). wrk drives it as `npm run bench -- api` does: 64 connections, unique
 * `POST /address` bodies over the 1,024-host topology, a warm-up, then a measured run of
 * BENCH_API_SECONDS (default 10). V8's sampling profiler runs during the measured run only
 * (bench/profile-preload.mjs, started and stopped by SIGUSR2): start-up, tsx's compiling and the
 * warm-up stay out.
 *
 * Every figure is self time divided by the run's requests, in µs per request, by where the
 * sampled frame was:
 * - one of our modules (`src/server/state/txn-runner.ts`), or a package (`fastify`);
 * - Node's own JavaScript (`node:events`), by module;
 * - `(garbage collector)`, `(program)` (native code outside any JavaScript frame: the HTTP
 *   parser, V8's runtime) and `(idle)`;
 * - a native function named by V8 (`writev`, `fdatasync`), as is.
 *
 * Each group is printed as a line and as one JSON line
 * `{"bench":"profile","metric":"<target> <group>","value":µs,"unit":"µs/request"}`; `--top N`
 * also lists the N functions with the most self time. The profile is kept (its path is printed
 * last) for Chrome's DevTools.
 *
 *   npm run profile -- embedded --top 40
 *
 * Profiling slows the process it samples: compare profiles with profiles, and take throughput
 * from `npm run bench -- api`. tsx names each closure as it is made (`__name`, which the build
 * does not do): leave it out when comparing with the bundle.
 */
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { startEtcd, type EtcdHandle } from '../test/helpers/etcd.ts';
import { until } from '../test/helpers/fabric.ts';
import { agent, request } from '../test/helpers/romanad.ts';
import { runWrk, spawnServer, wrkScript } from './api.ts';
import { rackTopology } from './topology.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const TARGETS = ['embedded', 'etcd', 'floor'] as const;
type Target = (typeof TARGETS)[number];

/** The subset of V8's `.cpuprofile` format read here. */
interface CpuProfile {
  nodes: Array<{
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    children?: number[];
  }>;
  samples: number[];
  timeDeltas: number[];
}

/**
 * Where a sampled frame's code lives: our module (relative to the checkout), a package, a Node
 * module, or V8's name for what it was doing.
 *
 * @example groupOf({ functionName: 'emit', url: 'node:events', lineNumber: 1 }, '/repo') // 'node:events'
 */
export function groupOf(frame: { functionName: string; url: string }, root: string): string {
  const { url, functionName } = frame;
  if (url === '') return functionName === '' ? '(native)' : functionName;
  if (url.startsWith('node:')) return url;
  const file = url.startsWith('file://') ? decodeURIComponent(new URL(url).pathname) : url;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(file);
  if (pkg) return pkg[1]!;
  const rel = path.relative(root, file);
  return rel.startsWith('..') ? file : rel;
}

/**
 * Each sample's leaf frame and time, but those taken in the profiler's own stop call (whose
 * time spans the whole stop).
 */
function samples(profile: CpuProfile): Array<[CpuProfile['nodes'][number]['callFrame'], number]> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const own = (id: number): boolean => {
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      if (byId.get(at)!.callFrame.url.endsWith('/profile-preload.mjs')) return true;
    }
    return false;
  };
  const out: Array<[CpuProfile['nodes'][number]['callFrame'], number]> = [];
  profile.samples.forEach((id, i) => {
    if (!own(id)) out.push([byId.get(id)!.callFrame, profile.timeDeltas[i] ?? 0]);
  });
  return out;
}

/**
 * Self time per group (`groupOf` of each sample's leaf frame), in the profile's microseconds,
 * largest first.
 *
 * @example selfTimeByGroup(JSON.parse(readFileSync('x.cpuprofile', 'utf8')), '/repo')
 */
export function selfTimeByGroup(profile: CpuProfile, root: string): Array<[string, number]> {
  const totals = new Map<string, number>();
  for (const [frame, us] of samples(profile)) {
    const group = groupOf(frame, root);
    totals.set(group, (totals.get(group) ?? 0) + us);
  }
  return [...totals].sort((a, b) => b[1] - a[1]);
}

/** Self time per function (name and module), largest first: `--top N`. */
function selfTimeByFunction(profile: CpuProfile, root: string): Array<[string, number]> {
  const totals = new Map<string, number>();
  for (const [f, us] of samples(profile)) {
    const key = `${f.functionName || '(anonymous)'}  ${groupOf(f, root)}`;
    totals.set(key, (totals.get(key) ?? 0) + us);
  }
  return [...totals].sort((a, b) => b[1] - a[1]);
}

async function main(argv: string[]): Promise<number> {
  const target = argv.find((a) => !a.startsWith('-') && !/^\d+$/.test(a)) as Target | undefined;
  const topAt = argv.indexOf('--top');
  const top = topAt >= 0 ? Number(argv[topAt + 1]) : 0;
  if (target === undefined || !TARGETS.includes(target) || !(top >= 0)) {
    process.stderr.write(
      `usage: npm run profile -- ${TARGETS.join('|')} [--top N]\n` +
        `  (got ${JSON.stringify(argv)})\n`,
    );
    return 2;
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'romana-profile-'));
  const out = path.join(dir, 'run.cpuprofile');
  let etcd: EtcdHandle | undefined;
  try {
    const topo = rackTopology(8, 16, 8);
    const preload = ['--import', pathToFileURL(path.join(ROOT, 'bench/profile-preload.mjs')).href];
    let args: string[];
    if (target === 'floor') {
      args = [...preload, path.join(ROOT, 'bench/api-floor.mjs')];
    } else {
      if (target === 'etcd') etcd = await startEtcd();
      const store =
        target === 'etcd'
          ? ['--store', 'etcd', '--etcd-endpoints', etcd!.endpoints.join(',')]
          : ['--store', `embedded:${path.join(dir, 'store')}`];
      const main = pathToFileURL(path.join(ROOT, 'src/server/main.ts')).href;
      args = [
        ...preload,
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        `process.exitCode = await (await import('${main}')).main(process.argv.slice(1));`,
        '--',
        ...['--port', '0', '--log-level', 'info', ...store],
      ];
    }
    process.env['ROMANA_PROFILE_OUT'] = out;
    const server = await spawnServer(args, path.join(dir, 'server.log'));
    let requests = 0;
    try {
      if (target !== 'floor') {
        const t = await request(`${server.url}/topology`, 'POST', topo.doc);
        if (t.status !== 200) throw new Error(`topology: ${t.status} ${JSON.stringify(t.body)}`);
      }
      const warm = await runWrk(server.url, wrkScript(dir, topo.hosts, 'warm'), 64);
      process.stdout.write(`warm-up: ${warm.requests} requests, ${warm.perSecond} per s\n`);
      server.proc.kill('SIGUSR2');
      const r = await runWrk(server.url, wrkScript(dir, topo.hosts, 'run'), 64);
      server.proc.kill('SIGUSR2');
      if (r.errors > 0) throw new Error(`${r.errors} errors`);
      requests = r.requests;
      process.stdout.write(`profiled: ${r.requests} requests, ${r.perSecond} per s\n`);
      await until('the profile to be written', () => existsSync(out), 10_000);
    } finally {
      await server.stop();
    }
    const profile = JSON.parse(readFileSync(out, 'utf8')) as CpuProfile;
    const perRequest = (us: number) => Number((us / requests).toFixed(2));
    let busy = 0;
    for (const [group, us] of selfTimeByGroup(profile, ROOT)) {
      if (group !== '(idle)') busy += us;
      const v = perRequest(us);
      if (v < 0.5) continue;
      process.stdout.write(`${String(v).padStart(8)} µs  ${group}\n`);
      const line = { bench: 'profile', metric: `${target} ${group}`, value: v, unit: 'µs/request' };
      process.stdout.write(`${JSON.stringify(line)}\n`);
    }
    const b = {
      bench: 'profile',
      metric: `${target} busy`,
      value: perRequest(busy),
      unit: 'µs/request',
    };
    process.stdout.write(
      `${String(b.value).padStart(8)} µs  busy (all but idle)\n${JSON.stringify(b)}\n`,
    );
    if (top > 0) {
      process.stdout.write(`\nfunctions, self time:\n`);
      for (const [fn, us] of selfTimeByFunction(profile, ROOT).slice(0, top)) {
        process.stdout.write(`${String(perRequest(us)).padStart(8)} µs  ${fn}\n`);
      }
    }
    const kept = path.join(tmpdir(), `romana-${target}-${Date.now()}.cpuprofile`);
    copyFileSync(out, kept);
    process.stdout.write(`profile: ${kept}\n`);
    return 0;
  } finally {
    await etcd?.stop();
    agent.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) {
  process.exitCode = await main(process.argv.slice(2));
}
