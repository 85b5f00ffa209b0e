/**
 * The replica's core reloading and following the store, over the memory store: what a reload
 * tells watchers (what changed meanwhile, deletes for what is gone, nothing else), retries with
 * backoff while the store fails, catching up with a key, applying store changes (not while a
 * reload is due), and host views published at a commit's revision. The store is wrapped only to
 * count calls or to fail on demand.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PODS_TOPOLOGY, serviceWithHosts } from '../../../test/helpers/service.ts';
import { MemoryStore } from '../../store/memory.ts';
import type { BlockChange } from '../../ipam/index.ts';
import type { Store } from '../../store/store.ts';
import { ServiceCore, sleep, type LogFn } from './core.ts';
import { WATCH_KINDS, type WatchEvent } from './service.ts';

const POLICY = {
  id: 'p1',
  direction: 'ingress',
  applied_to: [{ tenant_id: 't' }],
  ingress: [{ peers: [{ peer: 'any' }], rules: [{ protocol: 'tcp', ports: [80] }] }],
};

interface Line {
  level: string;
  msg: string;
  at: number;
  err: string;
}

function recorder(): { log: LogFn; lines: Line[] } {
  const lines: Line[] = [];
  const log: LogFn = (level, msg, extra) =>
    void lines.push({ level, msg, at: Date.now(), err: String(extra?.['err']) });
  return { log, lines };
}

/** `inner`, counting calls, failing `range` or `get` on demand, and able to break its watches. */
class FlakyStore implements Store {
  readonly exclusive = true;
  failRange = false;
  failGet = false;
  ranges = 0;
  watches = 0;
  readonly #onErrors: Array<(err: Error) => void> = [];
  constructor(readonly inner: MemoryStore) {}
  get: Store['get'] = (k) =>
    this.failGet ? Promise.reject(new Error('get failed')) : this.inner.get(k);
  range: Store['range'] = (p) => {
    this.ranges++;
    return this.failRange ? Promise.reject(new Error('store down')) : this.inner.range(p);
  };
  txn: Store['txn'] = (c, o) => this.inner.txn(c, o);
  watch: Store['watch'] = (p, from, onEvents, onError) => {
    this.watches++;
    this.#onErrors.push(onError);
    return this.inner.watch(p, from, onEvents, onError);
  };
  revision: Store['revision'] = () => this.inner.revision();
  close: Store['close'] = () => this.inner.close();
  breakWatch(err: Error): void {
    this.#onErrors.at(-1)?.(err);
  }
}

