/**
 * The one contract suite every `Store` backend must pass (memory, embedded, etcd). Each backend's
 * test file calls `runStoreConformance` with a factory for fresh, empty stores.
 *
 * Tests never assume revisions start at 1 (etcd shares one revision counter between key
 * prefixes), only that they grow by exactly one per committed transaction while nothing else
 * writes.
 */
import assert from 'node:assert/strict';
import { after, afterEach, describe, it } from 'node:test';
import { isRomanaError } from '../errors.ts';
import { conflict, withRetry } from './retry.ts';
import { isCompactable, type Store, type Watch, type WatchEvent } from './store.ts';

/**
 * One `onEvents` call as a watch saw it.
 *
 * @example const d: Delivery = { revision: 7, events: [] };
 */
export interface Delivery {
  revision: number;
  events: WatchEvent[];
}

/**
 * What `recordWatch` returns.
 *
 * @example const rec: RecordedWatch = recordWatch(store, '', 1);
 */
export interface RecordedWatch {
  deliveries: Delivery[];
  errors: Error[];
  close(): void;
  /** Resolves once `cond` holds; rejects after `ms` (default 10 s) with what was seen. */
  waitFor(cond: (d: Delivery[], e: Error[]) => boolean, ms?: number): Promise<void>;
}

/**
 * Records a watch's deliveries and lets a test wait for a condition on them.
 *
 * @example
 * const rec = recordWatch(store, 'a/', 1);
 * await rec.waitFor((d) => d.length >= 2);
 * rec.close();
 */
export function recordWatch(store: Store, prefix: string, from: number): RecordedWatch {
  const deliveries: Delivery[] = [];
  const errors: Error[] = [];
  let wake: () => void = () => {};
  const watch: Watch = store.watch(
    prefix,
    from,
    (events, revision) => {
      deliveries.push({ revision, events });
      wake();
    },
    (err) => {
      errors.push(err);
      wake();
    },
  );
  return {
    deliveries,
    errors,
    close: () => watch.close(),
    /** Resolves once `cond` holds; rejects after `ms` with what was seen. */
    async waitFor(cond: (d: Delivery[], e: Error[]) => boolean, ms = 10_000): Promise<void> {
      const deadline = Date.now() + ms;
      while (!cond(deliveries, errors)) {
        const left = deadline - Date.now();
        if (left <= 0) {
          throw new Error(
            `watch condition not met after ${ms} ms; saw ${JSON.stringify(deliveries)} errors ${errors.map((e) => e.message).join('; ')}`,
          );
        }
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, Math.min(left, 50));
          wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
      }
    },
  };
}

/** Puts `value` at `key` unconditionally; returns the commit revision. */
async function put(store: Store, key: string, value: string): Promise<number> {
  const r = await store.txn([], [{ type: 'put', key, value }]);
  assert.equal(r.succeeded, true);
  return r.revision;
}

function flat(d: Delivery[]): Array<[number, string, string, string | null]> {
  return d.flatMap((x) =>
    x.events.map(
      (e) => [x.revision, e.type, e.key, e.value] as [number, string, string, string | null],
    ),
  );
}

/**
 * Registers the contract tests for one backend. `makeStore` returns a fresh, empty store;
 * the suite closes every store it made.
 *
 * @example
 * runStoreConformance('memory', async () => new MemoryStore());
 */
