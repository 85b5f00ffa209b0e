/**
 * Host operations at their edges, over the memory store (milliseconds): adds and patches that
 * race another replica, refusals that keep nothing, a removal of a host with more addresses
 * than one transaction takes, and a removal its writer abandoned, finished by the next service.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isRomanaError } from '../../errors.ts';
import { laggingView } from '../../../test/helpers/lagging-store.ts';
import { rejectsWith, serviceWithHosts } from '../../../test/helpers/service.ts';
import { MemoryStore } from '../../store/memory.ts';
import type { Compare, Op, TxnResult } from '../../store/store.ts';
import { operationKey } from './keys.ts';
import { createRomanaService } from './romana-service.ts';

/** Two replicas over one memory store; `b` sees nothing more through its watch. */
async function twoReplicas() {
  const mem = new MemoryStore();
  const a = await serviceWithHosts(mem);
  const view = laggingView(mem);
  const b = await createRomanaService({ store: view.store });
  view.lagging = true;
  view.flushOnGet = false;
  const close = async () => {
    await a.close();
    await b.close();
  };
  return { mem, a, b, view, close };
}

describe('adding a host', () => {
  it('refuses a name another replica has just added, naming it', async () => {
    const { mem, a, b, view, close } = await twoReplicas();
    await a.addHost({ name: 'h3', ip: '192.168.0.3' });
    const err = await b.addHost({ name: 'h3', ip: '192.168.0.33' }).catch((e: unknown) => e);
    assert.ok(isRomanaError(err, 'AlreadyExists'));
    assert.equal(err.message, "a host named 'h3' already exists");
    assert.deepEqual([err.resourceType, err.resourceId], ['host', 'h3']);
    assert.equal(await mem.get('hostips/192.168.0.33'), undefined);
    // Once b's watch delivers, it holds the other replica's host.
    view.flush();
    assert.equal(b.getHost('h3').ip, '192.168.0.3');
    await close();
  });

  it('refuses an IP another replica has just given a host, and keeps nothing of it', async () => {
    const { mem, a, b, close } = await twoReplicas();
    await a.addHost({ name: 'h4', ip: '192.168.0.9' });
    const err = await b.addHost({ name: 'h5', ip: '192.168.0.9' }).catch((e: unknown) => e);
    assert.ok(isRomanaError(err, 'AlreadyExists'));
    assert.equal(err.message, 'IP 192.168.0.9 already belongs to another host');
    assert.deepEqual([err.resourceType, err.resourceId], ['host', 'h5']);
    await rejectsWith(
      Promise.resolve().then(() => b.getHost('h5')),
      'NotFound',
      /h5/,
    );
    assert.equal(await mem.get('hosts/h5'), undefined);
    await close();
  });

  it('keeps who manages it, and refuses a bad one naming the field, writing nothing', async () => {
    const store = new MemoryStore();
    const svc = await serviceWithHosts(store);
    const rev = await store.revision();
    await rejectsWith(
      svc.addHost({ name: 'h3', ip: '192.168.0.3', managed_by: 'a b' }),
      'InvalidInput',
      /managed_by/,
    );
    assert.equal(await store.revision(), rev);
    const h = await svc.addHost({ name: 'h3', ip: '192.168.0.3', managed_by: 'listener' });
    assert.equal(h.managed_by, 'listener');
    assert.equal(JSON.parse((await store.get('hosts/h3'))!.value).managed_by, 'listener');
    await svc.close();
  });
});

/** A memory store whose next transaction writing a host loses its compares, once. */
class LosingStore extends MemoryStore {
  lose = false;
  override async txn(compares: Compare[], ops: Op[]): Promise<TxnResult> {
    if (this.lose && ops.some((o) => o.key.startsWith('hosts/'))) {
      this.lose = false;
      return { succeeded: false, revision: await this.revision() };
    }
    return super.txn(compares, ops);
  }
}

describe('adding a host whose transaction lost to a write of something else', () => {
  it('is decided again and added', async () => {
    const store = new LosingStore();
    const svc = await serviceWithHosts(store);
    store.lose = true;
    const h = await svc.addHost({ name: 'h3', ip: '192.168.0.3' });
    assert.equal(store.lose, false);
    assert.equal(h.name, 'h3');
    assert.equal((await store.get('hostips/192.168.0.3'))?.value, 'h3');
    await svc.close();
  });
});

