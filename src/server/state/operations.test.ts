/**
 * Multi-transaction operations: a refused topology update writes nothing; an operation whose
 * writer is gone is settled at once on an exclusive store, and on etcd once its intent and its
 * owner's beat have stood still for the staleness period, never while its owner lives.
 * (test/e2e/romanad-crash.test.ts kills a real romanad at every step.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { rejectsWith, serviceWithHosts, PODS_TOPOLOGY } from '../../../test/helpers/service.ts';
import { startEtcd, type EtcdHandle } from '../../../test/helpers/etcd.ts';
import { isRomanaError } from '../../errors.ts';
import { EtcdStore } from '../../store/etcd.ts';
import { MemoryStore } from '../../store/memory.ts';
import type { Compare, Op, Store } from '../../store/store.ts';
import { createRomanaService } from './romana-service.ts';
import type { RomanaService } from './service.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Everything a client can read, in the order it reads it. */
function reads(svc: RomanaService): string {
  return JSON.stringify([
    svc.listAddresses(),
    svc.listHosts(),
    svc.listBlocks(),
    svc.listNetworks(),
    svc.getTopology(),
  ]);
}

/** A real store whose transactions matching `slow` take `ms` longer. */
class SlowStore implements Store {
  readonly exclusive: boolean | undefined;
  constructor(
    readonly inner: Store,
    readonly slow: (ops: Op[]) => boolean,
    readonly ms: number,
  ) {
    this.exclusive = inner.exclusive;
  }
  get(key: string) {
    return this.inner.get(key);
  }
  range(prefix: string) {
    return this.inner.range(prefix);
  }
  async txn(compares: Compare[], ops: Op[]) {
    if (this.slow(ops)) await sleep(this.ms);
    return this.inner.txn(compares, ops);
  }
  watch(...args: Parameters<Store['watch']>) {
    return this.inner.watch(...args);
  }
  revision() {
    return this.inner.revision();
  }
  close() {
    return this.inner.close();
  }
}

describe('a refused topology update', () => {
  it('writes nothing: the store revision and every read stay as they were', async () => {
    const store = new MemoryStore();
    const svc = await serviceWithHosts(store);
    const twin = await serviceWithHosts(); // the same history, without the refused updates
    for (const s of [svc, twin]) {
      for (let i = 0; i < 6; i++) await s.allocate({ name: `p${i}`, host: i % 2 ? 'h1' : 'h2' });
      await s.release('p2');
      await s.allocate({ name: 'late', host: 'h2' });
    }
    const rev = await store.revision();
    const before = reads(svc);
    // Well-formed, but the engine refuses it: h2's IP would go to another host.
    const clash = {
      ...PODS_TOPOLOGY,
      topologies: [
        {
          networks: ['pods'],
          map: [{ name: 'r1', groups: [{ name: 'other', ip: '192.168.0.2' }] }, { name: 'r2' }],
        },
      ],
    };
    await rejectsWith(svc.updateTopology(clash), 'InvalidInput', /192\.168\.0\.2/);
    await rejectsWith(svc.updateTopology({ networks: 'x' }), 'InvalidInput', /networks/);
    assert.equal(await store.revision(), rev, 'no transaction was committed');
    assert.equal(reads(svc), before, 'reads are unchanged, in the same order');
    const next = { name: 'next', host: 'h2' };
    assert.equal((await svc.allocate(next)).ip, (await twin.allocate(next)).ip);
    await svc.close();
    await twin.close();
  });
});

describe('an abandoned operation on an exclusive store', () => {
  it('is finished by the next service that starts, before it serves', async () => {
    const store = new MemoryStore();
    const svc = await serviceWithHosts(store);
    for (let i = 0; i < 10; i++) await svc.allocate({ name: `p${i}`, host: 'h2' });
    await svc.close();
    // What a romanad killed right after fencing h2 for removal leaves behind.
    const host = JSON.parse((await store.get('hosts/h2'))!.value) as object;
    await store.txn(
      [],
      [
        { type: 'put', key: 'hosts/h2', value: JSON.stringify({ ...host, removing: true }) },
        {
          type: 'put',
          key: 'ops/gone',
          value: JSON.stringify({
            kind: 'remove-host',
            owner: 'a-dead-process',
            since: 1,
            host: 'h2',
            ip: '192.168.0.2',
          }),
        },
      ],
    );
    const next = await createRomanaService({ store });
    await rejectsWith(
      Promise.resolve().then(() => next.getHost('h2')),
      'NotFound',
      /h2/,
    );
    assert.deepEqual(next.listAddresses(), []);
    assert.deepEqual((await store.range('ops/')).kvs, []);
    assert.equal(await store.get('hostips/192.168.0.2'), undefined);
    await next.close();
  });
});

