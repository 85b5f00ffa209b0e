/**
 * Topology updates that do not finish, over the memory store (milliseconds a case, each crash
 * point a few): a store that fails one transaction (the update is undone before its switch, or
 * answered and cleaned up later after it), a store that dies at every transaction of an update in
 * turn (a new service over it then holds the old topology or the new one, entirely), and the
 * undo, finish and fence-lifting steps recovery runs, called on their own.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eventually, dumpStore } from '../../../test/helpers/service.ts';
import { isRomanaError } from '../../errors.ts';
import { MemoryStore } from '../../store/memory.ts';
import type { Compare, Op, Store, TxnResult } from '../../store/store.ts';
import type { StoredOperation, TopologyRecord } from './keys.ts';
import { DEFAULT_TIMING, Operation } from './operations.ts';
import { createRomanaService } from './romana-service.ts';
import type { RomanaService } from './service.ts';
import { finishTopology, liftBareFence, undoTopology } from './topology-writer.ts';

/** The memory store; `failAt` names which transactions throw, counting from `count = 0`. */
class FailingStore extends MemoryStore {
  count = 0;
  failAt: (n: number, ops: Op[]) => boolean = () => false;
  readonly txns: Array<{ compares: Compare[]; ops: Op[] }> = [];
  override async txn(compares: Compare[], ops: Op[]): Promise<TxnResult> {
    if (this.failAt(++this.count, ops)) throw new Error('connection lost');
    this.txns.push({ compares, ops });
    return super.txn(compares, ops);
  }
}

const RACKS = (...racks: string[]) => ({
  networks: [{ name: 'pods', cidr: '10.0.0.0/16', block_mask: 29 }],
  topologies: [
    {
      networks: ['pods'],
      map: racks.map((rack) => ({ name: `r${rack}`, assignment: { rack } })),
    },
  ],
});

/** The update the cases apply: 40 hosts declared, host z dropped, blocks of 16. */
function update(): unknown {
  const doc = RACKS('1');
  doc.networks[0]!.block_mask = 28;
  const hosts = Array.from({ length: 40 }, (_, i) => ({ name: `d${i}`, ip: `192.168.2.${i}` }));
  (doc.topologies[0]!.map[0] as Record<string, unknown>)['groups'] = hosts;
  return doc;
}

interface Logged {
  level: string;
  msg: string;
  extra?: Record<string, unknown>;
}

/** A service over `store` holding hosts y (rack 1, with addresses) and z (rack 2). */
async function setUp(store: Store, logs: Logged[] = []): Promise<RomanaService> {
  const svc = await createRomanaService({
    store,
    initialTopology: RACKS('1', '2'),
    log: (level, msg, extra) => logs.push({ level, msg, extra }),
    operationTiming: { heartbeatMs: 5 },
  });
  await svc.addHost({ name: 'y', ip: '192.168.0.1', tags: { rack: '1' } });
  await svc.addHost({ name: 'z', ip: '192.168.0.2', tags: { rack: '2' } });
  for (let i = 0; i < 9; i++) await svc.allocate({ name: `p${i}`, host: 'y' });
  await svc.release('p4');
  return svc;
}

/** What the store holds after the update, when nothing fails. */
async function reference(): Promise<Array<[string, string]>> {
  const store = new MemoryStore();
  const svc = await setUp(store);
  await svc.updateTopology(update());
  await svc.close();
  return dumpStore(store);
}

const isDatastoreFailure = (e: unknown) =>
  isRomanaError(e, 'Unavailable') && /the datastore failed: connection lost/.test(e.message);