describe('patching a host', () => {
  it('keeps nothing of a patch whose k8s_info is refused after its tags', async () => {
    const store = new MemoryStore();
    const svc = await serviceWithHosts(store);
    const rev = await store.revision();
    const before = svc.getHost('h1');
    await rejectsWith(
      svc.patchHost('h1', { tags: { rack: 'r9' }, k8s_info: 'bad' }),
      'InvalidInput',
      /k8s_info/,
    );
    assert.deepEqual(svc.getHost('h1'), before);
    assert.equal(await store.revision(), rev);
    await svc.close();
  });

  it('keeps who manages the host and its removal fence', async () => {
    const store = new MemoryStore();
    const svc = await serviceWithHosts(store);
    await svc.addHost({
      name: 'h3',
      ip: '192.168.0.3',
      managed_by: 'listener',
      k8s_info: { zone: 'z' },
    });
    const p = await svc.patchHost('h3', { tags: { rack: 'r1' } });
    assert.equal(p.managed_by, 'listener');
    // A field left out of the patch is kept.
    assert.deepEqual(p.k8s_info, { zone: 'z' });
    assert.deepEqual(p.tags, { rack: 'r1' });
    const stored = JSON.parse((await store.get('hosts/h3'))!.value) as Record<string, unknown>;
    assert.equal(stored['managed_by'], 'listener');
    assert.deepEqual(stored['tags'], { rack: 'r1' });
    assert.equal(stored['removing'], undefined);
    // A host being removed stays fenced through a patch.
    const h2 = JSON.parse((await store.get('hosts/h2'))!.value) as object;
    const r = await store.txn(
      [],
      [{ type: 'put', key: 'hosts/h2', value: JSON.stringify({ ...h2, removing: true }) }],
    );
    for (let i = 0; i < 200 && svc.listHosts().revision < r.revision; i++) {
      await new Promise((res) => setTimeout(res, 5));
    }
    await svc.patchHost('h2', { tags: { rack: 'r2' } });
    const fenced = JSON.parse((await store.get('hosts/h2'))!.value) as Record<string, unknown>;
    assert.deepEqual([fenced['removing'], fenced['tags']], [true, { rack: 'r2' }]);
    await rejectsWith(svc.allocate({ name: 'p', host: 'h2' }), 'Conflict', /being removed/);
    await svc.close();
  });

  it('on a host another replica has just patched, is decided again on what it wrote', async () => {
    const { mem, a, b, close } = await twoReplicas();
    await a.patchHost('h1', { tags: { rack: 'r1' } });
    const got = await b.patchHost('h1', { k8s_info: { zone: 'z' } });
    assert.deepEqual([got.tags, got.k8s_info], [{ rack: 'r1' }, { zone: 'z' }]);
    const stored = JSON.parse((await mem.get('hosts/h1'))!.value) as Record<string, unknown>;
    assert.deepEqual([stored['tags'], stored['k8s_info']], [{ rack: 'r1' }, { zone: 'z' }]);
    await close();
  });
});

/** A memory store that records the largest transaction it was asked to commit. */
class SizedStore extends MemoryStore {
  largest = 0;
  override async txn(compares: Compare[], ops: Op[]): Promise<TxnResult> {
    this.largest = Math.max(this.largest, compares.length + ops.length);
    return super.txn(compares, ops);
  }
}

