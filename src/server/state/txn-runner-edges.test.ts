/**
 * The write path's runner at its edges, over the memory store: what a write set compares,
 * which writes the watch must take as the replica's own, how deletes and revisions are
 * recorded, and the outcomes of a batch (in job order, undone last first, with the message
 * that names the write).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { serviceWithHosts } from '../../../test/helpers/service.ts';
import { isRomanaError, RomanaError } from '../../errors.ts';
import { createRomanaService } from './romana-service.ts';
import { MemoryStore } from '../../store/memory.ts';
import type { Store } from '../../store/store.ts';
import { ServiceCore } from './core.ts';
import { TxnSet, type Decision } from './txn-runner.ts';

async function coreOver(store: Store): Promise<ServiceCore> {
  const core = new ServiceCore(store, () => undefined, 1000);
  await core.reload();
  core.watch?.close(); // only the runner may teach the replica about its writes
  return core;
}

/** A store that answers every call as `inner`, except `txn`, which goes through `txn`. */
function storeWith(inner: MemoryStore, txn: Store['txn']): Store {
  return {
    exclusive: true,
    txn,
    get: (k) => inner.get(k),
    range: (p) => inner.range(p),
    watch: (p, from, onEvents, onError) => inner.watch(p, from, onEvents, onError),
    revision: () => inner.revision(),
    close: () => inner.close(),
  };
}

const putting = (core: ServiceCore, key: string, value: string) => (): Decision<number> => ({
  txn: new TxnSet().read(core, key).put(key, value),
  committed: (rev) => ({ value: rev }),
});

describe('TxnSet', () => {
  it('compares a key at the first revision it read, and keeps the last write of a key', async () => {
    const store = new MemoryStore();
    const core = await coreOver(store);
    const r1 = await core.runner.run('one', putting(core, 'test/k', '1'));
    const set = new TxnSet().read(core, 'test/k');
    await core.runner.run('two', putting(core, 'test/k', '2'));
    set.read(core, 'test/k').put('test/k', { n: 1 });
    assert.deepEqual(set.compares(), [{ key: 'test/k', modRevision: r1 }]);
    const later = new TxnSet().read(core, 'test/k').readAbsent('test/new').put('test/k', 'x');
    set.merge(later);
    assert.deepEqual(set.compares(), [
      { key: 'test/k', modRevision: r1 },
      { key: 'test/new', modRevision: 0 },
    ]);
    assert.deepEqual(set.ops(), [{ type: 'put', key: 'test/k', value: 'x' }]);
    set.delete('test/k');
    assert.deepEqual(set.ops(), [{ type: 'delete', key: 'test/k' }]);
    core.closed = true;
  });
});

