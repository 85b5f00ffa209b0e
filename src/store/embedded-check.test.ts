/**
 * `romanad store check|repair` (src/store/store-command.ts over embedded-check.ts) on real
 * damaged files.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { EmbeddedStore, type EmbeddedStoreOptions } from './embedded.ts';
import { storeCommand } from './store-command.ts';

const root = await fs.mkdtemp(path.join(os.tmpdir(), 'romana-store-check-'));
after(() => fs.rm(root, { recursive: true, force: true }));
let dirs = 0;

/** A store of 120 acknowledged writes (60 keys, each written twice); returns key → revision. */
async function makeStore(
  opts: EmbeddedStoreOptions,
): Promise<{ dir: string; acked: Map<string, number> }> {
  const dir = path.join(root, `s${dirs++}`);
  const store = await EmbeddedStore.open(dir, opts);
  const acked = new Map<string, number>();
  for (let i = 0; i < 120; i++) {
    const key = `k/${String(i % 60).padStart(2, '0')}`;
    const r = await store.txn([], [{ type: 'put', key, value: `v${i}-${'p'.repeat(60)}` }]);
    acked.set(key, r.revision);
  }
  await store.close();
  return { dir, acked };
}

async function run(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await storeCommand(
    args,
    (l) => out.push(l),
    (l) => err.push(l),
  );
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** Flips one byte in the middle of the record that starts the `n`-th frame from the end. */
async function flipInLog(dir: string, offsetFromEnd: number): Promise<void> {
  const file = path.join(dir, 'log');
  const bytes = await fs.readFile(file);
  bytes[bytes.length - offsetFromEnd] = bytes[bytes.length - offsetFromEnd]! ^ 0x20;
  await fs.writeFile(file, bytes);
}

describe('romanad store check|repair', () => {
  it('says a sound store is sound (exit 0) and changes nothing', async () => {
    const { dir } = await makeStore({});
    const before = await fs.readFile(path.join(dir, 'log'));
    const r = await run('check', dir);
    assert.equal(r.code, 0, r.out + r.err);
    assert.match(r.out, /result: sound/);
    assert.match(r.out, /120 intact records, revisions 1\.\.120/);
    assert.deepEqual(await fs.readFile(path.join(dir, 'log')), before);
    const again = await run('repair', `embedded:${dir}`);
    assert.equal(again.code, 0);
    assert.match(again.out, /nothing to repair/);
  });

  it('finds a damaged log record (exit 1), and repair keeps every other record with a backup', async () => {
    const { dir, acked } = await makeStore({});
    const original = await fs.readFile(path.join(dir, 'log'));
    await flipInLog(dir, 3000);
    const damaged = await fs.readFile(path.join(dir, 'log'));
    const check = await run('check', dir);
    assert.equal(check.code, 1, check.out);
    assert.match(check.out, new RegExp(`DAMAGED ${path.join(dir, 'log')} at bytes \\d+\\.\\.\\d+`));
    assert.match(check.out, /MISSING revision (\d+)/);
    const lost = Number(/MISSING revision (\d+)/.exec(check.out)![1]);
    await assert.rejects(EmbeddedStore.open(dir), /damaged at byte/);

    const repair = await run('repair', dir);
    assert.equal(repair.code, 0, repair.out + repair.err);
    const backup = /original files copied to (\S+)/.exec(repair.out)![1]!;
    assert.deepEqual(await fs.readFile(path.join(backup, 'log')), damaged);
    assert.notDeepEqual(damaged, original);
    assert.equal((await run('check', dir)).code, 0);

    const store = await EmbeddedStore.open(dir);
    assert.equal(await store.revision(), 120);
    for (const [key, rev] of acked) {
      const kv = await store.get(key);
      if (rev === lost) {
        // Written only by the lost revision: it keeps its value from the revision before.
        assert.equal(kv?.modRevision, rev - 60, key);
      } else {
        assert.equal(kv?.modRevision, rev, key);
      }
    }
    const next = await store.txn([], [{ type: 'put', key: 'after', value: 'x' }]);
    assert.equal(next.revision, 121, 'no revision handed out again');
    await store.close();
  });

  it('repairs a log whose magic is damaged, keeping every record', async () => {
    const { dir, acked } = await makeStore({});
    const file = path.join(dir, 'log');
    const bytes = await fs.readFile(file);
    bytes[2] = bytes[2]! ^ 0x40;
    await fs.writeFile(file, bytes);
    const check = await run('check', dir);
    assert.equal(check.code, 1);
    assert.match(check.out, /at bytes 0\.\.8: not a Romana log \(bad magic\)/);
    assert.equal((await run('repair', dir)).code, 0);
    const store = await EmbeddedStore.open(dir);
    for (const [key, rev] of acked) assert.equal((await store.get(key))?.modRevision, rev, key);
    await store.close();
  });

  it('repairs a damaged snapshot chunk from the history the log keeps', async () => {
    const { dir, acked } = await makeStore({ compactLogBytes: 4096, historyRevisions: 10_000 });
    const file = path.join(dir, 'snapshot');
    const bytes = await fs.readFile(file);
    bytes[Math.floor(bytes.length / 2)] = bytes[Math.floor(bytes.length / 2)]! ^ 0x01;
    await fs.writeFile(file, bytes);
    await assert.rejects(EmbeddedStore.open(dir), /snapshot is damaged at byte \d+/);
    const check = await run('check', dir);
    assert.equal(check.code, 1);
    assert.match(check.out, /DAMAGED .*snapshot at bytes/);
    const repair = await run('repair', dir);
    assert.equal(repair.code, 0, repair.out + repair.err);
    const store = await EmbeddedStore.open(dir);
    for (const [key, rev] of acked) assert.equal((await store.get(key))?.modRevision, rev, key);
    await store.close();
  });

  it('will not repair a store that romanad holds open, and refuses bad usage with exit 2', async () => {
    const { dir } = await makeStore({});
    await flipInLog(dir, 500);
    const other = await makeStore({});
    const store = await EmbeddedStore.open(other.dir);
    const r = await run('repair', other.dir);
    assert.equal(r.code, 1);
    assert.match(r.err, /in use by process/);
    await store.close();
    assert.equal((await run('check')).code, 2);
    assert.equal((await run('fix', dir)).code, 2);
    assert.equal((await run('check', dir, 'extra')).code, 2);
    const missing = await run('check', path.join(root, 'nope'));
    assert.equal(missing.code, 2);
    assert.match(missing.err, new RegExp(`ENOENT.*${path.join(root, 'nope')}`));
  });
});