describe('removing a host', () => {
  it('that holds addresses is refused without force, naming how many', async () => {
    const store = new MemoryStore();
    const svc = await serviceWithHosts(store);
    await svc.allocate({ name: 'p1', host: 'h1' });
    const err = await svc.removeHost('h1', { force: false }).catch((e: unknown) => e);
    assert.ok(isRomanaError(err, 'Conflict'));
    assert.equal(
      err.message,
      'Host h1 still holds 1 address(es); release them first or remove it with force=true',
    );
    assert.deepEqual([err.resourceType, err.resourceId], ['host', 'h1']);
    assert.equal(svc.getHost('h1').name, 'h1');
    await svc.close();
  });

  it('that is not known is refused as NotFound, naming it', async () => {
    const svc = await serviceWithHosts(new MemoryStore());
    await rejectsWith(svc.removeHost('nope', { force: true }), 'NotFound', /nope/);
    await svc.close();
  });

  it('frees a block of more addresses than one transaction takes, in steps', async () => {
    const store = new SizedStore();
    const svc = await createRomanaService({
      store,
      initialTopology: {
        networks: [{ name: 'pods', cidr: '10.0.0.0/16', block_mask: 24 }],
        topologies: [{ networks: ['pods'], map: [{ name: 'r1' }] }],
      },
    });
    await svc.addHost({ name: 'h1', ip: '192.168.0.1' });
    const names = Array.from({ length: 120 }, (_, i) => `p${i}`);
    await Promise.all(names.map((name) => svc.allocate({ name, host: 'h1' })));
    store.largest = 0;
    const removed = await svc.removeHost('h1', { force: true });
    assert.deepEqual([...removed.releasedAddresses].sort(), [...names].sort());
    assert.ok(store.largest <= 128, `a transaction of ${store.largest} compares and writes`);
    assert.deepEqual((await store.range('addresses/')).kvs, []);
    assert.deepEqual((await store.range('hosts/')).kvs, []);
    assert.deepEqual((await store.range('ops/')).kvs, []);
    assert.deepEqual(svc.listAddresses(), []);
    await svc.close();
  });
});

