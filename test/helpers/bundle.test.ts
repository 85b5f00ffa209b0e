/**
 * The e2e helpers' bundle check (freshBundle, behind cniBundle()): a missing or stale bundle is
 * rebuilt, a fresh one is not, a failed rebuild says what to run, and parallel test processes
 * build it once. On a throwaway tree with a stand-in build script.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { freshBundle, staleness, type BundleSpec } from './bundle.ts';

const root = mkdtempSync(path.join(tmpdir(), 'romana-bundle-'));
const log = path.join(root, 'builds.log');
const spec: BundleSpec = {
  root,
  output: path.join(root, 'dist/plugin.cjs'),
  buildScript: path.join(root, 'build.mjs'),
  name: 'plugin',
  srcDir: path.join(root, 'src'),
  fix: 'npm run build:cni',
};
mkdirSync(path.join(root, 'src/sub'), { recursive: true });
writeFileSync(path.join(root, 'src/sub/a.ts'), 'export const a = 1;\n');
writeFileSync(path.join(root, 'src/sub/a.test.ts'), '');
// The stand-in build: logs each run, takes a moment, writes the bundle; FAIL=1 makes it fail.
writeFileSync(
  spec.buildScript,
  `import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
   if (process.env.FAIL) { console.error('src/sub/a.ts: syntax error'); process.exit(1); }
   appendFileSync(${JSON.stringify(log)}, process.argv[2] + '\\n');
   Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
   mkdirSync(${JSON.stringify(path.dirname(spec.output))}, { recursive: true });
   writeFileSync(${JSON.stringify(spec.output)}, 'built');`,
);
const builds = () => readFileSync(log, { encoding: 'utf8', flag: 'a+' }).split('\n').length - 1;
/** Sets a file's modification time `s` seconds ago. */
const age = (file: string, s: number) => utimesSync(file, new Date(), Date.now() / 1000 - s);

after(() => rmSync(root, { recursive: true, force: true }));

describe('freshBundle', () => {
  it('builds a missing bundle, then leaves a fresh one alone', () => {
    assert.equal(staleness(spec), 'missing');
    assert.equal(freshBundle(spec), spec.output);
    assert.equal(readFileSync(spec.output, 'utf8'), 'built');
    assert.equal(builds(), 1);
    assert.equal(staleness(spec), undefined);
    freshBundle(spec);
    assert.equal(builds(), 1, 'not rebuilt');
  });

  it('rebuilds when a source is newer, and not for a newer test file', () => {
    age(spec.output, 60);
    age(spec.buildScript, 120);
    age(path.join(root, 'src/sub/a.ts'), 120);
    age(path.join(root, 'src/sub/a.test.ts'), 0);
    freshBundle(spec);
    assert.equal(builds(), 1);
    age(path.join(root, 'src/sub/a.ts'), 0);
    assert.equal(staleness(spec), 'older than src/sub/a.ts');
    freshBundle(spec);
    assert.equal(builds(), 2);
    assert.equal(staleness(spec), undefined);
  });

  it('fails naming why, the build error and what to run', () => {
    age(spec.output, 60);
    age(path.join(root, 'src/sub/a.ts'), 120);
    age(spec.buildScript, 0);
    process.env['FAIL'] = '1';
    try {
      assert.throws(
        () => freshBundle(spec),
        /^Error: dist\/plugin\.cjs is older than build\.mjs and rebuilding it failed \(exit 1\): src\/sub\/a\.ts: syntax error; run 'npm run build:cni'$/,
      );
    } finally {
      delete process.env['FAIL'];
    }
  });

  it('is built once when several processes find it stale at the same time', async () => {
    assert.equal(staleness(spec), 'older than build.mjs');
    const before = builds();
    const script = `
      import { freshBundle } from ${JSON.stringify(path.join(import.meta.dirname, 'bundle.ts'))};
      freshBundle(${JSON.stringify(spec)});`;
    const run = () =>
      new Promise<number | null>((resolve) =>
        spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
          stdio: 'inherit',
        }).once('exit', resolve),
      );
    assert.deepEqual(await Promise.all([run(), run(), run()]), [0, 0, 0]);
    assert.equal(builds(), before + 1);
    assert.equal(staleness(spec), undefined);
  });
});
