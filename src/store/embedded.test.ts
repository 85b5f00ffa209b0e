import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { isRomanaError } from '../errors.ts';
import { recordWatch, runStoreConformance } from './conformance.ts';
import { tmpDirsRemovedAfter } from '../../test/helpers/tmp-dirs.ts';
import { EmbeddedStore } from './embedded.ts';
import { encodeRecord } from './wal.ts';

const tmpDir = tmpDirsRemovedAfter('romana-store-');

runStoreConformance('embedded', async () => EmbeddedStore.open(await tmpDir()));
runStoreConformance('embedded (log compacted every few KB)', async () =>
  EmbeddedStore.open(await tmpDir(), { compactLogBytes: 4096, historyRevisions: 100 }),
);

const put = (key: string, value: string) => [{ type: 'put' as const, key, value }];

describe('EmbeddedStore durability', () => {
  it('keeps data, revisions and watch history across close and reopen', async () => {
    const dir = await tmpDir();
    const s1 = await EmbeddedStore.open(dir);
    const r1 = await s1.txn([], put('a', '1'));
    const r2 = await s1.txn([], [...put('b', '2'), ...put('a', '3')]);
    await s1.txn([], [{ type: 'delete', key: 'b' }]);
    await s1.close();
    const s2 = await EmbeddedStore.open(dir);
    assert.equal(await s2.revision(), 3);
    assert.deepEqual(await s2.get('a'), {
      key: 'a',
      value: '3',
      modRevision: r2.revision,
      createRevision: r1.revision,
    });
    assert.equal(await s2.get('b'), undefined);
    const rec = recordWatch(s2, '', 1);
    await rec.waitFor((d) => d.length >= 3);
    assert.deepEqual(
      rec.deliveries.map((d) => d.revision),
      [1, 2, 3],
    );
    rec.close();
    const r4 = await s2.txn([], put('c', '4'));
    assert.equal(r4.revision, 4);
    await s2.close();
  });

  it('drops a torn record at the end of the log, and keeps appending after the valid part', async () => {
    const dir = await tmpDir();
    const s1 = await EmbeddedStore.open(dir);
    for (let i = 0; i < 5; i++) await s1.txn([], put(`k${i}`, `v${i}`));
    await s1.close();
    // The first 21 bytes of the next record: a header that checks out, then half a payload.
    const torn = encodeRecord({ revision: 6, changes: [{ key: 'k5', value: 'never acked' }] });
    await fs.appendFile(path.join(dir, 'log'), torn.subarray(0, 21));
    const warnings: string[] = [];
    const s2 = await EmbeddedStore.open(dir, { onWarning: (m) => warnings.push(m) });
    assert.equal(await s2.revision(), 5);
    assert.equal((await s2.range('k')).kvs.length, 5);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /dropped 21 bytes/);
    await s2.txn([], put('k5', 'v5'));
    await s2.close();
    const s3 = await EmbeddedStore.open(dir, { onWarning: (m) => warnings.push(m) });
    assert.equal(await s3.revision(), 6);
    assert.equal((await s3.get('k5'))?.value, 'v5');
    assert.equal(warnings.length, 1, 'no second warning: the tail was cut on the first open');
    await s3.close();
  });

  it('drops a torn last record whole: no partial transaction', async () => {
    const dir = await tmpDir();
    const s1 = await EmbeddedStore.open(dir);
    await s1.txn([], put('x', '1'));
    await s1.txn([], [...put('y', '2'), ...put('z', '3')]);
    await s1.close();
    const log = path.join(dir, 'log');
    const size = (await fs.stat(log)).size;
    await fs.truncate(log, size - 3);
    const s2 = await EmbeddedStore.open(dir);
    assert.equal(await s2.revision(), 1);
    assert.equal((await s2.get('x'))?.value, '1');
    assert.equal(await s2.get('y'), undefined);
    assert.equal(await s2.get('z'), undefined);
    await s2.close();
  });

  it('rewrites the log into a snapshot past compactLogBytes and keeps recent history', async () => {
    const dir = await tmpDir();
    const s1 = await EmbeddedStore.open(dir, { compactLogBytes: 8192, historyRevisions: 20 });
    for (let i = 0; i < 200; i++) await s1.txn([], put(`k/${i % 50}`, `v${i}-${'x'.repeat(100)}`));
    await s1.close();
    const logSize = (await fs.stat(path.join(dir, 'log'))).size;
    // Rewritten, it holds the 20 revisions of history kept (about 3 kB), what was appended
    // while the snapshot was written, and less than 8 KiB appended since; 200 records otherwise
    // (about 30 kB).
    assert.ok(logSize < 8192 + 6000, `log was compacted (size ${logSize})`);
    await fs.access(path.join(dir, 'snapshot'));
    const s2 = await EmbeddedStore.open(dir, { compactLogBytes: 8192, historyRevisions: 20 });
    assert.equal(await s2.revision(), 200);
    const { kvs } = await s2.range('k/');
    assert.equal(kvs.length, 50);
    assert.equal(kvs.find((kv) => kv.key === 'k/49')?.value.slice(0, 4), 'v199');
    const recent = recordWatch(s2, 'k/', 195);
    await recent.waitFor((d) => d.length >= 6);
    assert.deepEqual(
      recent.deliveries.map((d) => d.revision),
      [195, 196, 197, 198, 199, 200],
    );
    recent.close();
    const old = recordWatch(s2, 'k/', 5);
    await old.waitFor((_d, e) => e.length >= 1);
    assert.ok(isRomanaError(old.errors[0], 'Compacted'));
    assert.match(old.errors[0]!.message, /compacted/);
    await s2.close();
  });

  it('snapshots once per compactLogBytes written, when the history kept is larger', async () => {
    // 300 records of about 150 bytes, 4 KiB per snapshot, every record kept as history: the log
    // never falls under 4 KiB again. Measured by size, it was snapshotted after every record.
    const dir = await tmpDir();
    const opts = { compactLogBytes: 4096, historyRevisions: 1000 };
    const s1 = await EmbeddedStore.open(dir, opts);
    for (let i = 0; i < 300; i++) await s1.txn([], put(`h/${i}`, 'x'.repeat(120)));
    const written = (await fs.stat(path.join(dir, 'log'))).size;
    assert.ok(s1.snapshots >= 1, 'it snapshotted');
    assert.ok(s1.snapshots <= Math.ceil(written / 4096) + 1, `${s1.snapshots} snapshots`);
    await s1.close();
    const s2 = await EmbeddedStore.open(dir, opts);
    assert.equal(await s2.revision(), 300);
    const all = recordWatch(s2, 'h/', 1);
    await all.waitFor((d) => d.length >= 300);
    assert.deepEqual(
      all.deliveries.map((d) => d.revision),
      Array.from({ length: 300 }, (_, i) => i + 1),
    );
    all.close();
    await s2.close();
  });

  it('keeps committing while snapshots are written, and loses nothing across them', async () => {
    const dir = await tmpDir();
    const opts = { compactLogBytes: 16384, historyRevisions: 50 };
    const s1 = await EmbeddedStore.open(dir, opts);
    // A state large enough that each snapshot takes several chunks, then 64 writers at once.
    for (let i = 0; i < 20; i++) {
      await s1.txn(
        [],
        Array.from({ length: 100 }, (_, j) => ({
          type: 'put' as const,
          key: `big/${i * 100 + j}`,
          value: 'y'.repeat(50),
        })),
      );
    }
    let next = 0;
    const revisions = new Map<string, number>();
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (next < 3000) {
          const key = `c/${next++}`;
          const r = await s1.txn([{ key, modRevision: 0 }], put(key, 'z'.repeat(100)));
          assert.ok(r.succeeded);
          revisions.set(key, r.revision);
        }
      }),
    );
    await s1.close();
    const logSize = (await fs.stat(path.join(dir, 'log'))).size;
    // Without rewrites it would hold all 3,020 records (about 600 kB). Rewritten, it holds the
    // history kept, what was appended while the last snapshot was written (64 writers go on),
    // and less than 16 KiB appended since.
    assert.ok(logSize < 300_000, `the log was rewritten (size ${logSize})`);
    const s2 = await EmbeddedStore.open(dir, opts);
    assert.equal(await s2.revision(), 3020);
    const { kvs } = await s2.range('c/');
    assert.equal(kvs.length, 3000);
    for (const kv of kvs) assert.equal(kv.modRevision, revisions.get(kv.key), kv.key);
    assert.equal((await s2.range('big/')).kvs.length, 2000);
    await s2.close();
  });

  it('refuses a second open of a directory while it is held, naming the directory', async () => {
    const dir = await tmpDir();
    const s1 = await EmbeddedStore.open(dir);
    await assert.rejects(
      EmbeddedStore.open(dir),
      (err: unknown) =>
        isRomanaError(err, 'Unavailable') &&
        err.message.includes(dir) &&
        err.message.includes('in use'),
    );
    await s1.close();
    const s2 = await EmbeddedStore.open(dir);
    await s2.close();
  });

  it('takes over a stale lock left by a process that died', async () => {
    const dir = await tmpDir();
    const child = spawn(process.execPath, ['-e', '0']);
    const pid = child.pid!;
    await new Promise((resolve) => child.on('exit', resolve));
    await fs.writeFile(
      path.join(dir, 'LOCK'),
      JSON.stringify({ pid, start: '1', host: os.hostname() }),
    );
    const s = await EmbeddedStore.open(dir);
    await s.txn([], put('a', '1'));
    await s.close();
  });

  it('refuses to open over a corrupt snapshot instead of losing data silently', async () => {
    const dir = await tmpDir();
    const s1 = await EmbeddedStore.open(dir, { compactLogBytes: 1024 });
    for (let i = 0; i < 30; i++) await s1.txn([], put(`k${i}`, 'v'.repeat(100)));
    await s1.close();
    const snap = path.join(dir, 'snapshot');
    const bytes = await fs.readFile(snap);
    bytes[bytes.length - 20] = bytes[bytes.length - 20]! ^ 0xff;
    await fs.writeFile(snap, bytes);
    await assert.rejects(
      EmbeddedStore.open(dir),
      (err: unknown) =>
        isRomanaError(err) && /snapshot/.test(err.message) && err.message.includes(dir),
    );
  });
});