describe('removing a host, with others at work', () => {
  it('is refused as a Conflict when another replica changed the host first, keeping its change', async () => {
    const { mem, a, b, close } = await twoReplicas();
    await a.patchHost('h2', { tags: { rack: 'r2' } });
    await rejectsWith(
      b.removeHost('h2', { force: false }),
      'Conflict',
      /^host h2 changed while removing it; retry$/,
    );
    const stored = JSON.parse((await mem.get('hosts/h2'))!.value) as Record<string, unknown>;
    assert.deepEqual([stored['tags'], stored['removing']], [{ rack: 'r2' }, undefined]);
    assert.deepEqual((await mem.range('ops/')).kvs, []);
    await close();
  });

  it('is refused as Unavailable while another live replica removes it', async () => {
    const mem = new MemoryStore();
    // Seen as a shared store: an intent of another owner is live until it stands still.
    const shared = new Proxy(mem, {
      get(target, p) {
        if (p === 'exclusive') return false;
        const v = Reflect.get(target, p, target) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const svc = await serviceWithHosts(shared);
    const h2 = JSON.parse((await mem.get('hosts/h2'))!.value) as object;
    const r = await mem.txn(
      [],
      [
        { type: 'put', key: 'hosts/h2', value: JSON.stringify({ ...h2, removing: true }) },
        {
          type: 'put',
          key: operationKey('other'),
          value: JSON.stringify({
            kind: 'remove-host',
            owner: 'elsewhere',
            since: Date.now(),
            host: 'h2',
            ip: '192.168.0.2',
          }),
        },
      ],
    );
    for (let i = 0; i < 200 && svc.listHosts().revision < r.revision; i++) {
      await new Promise((res) => setTimeout(res, 5));
    }
    const err = await svc.removeHost('h2', { force: true }).catch((e: unknown) => e);
    assert.ok(isRomanaError(err, 'Unavailable'));
    assert.equal(err.message, 'Host h2 is being removed; retry in a moment');
    assert.deepEqual([err.resourceType, err.resourceId], ['host', 'h2']);
    assert.notEqual(await mem.get('hosts/h2'), undefined);
    await svc.close();
  });

  it('is refused once the service shuts down while it waited for another removal', async () => {
    const store = new MemoryStore();
    const svc = await serviceWithHosts(store);
    const first = svc.removeHost('h2', { force: false });
    const second = svc.removeHost('h1', { force: false });
    await svc.close();
    await first;
    await rejectsWith(second, 'Unavailable', /shutting down/);
    assert.notEqual(await store.get('hosts/h1'), undefined);
  });

  it('of a host whose removal was abandoned finishes that removal first', async () => {
    const store = new MemoryStore();
    const svc = await serviceWithHosts(store);
    const h2 = JSON.parse((await store.get('hosts/h2'))!.value) as object;
    const r = await store.txn(
      [],
      [
        { type: 'put', key: 'hosts/h2', value: JSON.stringify({ ...h2, removing: true }) },
        {
          type: 'put',
          key: operationKey('gone'),
          value: JSON.stringify({
            kind: 'remove-host',
            owner: 'gone',
            since: 1,
            host: 'h2',
            ip: '192.168.0.2',
          }),
        },
      ],
    );
    for (let i = 0; i < 200 && svc.listHosts().revision < r.revision; i++) {
      await new Promise((res) => setTimeout(res, 5));
    }
    await rejectsWith(svc.removeHost('h2', { force: false }), 'NotFound', /h2/);
    assert.equal(await store.get('hosts/h2'), undefined);
    assert.deepEqual((await store.range('ops/')).kvs, []);
    await svc.close();
  });

  it('of two families publishes one delete per name', async () => {
    const svc = await createRomanaService({
      store: new MemoryStore(),
      initialTopology: {
        networks: [
          { name: 'pods', cidr: '10.0.0.0/16', block_mask: 29 },
          { name: 'pods6', cidr: 'fd00:10::/48' },
        ],
        topologies: [{ networks: ['pods', 'pods6'], map: [{ name: 'r1' }] }],
      },
    });
    await svc.addHost({ name: 'h1', ip: '192.168.0.1' });
    await svc.allocate({ name: 'p1', host: 'h1' });
    await svc.allocate({ name: 'p2', host: 'h1' });
    const events: string[] = [];
    const w = svc.watch(
      ['addresses', 'hosts'],
      svc.revision() + 1,
      (e) => events.push(`${e.type} ${e.id}`),
      (err) => {
        throw err;
      },
    );
    await svc.removeHost('h1', { force: true });
    // A later event: once it is seen, every event of the removal was.
    await svc.addHost({ name: 'h2', ip: '192.168.0.2' });
    await svc.allocate({ name: 'marker', host: 'h2' });
    for (let i = 0; i < 200 && !events.includes('put marker'); i++) {
      await new Promise((res) => setTimeout(res, 5));
    }
    w.close();
    // The fence (h1 being removed), the names once each, h1 gone; then the later events.
    assert.deepEqual(events.sort(), [
      'delete h1',
      'delete p1',
      'delete p2',
      'put h1',
      'put h2',
      'put marker',
    ]);
    await svc.close();
  });
});

describe('a host removal its writer abandoned', () => {
  const intent = (host: string, ip: string) =>
    JSON.stringify({ kind: 'remove-host', owner: 'gone', since: 1, host, ip });

  it('is finished by the next service: the host, its addresses and its IP key go', async () => {
    const store = new MemoryStore();
    const svc = await serviceWithHosts(store);
    await svc.allocate({ name: 'p1', host: 'h2' });
    await svc.allocate({ name: 'p2', host: 'h1' });
    const host = JSON.parse((await store.get('hosts/h2'))!.value) as object;
    await svc.close();
    await store.txn(
      [],
      [
        { type: 'put', key: 'hosts/h2', value: JSON.stringify({ ...host, removing: true }) },
        { type: 'put', key: operationKey('r1'), value: intent('h2', '192.168.0.2') },
      ],
    );
    const next = await createRomanaService({ store });
    assert.deepEqual(
      next.listHosts().hosts.map((h) => h.name),
      ['h1'],
    );
    assert.deepEqual(
      next.listAddresses().map((a) => a.name),
      ['p2'],
    );
    assert.equal(await store.get('addresses/p1'), undefined);
    assert.equal(await store.get('hostips/192.168.0.2'), undefined);
    assert.equal(await store.get(operationKey('r1')), undefined);
    await next.close();
  });

  it('whose host is gone already deletes only an IP key still its own', async () => {
    const store = new MemoryStore();
    const svc = await serviceWithHosts(store);
    await svc.close();
    await store.txn(
      [],
      [
        { type: 'put', key: 'hostips/192.168.0.50', value: 'h9' },
        { type: 'put', key: operationKey('r1'), value: intent('h9', '192.168.0.50') },
        { type: 'put', key: operationKey('r2'), value: intent('h8', '192.168.0.1') },
        // Its IP key gone too: only the intent is left.
        { type: 'put', key: operationKey('r3'), value: intent('h7', '192.168.0.77') },
      ],
    );
    const next = await createRomanaService({ store });
    assert.equal(await store.get('hostips/192.168.0.50'), undefined);
    // h1's IP key, named in an intent of a host h8 that is gone, stays h1's.
    assert.equal((await store.get('hostips/192.168.0.1'))?.value, 'h1');
    assert.deepEqual((await store.range('ops/')).kvs, []);
    assert.deepEqual(
      next.listHosts().hosts.map((h) => h.name),
      ['h1', 'h2'],
    );
    await next.close();
  });
});
