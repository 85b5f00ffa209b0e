/**
 * Pod links, namespaces and `managed_by` through the store: they survive a restart over the
 * embedded store; over a shared etcd a second replica follows them (its watch applies them and
 * publishes `addresses` and `namespaces` events); a release removes the link in the same
 * transaction; watch streams of the new kinds start with the current state and resume from a
 * revision.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startEtcd, type EtcdHandle } from '../../../test/helpers/etcd.ts';
import { PODS_TOPOLOGY, rejectsWith, serviceWithHosts } from '../../../test/helpers/service.ts';
import { EmbeddedStore } from '../../store/embedded.ts';
import { MemoryStore } from '../../store/memory.ts';
import { EtcdStore } from '../../store/etcd.ts';
import { EventLog } from './events.ts';
import { createRomanaService } from './romana-service.ts';
import type { PodLink, RomanaService, WatchEvent, WatchKind } from './service.ts';

async function eventually(check: () => void, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      check();
      return;
    } catch (err) {
      if (Date.now() > end) throw err;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

/** Every event of `kinds` on `svc` from `from` (none: the current state first). */
function follow(svc: RomanaService, kinds: WatchKind[], from?: number) {
  const events: WatchEvent[] = [];
  const h = svc.watch(
    kinds,
    from,
    (e) => events.push(e),
    (err) => assert.fail(err),
  );
  return { events, close: () => h.close() };
}

const LINK: PodLink = {
  namespace: 'shop',
  name: 'web-0',
  uid: 'a1',
  labels: { app: 'web' },
  ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
};
const REF = { namespace: 'shop', name: 'web-0', uid: 'a1' };

describe('over the embedded store', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'romana-k8sstate-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('pod links, namespaces and managed_by survive a restart', async () => {
    let store = await EmbeddedStore.open(dir);
    const a = await createRomanaService({ store, initialTopology: PODS_TOPOLOGY });
    await a.addHost({ name: 'h1', ip: '192.168.0.1', managed_by: 'romana-listener' });
    await a.allocate({ name: 'p1', host: 'h1', pod: REF });
    await a.allocate({ name: 'p2', host: 'h1' });
    await a.setAddressPod('p2', LINK);
    await a.allocate({ name: 'p3', host: 'h1', pod: { namespace: 'shop', name: 'gone' } });
    await a.release('p3');
    await a.putNamespace('shop', { team: 'a' });
    const before = a.listAddresses();
    await a.close();
    await store.close();

    store = await EmbeddedStore.open(dir);
    const b = await createRomanaService({ store });
    try {
      assert.deepEqual(b.listAddresses(), before);
      assert.deepEqual(b.getAddress('p1').pod, { ...REF, labels: {}, ports: [] });
      assert.deepEqual(b.getAddress('p2').pod, LINK);
      assert.deepEqual(b.listNamespaces(), [{ name: 'shop', labels: { team: 'a' } }]);
      assert.equal(b.getHost('h1').managed_by, 'romana-listener');
      assert.equal(b.listHosts().hosts[0]!.managed_by, 'romana-listener');
      assert.equal(await store.get('pods/p3'), undefined);
      // p3 allocated again: no trace of the pod it had.
      assert.equal('pod' in (await b.allocate({ name: 'p3', host: 'h1' })), false);
    } finally {
      await b.close();
      await store.close();
    }
  });
});