describe('operations on etcd', () => {
  let etcd: EtcdHandle;
  let n = 0;
  before(async () => {
    etcd = await startEtcd();
  });
  after(() => etcd.stop());
  const newStore = (prefix: string) => new EtcdStore({ endpoints: etcd.endpoints, prefix });

  it('an abandoned topology update is undone once it stood still for the staleness period, not before', async () => {
    const prefix = `/ops-${++n}`;
    const store = newStore(prefix);
    const timing = { heartbeatMs: 100, staleMs: 1500 };
    const svc = await createRomanaService({
      store,
      initialTopology: PODS_TOPOLOGY,
      operationTiming: timing,
    });
    await svc.addHost({ name: 'h1', ip: '192.168.0.1' });
    assert.equal((await svc.allocate({ name: 'before', host: 'h1' })).ip, '10.0.0.0');
    const topo = JSON.parse((await store.get('topology'))!.value) as { generation: number };
    const to = topo.generation + 1;
    // A replica that died after writing part of generation `to` and a new host.
    const ops: Op[] = [
      {
        type: 'put',
        key: 'topology',
        value: JSON.stringify({ ...topo, updating: { to, since: 1, op: 'x' } }),
      },
      {
        type: 'put',
        key: 'ops/x',
        value: JSON.stringify({
          kind: 'topology',
          owner: 'dead',
          since: 1,
          phase: 'writing',
          from: topo.generation,
          to,
          base: topo,
          added: [{ name: 'ghost', ip: '192.168.9.9' }],
          dropped: [],
        }),
      },
      { type: 'put', key: 'beats/dead', value: '7' },
      { type: 'put', key: `g/${to}/networks/pods`, value: '{"blackouts":[]}' },
      {
        type: 'put',
        key: 'hosts/ghost',
        // As a topology update writes it (values are checked when read: `decode.ts`).
        value: JSON.stringify({
          name: 'ghost',
          ip: '192.168.9.9',
          agent_port: 9604,
          tags: null,
          k8s_info: null,
          seq: 9,
        }),
      },
      { type: 'put', key: 'hostips/192.168.9.9', value: 'ghost' },
    ];
    const t0 = Date.now();
    await store.txn([], ops);
    let ip = '';
    let refused = 0;
    while (ip === '' && Date.now() - t0 < 15_000) {
      try {
        ip = (await svc.allocate({ name: 'after', host: 'h1' })).ip;
      } catch (err) {
        if (!isRomanaError(err, 'Unavailable')) throw err;
        refused++;
        await sleep(50);
      }
    }
    const waited = Date.now() - t0;
    assert.equal(ip, '10.0.0.1');
    assert.ok(refused > 0, 'writes wait while the fence stands');
    assert.ok(waited >= timing.staleMs, `not taken over before it was stale (${waited} ms)`);
    assert.ok(waited < timing.staleMs + 5000, `taken over soon after (${waited} ms)`);
    for (const p of ['ops/', 'beats/', `g/${to}/`, 'hosts/ghost', 'hostips/192.168.9.9']) {
      assert.deepEqual((await store.range(p)).kvs, [], `${p} is gone`);
    }
    await svc.close();
    await store.close();
  });

  it('a live operation is never taken over, even when one of its steps is slower than the staleness period', async () => {
    const prefix = `/ops-${++n}`;
    const timing = { heartbeatMs: 100, staleMs: 400 };
    const logs: string[] = [];
    const storeA = new SlowStore(
      newStore(prefix),
      (ops) => ops.some((o) => o.type === 'put' && o.key.startsWith('g/2/')),
      1500,
    );
    const a = await createRomanaService({
      store: storeA,
      initialTopology: PODS_TOPOLOGY,
      operationTiming: timing,
    });
    await a.addHost({ name: 'h1', ip: '192.168.0.1' });
    await a.allocate({ name: 'p', host: 'h1' });
    const storeB = newStore(prefix);
    const b = await createRomanaService({
      store: storeB,
      operationTiming: timing,
      log: (_level, msg) => logs.push(msg),
    });
    const wider = {
      ...PODS_TOPOLOGY,
      networks: [...PODS_TOPOLOGY.networks, { name: 'more', cidr: '10.7.0.0/16' }],
      topologies: [{ ...PODS_TOPOLOGY.topologies[0]!, networks: ['pods', 'more'] }],
    };
    await a.updateTopology(wider);
    assert.deepEqual(
      logs.filter((m) => /taking over|fence/.test(m)),
      [],
      'the other replica left it alone',
    );
    for (let i = 0; i < 100 && b.listNetworks().length < 2; i++) await sleep(20);
    assert.deepEqual(
      b.listNetworks().map((x) => x.id),
      ['pods', 'more'],
    );
    assert.equal(b.getAddress('p').ip, '10.0.0.0');
    assert.deepEqual((await storeB.range('ops/')).kvs, []);
    assert.deepEqual((await storeB.range('beats/')).kvs, []);
    await a.close();
    await b.close();
    await storeA.close();
    await storeB.close();
  });
});
