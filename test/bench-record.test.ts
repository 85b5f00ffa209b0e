/**
 * bench/README.md's figures come from one recorded run, never typed by hand: the table between
 * the bench:record markers is exactly what `npm run bench:record` writes from
 * bench/last-run.jsonl; and the script, run on a small sample (stand-in benches in a throwaway
 * tree), writes the date, the `node -e 0` yardstick and every JSON line's figure, keeps the rest
 * of the README, and leaves it alone when the benches fail.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';

const ROOT = path.resolve(import.meta.dirname, '..');
const script = path.join(ROOT, 'scripts/bench-record.mjs');
const { BEGIN, END, table } = (await import(pathToFileURL(script).href)) as {
  BEGIN: string;
  END: string;
  table: (figures: object[]) => string;
};

/** The recorded section of a README: header lines and table. */
function section(readme: string): string {
  const at = readme.indexOf(BEGIN);
  const end = readme.indexOf(END);
  assert.ok(at >= 0 && end > at, 'the bench:record markers');
  return readme.slice(at + BEGIN.length, end);
}

const jsonLines = (text: string) =>
  text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as object);

describe('bench/README.md figures', () => {
  it('are the table bench:record writes from bench/last-run.jsonl', () => {
    const recorded = section(readFileSync(path.join(ROOT, 'bench/README.md'), 'utf8'));
    const figures = jsonLines(readFileSync(path.join(ROOT, 'bench/last-run.jsonl'), 'utf8'));
    assert.ok(figures.length > 0);
    assert.ok(recorded.endsWith(`${table(figures)}\n`), 'the table matches the recorded lines');
    assert.match(recorded, /^\nRecorded \d{4}-\d\d-\d\d \d\d:\d\d UTC by `npm run bench:record`/);
    assert.match(recorded, /`node -e 0` took [\d.,]+ ms before the run and [\d.,]+ ms after/);
  });
});

describe('npm run bench:record, on a small sample', () => {
  const tree = mkdtempSync(path.join(tmpdir(), 'romana-bench-record-'));
  mkdirSync(path.join(tree, 'scripts'));
  mkdirSync(path.join(tree, 'bench'));
  copyFileSync(script, path.join(tree, 'scripts/bench-record.mjs'));
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(tree, 'node_modules'));
  const lines = [
    { bench: 'tiny', metric: 'ops_per_s', value: 123456, unit: 'ops/s' },
    { bench: 'tiny', metric: 'apply_ms', value: 12.5, unit: 'ms', min: 11.25, max: 19, n: 5 },
    { bench: 'other', metric: 'ratio', value: 1.234, unit: 'x' },
  ];
  /** Stand-in benches: print text and JSON lines for the benches named, or fail with FAIL=1. */
  writeFileSync(
    path.join(tree, 'bench/run.ts'),
    `const lines: Array<{ bench: string }> = ${JSON.stringify(lines)};
     if (process.env['FAIL']) process.exit(3);
     const wanted = process.argv.slice(2);
     for (const l of lines) {
       if (wanted.length > 0 && !wanted.includes(l.bench)) continue;
       console.log(l.bench + ' some text');
       console.log(JSON.stringify(l));
     }`,
  );
  const readme = path.join(tree, 'bench/README.md');
  const intro = '# Benchmarks\n\nHow each bench works, in words.\n\n## Last recorded run\n\n';
  writeFileSync(readme, `${intro}${BEGIN}\nan old table, 999 ms typed by hand\n${END}\n`);
  const record = (env: Record<string, string> = {}, ...names: string[]) =>
    spawnSync(process.execPath, ['scripts/bench-record.mjs', ...names], {
      cwd: tree,
      encoding: 'utf8',
      env: { ...process.env, ...env },
    });
  after(() => rmSync(tree, { recursive: true, force: true }));

  it('writes the table, date and yardstick from the JSON lines of one run', () => {
    const before = Date.now();
    const r = record();
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /bench:record: 3 figures written to bench\/README.md/);
    const text = readFileSync(readme, 'utf8');
    assert.ok(text.startsWith(intro), 'the rest of the README kept');
    assert.doesNotMatch(text, /999 ms/);
    const s = section(text);
    const at = /Recorded (\d{4}-\d\d-\d\d \d\d:\d\d) UTC/.exec(s);
    assert.ok(at);
    assert.ok(Math.abs(Date.parse(`${at[1]}Z`) - before) < 120_000, `dated now: ${at[1]}`);
    assert.match(s, /\(benches: tiny, other\); Node v\d+/);
    assert.match(s, /`node -e 0` took [\d.,]+ ms before the run and [\d.,]+ ms after/);
    assert.ok(
      s.endsWith(
        [
          '',
          '### tiny',
          '',
          '| metric | value | min | max | samples | unit |',
          '|---|---:|---:|---:|---:|---|',
          '| ops_per_s | 123,456 |  |  | 1 | ops/s |',
          '| apply_ms | 12.5 | 11.25 | 19 | 5 | ms |',
          '',
          '### other',
          '',
          '| metric | value | min | max | samples | unit |',
          '|---|---:|---:|---:|---:|---|',
          '| ratio | 1.234 |  |  | 1 | x |',
          '',
        ].join('\n'),
      ),
      s,
    );
    assert.deepEqual(
      jsonLines(readFileSync(path.join(tree, 'bench/last-run.jsonl'), 'utf8')),
      lines,
    );
  });

  it('records only the benches named, as one run', () => {
    assert.equal(record({}, 'other').status, 0);
    const s = section(readFileSync(readme, 'utf8'));
    assert.match(s, /\(benches: other\)/);
    assert.doesNotMatch(s, /### tiny/);
  });

  it('leaves the README as it was when the benches fail', () => {
    const was = readFileSync(readme, 'utf8');
    const r = record({ FAIL: '1' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /the benches failed \(exit 3\); README left as it was/);
    assert.equal(readFileSync(readme, 'utf8'), was);
  });
});