describe('TxnRunner.commit', () => {
  it("lists a write as the replica's own only while it is in flight, and only when asked", async () => {
    const inner = new MemoryStore();
    const seen: Array<Array<[string, string | null]>> = [];
    const ref: { core?: ServiceCore } = {};
    const store = storeWith(inner, (c, o) => {
      seen.push([...ref.core!.inFlight]);
      return inner.txn(c, o);
    });
    const core = (ref.core = await coreOver(store));
    await inner.txn([], [{ type: 'put', key: 'test/b', value: 'old' }]);
    const ops = [
      { type: 'put' as const, key: 'test/a', value: 'A' },
      { type: 'delete' as const, key: 'test/b' },
    ];
    await core.runner.commit([], ops, true);
    await core.runner.commit([], [{ type: 'put', key: 'test/c', value: 'C' }]);
    assert.deepEqual(seen, [
      [
        ['test/a', 'A'],
        ['test/b', null],
      ],
      [],
    ]);
    assert.equal(core.inFlight.size, 0);
    core.closed = true;
  });

  it("keeps another commit's own write of a key listed while that commit is still in flight", async () => {
    const inner = new MemoryStore();
    let open: () => void = () => undefined;
    const gate = new Promise<void>((r) => (open = r));
    let first = true;
    const store = storeWith(inner, async (c, o) => {
      if (first) {
        first = false;
        await gate;
      }
      return inner.txn(c, o);
    });
    const core = await coreOver(store);
    const ops = [{ type: 'put' as const, key: 'test/a', value: 'mine' }];
    const own = core.runner.commit([], ops, true);
    await core.runner.commit([], [{ type: 'put', key: 'test/a', value: 'fence' }]);
    assert.deepEqual([...core.inFlight], [['test/a', 'mine']]);
    open();
    await own;
    assert.equal(core.inFlight.size, 0);
    core.closed = true;
  });

  it('passes a Romana error of the store on as it is, and wraps any other keeping its cause', async () => {
    const inner = new MemoryStore();
    const own = new RomanaError('Unavailable', 'etcd: no leader');
    const other = new Error('socket hang up');
    let fail: Error = own;
    const core = await coreOver(storeWith(inner, () => Promise.reject(fail)));
    const ops = [{ type: 'put' as const, key: 'test/a', value: 'A' }];
    await assert.rejects(core.runner.commit([], ops, true), (e: unknown) => e === own);
    assert.equal(core.inFlight.size, 0);
    fail = other;
    await assert.rejects(
      core.runner.commit([], ops),
      (e: unknown) =>
        isRomanaError(e, 'Unavailable') &&
        e.message === 'the datastore failed: socket hang up' &&
        e.cause === other,
    );
    core.closed = true;
  });

  it("records a deleted key as absent, so the next write compares it as absent, and the replica's revision", async () => {
    const store = new MemoryStore();
    const core = await coreOver(store);
    const created = await core.runner.run('create', putting(core, 'test/k', '1'));
    assert.equal(core.revision, created);
    const deleted = await core.runner.run('delete', () => ({
      txn: new TxnSet().read(core, 'test/k').delete('test/k'),
      committed: (rev) => ({ value: rev }),
    }));
    assert.equal(core.revision, deleted);
    assert.deepEqual(core.cmp('test/k'), { key: 'test/k', modRevision: 0 });
    assert.equal(core.seenRevision('test/k'), deleted);
    let decides = 0;
    const again = await core.runner.run('create again', () => {
      decides++;
      return putting(core, 'test/k', '2')();
    });
    assert.equal(decides, 1);
    assert.equal((await store.get('test/k'))?.modRevision, again);
    core.closed = true;
  });

  it('commits nothing for a decision that changes nothing, and answers its value', async () => {
    const store = new MemoryStore();
    const core = await coreOver(store);
    const before = await store.revision();
    assert.equal(await core.runner.run('nothing', () => ({ unchanged: 'same' })), 'same');
    assert.equal(await store.revision(), before);
    core.closed = true;
  });
});