describe('a store failure during a topology update', () => {
  it('before the switch: what was written is undone and the update refused', async () => {
    const store = new FailingStore();
    const logs: Logged[] = [];
    const svc = await setUp(store, logs);
    const before = await dumpStore(store);
    const start = store.count;
    // The fence, the first chunk, then the second chunk fails.
    store.failAt = (n) => n === start + 3;
    const n = store.txns.length;
    await assert.rejects(svc.updateTopology(update()), isDatastoreFailure);
    const ops = store.txns.slice(n).flatMap((t) => t.ops.map((o) => `${o.type} ${o.key}`));
    assert.ok(ops.includes('put hosts/d0') && ops.includes('delete hosts/d0'), 'written, undone');
    assert.deepEqual(await dumpStore(store), before);
    assert.deepEqual(
      logs.filter((l) => l.level !== 'info'),
      [],
    );
    await svc.updateTopology(update());
    assert.deepEqual(await dumpStore(store), await reference());
    await svc.close();
  });

  it('before the switch, with the undo failing too: recovery undoes it', async () => {
    const store = new FailingStore();
    const logs: Logged[] = [];
    const svc = await setUp(store, logs);
    const before = await dumpStore(store);
    const start = store.count;
    store.failAt = (n) => n === start + 3 || n === start + 4;
    await assert.rejects(svc.updateTopology(update()), isDatastoreFailure);
    const warn = logs.find((l) => l.level === 'warn');
    assert.equal(warn?.msg, 'could not undo a failed topology update; left for recovery');
    assert.match(String(warn?.extra?.['err']), /connection lost/);
    await eventually(async () => assert.deepEqual(await dumpStore(store), before), 3000);
    await eventually(async () => {
      await svc.addHost({ name: 'w', ip: '192.168.0.3', tags: { rack: '1' } });
    }, 3000);
    await svc.close();
  });

  it('after the switch: the update is answered, and recovery cleans up', async () => {
    const store = new FailingStore();
    const logs: Logged[] = [];
    const svc = await setUp(store, logs);
    store.failAt = (_n, ops) => ops.some((o) => o.type === 'delete' && o.key === 'hosts/z');
    const result = await svc.updateTopology(update());
    assert.deepEqual(result, { droppedHosts: ['z'], droppedBlackouts: [] });
    const warn = logs.find((l) => l.level === 'warn');
    assert.equal(warn?.msg, 'topology update committed; its clean-up is left for recovery');
    assert.match(String(warn?.extra?.['err']), /connection lost/);
    assert.equal(svc.getTopology().networks[0]!.block_mask, 28, 'the new topology is served');
    assert.ok((await store.get('hosts/z')) !== undefined, 'not cleaned up yet');
    store.failAt = () => false;
    const after = await reference();
    await eventually(async () => assert.deepEqual(await dumpStore(store), after), 3000);
    await svc.close();
  });

  it('that kills it at any transaction leaves the old topology or the new one, entirely', async () => {
    const before = await dumpStore(
      await (async () => {
        const s = new MemoryStore();
        await (await setUp(s)).close();
        return s;
      })(),
    );
    const after = await reference();
    const outcomes: string[] = [];
    for (let n = 1; n < 20; n++) {
      const store = new FailingStore();
      const svc = await setUp(store);
      const start = store.count;
      store.failAt = (k) => k >= start + n;
      const done = await svc.updateTopology(update()).then(
        () => true,
        () => false,
      );
      await svc.close();
      store.failAt = () => false;
      // A new romanad over the store settles the update before it serves.
      const next = await createRomanaService({ store });
      const got = await dumpStore(store);
      const which = JSON.stringify(got) === JSON.stringify(after) ? 'new' : 'old';
      if (which === 'old') assert.deepEqual(got, before, `killed at transaction ${n}`);
      assert.deepEqual((await store.range('ops/')).kvs, []);
      assert.equal(next.getTopology().networks[0]!.block_mask, which === 'new' ? 28 : 29);
      await next.close();
      outcomes.push(which);
      if (done && store.count === start + n - 1) break;
    }
    // Killed at the fence, a chunk or the switch: undone; after the switch: finished.
    assert.deepEqual(outcomes.slice(0, 4), ['old', 'old', 'old', 'old']);
    assert.ok(
      outcomes.slice(4).every((o) => o === 'new'),
      outcomes.join(' '),
    );
    assert.ok(outcomes.length >= 7 && outcomes.length < 19, 'clean-up, end, and not killed');
  });
});

const ctx = (store: Store) => ({
  store,
  commit: async (c: Compare[], o: Op[]) => {
    const r = await store.txn(c, o);
    return r.succeeded ? r.revision : null;
  },
  timing: DEFAULT_TIMING,
});

function intent(over: Partial<Extract<StoredOperation, { kind: 'topology' }>>): StoredOperation {
  const base = { since: 1, phase: 'writing' as const, from: 1, to: 2, base: null };
  return { kind: 'topology', owner: 'o', ...base, added: [], dropped: [], ...over };
}

async function putAll(store: Store, kvs: Array<[string, string]>): Promise<void> {
  for (let i = 0; i < kvs.length; i += 100) {
    await store.txn(
      [],
      kvs.slice(i, i + 100).map(([key, value]): Op => ({ type: 'put', key, value })),
    );
  }
}

const gen = (g: number, n: number): Array<[string, string]> =>
  Array.from({ length: n }, (_, i) => [`g/${g}/placements/h${String(i).padStart(3, '0')}`, '{}']);

