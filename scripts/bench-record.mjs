// Records one benchmark run into bench/README.md: runs the benches (all, or those named:
// `npm run bench:record -- ipam node`), collects the JSON lines they print, and rewrites the
// section between the "bench:record" markers with a table of every figure, the date, the
// machine's `node -e 0` time (a yardstick for how loaded it was) and its load average. The raw
// lines are kept in bench/last-run.jsonl. Figures in the README are never typed by hand.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';

const root = path.resolve(import.meta.dirname, '..');
const readme = path.join(root, 'bench/README.md');
export const BEGIN = '<!-- bench:record begin (written by npm run bench:record; do not edit) -->';
export const END = '<!-- bench:record end -->';

/** Median wall time of `node -e 0`, in ms, over 11 runs. */
function nodeStartMs() {
  const xs = [];
  for (let i = 0; i < 11; i++) {
    const t = performance.now();
    spawnSync(process.execPath, ['-e', '0']);
    xs.push(performance.now() - t);
  }
  xs.sort((a, b) => a - b);
  return xs[5];
}

/** Runs the benches; resolves with their stdout (also echoed) and exit status. */
function runBenches(names) {
  const args = ['--import', 'tsx', '--expose-gc', 'bench/run.ts', ...names];
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d) => {
    out += d;
    process.stdout.write(d);
  });
  return new Promise((resolve) => child.on('close', (code) => resolve({ out, code })));
}

export function fmt(v) {
  if (v === undefined) return '';
  const n = Math.abs(v) >= 100 ? Math.round(v) : Number(v.toPrecision(4));
  return n.toLocaleString('en-US', { maximumFractionDigits: 3 });
}

/** The Markdown tables of `figures` (JSON lines as the benches print them), one per bench. */
export function table(figures) {
  const lines = [];
  let bench = '';
  for (const f of figures) {
    if (f.bench !== bench) {
      bench = f.bench;
      lines.push('', `### ${bench}`, '', '| metric | value | min | max | samples | unit |');
      lines.push('|---|---:|---:|---:|---:|---|');
    }
    const samples = f.n === undefined ? '1' : String(f.n);
    lines.push(
      `| ${f.metric} | ${fmt(f.value)} | ${fmt(f.min)} | ${fmt(f.max)} | ${samples} | ${f.unit} |`,
    );
  }
  return lines.join('\n');
}

async function main() {
  const names = process.argv.slice(2);
  const load0 = os.loadavg()[0];
  const floor0 = nodeStartMs();
  const started = new Date();
  const { out, code } = await runBenches(names);
  if (code !== 0) {
    process.stderr.write(
      `bench:record: the benches failed (exit ${code}); README left as it was\n`,
    );
    return 1;
  }
  const floor1 = nodeStartMs();
  const load1 = os.loadavg()[0];
  const jsonLines = out.split('\n').filter((l) => l.startsWith('{"bench"'));
  const figures = jsonLines.map((l) => JSON.parse(l));
  if (figures.length === 0) {
    process.stderr.write('bench:record: no figures printed; README left as it was\n');
    return 1;
  }
  writeFileSync(path.join(root, 'bench/last-run.jsonl'), jsonLines.join('\n') + '\n');
  const ran = [...new Set(figures.map((f) => f.bench))].join(', ');
  const header = [
    `Recorded ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC by \`npm run bench:record\``,
    `(benches: ${ran}); Node ${process.version}, ${os.cpus().length} cores.`,
    `Yardstick: \`node -e 0\` took ${fmt(floor0)} ms before the run and ${fmt(floor1)} ms after`,
    `(about 25–50 ms on a quiet machine of ours); 1-minute load average ${load0.toFixed(1)}`,
    `before, ${load1.toFixed(1)} after. A slow yardstick means a busy machine: compare figures`,
    'only between runs with similar yardsticks. Where a figure has samples, the value is their',
    'median.',
  ].join('\n');
  const section = `${BEGIN}\n${header}\n${table(figures)}\n${END}`;
  const text = readFileSync(readme, 'utf8');
  const at = text.indexOf(BEGIN);
  const end = text.indexOf(END);
  const next =
    at >= 0 && end > at
      ? text.slice(0, at) + section + text.slice(end + END.length)
      : `${text.trimEnd()}\n\n## Last recorded run\n\n${section}\n`;
  writeFileSync(readme, next);
  process.stdout.write(`bench:record: ${figures.length} figures written to bench/README.md\n`);
  return 0;
}

// Run as a program (npm run bench:record); imported by its test for `table`.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) process.exitCode = await main();