describe('TxnRunner.batch', () => {
  const engine = (log: string[]) => (): Decision<void> => ({
    txn: new TxnSet(),
    committed: () => {
      log.push('engine committed');
      return { value: undefined };
    },
  });

  it('commits nothing, not even the engine, when every job fails to decide', async () => {
    const store = new MemoryStore();
    const core = await coreOver(store);
    const log: string[] = [];
    const before = await store.revision();
    const bad = new RomanaError('InvalidInput', 'name: bad');
    const out = await core.runner.batch(
      [
        () => {
          throw bad;
        },
      ],
      engine(log),
    );
    assert.deepEqual(out, [{ ok: false, error: bad, retry: false }]);
    assert.deepEqual(log, []);
    assert.equal(await store.revision(), before);
    core.closed = true;
  });

  it('after a store failure, no job is to be retried', async () => {
    const inner = new MemoryStore();
    const core = await coreOver(storeWith(inner, () => Promise.reject(new Error('disk gone'))));
    const out = await core.runner.batch(
      [putting(core, 'test/a', '1'), putting(core, 'test/b', '1')],
      engine([]),
    );
    assert.deepEqual(
      out.map((o) => !o.ok && o.retry),
      [false, false],
    );
    assert.ok(out.every((o) => !o.ok && isRomanaError(o.error, 'Unavailable')));
    core.closed = true;
  });

  it('after a lost compare, answers each job in order: a definitive refusal, or a conflict naming the write', async () => {
    const store = new MemoryStore();
    const core = await coreOver(store);
    const taken = new RomanaError('Conflict', "name 'p1' is taken");
    const refused = (): Decision<number> => ({
      ...putting(core, 'test/a', '1')(),
      explain: () => Promise.reject(taken),
    });
    const racing = (): Decision<number> => {
      const d = putting(core, 'test/b', '1')();
      // Another writer takes the key before the combined commit.
      void store.txn([], [{ type: 'put', key: 'test/b', value: 'other' }]);
      return d;
    };
    const out = await core.runner.batch([refused, racing], engine([]));
    assert.equal(out.length, 2);
    assert.deepEqual(out[0], { ok: false, error: taken, retry: false });
    const second = out[1]!;
    assert.ok(
      !second.ok &&
        second.retry &&
        isRomanaError(second.error, 'Conflict') &&
        second.error.message.startsWith('a combined write raced another writer'),
      String(!second.ok && second.error),
    );
    const named = await core.runner.batch([racing], engine([]), 'allocating p9');
    const only = named[0]!;
    assert.ok(
      !only.ok &&
        isRomanaError(only.error, 'Conflict') &&
        only.error.message.startsWith('allocating p9 raced another writer'),
      String(!only.ok && only.error),
    );
    core.closed = true;
  });

  it('undoes the jobs of a failed combined commit last first', async () => {
    const store = new MemoryStore();
    const core = await coreOver(store);
    const mem = { n: 0 };
    // Each job moves the shared counter on, as jobs of one batch move the engine on.
    const job = (key: string) => (): Decision<number> => {
      const before = mem.n;
      mem.n += 1;
      return {
        txn: new TxnSet().read(core, key).put(key, String(mem.n)),
        undo: () => (mem.n = before),
        committed: (rev) => ({ value: rev }),
      };
    };
    await store.txn([], [{ type: 'put', key: 'test/b', value: 'other' }]);
    await core.runner.batch([job('test/a'), job('test/b')], engine([]));
    assert.equal(mem.n, 0);
    core.closed = true;
  });
});

describe('blocks committed by the runner', () => {
  it('are listed at the revision of the commit that changed them', async () => {
    const store = new MemoryStore();
    const svc = await serviceWithHosts(store);
    await svc.allocate({ name: 'p1', host: 'h1', tenant: 't' });
    const rev = await store.revision();
    assert.equal(svc.listBlocks().revision, rev);
    assert.equal(svc.listBlocks().blocks.length, 1);
    await svc.close();
  });

  it('a replica that lost a name to another puts back the blocks it changed, as the store has them', async () => {
    const store = new MemoryStore();
    const a = await serviceWithHosts(store);
    const b = await createRomanaService({ store });
    await a.allocate({ name: 'p1', host: 'h1', tenant: 't' });
    const seen = await store.revision();
    const until = Date.now() + 5000;
    while (b.listBlocks().revision < seen && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.deepEqual(b.listBlocks(), a.listBlocks());
    // p1's batch is wholly done in a (a second batch waits while one is in flight): a's
    // allocation below starts at once, and commits first.
    await new Promise((r) => setImmediate(r));
    // Both take the name at once, each in another host's block: one commit loses the name's
    // compare, and its replica must undo the block it changed (held at the store's revision).
    const results = await Promise.allSettled([
      a.allocate({ name: 'dup', host: 'h2', tenant: 't' }),
      b.allocate({ name: 'dup', host: 'h1', tenant: 't' }),
    ]);
    assert.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
    const last = await store.revision();
    while (
      (a.listBlocks().revision < last || b.listBlocks().revision < last) &&
      Date.now() < until
    ) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.deepEqual(b.listBlocks(), a.listBlocks());
    assert.equal((await b.allocate({ name: 'p3', host: 'h1', tenant: 't' })).ip, '10.0.0.1');
    await a.close();
    await b.close();
  });
});
