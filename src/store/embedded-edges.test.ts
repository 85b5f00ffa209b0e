/**
 * The embedded store at its edges, on real files (milliseconds each): closed, a directory it
 * cannot read, a refused compare answered only once what refused it is durable, a transaction
 * that changes nothing, and the default log size before a snapshot.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { isRomanaError } from '../errors.ts';
import { EmbeddedStore } from './embedded.ts';

const dirs: string[] = [];
async function freshDir(): Promise<string> {
  const d = await fs.mkdtemp(path.join(os.tmpdir(), 'm17b-store-'));
  dirs.push(d);
  return d;
}
after(async () => {
  await Promise.all(dirs.map((d) => fs.rm(d, { recursive: true, force: true })));
});

const put = (key: string, value: string) => [{ type: 'put' as const, key, value }];

describe('EmbeddedStore at its edges', () => {
  it('is exclusive, opens a relative directory as its absolute path, and refuses everything once closed', async () => {
    const dir = await freshDir();
    const s = await EmbeddedStore.open(path.relative(process.cwd(), dir));
    assert.equal(s.exclusive, true);
    assert.equal(s.dir, dir);
    assert.deepEqual(s.health(), { writable: true });
    await s.txn([], put('a', '1'));
    await s.close();
    await s.close();
    const closed = `embedded store ${dir} is closed`;
    assert.deepEqual(s.health(), { writable: false, problem: closed });
    const refused = (e: unknown) => isRomanaError(e, 'Unavailable') && e.message === closed;
    await assert.rejects(s.get('a'), refused);
    await assert.rejects(s.range(''), refused);
    await assert.rejects(s.revision(), refused);
    await assert.rejects(s.compact(1), refused);
    await assert.rejects(s.txn([], put('b', '2')), refused);
    assert.throws(
      () =>
        s.watch(
          '',
          0,
          () => undefined,
          () => undefined,
        ),
      refused,
    );
  });

  it('names the directory when it cannot read its files, and lets go of its lock', async () => {
    const dir = await freshDir();
    await fs.mkdir(path.join(dir, 'log'));
    const cannot = (e: unknown) =>
      isRomanaError(e, 'Unavailable') &&
      e.message.startsWith(`cannot open embedded store ${dir}: cannot read ${dir}/log: EISDIR`);
    await assert.rejects(EmbeddedStore.open(dir), cannot);
    // A second try meets the same problem, not a lock still held.
    await assert.rejects(EmbeddedStore.open(dir), cannot);
    await fs.rmdir(path.join(dir, 'log'));
    const s = await EmbeddedStore.open(dir);
    await s.close();
  });

  it('refuses a damaged log as the damage it is, not as a directory it cannot read', async () => {
    const dir = await freshDir();
    const s = await EmbeddedStore.open(dir);
    await s.txn([], put('a', '1'));
    await s.txn([], put('b', '2'));
    await s.close();
    const file = path.join(dir, 'log');
    const bytes = await fs.readFile(file);
    bytes[20] = bytes[20]! ^ 0xff;
    await fs.writeFile(file, bytes);
    await assert.rejects(
      EmbeddedStore.open(dir),
      (e: unknown) =>
        isRomanaError(e, 'Internal') &&
        e.message.startsWith(`embedded store ${dir}: ${file} is damaged at byte 8: `),
    );
  });

  it('decides a write against a pending one of an earlier batch, even once an older one is durable', async () => {
    const dir = await freshDir();
    const s = await EmbeddedStore.open(dir);
    const a = s.txn([], put('k', '1'));
    const b = s.txn([], put('k', '2'));
    assert.deepEqual(await a, { succeeded: true, revision: 1 });
    // b is not durable yet: the write is decided against it.
    const c = await s.txn([{ key: 'k', modRevision: 2 }], put('k', '3'));
    assert.deepEqual(await b, { succeeded: true, revision: 2 });
    assert.deepEqual(c, { succeeded: true, revision: 3 });
    assert.equal((await s.get('k'))?.value, '3');
    await s.close();
  });

  it('answers a refused compare once the write that refused it is durable, and a no-op at once', async () => {
    const dir = await freshDir();
    const s = await EmbeddedStore.open(dir);
    await s.txn([], put('x', '0'));
    const first = s.txn([], put('k', '1'));
    // Decided against the pending write: k exists already.
    const refused = await s.txn([{ key: 'k', modRevision: 0 }], put('k', '2'));
    assert.deepEqual(refused, { succeeded: false, revision: 2 });
    assert.equal((await s.get('k'))?.value, '1', 'what refused it can be read');
    assert.deepEqual(await first, { succeeded: true, revision: 2 });
    // Deleting an absent key changes nothing: no new revision.
    assert.deepEqual(await s.txn([], [{ type: 'delete', key: 'nope' }]), {
      succeeded: true,
      revision: 2,
    });
    assert.deepEqual(await s.txn([{ key: 'x', modRevision: 7 }], put('x', '9')), {
      succeeded: false,
      revision: 2,
    });
    assert.equal(await s.revision(), 2);
    // A later write decided against an earlier pending one, then both durable.
    const a = s.txn([], put('p', '1'));
    const b = s.txn([{ key: 'p', modRevision: 3 }], put('p', '2'));
    assert.deepEqual(await Promise.all([a, b]), [
      { succeeded: true, revision: 3 },
      { succeeded: true, revision: 4 },
    ]);
    assert.deepEqual(await s.get('p'), { key: 'p', value: '2', modRevision: 4, createRevision: 3 });
    await s.close();
  });

  it('waits, on close, for the transactions still queued, which the next open finds', async () => {
    const dir = await freshDir();
    const s = await EmbeddedStore.open(dir);
    const pending = Array.from({ length: 10 }, (_, i) => s.txn([], put(`q${i}`, `${i}`)));
    await s.close();
    const results = await Promise.all(pending);
    assert.deepEqual(
      results.map((r) => r.revision),
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    );
    const again = await EmbeddedStore.open(dir);
    assert.equal(await again.revision(), 10);
    assert.equal((await again.get('q9'))?.value, '9');
    await again.close();
  });

  it('keeps appending to the log, without a snapshot, well below its default 64 MiB', async () => {
    const dir = await freshDir();
    const s = await EmbeddedStore.open(dir);
    for (let i = 0; i < 40; i++) await s.txn([], put(`k${i}`, 'v'.repeat(4096)));
    await s.close();
    assert.equal((await fs.readdir(dir)).includes('snapshot'), false);
    assert.ok((await fs.stat(path.join(dir, 'log'))).size > 40 * 4096);
  });
});
