/**
 * The replica's shared core (`ServiceCore`) at its edges, over the memory store: settling
 * abandoned operations (at once, from the sweeper, from a refused write), when writes are
 * refused, what a key is compared at, long writes split in transactions, and reading keys back.
 * The store is wrapped only to count calls or to fail on demand.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { serviceWithHosts } from '../../../test/helpers/service.ts';
import { isRomanaError } from '../../errors.ts';
import { MemoryStore } from '../../store/memory.ts';
import type { Op, Store } from '../../store/store.ts';
import { ServiceCore, sleep, unavailable, type LogFn } from './core.ts';
import { DEFAULT_TIMING, type OperationTiming } from './operations.ts';
import { WATCH_KINDS, type WatchEvent } from './service.ts';

interface Logged {
  level: string;
  msg: string;
  extra?: Record<string, unknown>;
}

/** A log that keeps its lines. */
function recorder(): { log: LogFn; lines: Logged[] } {
  const lines: Logged[] = [];
  return { log: (level, msg, extra) => void lines.push({ level, msg, extra }), lines };
}

/** Counts calls and fails some on demand; everything else is `inner`'s. */
class CountingStore implements Store {
  readonly calls: Array<{ what: string; arg: string; ops?: number; compares?: number }> = [];
  /** While true, `range` rejects. */
  failRange = false;
  constructor(
    readonly inner: MemoryStore,
    readonly exclusive = true,
  ) {}
  get: Store['get'] = (k) => {
    this.calls.push({ what: 'get', arg: k });
    return this.inner.get(k);
  };
  range: Store['range'] = (p) => {
    this.calls.push({ what: 'range', arg: p });
    if (this.failRange) return Promise.reject(new Error('store down'));
    return this.inner.range(p);
  };
  txn: Store['txn'] = (c, o) => {
    this.calls.push({ what: 'txn', arg: '', ops: o.length, compares: c.length });
    return this.inner.txn(c, o);
  };
  watch: Store['watch'] = (p, from, onEvents, onError) =>
    this.inner.watch(p, from, onEvents, onError);
  revision: Store['revision'] = () => this.inner.revision();
  close: Store['close'] = () => this.inner.close();
  count(what: string, arg?: string): number {
    return this.calls.filter((c) => c.what === what && (arg === undefined || c.arg === arg)).length;
  }
}