describe('watch streams of addresses and namespaces', () => {
  it('start with the current state, then follow allocations, links, releases', async () => {
    const svc = await serviceWithHosts();
    await svc.allocate({ name: 'p1', host: 'h1', pod: REF });
    await svc.putNamespace('shop', {});
    const w = follow(svc, ['addresses', 'namespaces']);
    const rev0 = svc.revision();
    assert.deepEqual(
      w.events.map((e) => [e.kind, e.type, e.id, e.revision]),
      [
        ['addresses', 'put', 'p1', rev0],
        ['namespaces', 'put', 'shop', rev0],
      ],
    );
    assert.deepEqual((w.events[0]!.value as { pod: unknown }).pod, {
      ...REF,
      labels: {},
      ports: [],
    });
    await svc.allocate({ name: 'p2', host: 'h2' });
    await svc.setAddressPod('p2', LINK);
    await svc.setAddressPod('p2', LINK); // identical: no event
    await svc.putNamespace('shop', { team: 'b' });
    await svc.clearAddressPod('p2');
    await svc.release('p1');
    await svc.deleteNamespace('shop');
    const live = w.events.slice(2);
    assert.deepEqual(
      live.map((e) => [e.kind, e.type, e.id]),
      [
        ['addresses', 'put', 'p2'],
        ['addresses', 'put', 'p2'],
        ['namespaces', 'put', 'shop'],
        ['addresses', 'put', 'p2'],
        ['addresses', 'delete', 'p1'],
        ['namespaces', 'delete', 'shop'],
      ],
    );
    assert.equal('pod' in (live[0]!.value as object), false);
    assert.deepEqual((live[1]!.value as { pod: unknown }).pod, LINK);
    assert.equal('pod' in (live[3]!.value as object), false);
    assert.deepEqual(live[2]!.value, { name: 'shop', labels: { team: 'b' } });
    // Revisions increase, one per write.
    const revs = live.map((e) => e.revision);
    assert.deepEqual(
      revs,
      [...revs].sort((x, y) => x - y),
    );
    assert.equal(new Set(revs).size, revs.length);
    // Resuming from the revision of the link's event replays from there, in order.
    const r = follow(svc, ['addresses'], live[1]!.revision);
    assert.deepEqual(
      r.events.map((e) => [e.type, e.id, e.revision]),
      [
        ['put', 'p2', live[1]!.revision],
        ['put', 'p2', live[3]!.revision],
        ['delete', 'p1', live[4]!.revision],
      ],
    );
    // A watcher of other kinds gets none of these.
    const blocksOnly = follow(svc, ['blocks', 'hosts'], rev0 + 1);
    assert.ok(blocksOnly.events.every((e) => e.kind === 'blocks' || e.kind === 'hosts'));
    for (const x of [w, r, blocksOnly]) x.close();
    await svc.close();
  });

  it('a forced host removal deletes its addresses with their pod links, and says so', async () => {
    const store = new MemoryStore();
    const svc = await serviceWithHosts(store);
    for (let i = 0; i < 60; i++) await svc.allocate({ name: `q${i}`, host: 'h2', pod: REF });
    await svc.allocate({ name: 'stay', host: 'h1', pod: REF });
    const w = follow(svc, ['addresses'], svc.revision() + 1);
    await svc.removeHost('h2', { force: true });
    const { kvs } = await store.range('pods/');
    assert.deepEqual(
      kvs.map((kv) => kv.key),
      ['pods/stay'],
    );
    assert.deepEqual(
      w.events.map((e) => `${e.type} ${e.id}`).sort(),
      Array.from({ length: 60 }, (_, i) => `delete q${i}`).sort(),
    );
    assert.deepEqual(
      svc.listAddresses().map((a) => [a.name, a.pod?.name]),
      [['stay', 'web-0']],
    );
    w.close();
    await svc.close();
  });

  it('a release removes a link the replica has not seen yet, in the same transaction', async () => {
    const store = new MemoryStore();
    // The replica's store watch runs 300 ms late: links written by another writer are unknown
    // to it when it releases.
    const late = new Proxy(store, {
      get(target, prop) {
        if (prop !== 'watch') {
          const v = Reflect.get(target, prop, target) as unknown;
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        }
        return (...args: Parameters<MemoryStore['watch']>) => {
          const [prefix, from, onEvents, onError] = args;
          return target.watch(
            prefix,
            from,
            (...e: Parameters<typeof onEvents>) => void setTimeout(() => onEvents(...e), 300),
            onError,
          );
        };
      },
    });
    const svc = await serviceWithHosts(late);
    for (let i = 0; i < 5; i++) await svc.allocate({ name: `r${i}`, host: 'h1' });
    const link = JSON.stringify({ ...REF, labels: {}, ports: [] });
    for (let i = 0; i < 5; i++) {
      await store.txn([], [{ type: 'put', key: `pods/r${i}`, value: link }]);
      const released = await svc.release(`r${i}`);
      // The release read the link back when its compare failed, and answers with it.
      assert.deepEqual(released.pod, { ...REF, labels: {}, ports: [] });
    }
    assert.deepEqual((await store.range('pods/')).kvs, []);
    assert.deepEqual(svc.listAddresses(), []);
    await svc.close();
  });

  it('two events of one object in one transaction are both published; an echo is not', () => {
    const log = new EventLog(0);
    const got: string[] = [];
    log.subscribe(['namespaces'], 1, (e) => got.push(`${e.type} ${e.id} ${e.revision}`));
    const del: WatchEvent = {
      revision: 5,
      kind: 'namespaces',
      type: 'delete',
      id: 'a',
      value: null,
    };
    const put: WatchEvent = { ...del, type: 'put', value: { name: 'a', labels: {} } };
    log.publish([del, put]);
    log.publish([put]); // the store watch's echo of the same revision
    log.publish([{ ...put, revision: 4 }]); // and an older one
    assert.deepEqual(got, ['delete a 5', 'put a 5']);
  });
});

