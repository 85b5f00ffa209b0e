import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  startEtcd,
  startEtcdCluster,
  type EtcdCluster,
  type EtcdHandle,
} from '../../test/helpers/etcd.ts';
import { isRomanaError } from '../errors.ts';
import { recordWatch, runStoreConformance } from './conformance.ts';
import { EtcdStore } from './etcd.ts';

let etcd: EtcdHandle | undefined;
let counter = 0;
/** A fresh key space on the shared etcd: one prefix per store. */
const freshPrefix = () => `/romana-test-${process.pid}-${counter++}`;

before(async () => {
  etcd = await startEtcd();
});
after(async () => {
  await etcd?.stop();
});

runStoreConformance(
  'etcd',
  async () => new EtcdStore({ endpoints: etcd!.endpoints, prefix: freshPrefix() }),
);

const put = (key: string, value: string) => [{ type: 'put' as const, key, value }];

/**
 * Creates `key` even across a restart or failover. An `Unavailable` txn may still have been
 * applied, so the write is create-if-absent and retried: it lands exactly once either way.
 */
async function createEventually(store: EtcdStore, key: string, value: string): Promise<void> {
  for (let tries = 1; ; tries++) {
    try {
      await store.txn([{ key, modRevision: 0 }], put(key, value));
      return;
    } catch (err) {
      if (!isRomanaError(err, 'Unavailable') || tries >= 30) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/**
 * Port 1 (tcpmux): nothing listens there. A port probed free and closed again could be handed to
 * another test meanwhile, and then this would talk to it.
 */
const CLOSED_PORT = 1;

describe('EtcdStore specifics', () => {
  it('keeps installations with different prefixes apart', async () => {
    const a = new EtcdStore({ endpoints: etcd!.endpoints, prefix: '/iso-a' });
    const b = new EtcdStore({ endpoints: etcd!.endpoints, prefix: '/iso-a-b/' });
    try {
      await a.txn([], put('k', 'from a'));
      await b.txn([], put('k', 'from b'));
      assert.deepEqual(
        (await a.range('')).kvs.map((kv) => [kv.key, kv.value]),
        [['k', 'from a']],
      );
      assert.deepEqual(
        (await b.range('')).kvs.map((kv) => [kv.key, kv.value]),
        [['k', 'from b']],
      );
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('takes 128 compares and 128 writes in one transaction, and refuses 129 (the limit address batches keep to)', async () => {
    const s = new EtcdStore({ endpoints: etcd!.endpoints, prefix: freshPrefix() });
    const keys = (n: number, tag: string) => Array.from({ length: n }, (_, i) => `${tag}/${i}`);
    const absent = (ks: string[]) => ks.map((key) => ({ key, modRevision: 0 }));
    const puts = (ks: string[]) => ks.map((key) => ({ type: 'put' as const, key, value: 'v' }));
    try {
      const fits = keys(128, 'fits');
      assert.equal((await s.txn(absent(fits), puts(fits))).succeeded, true);
      const over = keys(129, 'over');
      await assert.rejects(s.txn(absent(over), puts(over.slice(0, 1))), /too many operations/);
      await assert.rejects(s.txn([], puts(over)), /too many operations/);
      assert.equal((await s.range('over/')).kvs.length, 0);
      assert.equal((await s.range('fits/')).kvs.length, 128);
    } finally {
      await s.close();
    }
  });

  it('reads a range larger than one page as one snapshot', async () => {
    const s = new EtcdStore({ endpoints: etcd!.endpoints, prefix: freshPrefix() });
    try {
      for (let i = 0; i < 1200; i += 100) {
        await s.txn(
          [],
          Array.from({ length: 100 }, (_, j) => ({
            type: 'put' as const,
            key: `p/${String(i + j).padStart(4, '0')}`,
            value: 'v',
          })),
        );
      }
      const { kvs, revision } = await s.range('p/');
      assert.equal(kvs.length, 1200);
      assert.equal(kvs[1199]!.key, 'p/1199');
      assert.equal(revision, await s.revision());
    } finally {
      await s.close();
    }
  });

  it('reports an unreachable etcd as Unavailable, naming the endpoint', async () => {
    const port = CLOSED_PORT;
    const s = new EtcdStore({ endpoints: [`127.0.0.1:${port}`], requestTimeoutMs: 2000 });
    try {
      const t0 = Date.now();
      await assert.rejects(
        s.get('x'),
        (err: unknown) =>
          isRomanaError(err, 'Unavailable') && err.message.includes(`127.0.0.1:${port}`),
      );
      await assert.rejects(s.txn([], put('x', '1')), (err: unknown) =>
        isRomanaError(err, 'Unavailable'),
      );
      assert.ok(Date.now() - t0 < 5000, 'fails fast on a refused connection');
    } finally {
      await s.close();
    }
  });

  it('commits through a live endpoint when another listed endpoint is down', async () => {
    const port = CLOSED_PORT;
    const s = new EtcdStore({
      endpoints: [`127.0.0.1:${port}`, ...etcd!.endpoints],
      prefix: freshPrefix(),
      attempts: 2,
    });
    try {
      // Long enough for the dead endpoint to be tried again after its skip window.
      for (let i = 0; i < 50; i++) {
        assert.equal((await s.txn([], put(`k${i}`, 'v'))).succeeded, true);
        await new Promise((r) => setTimeout(r, 25));
      }
    } finally {
      await s.close();
    }
  });

  it('keeps a watch going across an etcd restart, without loss or duplicates', async () => {
    const s = new EtcdStore({ endpoints: etcd!.endpoints, prefix: freshPrefix() });
    try {
      const first = await s.txn([], put('w/0', '0'));
      const rec = recordWatch(s, 'w/', first.revision);
      for (let i = 1; i < 5; i++) await s.txn([], put(`w/${i}`, `${i}`));
      await rec.waitFor((d) => d.length >= 5);
      await etcd!.restart('SIGKILL');
      for (let i = 5; i < 10; i++) await createEventually(s, `w/${i}`, `${i}`);
      await rec.waitFor((d) => d.length >= 10, 15_000);
      // A duplicate would come before a later write: one more, and the stream is seen up to it.
      await createEventually(s, 'w/10', '10');
      const keys = () => rec.deliveries.flatMap((d) => d.events.map((e) => e.key));
      await rec.waitFor(() => keys().includes('w/10'), 15_000);
      assert.deepEqual(
        keys(),
        Array.from({ length: 11 }, (_, i) => `w/${i}`),
      );
      assert.deepEqual(rec.errors, []);
      rec.close();
    } finally {
      await s.close();
    }
  });
});

describe('EtcdStore on a 3-member cluster', () => {
  let cluster: EtcdCluster | undefined;
  before(async () => {
    cluster = await startEtcdCluster(3);
  });
  after(async () => {
    await cluster?.stopAll();
  });

  it('resumes a watch whose member was down, delivering the writes made meanwhile', async () => {
    const c = cluster!;
    const prefix = freshPrefix();
    const watcherSide = new EtcdStore({ endpoints: [c.endpoints[0]!], prefix });
    const writerSide = new EtcdStore({ endpoints: c.endpoints.slice(1), prefix });
    try {
      const r0 = await writerSide.txn([], put('c/0', '0'));
      const rec = recordWatch(watcherSide, 'c/', r0.revision);
      await rec.waitFor((d) => d.length >= 1);
      await c.stop(0);
      await c.leaderIndex(); // a write racing the election may time out (outcome unknown)
      for (let i = 1; i <= 20; i++) await createEventually(writerSide, `c/${i}`, `${i}`);
      await c.start(0);
      for (let i = 21; i <= 25; i++) await createEventually(writerSide, `c/${i}`, `${i}`);
      await rec.waitFor((d) => d.length >= 26, 20_000);
      // A duplicate would come before a later write: one more, and the stream is seen up to it.
      await createEventually(writerSide, 'c/26', '26');
      await rec.waitFor((d) => d.some((x) => x.events[0]!.key === 'c/26'), 20_000);
      assert.deepEqual(
        rec.deliveries.map((d) => d.events[0]!.key),
        Array.from({ length: 27 }, (_, i) => `c/${i}`),
      );
      rec.close();
    } finally {
      await Promise.all([watcherSide.close(), writerSide.close()]);
    }
  });

  it('keeps committing and watching through the loss of the leader', async () => {
    const c = cluster!;
    // A write caught by the election can wait for its deadline: keep that short here.
    const s = new EtcdStore({
      endpoints: c.endpoints,
      prefix: freshPrefix(),
      requestTimeoutMs: 1500,
    });
    try {
      const r0 = await s.txn([], put('l/0', '0'));
      const rec = recordWatch(s, 'l/', r0.revision);
      const leader = await c.leaderIndex();
      await c.stop(leader);
      for (let i = 1; i <= 10; i++) await createEventually(s, `l/${i}`, `${i}`);
      const next = await c.leaderIndex();
      assert.notEqual(next, leader);
      assert.deepEqual(
        c.members().map((m) => m.running),
        [0, 1, 2].map((i) => i !== leader),
      );
      await rec.waitFor((d) => d.length >= 11, 20_000);
      assert.deepEqual(
        rec.deliveries.map((d) => d.events[0]!.key),
        Array.from({ length: 11 }, (_, i) => `l/${i}`),
      );
      rec.close();
      await c.start(leader);
    } finally {
      await s.close();
    }
  });
});