async function until(cond: () => boolean, ms = 3000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

async function coreOver(store: Store, log: LogFn = () => undefined): Promise<ServiceCore> {
  const core = new ServiceCore(store, log, 1000);
  await core.reload();
  return core;
}

function published(core: ServiceCore): WatchEvent[] {
  const seen: WatchEvent[] = [];
  core.events.subscribe(WATCH_KINDS, core.revision + 1, (e) => seen.push(e));
  return seen;
}

const text = (e: WatchEvent) => JSON.stringify([e.kind, e.type, e.id, e.value]);

/** What a reload from `before` to `after` must publish: deletes for what is gone, then changes. */
function expectedDiff(before: WatchEvent[], after: WatchEvent[]): string[] {
  const id = (e: WatchEvent) => `${e.kind}/${e.id}`;
  const afterIds = new Set(after.map(id));
  const was = new Map(before.map((e) => [id(e), JSON.stringify(e.value)]));
  return [
    ...before
      .filter((e) => !afterIds.has(id(e)))
      .map((e) => text({ ...e, type: 'delete', value: null })),
    ...after.filter((e) => was.get(id(e)) !== JSON.stringify(e.value)).map(text),
  ];
}

describe('the core: reloading', () => {
  it('tells watchers what changed meanwhile and what is gone, of every kind, and nothing else', async () => {
    const store = new MemoryStore();
    const a = await serviceWithHosts(store);
    await a.putNamespace('ns1', { x: '1' });
    await a.putNamespace('keep', { k: '1' });
    await a.putNamespace('gone', { g: '1' });
    await a.putPolicy(POLICY);
    await a.putVip('web', { ip: '192.0.2.10', host: 'h1' });
    await a.allocate({ name: 'pod-0', host: 'h1' });
    const core = await coreOver(store);
    core.watch?.close(); // it misses what follows
    const before = core.currentState(WATCH_KINDS, 0);
    const events = published(core);
    const doc = structuredClone(PODS_TOPOLOGY) as { topologies: Array<{ map: object[] }> };
    doc.topologies[0]!.map.push({ name: 'r3' });
    await a.updateTopology(doc);
    await a.addHost({ name: 'h3', ip: '192.168.0.3', managed_by: 'romana-listener' });
    await a.allocate({ name: 'pod-1', host: 'h3' });
    await a.deletePolicy('p1');
    await a.putVip('web', { ip: '192.0.2.11', host: 'h1' });
    await a.putNamespace('ns1', { x: '2' });
    await a.deleteNamespace('gone');
    await core.reload();
    const oracle = await coreOver(store);
    const rev = await store.revision();
    assert.equal(core.revision, rev);
    const want = expectedDiff(before, oracle.currentState(WATCH_KINDS, rev));
    assert.deepEqual(events.map(text), want);
    assert.ok(events.every((e) => e.revision === rev));
    const got = new Set(events.map((e) => `${e.kind} ${e.type} ${e.id}`));
    for (const k of WATCH_KINDS) {
      assert.ok(
        [...got].some((g) => g.startsWith(`${k} `)),
        `an event of ${k}`,
      );
    }
    for (const g of ['policies delete p1', 'namespaces delete gone', 'namespaces put ns1']) {
      assert.ok(got.has(g), g);
    }
    assert.equal(got.has('namespaces put keep'), false, 'unchanged: not published');
    const h3 = events.find((e) => e.kind === 'hosts' && e.id === 'h3');
    assert.equal((h3?.value as { managed_by?: string }).managed_by, 'romana-listener');
    // And it follows the store from there.
    await a.putNamespace('late', {});
    await until(() => core.state.namespaces.has('late'), 3000, 'the watch');
    await a.close();
    core.closed = oracle.closed = true;
  });

  it('starts its event log at the loaded revision, reads once when asked twice, and clears stale and tainted', async () => {
    const flaky = new FlakyStore(new MemoryStore());
    await serviceWithHosts(flaky.inner);
    const core = await coreOver(flaky);
    const rev = await flaky.inner.revision();
    assert.throws(() => core.events.subscribe(WATCH_KINDS, rev, () => undefined), /compacted/i);
    core.events.subscribe(WATCH_KINDS, rev + 1, () => undefined).close();
    assert.equal(core.hostsRevision, rev);
    assert.equal(core.blocksRevision, rev);
    assert.deepEqual([...core.networkRevisions], [['pods', rev]]);
    core.stale = core.tainted = true;
    const ranges = flaky.ranges;
    await Promise.all([core.reload(), core.reload()]);
    assert.equal(flaky.ranges, ranges + 1, 'one read for two reloads at once');
    assert.equal(core.stale, false);
    assert.equal(core.tainted, false);
    assert.equal(core.reloading, null);
    core.closed = true;
    const watches = flaky.watches;
    await core.reload();
    assert.equal(core.watch, null, 'a closed core follows nothing');
    assert.equal(flaky.watches, watches);
  });

  it('reloads when its store watch fails, once however many ask', async () => {
    const flaky = new FlakyStore(new MemoryStore());
    const svc = await serviceWithHosts(flaky.inner);
    const { log, lines } = recorder();
    const core = await coreOver(flaky, log);
    const ranges = flaky.ranges;
    core.closed = true;
    core.scheduleReload();
    assert.equal(core.reloadScheduled, false, 'not once closed');
    core.closed = false;
    // An operation in flight: the reload waits for it, and is scheduled once meanwhile.
    let finish!: () => void;
    const operation = core.rw.read(() => new Promise<void>((r) => (finish = r)));
    core.scheduleReload();
    core.scheduleReload();
    assert.equal(core.reloadScheduled, true);
    await sleep(5);
    assert.equal(flaky.ranges, ranges, 'not under the operation');
    finish();
    await operation;
    await until(() => !core.reloadScheduled && core.reloading === null, 3000, 'the reload');
    assert.equal(flaky.ranges, ranges + 1);
    const watches = flaky.watches;
    flaky.breakWatch(new Error('cut'));
    assert.deepEqual(
      lines.map((l) => [l.level, l.msg, l.err]),
      [['warn', 'store watch failed; reloading', 'cut']],
    );
    await until(() => flaky.watches === watches + 1, 3000, 'a new watch');
    await svc.putNamespace('after', {});
    await until(() => core.state.namespaces.has('after'), 3000, 'the new watch');
    await svc.close();
    core.closed = true;
  });

  it('retries a failing reload with a growing delay, and starts again from the shortest', async () => {
    const flaky = new FlakyStore(new MemoryStore());
    const svc = await serviceWithHosts(flaky.inner);
    const { log, lines } = recorder();
    const core = await coreOver(flaky, log);
    const failed = () => lines.filter((l) => l.msg === 'reload from the store failed; retrying');
    for (const round of [1, 2]) {
      const seen = failed().length;
      flaky.failRange = true;
      core.markTainted();
      await until(() => failed().length === seen + 2, 3000, 'two failures');
      flaky.failRange = false;
      const first = failed()[seen]!.at;
      const second = failed()[seen + 1]!.at;
      assert.match(failed()[seen]!.err, /store down/);
      assert.equal(failed()[seen]!.level, 'error');
      await svc.putNamespace(`r${round}`, {});
      await until(() => !core.tainted, 3000, 'the reload');
      const done = Date.now();
      assert.ok(core.state.namespaces.has(`r${round}`));
      // 100 ms after the first failure, 200 ms after the second.
      assert.ok(second - first >= 90, `retried after ${second - first} ms`);
      assert.ok(done - second >= 190, `retried after ${done - second} ms`);
      assert.ok(done - first < 1000, `reloaded ${done - first} ms after the first failure`);
    }
    await svc.close();
    core.closed = true;
  });
});

describe('the core: following the store', () => {
  it('catches up with a key only when the store holds a newer version', async () => {
    const flaky = new FlakyStore(new MemoryStore());
    const svc = await serviceWithHosts(flaky.inner);
    const core = await coreOver(flaky);
    const key = 'namespaces/n1';
    assert.equal(await core.catchUp(key, 0), false, 'the store does not have it');
    await svc.putNamespace('n1', {});
    const rev = (await flaky.inner.get(key))!.modRevision;
    const t0 = Date.now();
    assert.equal(await core.catchUp(key, 0), true);
    assert.ok(Date.now() - t0 < 1500, 'answers once applied, not at its timeout (2 s)');
    assert.equal(core.seenRevision(key), rev);
    assert.equal(await core.catchUp(key, rev), false, 'nothing newer than what the caller saw');
    core.watch?.close();
    await svc.putNamespace('n1', { v: '2' });
    const t = Date.now();
    assert.equal(await core.catchUp(key, rev, 60), false, 'never applied');
    assert.ok(Date.now() - t >= 55, 'waited its time');
    flaky.failGet = true;
    assert.equal(await core.catchUp(key, 0), false, 'the store cannot tell');
    await svc.close();
    core.closed = true;
  });

  it('applies store changes except while a reload is due, unless reading back', async () => {
    const mem = new MemoryStore();
    await (await serviceWithHosts(mem)).close();
    const { log, lines } = recorder();
    const core = await coreOver(mem, log);
    core.watch?.close();
    const put = (name: string, modRevision: number) => ({
      type: 'put' as const,
      key: `namespaces/${name}`,
      value: JSON.stringify({ name, labels: {} }),
      modRevision,
    });
    const rev = core.revision;
    core.stale = true;
    core.applyStoreEvents([put('a', rev + 1)], false);
    assert.equal(core.state.namespaces.has('a'), false, 'not while stale');
    core.applyStoreEvents([put('b', rev + 2)], true);
    assert.equal(core.state.namespaces.has('b'), true, 'read back while stale');
    core.stale = false;
    core.reloading = new Promise(() => undefined);
    core.applyStoreEvents([put('c', rev + 3)], false);
    assert.equal(core.state.namespaces.has('c'), false, 'not while reloading');
    core.applyStoreEvents([put('d', rev + 4)], true);
    assert.equal(core.state.namespaces.has('d'), true, 'read back while reloading');
    core.reloading = null;
    core.applyStoreEvents([put('e', rev + 5)], false);
    assert.equal(core.state.namespaces.has('e'), true);
    assert.equal(core.revision, rev + 5);
    assert.equal(lines.length, 0);
    core.applyStoreEvents([{ ...put('f', rev + 6), value: 'not json' }], false);
    assert.deepEqual(
      lines.map((l) => [l.level, l.msg]),
      [['warn', 'could not apply a store change; reloading']],
    );
    assert.match(lines[0]!.err, /namespaces\/f/);
    // The reload puts back the store's state: it never had 'e'.
    await until(() => !core.state.namespaces.has('e'), 3000, 'the reload');
    core.closed = true;
  });
});

describe('the core: views it publishes', () => {
  it('publishes host views at the revision given, with who manages them', async () => {
    const mem = new MemoryStore();
    const svc = await serviceWithHosts(mem);
    await svc.addHost({ name: 'h3', ip: '192.168.0.3', managed_by: 'romana-listener' });
    await svc.close();
    const core = await coreOver(mem);
    core.watch?.close();
    const r = core.revision;
    assert.equal(core.hostViewOf('nope'), null);
    assert.equal(core.hostViewOf('h1')?.name, 'h1');
    assert.equal('managed_by' in core.hostViewOf('h1')!, false);
    assert.equal(core.hostViewOf('h3')?.managed_by, 'romana-listener');
    const events = published(core);
    core.hostsCommitted(['h1', 'h3'], r + 5);
    assert.equal(core.hostsRevision, r + 5);
    assert.equal(core.revision, r + 5);
    core.hostsCommitted(['h2'], r + 6, true);
    assert.deepEqual(core.hostEvents(['h3'], r + 1), [
      { kind: 'hosts', type: 'put', id: 'h3', value: core.hostViewOf('h3') },
    ]);
    assert.equal(core.hostsRevision, r + 6, 'never goes back');
    core.publish(r + 2, []);
    assert.equal(core.revision, r + 6, 'never goes back');
    assert.deepEqual(
      events.map((e) => [
        e.revision,
        e.type,
        e.id,
        (e.value as { managed_by?: string })?.managed_by,
      ]),
      [
        [r + 5, 'put', 'h1', undefined],
        [r + 5, 'put', 'h3', 'romana-listener'],
        [r + 6, 'delete', 'h2', undefined],
      ],
    );
    core.closed = true;
  });

  it('publishes blocks committed at the revision given, and records that revision', async () => {
    const mem = new MemoryStore();
    const svc = await serviceWithHosts(mem);
    await svc.allocate({ name: 'pod-0', host: 'h1' });
    await svc.close();
    const core = await coreOver(mem);
    core.watch?.close();
    const g = core.generation();
    const [kv] = (await mem.range(`g/${g}/blocks/`)).kvs;
    const state = JSON.parse(kv!.value) as BlockChange['state'];
    const cidr = core.ipam.listAllBlocks().blocks.find((b) => b.host === 'h1')!.cidr;
    const r = core.revision;
    const events = published(core);
    core.blocksCommitted([{ network: 'pods', cidr, state }], r + 3);
    assert.deepEqual(
      events.map((e) => [e.kind, e.type, e.id, e.revision]),
      [['blocks', 'put', cidr, r + 3]],
    );
    assert.equal(core.ipam.getBlock('pods', cidr).revision, r + 3);
    assert.equal(core.blocksRevision, r + 3);
    assert.equal(core.networkRevisions.get('pods'), r + 3);
    assert.equal(core.revision, r + 3);
    core.closed = true;
  });

  it('lists the current state of the kinds asked for only', async () => {
    const empty = await coreOver(new MemoryStore());
    assert.deepEqual(empty.currentState(WATCH_KINDS, 1), [], 'no topology, nothing');
    const mem = new MemoryStore();
    const svc = await serviceWithHosts(mem);
    await svc.putNamespace('ns1', {});
    await svc.putPolicy(POLICY);
    await svc.putVip('web', { ip: '192.0.2.10', host: 'h1' });
    await svc.allocate({ name: 'pod-0', host: 'h1' });
    await svc.close();
    const core = await coreOver(mem);
    const all = core.currentState(WATCH_KINDS, 42);
    assert.ok(all.every((e) => e.revision === 42 && e.type === 'put'));
    for (const kind of WATCH_KINDS) {
      const only = core.currentState([kind], 42);
      assert.ok(only.length > 0, kind);
      assert.deepEqual(
        only,
        all.filter((e) => e.kind === kind),
      );
    }
    const ids = (kind: string) => all.filter((e) => e.kind === kind).map((e) => e.id);
    assert.deepEqual(ids('hosts'), ['h1', 'h2']);
    assert.deepEqual(ids('namespaces'), ['ns1']);
    assert.deepEqual(ids('policies'), ['p1']);
    assert.deepEqual(ids('vips'), ['web']);
    assert.deepEqual(ids('addresses'), ['pod-0']);
    assert.deepEqual(ids('topology'), ['topology']);
    empty.closed = core.closed = true;
  });
});
