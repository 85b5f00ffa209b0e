/**
 * The real romanad process over a damaged or unusable embedded store: it exits with status 2
 * and one line naming the file, never a stack trace; `romanad store check|repair` work as
 * subcommands of the same program.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EmbeddedStore } from '../../src/store/embedded.ts';

const ROMANAD = path.resolve(import.meta.dirname, '../../bin/romanad.js');

function romanad(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [ROMANAD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    // A romanad that starts instead of refusing is stopped: its status is then not 2.
    const listening = setInterval(() => {
      if (/listening on/.test(out)) p.kill('SIGKILL');
    }, 50);
    p.on('exit', (code) => {
      clearInterval(listening);
      resolve({ code, out, err });
    });
  });
}

/** Exit status 2 and exactly one line on stderr, with no stack trace. */
function assertOneLineExit2(r: { code: number | null; err: string }, pattern: RegExp): void {
  assert.equal(r.code, 2, r.err);
  const lines = r.err.trimEnd().split('\n');
  assert.equal(lines.length, 1, r.err);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(r.err, /^\s+at /m);
}

describe('romanad over a damaged or unusable embedded store', () => {
  let root: string;
  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'romana-storage-e2e-'));
  });
  after(() => fs.rm(root, { recursive: true, force: true }));

  it('refuses to start over a damaged log, and store check|repair make it start again', async () => {
    const dir = path.join(root, 'damaged');
    const store = await EmbeddedStore.open(dir);
    for (let i = 0; i < 50; i++) await store.txn([], [{ type: 'put', key: `k${i}`, value: 'v' }]);
    await store.close();
    const log = path.join(dir, 'log');
    const bytes = await fs.readFile(log);
    bytes[Math.floor(bytes.length / 2)] = bytes[Math.floor(bytes.length / 2)]! ^ 0x04;
    await fs.writeFile(log, bytes);

    const start = await romanad(['--store', `embedded:${dir}`]);
    assertOneLineExit2(start, new RegExp(`${log} is damaged at byte \\d+.*romanad store repair`));
    const check = await romanad(['store', 'check', dir]);
    assert.equal(check.code, 1, check.out + check.err);
    assert.match(check.out, /DAMAGED/);
    const repair = await romanad(['store', 'repair', dir]);
    assert.equal(repair.code, 0, repair.out + repair.err);
    const repaired = await EmbeddedStore.open(dir);
    assert.equal(await repaired.revision(), 50);
    await repaired.close();
  });

  it('names the file it cannot read or use', async () => {
    const notDir = path.join(root, 'a-file');
    await fs.writeFile(notDir, 'x');
    assertOneLineExit2(await romanad(['--store', `embedded:${notDir}`]), new RegExp(notDir));

    const dir = path.join(root, 'log-is-a-dir');
    await fs.mkdir(path.join(dir, 'log'), { recursive: true });
    assertOneLineExit2(
      await romanad(['--store', `embedded:${dir}`]),
      new RegExp(`cannot read ${path.join(dir, 'log')}: EISDIR`),
    );
  });
});