/** Polls `cond` every 5 ms until it holds; fails after `ms`. */
async function until(cond: () => boolean, ms = 3000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** `until` for a condition that must read the store. */
async function untilAsync(cond: () => Promise<boolean>, ms = 3000, what = 'condition') {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** A store holding the pods topology, hosts h1 and h2, written by a service now closed. */
async function seededStore(): Promise<MemoryStore> {
  const store = new MemoryStore();
  const svc = await serviceWithHosts(store);
  await svc.close();
  return store;
}

/** What a romanad that died between a topology update's fence and its switch leaves. */
async function writeBareFence(store: Store): Promise<void> {
  const kv = (await store.get('topology'))!;
  const rec = JSON.parse(kv.value) as { generation: number };
  const updating = { to: rec.generation + 1, since: 1 };
  await store.txn(
    [],
    [{ type: 'put', key: 'topology', value: JSON.stringify({ ...rec, updating }) }],
  );
}

async function fenced(store: Store): Promise<boolean> {
  const kv = await store.get('topology');
  return kv !== undefined && 'updating' in (JSON.parse(kv.value) as object);
}

/** The events `core` publishes from now on. */
function published(core: ServiceCore): WatchEvent[] {
  const seen: WatchEvent[] = [];
  core.events.subscribe(WATCH_KINDS, core.revision + 1, (e) => seen.push(e));
  return seen;
}

async function coreOver(store: Store, log: LogFn = () => undefined, timing = {}) {
  const core = new ServiceCore(store, log, 1000, timing);
  await core.reload();
  return core;
}

describe('the core: its parts', () => {
  it('keeps the default timing for what it is not given', () => {
    const store = new MemoryStore();
    const plain = new ServiceCore(store, () => undefined, 7);
    assert.deepEqual(plain.timing, DEFAULT_TIMING);
    assert.equal(plain.eventCapacity, 7);
    const some: Partial<OperationTiming> = { staleMs: 1234 };
    const core = new ServiceCore(store, () => undefined, 7, some);
    assert.deepEqual(core.timing, { ...DEFAULT_TIMING, staleMs: 1234 });
    assert.notEqual(core.timing.heartbeatMs, undefined);
  });

  it('gives operations its store, its timing and a commit that writes through the runner', async () => {
    const store = new MemoryStore();
    const core = await coreOver(store, undefined, { heartbeatMs: 77 });
    const ctx = core.opContext();
    assert.equal(ctx.store, store);
    assert.equal(ctx.timing.heartbeatMs, 77);
    const rev = await ctx.commit([], [{ type: 'put', key: 'test/a', value: 'x' }]);
    assert.equal(typeof rev, 'number');
    assert.equal((await store.get('test/a'))?.modRevision, rev);
    assert.equal(core.seenRevision('test/a'), rev);
    core.closed = true;
  });

  it('is at generation 0 without a topology, and at the stored one with it', async () => {
    const empty = await coreOver(new MemoryStore());
    assert.equal(empty.generation(), 0);
    const store = await seededStore();
    const core = await coreOver(store);
    const rec = JSON.parse((await store.get('topology'))!.value) as { generation: number };
    assert.ok(rec.generation > 0);
    assert.equal(core.generation(), rec.generation);
    empty.closed = core.closed = true;
  });

  it('makes Unavailable errors with their cause, and sleeps as long as asked', async () => {
    const cause = new Error('disk');
    const e = unavailable('no store', cause);
    assert.ok(isRomanaError(e, 'Unavailable'));
    assert.equal(e.message, 'no store');
    assert.equal(e.cause, cause);
    const t = Date.now();
    await sleep(30);
    assert.ok(Date.now() - t >= 25, 'slept');
  });

  it('compares a key at the revision it holds, and a deleted or unknown one as absent', () => {
    const core = new ServiceCore(new MemoryStore(), () => undefined, 10);
    core.revs.set('k/held', 7);
    core.revs.set('k/deleted', -9);
    assert.deepEqual(core.cmp('k/held'), { key: 'k/held', modRevision: 7 });
    assert.deepEqual(core.cmp('k/deleted'), { key: 'k/deleted', modRevision: 0 });
    assert.deepEqual(core.cmp('k/never'), { key: 'k/never', modRevision: 0 });
    assert.equal(core.seenRevision('k/deleted'), 9);
    assert.equal(core.seenRevision('k/never'), 0);
  });
});

describe('the core: abandoned operations', () => {
  it('settles an abandoned fence once however many ask, and then finds nothing', async () => {
    const store = await seededStore();
    await writeBareFence(store);
    const counting = new CountingStore(store);
    const core = new ServiceCore(counting, () => undefined, 1000);
    const a = core.recoverOperations();
    const b = core.recoverOperations();
    assert.equal(a, b, 'one recovery at a time');
    assert.equal(await a, 1);
    assert.equal(counting.count('range', 'ops/'), 1);
    assert.equal(await fenced(store), false, 'the fence is lifted');
    await core.reload();
    const c = core.recoverOperations();
    assert.notEqual(c, a);
    assert.equal(await c, 0);
    core.closed = true;
  });

  it('the sweeper settles what is abandoned later, warns once while failing, and stops', async () => {
    const store = await seededStore();
    const counting = new CountingStore(store);
    const { log, lines } = recorder();
    const core = await coreOver(counting, log, { heartbeatMs: 10 });
    core.startSweeper();
    core.startSweeper(); // a second start changes nothing
    await writeBareFence(store);
    await untilAsync(async () => !(await fenced(store)), 3000, 'the sweeper lifting it');
    const warned = () => lines.filter((l) => l.msg.startsWith('could not settle')).length;
    for (const round of [1, 2]) {
      counting.failRange = true;
      const looks = counting.count('range', 'ops/');
      await until(() => counting.count('range', 'ops/') >= looks + 3, 3000, 'failing looks');
      assert.equal(warned(), round, 'one warning per failing stretch');
      assert.equal(lines.at(-1)?.level, 'warn');
      assert.match(String(lines.at(-1)?.extra?.['err']), /store down/);
      counting.failRange = false;
      const ok = counting.count('range', 'ops/');
      await until(() => counting.count('range', 'ops/') >= ok + 2, 3000, 'a good look');
    }
    core.stopSweeper();
    const stopped = counting.count('range', 'ops/');
    await sleep(60);
    assert.ok(counting.count('range', 'ops/') <= stopped + 1, 'no look after it stopped');
    core.closed = true;
  });

  it('looks without waiting for operations in flight when nothing is abandoned', async () => {
    const core = await coreOver(await seededStore());
    let finish!: () => void;
    const operation = core.rw.read(() => new Promise<void>((r) => (finish = r)));
    const answer = await Promise.race([core.recoverOperations(), sleep(1000).then(() => 'waited')]);
    assert.equal(answer, 0, 'no write lock taken');
    finish();
    await operation;
    core.closed = true;
  });

  it('the sweeper warns when its very first look fails', async () => {
    const counting = new CountingStore(await seededStore());
    const { log, lines } = recorder();
    const core = await coreOver(counting, log, { heartbeatMs: 10 });
    counting.failRange = true;
    core.startSweeper();
    await until(() => counting.count('range', 'ops/') >= 3, 3000, 'failing looks');
    core.stopSweeper();
    assert.deepEqual(
      lines.map((l) => [l.level, l.msg]),
      [['warn', 'could not settle abandoned operations; retrying']],
    );
    core.closed = true;
  });

  it('the sweeper ends itself when the core closes, without a warning', async () => {
    const counting = new CountingStore(await seededStore());
    const { log, lines } = recorder();
    const core = await coreOver(counting, log, { heartbeatMs: 10 });
    core.startSweeper();
    await until(() => counting.count('range', 'ops/') >= 2, 3000, 'looks');
    counting.failRange = true;
    core.closed = true;
    const closed = counting.count('range', 'ops/');
    await sleep(60);
    assert.ok(counting.count('range', 'ops/') <= closed + 1, 'no look once closed');
    assert.deepEqual(
      lines.filter((l) => l.level === 'warn'),
      [],
    );
  });
});

describe('the core: when writes are refused', () => {
  it('refuses while closing, and while tainted until the reload it schedules', async () => {
    const store = await seededStore();
    const core = await coreOver(store);
    core.checkWritable();
    core.markTainted();
    assert.throws(
      () => core.checkWritable(),
      (e: unknown) => isRomanaError(e, 'Unavailable') && /re-reading its state/.test(e.message),
    );
    await until(() => !core.tainted, 3000, 'the reload');
    core.checkWritable();
    core.closed = true;
    assert.throws(
      () => core.checkWritable(),
      (e: unknown) => isRomanaError(e, 'Unavailable') && /shutting down/.test(e.message),
    );
  });

  it('refuses during a topology update, and looks for its abandonment at most every 250 ms', async () => {
    const store = await seededStore();
    await writeBareFence(store);
    // A shared store: the fence is abandoned only once it stood still for staleMs.
    const counting = new CountingStore(store, false);
    const core = await coreOver(counting, undefined, { staleMs: 60_000 });
    const refused = (e: unknown) =>
      isRomanaError(e, 'Unavailable') &&
      e.resourceType === 'topology' &&
      /topology update is in progress/.test(e.message);
    const t0 = Date.now();
    assert.throws(() => core.checkWritable(), refused);
    // A look reads the intents, then the fence twice (it is bare), and finds it not stale yet.
    await until(() => counting.count('get', 'topology') === 2, 3000, 'a look');
    await sleep(10);
    assert.equal(counting.count('range', 'ops/'), 1);
    assert.throws(() => core.checkWritable(), refused);
    await sleep(10);
    assert.equal(counting.count('range', 'ops/'), 1, 'no look within 250 ms of the last');
    while (Date.now() - t0 <= 260) await sleep(10);
    assert.throws(() => core.checkWritable(), refused);
    await until(() => counting.count('range', 'ops/') === 2, 3000, 'a later look');
    assert.equal(await fenced(store), true, 'a fence not yet stale stays');
    core.closed = true;
  });
});

describe('the core: commits', () => {
  const puts = (n: number): Op[] =>
    Array.from({ length: n }, (_, i) => ({ type: 'put', key: `test/k${i}`, value: String(i) }));

  it('splits a long write in transactions of 100, the compares in the first', async () => {
    const counting = new CountingStore(new MemoryStore());
    const core = await coreOver(counting);
    const cmp = [{ key: 'test/none', modRevision: 0 }];
    for (const [n, sizes] of [
      [250, [100, 100, 50]],
      [200, [100, 100]],
      [100, [100]],
      [7, [7]],
    ] as const) {
      counting.calls.length = 0;
      const rev = await core.commitChunked(cmp, puts(n));
      const txns = counting.calls.filter((c) => c.what === 'txn');
      assert.deepEqual(
        txns.map((c) => c.ops),
        sizes,
      );
      assert.deepEqual(
        txns.map((c) => c.compares),
        sizes.map((_, i) => (i === 0 ? 1 : 0)),
      );
      assert.equal(rev, await counting.inner.revision());
      assert.equal((await counting.inner.get(`test/k${n - 1}`))?.value, String(n - 1));
    }
    core.closed = true;
  });

  it('writes nothing more once the first transaction lost its compare', async () => {
    const counting = new CountingStore(new MemoryStore());
    const core = await coreOver(counting);
    await counting.inner.txn([], [{ type: 'put', key: 'test/taken', value: 'x' }]);
    counting.calls.length = 0;
    const rev = await core.commitChunked([{ key: 'test/taken', modRevision: 0 }], puts(150));
    assert.equal(rev, null);
    assert.equal(counting.count('txn'), 1);
    assert.equal(await counting.inner.get('test/k0'), undefined);
    core.closed = true;
  });
});

describe('the core: reading keys back', () => {
  const key = 'namespaces/ns1';
  const ns = (labels: Record<string, string>) => JSON.stringify({ name: 'ns1', labels });

  it('applies newer versions and deletions, and a version it holds only when forced', async () => {
    const store = await seededStore();
    await store.txn([], [{ type: 'put', key, value: ns({ a: '1' }) }]);
    const core = await coreOver(store);
    core.watch?.close(); // only the read-back may teach the replica
    const events = published(core);
    const { revision: r2 } = await store.txn([], [{ type: 'put', key, value: ns({ a: '2' }) }]);
    await core.refreshKeys([key]);
    assert.deepEqual(core.state.namespaces.get('ns1')?.labels, { a: '2' });
    assert.equal(core.seenRevision(key), r2);
    assert.deepEqual(
      events.map((e) => [e.kind, e.type, e.id, e.revision]),
      [['namespaces', 'put', 'ns1', r2]],
    );
    // The engine holds a change the store never got: a plain read-back keeps it, a forced one
    // puts the store's version back.
    core.state.namespaces.set('ns1', { name: 'ns1', labels: { drift: 'x' } });
    await core.refreshKeys([key]);
    assert.deepEqual(core.state.namespaces.get('ns1')?.labels, { drift: 'x' });
    await core.refreshKeys([key], true);
    assert.deepEqual(core.state.namespaces.get('ns1')?.labels, { a: '2' });
    // An older version than the one held is never applied, forced or not.
    core.revs.set(key, r2 + 100);
    core.state.namespaces.set('ns1', { name: 'ns1', labels: { newer: 'y' } });
    await core.refreshKeys([key], true);
    assert.deepEqual(core.state.namespaces.get('ns1')?.labels, { newer: 'y' });
    core.revs.set(key, r2);
    await store.txn([], [{ type: 'delete', key }]);
    await core.refreshKeys([key]);
    assert.equal(core.state.namespaces.has('ns1'), false, 'the deletion applied');
    assert.equal(core.seenRevision(key), r2);
    core.closed = true;
  });

  it('applies nothing for keys neither it nor the store holds', async () => {
    const store = await seededStore();
    const core = await coreOver(store);
    core.watch?.close();
    core.revs.set('namespaces/gone', -5); // deleted, and known deleted
    const events = published(core);
    const revision = core.revision;
    await core.refreshKeys(['namespaces/never', 'namespaces/gone']);
    assert.deepEqual(events, []);
    assert.equal(core.revision, revision);
    assert.equal(core.revs.get('namespaces/gone'), -5);
    assert.equal(core.revs.has('namespaces/never'), false);
    core.closed = true;
  });
});
