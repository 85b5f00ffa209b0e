/**
 * A big topology simulation does not hold romanad up: real romanad processes, one run from its
 * bundle (dist/romanad.cjs with dist/advisor-worker.cjs), one from its sources through tsx (as
 * bin/romanad.js runs a checkout whose build is stale), each with the 1,024-host example. While
 * `POST /topology/simulate` places 30 pods on every host (seconds of work), allocations
 * (`POST /address`, what every CNI ADD waits for) are timed one after another; the simulation's
 * answer must equal `simulate()` run in this process on the same input.
 *
 * Needs `npm run build` (romanad's bundle current).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { simulate } from '../../src/advisor/simulate.ts';
import { API_LIMITS } from '../../src/advisor/limits.ts';
import type { SimulationInput, SimulationReport } from '../../src/advisor/types.ts';
import type { TopologyUpdateRequest } from '../../src/ipam/index.ts';
import { request, startRomanad, type Romanad } from '../helpers/romanad.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const EXAMPLE = path.join(ROOT, 'examples/topology-1024.json');
const ARGS = ['--store', 'memory:', '--port', '0', '--log-level', 'warn'];
const PODS = 30;

/** romanad from its sources, the way bin/launch.js runs a stale checkout (tsx's register()). */
async function fromSources(): Promise<Romanad> {
  const api = import.meta.resolve('tsx/esm/api');
  const main = pathToFileURL(path.join(ROOT, 'src/server/main.ts')).href;
  const script = [
    `const { register } = await import(${JSON.stringify(api)});`,
    'register();',
    `const { main } = await import(${JSON.stringify(main)});`,
    'process.exitCode = await main(process.argv.slice(1));',
  ].join('\n');
  const args = [...ARGS, '--initial-topology-file', EXAMPLE];
  const proc = spawn(process.execPath, ['--input-type=module', '-e', script, '--', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    proc.once('exit', (code) => reject(new Error(`romanad exited with ${code}: ${err}`)));
  });
  process.once('exit', () => proc.kill('SIGKILL'));
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

/**
 * The bundle and its worker are current, so that bin/romanad.js runs them (it runs the sources
 * when any input of the bundle is newer, as bin/launch.js decides).
 */
function assertBuilt(): void {
  const inputs = JSON.parse(readFileSync(path.join(ROOT, 'dist/build-inputs.json'), 'utf8')) as {
    [file: string]: string[] | undefined;
  };
  const own = inputs['romanad.cjs'] ?? [];
  const build = 'run `npm run build` first';
  assert.ok(own.includes('src/advisor/worker.ts'), `dist/ has no advisor worker: ${build}`);
  const builtAt = statSync(path.join(ROOT, 'dist/romanad.cjs')).mtimeMs;
  const newer = own.filter((f) => statSync(path.join(ROOT, f)).mtimeMs > builtAt);
  assert.deepEqual(newer, [], `dist/romanad.cjs is older than these: ${build}`);
  assert.ok(existsSync(path.join(ROOT, 'dist/advisor-worker.cjs')), build);
  // The bundle starts the bundled worker, not the sources through tsx.
  const bundle = readFileSync(path.join(ROOT, 'dist/romanad.cjs'), 'utf8');
  assert.ok(bundle.includes('advisor-worker.cjs') && !bundle.includes('tsx/esm/api'));
}

interface Measured {
  report: SimulationReport;
  simMs: number;
  latencies: number[];
}

/** Times allocations, one after another, for as long as a simulation of `input` runs. */
async function allocateDuringSimulation(d: Romanad, input: object, tag: string): Promise<Measured> {
  const host = 'host-1-1-1';
  // The allocation path warmed first: its first call pays for compiling it.
  for (let i = 0; i < 20; i++) {
    const r = await request(`${d.url}/address`, 'POST', { name: `${tag}-w${i}`, host });
    assert.equal(r.status, 200, JSON.stringify(r.body));
  }
  const started = performance.now();
  let done = false;
  const sim = request(`${d.url}/topology/simulate`, 'POST', input).finally(() => (done = true));
  const latencies: number[] = [];
  while (!done) {
    const t = performance.now();
    const r = await request(`${d.url}/address`, 'POST', {
      name: `${tag}-${latencies.length}`,
      host,
    });
    latencies.push(performance.now() - t);
    assert.equal(r.status, 200, JSON.stringify(r.body));
  }
  const answer = await sim;
  const simMs = performance.now() - started;
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return { report: answer.body as SimulationReport, simMs, latencies };
}

const quantile = (xs: number[], q: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;

describe('a simulation runs beside allocations, not in front of them', () => {
  const topology = JSON.parse(readFileSync(EXAMPLE, 'utf8')) as TopologyUpdateRequest;
  // The same input the route builds for `{ pods: 30 }` on a romanad holding the example.
  const expected = simulate({ topology, pods: PODS } as SimulationInput, API_LIMITS);
  let bundled: Romanad;
  let sources: Romanad;

  before(async () => {
    assertBuilt();
    // Both started, then both checked: one that failed to start leaves none running.
    const started = await Promise.allSettled([
      startRomanad(['--store', 'memory:', '--initial-topology-file', EXAMPLE]),
      fromSources(),
    ]);
    const up = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    if (up.length < 2) {
      await Promise.all(up.map((r) => r.stop()));
      throw (started.find((s) => s.status === 'rejected') as PromiseRejectedResult).reason;
    }
    [bundled, sources] = up as [Romanad, Romanad];
  });
  after(async () => {
    await Promise.all([bundled?.stop(), sources?.stop()]);
  });

  for (const mode of ['bundle', 'sources'] as const) {
    it(`romanad from its ${mode}: allocations answer within 100 ms during the simulation`, async () => {
      const d = mode === 'bundle' ? bundled : sources;
      const m = await allocateDuringSimulation(d, { pods: PODS }, `aw-${mode}`);
      const p95 = quantile(m.latencies, 0.95);
      const max = Math.max(...m.latencies);
      process.stdout.write(
        `${mode}: simulation ${m.simMs.toFixed(0)} ms; ${m.latencies.length} allocations during it, ` +
          `median ${quantile(m.latencies, 0.5).toFixed(1)} ms, p95 ${p95.toFixed(1)} ms, max ${max.toFixed(1)} ms\n`,
      );
      assert.deepEqual(m.report, expected);
      // In romanad's thread the simulation took seconds, and the allocation behind it as long.
      assert.ok(m.latencies.length >= 10, `${m.latencies.length} allocations in ${m.simMs} ms`);
      assert.ok(p95 < 100, `p95 of allocation latency ${p95.toFixed(1)} ms`);
      // A shared 2-core machine may stall one call; none waits for the whole simulation.
      assert.ok(max < Math.min(500, m.simMs / 2), `slowest allocation ${max.toFixed(1)} ms`);
    });
  }

  it('with one simulation running and 4 waiting, one more is refused at once (503)', async () => {
    // Six at once, each a fraction of a second (5 pods a host): the sixth finds the queue full.
    const input = { pods: 5, seed: 3 };
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => request(`${bundled.url}/topology/simulate`, 'POST', input)),
    );
    const refused = answers.filter((a) => a.status === 503);
    assert.deepEqual(
      answers.map((a) => a.status).sort(),
      [200, 200, 200, 200, 200, 503],
      JSON.stringify(refused.map((a) => a.body)),
    );
    assert.deepEqual(refused[0]!.body, {
      status_code: 503,
      code: 'Unavailable',
      details:
        'the advisor is busy: 1 simulation(s) running and 4 waiting (at most 4); try again later',
      resource_type: 'simulation',
      resource_id: 'queue',
      see_also: 'docs/api.md#errors',
    });
    const one = simulate({ topology, pods: 5, seed: 3 } as SimulationInput, API_LIMITS);
    for (const a of answers.filter((x) => x.status === 200)) assert.deepEqual(a.body, one);
  });

  it('a simulation over the limit is refused as before (413, naming the work)', async () => {
    const r = await request(`${bundled.url}/topology/simulate`, 'POST', { pods: 300 });
    assert.equal(r.status, 413, JSON.stringify(r.body));
    assert.match((r.body as { details: string }).details, /at most 250000/);
  });
});
