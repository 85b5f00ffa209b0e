/**
 * The one write path (`TxnRunner`): a lost compare is undone from the store's truth and tried
 * again; a definitive refusal and a store failure are answered at once; a combined commit that
 * fails leaves every job undone and retryable one at a time. Against the memory store, and one
 * conflict against a real etcd.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startEtcd, type EtcdHandle } from '../../../test/helpers/etcd.ts';
import { serviceWithHosts } from '../../../test/helpers/service.ts';
import { isRomanaError, RomanaError } from '../../errors.ts';
import { EtcdStore } from '../../store/etcd.ts';
import { MemoryStore } from '../../store/memory.ts';
import type { Store } from '../../store/store.ts';
import { ServiceCore } from './core.ts';
import { TxnSet, type Decision } from './txn-runner.ts';

async function coreOver(store: Store): Promise<ServiceCore> {
  const core = new ServiceCore(store, () => undefined, 1000);
  await core.reload();
  return core;
}

/**
 * A counter under `key`, held in memory beside the store: the decision increments it in
 * memory first (as the engine does), and `undo` puts the old value back.
 */
function counter(core: ServiceCore, key: string, mem: { n: number }, log: string[]) {
  return (): Decision<number> => {
    const before = mem.n;
    mem.n += 1;
    log.push(`decide ${before}`);
    return {
      txn: new TxnSet().read(core, key).put(key, String(mem.n)),
      undo: () => {
        mem.n = before;
        log.push('undo');
      },
      committed: (rev) => ({ value: rev }),
    };
  };
}

/** Follows the replica's view of `key` (the runner's read-back updates it). */
function seen(core: ServiceCore, key: string): number {
  return core.seenRevision(key);
}

describe('TxnRunner on the memory store', () => {
  it('on a conflict reads the key back, applies the store truth and retries', async () => {
    const store = new MemoryStore();
    const core = await coreOver(store);
    core.watch?.close(); // only the read-back may teach the replica about the other writer
    const mem = { n: 0 };
    const log: string[] = [];
    const decide = counter(core, 'test/c', mem, log);
    let raced = false;
    const rev = await core.runner.run('counting', () => {
      const d = decide();
      if (!raced) {
        raced = true;
        // Another writer wins the key between the decision and its commit.
        return store.txn([], [{ type: 'put', key: 'test/c', value: '7' }]).then(() => d);
      }
      return d;
    });
    assert.deepEqual(log, ['decide 0', 'undo', 'decide 0']);
    const kv = await store.get('test/c');
    assert.equal(kv?.value, '1');
    assert.equal(kv?.modRevision, rev);
    assert.equal(seen(core, 'test/c'), rev);
    core.closed = true;
  });

  it('answers a definitive refusal at once, without retrying', async () => {
    const store = new MemoryStore();
    const core = await coreOver(store);
    await store.txn([], [{ type: 'put', key: 'test/name', value: 'taken' }]);
    let decides = 0;
    await assert.rejects(
      core.runner.run('claiming a name', () => {
        decides++;
        return {
          txn: new TxnSet().readAbsent('test/name').put('test/name', 'mine'),
          explain: async () => {
            if ((await store.get('test/name')) !== undefined) {
              throw new RomanaError('AlreadyExists', 'name test/name is taken');
            }
          },
          committed: () => ({ value: 'claimed' }),
        };
      }),
      (err: unknown) => isRomanaError(err, 'AlreadyExists'),
    );
    assert.equal(decides, 1);
    assert.equal((await store.get('test/name'))?.value, 'taken');
  });

  it('gives up on a key that keeps racing, with a Conflict naming the attempts', async () => {
    const store = new MemoryStore();
    const core = await coreOver(store);
    core.watch?.close();
    let decides = 0;
    await assert.rejects(
      core.runner.run('a hot key', async () => {
        decides++;
        const d: Decision<string> = {
          txn: new TxnSet().read(core, 'test/hot').put('test/hot', 'mine'),
          committed: () => ({ value: 'won' }),
        };
        await store.txn([], [{ type: 'put', key: 'test/hot', value: String(decides) }]);
        return d;
      }),
      (err: unknown) =>
        isRomanaError(err, 'Conflict') && /gave up after 30 attempts/.test(err.message),
    );
    assert.equal(decides, 30);
  });

  it('answers a store failure at once, undone; tainted when the keys cannot be read back', async () => {
    const inner = new MemoryStore();
    let failGets = false;
    const store: Store = {
      exclusive: true,
      txn: () => Promise.reject(new Error('connection reset')),
      get: (k) => (failGets ? Promise.reject(new Error('down')) : inner.get(k)),
      range: (p) => (failGets ? Promise.reject(new Error('down')) : inner.range(p)),
      watch: (p, from, onEvents, onError) => inner.watch(p, from, onEvents, onError),
      revision: () => inner.revision(),
      close: () => inner.close(),
    };
    const core = await coreOver(store);
    const mem = { n: 0 };
    const log: string[] = [];
    await assert.rejects(
      core.runner.run('counting', counter(core, 'test/c', mem, log)),
      (err: unknown) => isRomanaError(err, 'Unavailable') && /connection reset/.test(err.message),
    );
    assert.deepEqual(log, ['decide 0', 'undo']);
    assert.equal(core.tainted, false);
    failGets = true;
    await assert.rejects(core.runner.run('counting', counter(core, 'test/c', mem, log)));
    assert.equal(core.tainted, true);
    assert.throws(
      () => core.checkWritable(),
      (err: unknown) => isRomanaError(err, 'Unavailable'),
    );
    core.closed = true;
  });

  it('commits a batch as one transaction, and after a failed combined commit each job alone', async () => {
    const store = new MemoryStore();
    const core = await coreOver(store);
    core.watch?.close();
    const a = { n: 0 };
    const b = { n: 0 };
    const log: string[] = [];
    const engine = (): Decision<void> => ({
      txn: new TxnSet(),
      committed: () => ({ value: undefined }),
    });
    const first = await core.runner.batch(
      [counter(core, 'test/a', a, log), counter(core, 'test/b', b, log)],
      engine,
    );
    assert.ok(first.every((o) => o.ok));
    assert.equal(
      (await store.get('test/a'))?.modRevision,
      (await store.get('test/b'))?.modRevision,
    );
    // Another writer takes b: the combined commit fails and both jobs are undone.
    await store.txn([], [{ type: 'put', key: 'test/b', value: 'other' }]);
    const second = await core.runner.batch(
      [counter(core, 'test/a', a, log), counter(core, 'test/b', b, log)],
      engine,
    );
    assert.deepEqual(
      second.map((o) => !o.ok && o.retry),
      [true, true],
    );
    assert.deepEqual([a.n, b.n], [1, 1]);
    assert.equal((await store.get('test/a'))?.value, '1');
    // One at a time, each succeeds (b now compared at the revision read back).
    for (const job of [counter(core, 'test/a', a, log), counter(core, 'test/b', b, log)]) {
      const [out] = await core.runner.batch([job], engine);
      assert.equal(out?.ok, true);
    }
    assert.deepEqual(
      [(await store.get('test/a'))?.value, (await store.get('test/b'))?.value],
      ['2', '2'],
    );
    // A job whose decide throws fails alone; the others of its batch commit.
    const third = await core.runner.batch(
      [
        () => {
          throw new RomanaError('InvalidInput', 'name: bad');
        },
        counter(core, 'test/a', a, log),
      ],
      engine,
    );
    assert.deepEqual(
      third.map((o) => o.ok),
      [false, true],
    );
    assert.equal((await store.get('test/a'))?.value, '3');
  });
});