export function runStoreConformance(name: string, makeStore: () => Promise<Store>): void {
  describe(`Store conformance: ${name}`, () => {
    const open: Store[] = [];
    const fresh = async (): Promise<Store> => {
      const s = await makeStore();
      open.push(s);
      return s;
    };
    afterEach(async () => {
      await Promise.all(open.splice(0).map((s) => s.close()));
    });
    after(async () => {
      await Promise.all(open.splice(0).map((s) => s.close()));
    });

    it('reports itself writable while open, and not writable once closed', async () => {
      const s = await fresh();
      assert.equal(typeof s.health, 'function', 'every backend of ours says whether it can write');
      assert.deepEqual(s.health!(), { writable: true });
      await s.close();
      const h = s.health!();
      assert.equal(h.writable, false);
      assert.match(h.problem ?? '', /closed/);
    });

    it('returns undefined for a missing key and the value with its revisions after a put', async () => {
      const s = await fresh();
      assert.equal(await s.get('hosts/h1'), undefined);
      const rev = await put(s, 'hosts/h1', '{"ip":"10.0.0.1"}');
      assert.deepEqual(await s.get('hosts/h1'), {
        key: 'hosts/h1',
        value: '{"ip":"10.0.0.1"}',
        modRevision: rev,
        createRevision: rev,
      });
      const rev2 = await put(s, 'hosts/h1', 'v2');
      const kv = await s.get('hosts/h1');
      assert.equal(kv?.modRevision, rev2);
      assert.equal(kv?.createRevision, rev, 'an update keeps the create revision');
    });

    it('ranges by prefix, sorted by key, isolated from neighbouring prefixes', async () => {
      const s = await fresh();
      await s.txn(
        [],
        [
          { type: 'put', key: 'a/2', value: '2' },
          { type: 'put', key: 'a/1', value: '1' },
          { type: 'put', key: 'ab', value: 'x' },
          { type: 'put', key: 'a', value: 'y' },
          { type: 'put', key: 'b/1', value: 'z' },
        ],
      );
      const last = await put(s, 'a/10', '10');
      const r = await s.range('a/');
      assert.deepEqual(
        r.kvs.map((kv) => kv.key),
        ['a/1', 'a/10', 'a/2'],
      );
      assert.equal(r.revision, last);
      assert.ok(r.kvs.every((kv) => kv.modRevision <= r.revision));
      assert.deepEqual(
        (await s.range('a')).kvs.map((kv) => kv.key),
        ['a', 'a/1', 'a/10', 'a/2', 'ab'],
      );
      assert.deepEqual(
        (await s.range('')).kvs.map((kv) => kv.key),
        ['a', 'a/1', 'a/10', 'a/2', 'ab', 'b/1'],
      );
      assert.deepEqual((await s.range('c/')).kvs, []);
    });

    it('creates a key only if absent', async () => {
      const s = await fresh();
      const create = (v: string) =>
        s.txn([{ key: 'k', modRevision: 0 }], [{ type: 'put', key: 'k', value: v }]);
      const first = await create('one');
      assert.equal(first.succeeded, true);
      const second = await create('two');
      assert.equal(second.succeeded, false);
      assert.equal(second.revision, first.revision, 'a failed txn reports the current revision');
      assert.equal((await s.get('k'))?.value, 'one');
    });

    it('applies nothing when any compare fails', async () => {
      const s = await fresh();
      const r1 = await put(s, 'x', '1');
      const before = await s.revision();
      const r = await s.txn(
        [
          { key: 'x', modRevision: r1 },
          { key: 'y', modRevision: 12345 },
        ],
        [
          { type: 'put', key: 'x', value: '2' },
          { type: 'put', key: 'z', value: '3' },
        ],
      );
      assert.equal(r.succeeded, false);
      assert.equal(await s.revision(), before);
      assert.equal((await s.get('x'))?.value, '1');
      assert.equal(await s.get('z'), undefined);
    });

    it('updates with the current modRevision and refuses a stale one', async () => {
      const s = await fresh();
      const r1 = await put(s, 'x', '1');
      const ok = await s.txn(
        [{ key: 'x', modRevision: r1 }],
        [{ type: 'put', key: 'x', value: '2' }],
      );
      assert.equal(ok.succeeded, true);
      const stale = await s.txn(
        [{ key: 'x', modRevision: r1 }],
        [{ type: 'put', key: 'x', value: '3' }],
      );
      assert.equal(stale.succeeded, false);
      assert.equal((await s.get('x'))?.value, '2');
    });

    it('commits several keys as one revision', async () => {
      const s = await fresh();
      const rec = recordWatch(s, 'm/', (await s.revision()) + 1);
      const r = await s.txn(
        [
          { key: 'm/a', modRevision: 0 },
          { key: 'm/b', modRevision: 0 },
        ],
        [
          { type: 'put', key: 'm/a', value: 'A' },
          { type: 'put', key: 'm/b', value: 'B' },
          { type: 'put', key: 'm/c', value: 'C' },
        ],
      );
      assert.equal(r.succeeded, true);
      const { kvs } = await s.range('m/');
      assert.deepEqual(
        kvs.map((kv) => kv.modRevision),
        [r.revision, r.revision, r.revision],
      );
      await rec.waitFor((d) => d.length >= 1);
      assert.equal(rec.deliveries.length, 1, 'one onEvents call for one revision');
      assert.equal(rec.deliveries[0]!.revision, r.revision);
      assert.deepEqual(rec.deliveries[0]!.events.map((e) => e.key).sort(), ['m/a', 'm/b', 'm/c']);
      rec.close();
    });

    it('deletes keys, tolerates deleting a missing key, and restarts createRevision on re-create', async () => {
      const s = await fresh();
      const r1 = await put(s, 'd/1', 'x');
      const del = await s.txn(
        [{ key: 'd/1', modRevision: r1 }],
        [
          { type: 'delete', key: 'd/1' },
          { type: 'delete', key: 'd/none' },
        ],
      );
      assert.equal(del.succeeded, true);
      assert.equal(del.revision, r1 + 1);
      assert.equal(await s.get('d/1'), undefined);
      assert.deepEqual((await s.range('d/')).kvs, []);
      const noop = await s.txn([], [{ type: 'delete', key: 'd/none' }]);
      assert.equal(noop.succeeded, true);
      assert.equal(noop.revision, del.revision, 'a txn that changes nothing makes no revision');
      const r3 = await put(s, 'd/1', 'y');
      assert.equal((await s.get('d/1'))?.createRevision, r3);
    });

    it('counts one revision per transaction and never goes back', async () => {
      const s = await fresh();
      let prev = await s.revision();
      for (let i = 0; i < 20; i++) {
        const ops = Array.from({ length: (i % 4) + 1 }, (_, j) => ({
          type: 'put' as const,
          key: `r/${i}/${j}`,
          value: `${i}`,
        }));
        const r = await s.txn([], ops);
        assert.equal(r.revision, prev + 1);
        assert.equal(await s.revision(), r.revision);
        prev = r.revision;
      }
    });

    it('rejects a transaction that touches one key twice or an empty key, changing nothing', async () => {
      const s = await fresh();
      const before = await s.revision();
      await assert.rejects(
        s.txn(
          [],
          [
            { type: 'put', key: 'dup', value: '1' },
            { type: 'delete', key: 'dup' },
          ],
        ),
        (err: unknown) => isRomanaError(err, 'InvalidInput') && /dup/.test(err.message),
      );
      await assert.rejects(s.txn([], [{ type: 'put', key: '', value: '1' }]), (err: unknown) =>
        isRomanaError(err, 'InvalidInput'),
      );
      assert.equal(await s.revision(), before);
    });

    it('watches from a past revision: history first, then live events, in order', async () => {
      const s = await fresh();
      const r1 = await put(s, 'w/a', '1');
      const r2 = await put(s, 'other/x', 'no');
      const r3 = await s.txn([], [{ type: 'delete', key: 'w/a' }]);
      const rec = recordWatch(s, 'w/', r1);
      await rec.waitFor((d) => d.length >= 2);
      const r4 = await put(s, 'w/b', '2');
      const r5 = await put(s, 'w/a', '3');
      await rec.waitFor((d) => d.length >= 4);
      assert.ok(r2 > r1);
      assert.deepEqual(flat(rec.deliveries), [
        [r1, 'put', 'w/a', '1'],
        [r3.revision, 'delete', 'w/a', null],
        [r4, 'put', 'w/b', '2'],
        [r5, 'put', 'w/a', '3'],
      ]);
      assert.deepEqual(
        rec.deliveries.map((d) => d.events[0]!.modRevision),
        [r1, r3.revision, r4, r5],
      );
      assert.deepEqual(rec.errors, []);
      rec.close();
    });

    it('watches only new events when fromRevision is 0', async () => {
      const s = await fresh();
      await put(s, 'n/old', '1');
      const rec = recordWatch(s, 'n/', 0);
      await new Promise((r) => setTimeout(r, 100));
      const r = await put(s, 'n/new', '2');
      await rec.waitFor((d) => d.length >= 1);
      assert.deepEqual(flat(rec.deliveries), [[r, 'put', 'n/new', '2']]);
      rec.close();
    });

    it('resumes a closed watch from the next revision with no loss and no duplicates', async () => {
      const s = await fresh();
      const start = (await s.revision()) + 1;
      for (let i = 0; i < 5; i++) await put(s, `res/${i}`, `${i}`);
      const rec1 = recordWatch(s, 'res/', start);
      await rec1.waitFor((d) => d.length >= 5);
      rec1.close();
      const seen = rec1.deliveries.map((d) => d.revision);
      for (let i = 5; i < 10; i++) await put(s, `res/${i}`, `${i}`);
      const rec2 = recordWatch(s, 'res/', seen[seen.length - 1]! + 1);
      for (let i = 10; i < 15; i++) await put(s, `res/${i}`, `${i}`);
      await rec2.waitFor((d) => d.length >= 10);
      await new Promise((r) => setTimeout(r, 50));
      const keys = [...rec1.deliveries, ...rec2.deliveries].flatMap((d) =>
        d.events.map((e) => e.key),
      );
      assert.deepEqual(
        keys,
        Array.from({ length: 15 }, (_, i) => `res/${i}`),
      );
      rec2.close();
    });

    it('stops calling a watch once it is closed', async () => {
      const s = await fresh();
      const rec = recordWatch(s, 'c/', 0);
      await put(s, 'c/1', '1');
      await rec.waitFor((d) => d.length >= 1);
      rec.close();
      await put(s, 'c/2', '2');
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(rec.deliveries.length, 1);
    });

    it('fails a watch from a compacted revision with a Compacted error', async (t) => {
      const s = await fresh();
      if (!isCompactable(s)) {
        t.skip('backend cannot compact');
        return;
      }
      const r1 = await put(s, 'cp/a', '1');
      await put(s, 'cp/a', '2');
      const r3 = await put(s, 'cp/a', '3');
      await s.compact(r3);
      const rec = recordWatch(s, 'cp/', r1);
      await rec.waitFor((_d, e) => e.length >= 1);
      assert.ok(isRomanaError(rec.errors[0], 'Compacted'), String(rec.errors[0]));
      assert.match(rec.errors[0]!.message, /compacted/);
      assert.equal(rec.deliveries.length, 0);
      rec.close();
      // From the compaction revision on, watching still works.
      const ok = recordWatch(s, 'cp/', r3);
      await ok.waitFor((d) => d.length >= 1);
      assert.deepEqual(flat(ok.deliveries), [[r3, 'put', 'cp/a', '3']]);
      ok.close();
    });

    it('commits concurrent transactions on different keys, each as its own revision', async () => {
      const s = await fresh();
      const before = await s.revision();
      const results = await Promise.all(
        Array.from({ length: 64 }, (_, i) =>
          s.txn(
            [{ key: `cc/${i}`, modRevision: 0 }],
            [{ type: 'put', key: `cc/${i}`, value: 'x'.repeat(300) }],
          ),
        ),
      );
      assert.ok(results.every((r) => r.succeeded));
      const revs = results.map((r) => r.revision).sort((a, b) => a - b);
      assert.deepEqual(
        revs,
        Array.from({ length: 64 }, (_, i) => before + 1 + i),
      );
      assert.equal((await s.range('cc/')).kvs.length, 64);
    });

    it('lets exactly one of many concurrent creators of the same key win', async () => {
      const s = await fresh();
      const results = await Promise.all(
        Array.from({ length: 32 }, (_, i) =>
          s.txn([{ key: 'same', modRevision: 0 }], [{ type: 'put', key: 'same', value: `w${i}` }]),
        ),
      );
      const winners = results.map((r, i) => (r.succeeded ? i : -1)).filter((i) => i >= 0);
      assert.equal(winners.length, 1);
      assert.equal((await s.get('same'))?.value, `w${winners[0]}`);
    });

    it('keeps every increment when concurrent writers retry with withRetry', async () => {
      const s = await fresh();
      await put(s, 'counter', '0');
      const incr = () =>
        withRetry(
          async () => {
            const kv = (await s.get('counter'))!;
            const r = await s.txn(
              [{ key: 'counter', modRevision: kv.modRevision }],
              [{ type: 'put', key: 'counter', value: String(Number(kv.value) + 1) }],
            );
            if (!r.succeeded) throw conflict('counter changed');
          },
          { attempts: 200, maxDelayMs: 5 },
        );
      await Promise.all(Array.from({ length: 16 }, incr));
      assert.equal((await s.get('counter'))?.value, '16');
    });
  });
}