describe('the steps recovery runs', () => {
  it('undo deletes what the update wrote and the hosts it added, and restores the record', async () => {
    for (const base of [null, { doc: { networks: [], topologies: [] }, generation: 1 }]) {
      const store = new FailingStore();
      await putAll(store, [
        ...gen(1, 3),
        ...gen(2, 130),
        ['hosts/a', '{}'],
        ['hostips/10.9.0.1', 'a'],
        ['hosts/keep', '{}'],
      ]);
      const v = intent({
        base: base as TopologyRecord | null,
        added: [{ name: 'a', ip: '10.9.0.1' }],
      });
      const op = (await Operation.begin(ctx(store), 'u', v, [], []))!;
      store.txns.length = 0;
      await undoTopology(store, op);
      op.release();
      assert.deepEqual(
        store.txns.map((t) => t.ops.length),
        [101, 33, 2],
        'deletes in chunks of 100 with the intent, then the record with the intent',
      );
      const keys = (await store.range('')).kvs.map((kv) => kv.key);
      const left = ['g/1/placements/h000', 'g/1/placements/h001', 'g/1/placements/h002'];
      const rest = base === null ? ['hosts/keep'] : ['hosts/keep', 'topology'];
      assert.deepEqual(keys, [...left, ...rest]);
      if (base !== null) assert.deepEqual(JSON.parse((await store.get('topology'))!.value), base);
    }
  });

  it('finish deletes every other generation and the dropped hosts, not an IP key taken since', async () => {
    const store = new FailingStore();
    await putAll(store, [
      ...gen(0, 1),
      ...gen(1, 120),
      ...gen(2, 2),
      ['hosts/gone', '{}'],
      ['hostips/10.9.0.1', 'gone'],
      ['hosts/moved', '{}'],
      ['hostips/10.9.0.2', 'newcomer'],
    ]);
    const dropped = [
      { name: 'gone', ip: '10.9.0.1' },
      { name: 'moved', ip: '10.9.0.2' },
    ];
    const op = (await Operation.begin(
      ctx(store),
      'f',
      intent({ phase: 'switched', dropped }),
      [],
      [],
    ))!;
    store.txns.length = 0;
    await finishTopology(store, op);
    op.release();
    assert.deepEqual(
      store.txns.map((t) => t.ops.length),
      [101, 25, 1],
    );
    assert.deepEqual(
      (await store.range('')).kvs.map((kv) => kv.key),
      ['g/2/placements/h000', 'g/2/placements/h001', 'hostips/10.9.0.2'],
    );
  });

  describe('lifting a fence left without an intent', () => {
    async function fenced(rec: TopologyRecord, extra: Array<[string, string]>) {
      const store = new FailingStore();
      await putAll(store, [['topology', JSON.stringify(rec)], ...extra]);
      store.txns.length = 0;
      return { store, kv: (await store.get('topology'))! };
    }
    const doc = { networks: [], topologies: [] };

    it('on an empty store: deletes the record and all it wrote, each chunk compared', async () => {
      const { store, kv } = await fenced(
        { doc, generation: 0, updating: { to: 1, since: 1 } },
        gen(1, 150),
      );
      assert.equal(await liftBareFence(store, kv), true);
      assert.deepEqual(await dumpStore(store), []);
      assert.deepEqual(
        store.txns.map((t) => t.ops.length),
        [100, 50, 1],
      );
      for (const t of store.txns) {
        assert.deepEqual(t.compares, [{ key: 'topology', modRevision: kv.modRevision }]);
      }
    });

    it('over a topology: restores its record and keeps its generation', async () => {
      const rec = {
        doc: { ...doc, networks: [{ name: 'n', cidr: '10.0.0.0/16' }] },
        generation: 1,
      };
      const { store, kv } = await fenced(
        { ...rec, updating: { to: 2, since: 1 } } as TopologyRecord,
        [...gen(1, 1), ...gen(2, 100)],
      );
      assert.equal(await liftBareFence(store, kv), true);
      assert.deepEqual(await dumpStore(store), [
        ['g/1/placements/h000', '{}'],
        ['topology', JSON.stringify(rec)],
      ]);
      assert.deepEqual(
        store.txns.map((t) => t.ops.length),
        [100, 1],
        'one chunk of 100, then the record',
      );
    });

    it('does nothing for a record without a fence, or one that moved since it was read', async () => {
      const plain = await fenced({ doc, generation: 1 }, gen(2, 1));
      assert.equal(await liftBareFence(plain.store, plain.kv), false);
      assert.deepEqual(plain.store.txns, []);
      const moved = await fenced({ doc, generation: 1, updating: { to: 2, since: 1 } }, gen(2, 1));
      await moved.store.txn(
        [],
        [{ type: 'put', key: 'topology', value: JSON.stringify({ doc, generation: 1 }) }],
      );
      const before = await dumpStore(moved.store);
      assert.equal(await liftBareFence(moved.store, moved.kv), false);
      assert.deepEqual(await dumpStore(moved.store), before);
    });
  });
});