describe('TxnRunner on etcd', () => {
  let etcd: EtcdHandle;
  before(async () => {
    etcd = await startEtcd();
  });
  after(async () => {
    await etcd?.stop();
  });

  it('a replica that lost a key to another replica reads it back and retries', async () => {
    const prefix = `/txn-runner-${process.pid}/`;
    const one = await coreOver(new EtcdStore({ endpoints: etcd.endpoints, prefix }));
    const two = await coreOver(new EtcdStore({ endpoints: etcd.endpoints, prefix }));
    one.watch?.close();
    try {
      await one.runner.run('seeding', () => ({
        txn: new TxnSet().put('test/k', 'one'),
        committed: (rev) => ({ value: rev }),
      }));
      // The other replica sees it, and changes it.
      await two.refreshKeys(['test/k']);
      await two.runner.run('overwriting', () => ({
        txn: new TxnSet().read(two, 'test/k').put('test/k', 'two'),
        committed: (rev) => ({ value: rev }),
      }));
      let decides = 0;
      const rev = await one.runner.run('overwriting again', () => {
        decides++;
        return {
          txn: new TxnSet().read(one, 'test/k').put('test/k', 'one again'),
          committed: (r) => ({ value: r }),
        };
      });
      assert.equal(decides, 2);
      const kv = await one.store.get('test/k');
      assert.deepEqual([kv?.value, kv?.modRevision], ['one again', rev]);
    } finally {
      one.closed = two.closed = true;
      one.watch?.close();
      two.watch?.close();
      await (one.store as EtcdStore).close();
      await (two.store as EtcdStore).close();
    }
  });
});

describe('write kinds through the runner', () => {
  it('a host patch refused half way keeps nothing of it, in memory or in the store', async () => {
    const store = new MemoryStore();
    const svc = await serviceWithHosts(store);
    await assert.rejects(
      svc.patchHost('h1', { tags: { rack: 'r9' }, k8s_info: 'not an object' }),
      (err: unknown) => isRomanaError(err, 'InvalidInput'),
    );
    assert.equal(svc.getHost('h1').tags, null);
    // The next write of the host must not persist the refused tags either.
    await svc.patchHost('h1', { k8s_info: { node: 'n1' } });
    const stored = JSON.parse((await store.get('hosts/h1'))!.value) as { tags: unknown };
    assert.equal(stored.tags, null);
    await svc.close();
  });
});
