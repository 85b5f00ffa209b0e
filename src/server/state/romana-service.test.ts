import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isRomanaError } from '../../errors.ts';
import { MemoryStore } from '../../store/memory.ts';
import { PODS_TOPOLOGY, rejectsWith, serviceWithHosts } from '../../../test/helpers/service.ts';
import { createRomanaService, StoreBackedService } from './romana-service.ts';
import type { WatchEvent } from './service.ts';

/** Waits until `check` passes (watch delivery is asynchronous). */
async function eventually(check: () => void, ms = 2000): Promise<void> {
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

describe('romana service over a store', () => {
  it('applies the initial topology only to an empty store', async () => {
    const store = new MemoryStore();
    const a = await createRomanaService({ store, initialTopology: PODS_TOPOLOGY });
    assert.deepEqual(
      a.listNetworks().map((n) => n.cidr),
      ['10.0.0.0/16'],
    );
    await a.close();
    const other = { ...PODS_TOPOLOGY, networks: [{ name: 'pods', cidr: '10.9.0.0/16' }] };
    const b = await createRomanaService({ store, initialTopology: other });
    assert.deepEqual(
      b.listNetworks().map((n) => n.cidr),
      ['10.0.0.0/16'],
    );
  });

  it('persists hosts, allocations and releases: a new service over the store sees them', async () => {
    const store = new MemoryStore();
    const a = await serviceWithHosts(store);
    assert.equal((await a.allocate({ name: 'p1', host: 'h1', tenant: 't' })).ip, '10.0.0.0');
    assert.equal((await a.allocate({ name: 'p2', host: 'h1', tenant: 't' })).ip, '10.0.0.1');
    assert.equal((await a.allocate({ name: 'p3', host: 'h2', tenant: 't' })).ip, '10.0.128.0');
    await a.release('p1');
    await a.patchHost('h2', { tags: { rack: 'x' } });
    await a.addBlackout('10.0.1.0/24');
    await a.close();
    const b = await createRomanaService({ store });
    assert.deepEqual(
      b
        .listAddresses()
        .map((x) => `${x.name} ${x.ip} ${x.host}`)
        .sort(),
      ['p2 10.0.0.1 h1', 'p3 10.0.128.0 h2'],
    );
    assert.deepEqual(b.getHost('h2').tags, { rack: 'x' });
    assert.deepEqual(b.listBlackouts(), [{ network: 'pods', cidr: '10.0.1.0/24' }]);
    assert.equal((await b.allocate({ name: 'p4', host: 'h1', tenant: 't' })).ip, '10.0.0.0');
  });

  it('answers a blackout over a live pod at once: a definitive conflict is not retried', async () => {
    const svc = await serviceWithHosts();
    await svc.allocate({ name: 'p1', host: 'h1' });
    const before = svc.revision();
    await assert.rejects(svc.addBlackout('10.0.0.0/30'), (e: unknown) => {
      assert.ok(isRomanaError(e, 'Conflict'), String(e));
      assert.equal(e.retryable, false);
      // The engine's own answer, not "gave up after 30 attempts: …".
      assert.match(
        e.message,
        /^Blackout block contains already allocated IPs\. 10\.0\.0\.0\/30 holds 10\.0\.0\.0/,
      );
      return true;
    });
    assert.equal(svc.revision(), before);
    assert.deepEqual(svc.listBlackouts(), []);
  });

  it('refuses bad input and changes nothing', async () => {
    const svc = await serviceWithHosts();
    const before = svc.revision();
    await rejectsWith(svc.allocate({ name: '', host: 'h1' }), 'InvalidInput', /Name required/);
    await rejectsWith(svc.allocate({ name: 'x', host: 'nope' }), 'NotFound', /Host nope not found/);
    await rejectsWith(
      svc.addHost({ name: 'h1', ip: '192.168.0.9' }),
      'AlreadyExists',
      /a host named 'h1'/,
    );
    await rejectsWith(svc.updateTopology({ networks: [] }), 'InvalidInput', /topologies: required/);
    assert.equal(svc.revision(), before);
    assert.deepEqual(svc.listAddresses(), []);
  });

  it('refuses to remove a host that holds addresses unless forced, then frees its blocks', async () => {
    const store = new MemoryStore();
    const svc = await serviceWithHosts(store);
    await svc.allocate({ name: 'p1', host: 'h1' });
    await svc.allocate({ name: 'p2', host: 'h1', tenant: 'u' });
    await rejectsWith(svc.removeHost('h1', { force: false }), 'Conflict', /still holds 2 address/);
    const removed = await svc.removeHost('h1', { force: true });
    assert.deepEqual(removed.releasedAddresses.sort(), ['p1', 'p2']);
    assert.deepEqual(
      svc.listHosts().hosts.map((h) => h.name),
      ['h2'],
    );
    const again = await createRomanaService({ store });
    assert.deepEqual(
      again.listHosts().hosts.map((h) => h.name),
      ['h2'],
    );
    assert.deepEqual(again.listAddresses(), []);
    assert.ok(again.listBlocks().blocks.every((b) => b.host === '' && b.allocated_ip_count === 0));
    assert.equal(await store.get('addresses/p1'), undefined, 'address keys are gone');
  });

  it('updates the topology keeping addresses, and a replica follows', async () => {
    const store = new MemoryStore();
    const a = await serviceWithHosts(store);
    const b = await createRomanaService({ store });
    await a.allocate({ name: 'p1', host: 'h2' });
    const seen: WatchEvent[] = [];
    a.watch(
      ['blocks'],
      a.revision() + 1,
      (e) => seen.push(e),
      () => undefined,
    );
    const doc = a.getTopology();
    doc.networks[0]!.block_mask = 28;
    await a.updateTopology(doc);
    assert.deepEqual(
      seen.map((e) => `${e.type} ${e.id}`),
      ['delete 10.0.128.0/29', 'put 10.0.128.0/28'],
      'watchers learn that the old blocks are gone',
    );
    assert.equal(a.getAddress('p1').block, '10.0.128.0/28');
    await eventually(() => assert.equal(b.getAddress('p1').block, '10.0.128.0/28'));
    assert.deepEqual((await store.range('g/1/')).kvs, [], 'the old generation is deleted');
    assert.equal((await a.allocate({ name: 'p2', host: 'h2' })).ip, '10.0.128.1');
  });

  it('two replicas over one store never hand out an address twice', async () => {
    const store = new MemoryStore();
    const a = await serviceWithHosts(store);
    const b = await createRomanaService({ store });
    const jobs: Array<Promise<{ ip: string }>> = [];
    for (let i = 0; i < 64; i++) {
      const svc = i % 2 === 0 ? a : b;
      jobs.push(svc.allocate({ name: `p${i}`, host: i % 4 < 2 ? 'h1' : 'h2', tenant: 't' }));
    }
    const ips = (await Promise.all(jobs)).map((v) => v.ip);
    assert.equal(new Set(ips).size, 64);
    await eventually(() => assert.equal(a.listAddresses().length, 64));
    await eventually(() => assert.equal(b.listAddresses().length, 64));
    const c = await createRomanaService({ store });
    assert.deepEqual(
      c
        .listAddresses()
        .map((x) => x.ip)
        .sort(),
      [...ips].sort(),
      'the store holds exactly the acknowledged addresses',
    );
  });

  it('a replica allocates at once on a host another replica has just added', async () => {
    const store = new MemoryStore();
    const a = await serviceWithHosts(store);
    const b = await createRomanaService({ store });
    await a.addHost({ name: 'fresh', ip: '192.168.0.99' });
    const v = await b.allocate({ name: 'p', host: 'fresh' });
    assert.equal(v.host, 'fresh');
    await rejectsWith(b.allocate({ name: 'q', host: 'never-added' }), 'NotFound', /never-added/);
  });

  it('a name allocated on one replica is refused on the other', async () => {
    const store = new MemoryStore();
    const a = await serviceWithHosts(store);
    const b = await createRomanaService({ store });
    await Promise.all([
      a.allocate({ name: 'same', host: 'h1' }),
      b.allocate({ name: 'x', host: 'h2' }),
    ]);
    await rejectsWith(
      b.allocate({ name: 'same', host: 'h2' }),
      'AlreadyExists',
      /already allocated/,
    );
    assert.equal(b.listAddresses().filter((x) => x.name === 'same').length, 1);
  });

  it('streams block and host changes, resumable from a revision', async () => {
    const store = new MemoryStore();
    const svc = await serviceWithHosts(store);
    const seen: WatchEvent[] = [];
    const from = svc.revision() + 1;
    const w = svc.watch(
      ['blocks', 'hosts'],
      from,
      (e) => seen.push(e),
      () => undefined,
    );
    await svc.allocate({ name: 'p1', host: 'h1' });
    await svc.addHost({ name: 'h3', ip: '192.168.0.3' });
    w.close();
    assert.deepEqual(
      seen.map((e) => `${e.kind} ${e.type} ${e.id}`),
      ['blocks put 10.0.0.0/29', 'hosts put h3'],
    );
    const replay: WatchEvent[] = [];
    svc
      .watch(
        ['hosts'],
        from,
        (e) => replay.push(e),
        () => undefined,
      )
      .close();
    assert.deepEqual(
      replay.map((e) => e.id),
      ['h3'],
    );
    // A replica started later holds no history before its start.
    const late = await createRomanaService({ store });
    assert.throws(
      () =>
        late.watch(
          ['hosts'],
          from,
          () => undefined,
          () => undefined,
        ),
      /compacted/,
    );
    const current: WatchEvent[] = [];
    late
      .watch(
        ['hosts'],
        undefined,
        (e) => current.push(e),
        () => undefined,
      )
      .close();
    assert.deepEqual(
      current.map((e) => e.id),
      ['h1', 'h2', 'h3'],
      'no revision: the current state first',
    );
  });

  it('validates policies before storing them', async () => {
    const svc = await serviceWithHosts();
    await rejectsWith(svc.putPolicy({ id: 'p' }), 'InvalidInput', /applied_to|ingress/);
    const p = {
      id: 'allow-web',
      direction: 'ingress',
      applied_to: [{ tenant_id: 'web' }],
      ingress: [{ peers: [{ peer: 'any' }], rules: [{ protocol: 'TCP', ports: [80] }] }],
    };
    await svc.putPolicy(p);
    assert.equal(svc.getPolicy('allow-web').id, 'allow-web');
    await svc.deletePolicy('allow-web');
    await rejectsWith(svc.deletePolicy('allow-web'), 'NotFound', /allow-web/);
  });
});

describe('store history', () => {
  it('is compacted to the last revisions kept, and the service goes on', async () => {
    const store = new MemoryStore();
    const svc = (await createRomanaService({
      store,
      initialTopology: PODS_TOPOLOGY,
      keepRevisions: 2,
      compactEveryMs: 0,
    })) as StoreBackedService;
    await svc.addHost({ name: 'h1', ip: '192.168.0.1' });
    for (let i = 0; i < 5; i++) await svc.allocate({ name: `p${i}`, host: 'h1' });
    const rev = await store.revision();
    assert.equal(await svc.compactHistory(), rev - 2);
    const err = await new Promise<Error>((resolve) => {
      store.watch('', 1, () => undefined, resolve);
    });
    assert.match(err.message, /compacted/);
    assert.equal((await svc.allocate({ name: 'later', host: 'h1' })).ip, '10.0.0.5');
  });
});

describe('a topology update that never finished', () => {
  it('is rolled back once stale, so writes resume', async () => {
    const store = new MemoryStore();
    const svc = await serviceWithHosts(store);
    await svc.allocate({ name: 'before', host: 'h1' });
    // What a romanad that died between fence and switch leaves behind.
    const kv = (await store.get('topology'))!;
    const rec = JSON.parse(kv.value) as { generation: number };
    await store.txn(
      [],
      [
        {
          type: 'put',
          key: 'topology',
          value: JSON.stringify({ ...rec, updating: { to: rec.generation + 1, since: 1 } }),
        },
        { type: 'put', key: `g/${rec.generation + 1}/networks/pods`, value: '{"blackouts":[]}' },
      ],
    );
    let sawFence = false;
    let ip = '';
    for (let i = 0; i < 200 && ip === ''; i++) {
      try {
        ip = (await svc.allocate({ name: 'after', host: 'h1' })).ip;
      } catch (err) {
        if (!isRomanaError(err, 'Unavailable')) throw err;
        assert.match(err.message, /topology update/);
        sawFence = true;
        await new Promise((r) => setTimeout(r, 25));
      }
    }
    assert.ok(sawFence, 'writes wait while the fence stands');
    assert.equal(ip, '10.0.0.1');
    assert.deepEqual(
      (await store.range(`g/${rec.generation + 1}/`)).kvs,
      [],
      'its writes are gone',
    );
  });
});
