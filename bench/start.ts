/**
 * Start time of the programs, next to `node -e 0` measured in the same run: `romana --help`,
 * `romana --version`, `romana host list` (against a running romanad), romanad from spawn to its
 * first successful `/readyz` (empty embedded store in a temp dir), and `romana-cni` VERSION; next
 * to `host list`, the same from an installed copy (no src/), and a one-file script that only
 * sends its GET with node:http and prints.
 * Every command runs through `bin/`, as an operator runs it. The commands take turns, run after
 * run, so that a slow moment of the machine hits them all alike.
 */
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startRomanad } from '../test/helpers/romanad.ts';
import type { Report } from './run.ts';
import { reportSpread, spread } from './stats.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const bin = (name: string) => path.join(ROOT, 'bin', `${name}.js`);
const RUNS = Number(process.env['BENCH_START_RUNS'] ?? 15);
const READY_RUNS = Number(process.env['BENCH_START_READY_RUNS'] ?? 7);

/** A bare `GET /hosts` with node:http that prints each host's name: the floor of `host list`. */
const ONE_FILE_GET = [
  "require('http').get(process.argv[1] + '/hosts', (res) => {",
  "  let text = '';",
  "  res.setEncoding('utf8');",
  "  res.on('data', (c) => (text += c));",
  "  res.on('end', () => {",
  '    const names = JSON.parse(text).hosts.map((h) => h.name);',
  "    process.stdout.write(['NAME', ...names].join('\\n') + '\\n');",
  '  });',
  '});',
].join('\n');

interface Cmd {
  label: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  input?: string;
}

/** Wall time of one process from spawn to exit, in ms; fails when it does not exit 0. */
function timeOnce(cmd: Cmd, env: NodeJS.ProcessEnv): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, cmd.args, {
    env: { ...env, ...cmd.env },
    input: cmd.input ?? '',
    encoding: 'utf8',
  });
  const ms = performance.now() - t0;
  if (r.status !== 0) {
    throw new Error(`${cmd.label} exited with ${r.status}: ${r.stderr}${r.stdout}`);
  }
  return ms;
}

/** Milliseconds from spawning romanad to its first 200 on /readyz. */
async function timeReady(env: NodeJS.ProcessEnv): Promise<number> {
  const dir = mkdtempSync(path.join(tmpdir(), 'romana-bench-start-'));
  const t0 = performance.now();
  const proc = spawn(
    process.execPath,
    [bin('romanad'), '--port', '0', '--log-level', 'warn', '--store', `embedded:${dir}/data`],
    { stdio: ['ignore', 'pipe', 'pipe'], env },
  );
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      let err = '';
      proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
      proc.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /listening on (\S+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      proc.once('exit', (code) => reject(new Error(`romanad exited with ${code}: ${err}`)));
    });
    for (;;) {
      const r = await fetch(`${url}/readyz`);
      await r.arrayBuffer();
      if (r.status === 200) return performance.now() - t0;
      if (performance.now() - t0 > 30_000) throw new Error('romanad not ready after 30 s');
      await new Promise((r) => setImmediate(r));
    }
  } finally {
    const done = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await done;
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs the start-time benchmark. */
/**
 * The layout `npm install -g` gives (bin/, dist/ without build-inputs.json, package.json; no
 * src/), in a temp dir: bin/ runs dist/ there without comparing it with the sources.
 */
function installedCopy(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'romana-bench-installed-'));
  cpSync(path.join(ROOT, 'bin'), path.join(dir, 'bin'), { recursive: true });
  cpSync(path.join(ROOT, 'dist'), path.join(dir, 'dist'), {
    recursive: true,
    filter: (f) => path.basename(f) !== 'build-inputs.json',
  });
  cpSync(path.join(ROOT, 'package.json'), path.join(dir, 'package.json'));
  return dir;
}

/**
 * Fails unless V8 accepts the code cache of `dist/<file>` in a plain `node` (as the commands
 * run; not in this process, whose flags, --expose-gc, make V8 refuse any cache made without).
 */
function checkCodeCache(file: string): void {
  const built = path.join(ROOT, 'dist', file);
  const script = [
    `const { compileCjs } = require(${JSON.stringify(path.join(ROOT, 'bin/launch.js'))});`,
    `const file = ${JSON.stringify(built)};`,
    "const run = compileCjs(file, require('node:fs').readFileSync(file + '.cache'));",
    'process.stdout.write(String(run.script.cachedDataRejected));',
  ].join('\n');
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  if (r.stdout !== 'false') {
    throw new Error(`dist/${file}.cache is refused (${r.stdout}${r.stderr}): run npm run build`);
  }
}

export async function run(report: Report): Promise<void> {
  for (const file of ['romana.cjs', 'romana-cni.cjs', 'romanad.cjs']) checkCodeCache(file);
  const installed = installedCopy();
  const home = mkdtempSync(path.join(tmpdir(), 'romana-bench-home-'));
  // A clean environment: no ~/.romana.yaml, no ROMANA_* from the caller's shell.
  const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'], HOME: home };
  const d = await startRomanad(
    ['--store', 'memory:', '--initial-topology-file', path.join(ROOT, 'examples/topology.json')],
    env,
  );
  try {
    const cmds: Cmd[] = [
      { label: 'node -e 0', args: ['-e', '0'] },
      { label: 'romana --help', args: [bin('romana'), '--help'] },
      { label: 'romana --version', args: [bin('romana'), '--version'] },
      { label: 'romana host list', args: [bin('romana'), '-r', d.url, 'host', 'list'] },
      // The same from an installed copy: no comparison of the build with the sources.
      {
        label: 'romana host list (installed copy)',
        args: [path.join(installed, 'bin/romana.js'), '-r', d.url, 'host', 'list'],
      },
      // What `host list` cannot beat: one file that only sends the GET and prints the names.
      { label: 'one-file http.get /hosts', args: ['-e', ONE_FILE_GET, d.url] },
      {
        label: 'romana-cni VERSION',
        args: [bin('romana-cni')],
        env: { CNI_COMMAND: 'VERSION' },
        input: '{"cniVersion":"1.1.0"}',
      },
    ];
    const times = new Map(cmds.map((c) => [c.label, [] as number[]]));
    for (const c of cmds) timeOnce(c, env); // warm the page cache; not counted
    for (let i = 0; i < RUNS; i++) {
      for (const c of cmds) times.get(c.label)!.push(timeOnce(c, env));
    }
    const ready: number[] = [];
    for (let i = 0; i < READY_RUNS; i++) ready.push(await timeReady(env));
    times.set('romanad spawn to /readyz', ready);
    const floor = spread(times.get('node -e 0')!).median;
    for (const [label, xs] of times) {
      reportSpread(report, label, xs, 'ms');
      if (label !== 'node -e 0')
        report(`${label} ratio`, spread(xs).median / floor, 'x', 'median / node -e 0');
    }
  } finally {
    await d.stop();
    rmSync(home, { recursive: true, force: true });
    rmSync(installed, { recursive: true, force: true });
  }
}
