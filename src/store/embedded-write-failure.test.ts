/**
 * The embedded store after a failed log write, on a real small tmpfs: writes are refused while
 * the cause lasts (a full disk, a log made immutable), `health()` says why, and writes resume by
 * themselves once the cause is gone; nothing acknowledged is lost, nothing refused appears.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { mountTmpfs, type Tmpfs } from '../../test/helpers/tmpfs.ts';
import { isRomanaError } from '../errors.ts';
import { EmbeddedStore } from './embedded.ts';

/** Waits until `cond` holds (checked every 20 ms), failing after `ms`. */
async function waitUntil(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const put = (key: string, value: string) => [{ type: 'put' as const, key, value }];

describe('EmbeddedStore after a failed log write', () => {
  let t: Tmpfs;
  const tmpDirs: string[] = [];
  before(async () => {
    t = await mountTmpfs('storage', '2m');
  });
  after(async () => {
    await t.unmount();
    for (const d of tmpDirs) {
      await t.immutable(path.join(d, 'log'), false).catch(() => undefined);
      await fs.rm(d, { recursive: true, force: true });
    }
  });

  /** Writes 20 acknowledged keys under `prefix`; returns their revisions. */
  async function ackSome(store: EmbeddedStore, prefix: string): Promise<Map<string, number>> {
    const acked = new Map<string, number>();
    for (let i = 0; i < 20; i++) {
      const r = await store.txn([], put(`${prefix}/${i}`, `v${i}`));
      acked.set(`${prefix}/${i}`, r.revision);
    }
    return acked;
  }

  async function assertReopens(dir: string, acked: Map<string, number>, refused: string) {
    const store = await EmbeddedStore.open(dir);
    try {
      for (const [key, rev] of acked) assert.equal((await store.get(key))?.modRevision, rev, key);
      assert.equal(await store.get(refused), undefined, 'a refused write appeared');
      assert.equal(await store.revision(), Math.max(...acked.values()));
    } finally {
      await store.close();
    }
  }

  it('refuses writes while the disk is full and takes them again once space is back', async () => {
    const dir = path.join(t.dir, 'full');
    const store = await EmbeddedStore.open(dir);
    const acked = await ackSome(store, 'a');
    await t.fill();
    const big = 'x'.repeat(64 * 1024);
    await assert.rejects(
      store.txn([], put('refused', big)),
      (err: unknown) =>
        isRomanaError(err, 'Unavailable') &&
        err.message.includes(path.join(dir, 'log')) &&
        /ENOSPC/.test(err.message),
    );
    const h = store.health!();
    assert.equal(h.writable, false);
    assert.match(h.problem ?? '', /ENOSPC/);
    // Still refused while the disk stays full, and reads still answer.
    await assert.rejects(store.txn([], put('refused', 'small')), /ENOSPC/);
    assert.equal((await store.get('a/3'))?.value, 'v3');
    await t.unfill();
    await waitUntil(() => store.health!().writable, 'the store takes writes again');
    const r = await store.txn([], put('b/0', big));
    assert.equal(r.revision, Math.max(...acked.values()) + 1);
    acked.set('b/0', r.revision);
    await store.close();
    await assertReopens(dir, acked, 'refused');
  });

  it('acknowledges a batch whose successor, appended during its fdatasync, fails', async () => {
    const dir = path.join(t.dir, 'pipelined');
    const store = await EmbeddedStore.open(dir);
    const acked = await ackSome(store, 'a');
    await t.fill();
    // The log's last page still has room for a small record, not for 64 KiB. The two are
    // submitted together: the first is written alone, the second is appended while the first's
    // fdatasync runs, before the first is acknowledged.
    const small = store.txn([], put('small', 'v'));
    const refused = store.txn([], put('refused', 'x'.repeat(64 * 1024)));
    const both = await Promise.allSettled([small, refused]);
    assert.equal(both[0].status, 'fulfilled', String((both[0] as PromiseRejectedResult).reason));
    assert.equal(both[1].status, 'rejected');
    assert.match(String((both[1] as PromiseRejectedResult).reason), /ENOSPC/);
    acked.set('small', (both[0] as PromiseFulfilledResult<{ revision: number }>).value.revision);
    await t.unfill();
    await waitUntil(() => store.health!().writable, 'the store takes writes again');
    const r = await store.txn([], put('b/0', 'w'));
    assert.equal(r.revision, acked.get('small')! + 1);
    acked.set('b/0', r.revision);
    await store.close();
    await assertReopens(dir, acked, 'refused');
  });

  it('refuses writes while its log is immutable and takes them again once it is not', async () => {
    // On the root file system: tmpfs lets a file opened before `chattr +i` be written.
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'romana-storage-immutable-'));
    tmpDirs.push(dir);
    const store = await EmbeddedStore.open(dir);
    const acked = await ackSome(store, 'a');
    const log = path.join(dir, 'log');
    await t.immutable(log, true);
    await assert.rejects(store.txn([], put('refused', 'v')), /EPERM/);
    assert.equal(store.health!().writable, false);
    await assert.rejects(store.txn([], put('refused', 'v')), /EPERM/);
    await t.immutable(log, false);
    await waitUntil(() => store.health!().writable, 'the store takes writes again');
    const r = await store.txn([], put('b/0', 'w'));
    acked.set('b/0', r.revision);
    await store.close();
    await assertReopens(dir, acked, 'refused');
  });

  it('loses nothing when the disk fills while snapshots and log rewrites run', async () => {
    const dir = path.join(t.dir, 'compacting');
    const opts = { compactLogBytes: 16 * 1024, historyRevisions: 20 };
    const store = await EmbeddedStore.open(dir, opts);
    // Leave the store about 600 kB: it fills them itself, with batches, snapshots and rewrites.
    const spare = path.join(t.dir, 'spare');
    const free = await fs.statfs(t.dir);
    await fs.writeFile(spare, Buffer.alloc(free.bavail * free.bsize - 600_000, 1));
    const acked = new Map<string, number>();
    const value = 'c'.repeat(2000);
    const writeUntilRefused = async (prefix: string, limit: number): Promise<boolean> => {
      let refused = false;
      let i = 0;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (!refused && i < limit) {
            const key = `${prefix}/${i++}`;
            try {
              acked.set(key, (await store.txn([], put(key, value))).revision);
            } catch (err) {
              assert.ok(isRomanaError(err, 'Unavailable'), String(err));
              refused = true;
            }
          }
        }),
      );
      return refused;
    };
    assert.ok(await writeUntilRefused('a', 5000), 'the disk never filled');
    assert.equal(store.health!().writable, false);
    await fs.rm(spare);
    await waitUntil(() => store.health!().writable, 'the store takes writes again');
    assert.equal(await writeUntilRefused('b', 50), false);
    await store.close();
    await assertReopens(dir, acked, 'never-written');
  });
});