describe('two replicas over one etcd', () => {
  let etcd: EtcdHandle;
  let a: RomanaService;
  let b: RomanaService;
  const stores: EtcdStore[] = [];
  before(async () => {
    etcd = await startEtcd();
    const prefix = `/k8sstate-${process.pid}/`;
    const open = () => {
      const s = new EtcdStore({ endpoints: etcd.endpoints, prefix });
      stores.push(s);
      return s;
    };
    a = await createRomanaService({ store: open(), initialTopology: PODS_TOPOLOGY });
    await a.addHost({ name: 'h1', ip: '192.168.0.1' });
    await a.addHost({ name: 'h2', ip: '192.168.0.2' });
    b = await createRomanaService({ store: open() });
  });
  after(async () => {
    await a?.close();
    await b?.close();
    for (const s of stores) await s.close();
    await etcd?.stop();
  });

  it('the other replica follows links, namespaces and releases, and publishes them', async () => {
    const w = follow(b, ['addresses', 'namespaces'], b.revision() + 1);
    await a.allocate({ name: 'e1', host: 'h1', pod: REF });
    await a.setAddressPod('e1', LINK);
    await a.putNamespace('shop', { team: 'a' });
    await eventually(() => assert.deepEqual(b.getAddress('e1').pod, LINK));
    await eventually(() =>
      assert.deepEqual(b.listNamespaces(), [{ name: 'shop', labels: { team: 'a' } }]),
    );
    // The link written through b at once: b compares with the address key it learnt by watch.
    await b.setAddressPod('e1', { ...LINK, labels: { app: 'b' } });
    await eventually(() => assert.deepEqual(a.getAddress('e1').pod?.labels, { app: 'b' }));
    await a.release('e1');
    await eventually(() => assert.throws(() => b.getAddress('e1'), /e1/));
    assert.equal(await stores[0]!.get('pods/e1'), undefined);
    await rejectsWith(b.setAddressPod('e1', LINK), 'NotFound', /e1/);
    await eventually(() =>
      assert.deepEqual(
        w.events.map((e) => [e.kind, e.type, e.id]),
        [
          ['addresses', 'put', 'e1'],
          ['addresses', 'put', 'e1'],
          ['namespaces', 'put', 'shop'],
          ['addresses', 'put', 'e1'],
          ['addresses', 'delete', 'e1'],
        ],
      ),
    );
    assert.deepEqual((w.events[1]!.value as { pod: unknown }).pod, LINK);
    w.close();
  });

  it('a link set through one replica right after the other allocated waits for it', async () => {
    await a.allocate({ name: 'e2', host: 'h2' });
    // b may not have seen e2 yet: it catches up with the store instead of answering 404.
    const got = await b.setAddressPod('e2', LINK);
    assert.deepEqual(got.pod, LINK);
    await eventually(() => assert.deepEqual(a.getAddress('e2').pod, LINK));
  });

  it('a release through one replica removes links the other just wrote', async () => {
    const names = Array.from({ length: 30 }, (_, i) => `e3-${i}`);
    for (const n of names) await a.allocate({ name: n, host: 'h1' });
    await eventually(() => assert.equal(b.listAddresses().length, a.listAddresses().length));
    // a has not necessarily seen each link when it releases: the release compares the pod key
    // absent, fails, reads it back and deletes it.
    await Promise.all(
      names.map(async (n) => {
        await b.setAddressPod(n, LINK);
        await a.release(n);
      }),
    );
    assert.deepEqual((await stores[0]!.range('pods/e3-')).kvs, []);
    await eventually(() => assert.ok(b.listAddresses().every((x) => !x.name.startsWith('e3-'))));
  });
});
