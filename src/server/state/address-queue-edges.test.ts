/**
 * The address queue against other replicas and at its refusals, over the memory store
 * (milliseconds): a replica whose watch is behind catches up with the store and tries once
 * more; what is refused before the store is reached writes nothing; pod links go with the
 * allocations and releases that carry them.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isRomanaError } from '../../errors.ts';
import { laggingView } from '../../../test/helpers/lagging-store.ts';
import { PODS_TOPOLOGY, rejectsWith, serviceWithHosts } from '../../../test/helpers/service.ts';
import { MemoryStore } from '../../store/memory.ts';
import { createRomanaService } from './romana-service.ts';

describe('a replica behind another one', () => {
  it('releases at once an address the other has just allocated', async () => {
    const mem = new MemoryStore();
    const a = await serviceWithHosts(mem);
    const view = laggingView(mem);
    const b = await createRomanaService({ store: view.store });
    view.lagging = true;
    const got = await a.allocate({ name: 'fresh', host: 'h1' });
    const released = await b.release('fresh');
    assert.equal(released.ip, got.ip);
    assert.equal(await mem.get('addresses/fresh'), undefined);
    await rejectsWith(b.release('never'), 'NotFound', /never/);
    await a.close();
    await b.close();
  });

  it('allocates at once on a host the other has just added', async () => {
    const mem = new MemoryStore();
    const a = await serviceWithHosts(mem);
    const view = laggingView(mem);
    const b = await createRomanaService({ store: view.store });
    view.lagging = true;
    await a.addHost({ name: 'fresh', ip: '192.168.0.99' });
    assert.equal((await b.allocate({ name: 'p', host: 'fresh' })).host, 'fresh');
    await a.close();
    await b.close();
  });

  it('releases with its pod link one the other has just set, reading the link back', async () => {
    const mem = new MemoryStore();
    const a = await serviceWithHosts(mem);
    const view = laggingView(mem);
    const b = await createRomanaService({ store: view.store });
    await b.allocate({ name: 'p', host: 'h1' });
    // b never sees the link through its watch: only by reading the key back.
    view.lagging = true;
    view.flushOnGet = false;
    const link = { namespace: 'shop', name: 'web-0', uid: 'a1', labels: {}, ports: [] };
    await mem.txn([], [{ type: 'put', key: 'pods/p', value: JSON.stringify(link) }]);
    const released = await b.release('p');
    assert.deepEqual(released.pod, link);
    assert.equal(await mem.get('pods/p'), undefined);
    assert.equal(await mem.get('addresses/p'), undefined);
    await a.close();
    await b.close();
  });

  it('allocates at once for a tenant the other has just given a network', async () => {
    const mem = new MemoryStore();
    const topo = structuredClone(PODS_TOPOLOGY);
    (topo.networks[0] as { tenants?: string[] }).tenants = ['t1'];
    const a = await createRomanaService({ store: mem, initialTopology: topo });
    await a.addHost({ name: 'h1', ip: '192.168.0.1' });
    const view = laggingView(mem);
    const b = await createRomanaService({ store: view.store });
    view.lagging = true;
    const doc = a.getTopology();
    doc.networks[0]!.tenants = ['t1', 't2'];
    await a.updateTopology(doc);
    const got = await b.allocate({ name: 'p', host: 'h1', tenant: 't2' });
    assert.equal(got.network, 'pods');
    await rejectsWith(b.allocate({ name: 'q', host: 'h1', tenant: 't3' }), 'NotFound', /t3/);
    await a.close();
    await b.close();
  });

  it('allocates at once after a topology update it saw begin, once the other finished it', async () => {
    const mem = new MemoryStore();
    const a = await serviceWithHosts(mem);
    const view = laggingView(mem);
    const b = await createRomanaService({ store: view.store });
    // Behind from the moment it sees the update begin.
    view.lagAfter = (e) => e.key === 'topology' && e.value?.includes('"updating"') === true;
    const doc = a.getTopology();
    doc.networks[0]!.block_mask = 28;
    await a.updateTopology(doc);
    assert.equal(view.lagging, true);
    const got = await b.allocate({ name: 'p', host: 'h1' });
    assert.equal(got.block.endsWith('/28'), true);
    await a.close();
    await b.close();
  });
});

describe('address operations refused before they reach the store', () => {
  it('refuses a queued allocation once the service shuts down, and writes nothing', async () => {
    const store = new MemoryStore();
    const svc = await serviceWithHosts(store);
    const first = svc.allocate({ name: 'first', host: 'h1' });
    // Queued behind the first (same host), so decided after the shutdown.
    const queued = svc.allocate({ name: 'queued', host: 'h1' });
    await svc.close();
    await first;
    await rejectsWith(queued, 'Unavailable', /shutting down/);
    assert.equal(await store.get('addresses/queued'), undefined);
  });

  it('refuses a name that is not a string, or that cannot be a key', async () => {
    const store = new MemoryStore();
    const svc = await serviceWithHosts(store);
    const rev = await store.revision();
    await rejectsWith(
      svc.allocate({ name: 42 as unknown as string, host: 'h1' }),
      'InvalidInput',
      /^Name required$/,
    );
    await rejectsWith(
      svc.allocate({ name: 'a\ud800', host: 'h1' }),
      'InvalidInput',
      /^name: "a\\ud800" holds a lone UTF-16 surrogate$/,
    );
    await assert.rejects(
      svc.allocate({ name: 'a\ud800', host: 'h1' }),
      (e: unknown) => isRomanaError(e, 'InvalidInput') && e.resourceType === 'address',
    );
    assert.equal(await store.revision(), rev);
    assert.deepEqual(svc.listAddresses(), []);
    await svc.close();
  });

  it('refuses an allocation on a host another replica has just removed, and writes nothing', async () => {
    const mem = new MemoryStore();
    const a = await serviceWithHosts(mem);
    const view = laggingView(mem);
    const b = await createRomanaService({ store: view.store });
    view.lagging = true;
    await a.removeHost('h2', { force: false });
    assert.equal(
      b.listHosts().hosts.some((h) => h.name === 'h2'),
      true,
      'b has not seen it',
    );
    await rejectsWith(b.allocate({ name: 'late', host: 'h2' }), 'NotFound', /h2/);
    assert.equal(await mem.get('addresses/late'), undefined);
    await a.close();
    await b.close();
  });
});

describe('pod links of allocations', () => {
  const ref = { namespace: 'shop', name: 'web-0', uid: 'a1' };
  const link = { ...ref, labels: {}, ports: [] };

  it('answers an allocation with its pod, and one without a pod with none', async () => {
    const store = new MemoryStore();
    const svc = await serviceWithHosts(store);
    const withPod = await svc.allocate({ name: 'a', host: 'h1', pod: ref });
    assert.equal(withPod.name, 'a');
    assert.equal(withPod.ip, svc.getAddress('a').ip);
    assert.deepEqual(withPod.pod, link);
    assert.deepEqual(JSON.parse((await store.get('pods/a'))!.value), link);
    const bare = await svc.allocate({ name: 'b', host: 'h1' });
    assert.equal(bare.name, 'b');
    assert.equal('pod' in bare, false);
    await svc.close();
  });

  it('deletes a link left in the store by a name that is gone when the name is allocated again', async () => {
    const store = new MemoryStore();
    await store.txn([], [{ type: 'put', key: 'pods/p', value: JSON.stringify(link) }]);
    const svc = await serviceWithHosts(store);
    const got = await svc.allocate({ name: 'p', host: 'h1' });
    assert.equal('pod' in got, false);
    assert.equal(await store.get('pods/p'), undefined);
    await svc.close();
    const again = await createRomanaService({ store });
    assert.equal(again.getAddress('p').pod, undefined);
    await again.close();
  });
});
