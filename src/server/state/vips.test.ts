import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isRomanaError } from '../../errors.ts';
import { MemoryStore } from '../../store/memory.ts';
import { PODS_TOPOLOGY, rejectsWith, serviceWithHosts } from '../../../test/helpers/service.ts';
import { buildApp } from '../http/app.ts';
import { createRomanaService } from './romana-service.ts';
import type { Store } from '../../store/store.ts';
import type { WatchEvent } from './service.ts';
import { validateVip } from './vips.ts';

const known = {
  hosts: new Map([['node-1', '192.0.2.1']]),
  networks: [{ id: 'pods', cidr: '10.0.0.0/16' }],
};

describe('validateVip', () => {
  it('accepts a VIP on a known host outside every Romana network', () => {
    assert.deepEqual(
      validateVip('web.default', { ip: '192.0.2.10', host: 'node-1', namespace: 'default' }, known),
      { name: 'web.default', ip: '192.0.2.10', host: 'node-1', namespace: 'default' },
    );
  });

  it('reports every problem at once, each naming its field and value', () => {
    assert.throws(
      () => validateVip('-bad/name', { ip: '10.0.3.4', host: 'node-9' }, known),
      (e: unknown) => {
        assert.ok(isRomanaError(e, 'InvalidInput'));
        assert.deepEqual(e.message.split('\n'), [
          `name: must be 1-253 letters, digits, '.', '_' or '-', beginning and ending with a letter or digit, not an IP address, got "-bad/name"`,
          "ip: '10.0.3.4' lies inside Romana network pods (10.0.0.0/16), whose addresses go to pods",
          "host: no host named 'node-9'",
        ]);
        return true;
      },
    );
  });

  for (const ip of [
    '192.0.2',
    '010.0.0.1',
    '::1',
    '127.0.0.1',
    '0.0.0.0',
    '224.0.0.1',
    '192.0.2.1',
  ]) {
    it(`refuses ip ${ip}`, () => {
      assert.throws(
        () => validateVip('v', { ip, host: 'node-1' }, known),
        (e: unknown) => isRomanaError(e, 'InvalidInput') && e.message.startsWith(`ip: '${ip}'`),
      );
    });
  }
});

describe('VIPs in romanad', () => {
  it('stores, moves, lists and deletes VIPs, and a new service over the store sees them', async () => {
    const store = new MemoryStore();
    const a = await serviceWithHosts(store);
    await a.putVip('web.default', { ip: '192.0.2.10', host: 'h1', namespace: 'default' });
    await a.putVip('api.default', { ip: '192.0.2.11', host: 'h1' });
    // Moving a VIP is a put with another host.
    assert.deepEqual(await a.putVip('web.default', { ip: '192.0.2.10', host: 'h2' }), {
      name: 'web.default',
      ip: '192.0.2.10',
      host: 'h2',
    });
    await a.close();
    const b = await createRomanaService({ store });
    assert.deepEqual(
      b.listVips().map((v) => [v.name, v.ip, v.host]),
      [
        ['api.default', '192.0.2.11', 'h1'],
        ['web.default', '192.0.2.10', 'h2'],
      ],
    );
    await b.deleteVip('api.default');
    assert.throws(
      () => b.getVip('api.default'),
      (e: unknown) => isRomanaError(e, 'NotFound'),
    );
    await rejectsWith(b.deleteVip('api.default'), 'NotFound', /No VIP named api\.default/);
    // Its address is free again.
    await b.putVip('other.default', { ip: '192.0.2.11', host: 'h2' });
    await b.close();
  });

  it('never lets two VIPs hold one address, also across replicas', async () => {
    const store = new MemoryStore();
    const a = await serviceWithHosts(store);
    const b = await createRomanaService({ store });
    await a.putVip('one', { ip: '192.0.2.20', host: 'h1' });
    await rejectsWith(
      b.putVip('two', { ip: '192.0.2.20', host: 'h2' }),
      'AlreadyExists',
      /192\.0\.2\.20 is already held by VIP one/,
    );
    await rejectsWith(
      a.putVip('two', { ip: '192.0.2.20', host: 'h2' }),
      'AlreadyExists',
      /already held by VIP one/,
    );
    // Changing a VIP's address frees the old one.
    await a.putVip('one', { ip: '192.0.2.21', host: 'h1' });
    await b.putVip('two', { ip: '192.0.2.20', host: 'h2' });
    // Racing for one address: exactly one wins.
    const race = await Promise.allSettled([
      a.putVip('x', { ip: '192.0.2.30', host: 'h1' }),
      b.putVip('y', { ip: '192.0.2.30', host: 'h2' }),
    ]);
    assert.equal(race.filter((r) => r.status === 'fulfilled').length, 1);
    const holders = (await createRomanaService({ store }))
      .listVips()
      .filter((v) => v.ip === '192.0.2.30');
    assert.equal(holders.length, 1);
    await a.close();
    await b.close();
  });

  it('takes an address another replica has just freed, before its watch says so', async () => {
    const store = new MemoryStore();
    const a = await serviceWithHosts(store);
    // Replica b's view of the store's changes is held back until released.
    let held: Array<() => void> | undefined = [];
    const lagging: Store = {
      get: (key) => store.get(key),
      range: (prefix) => store.range(prefix),
      txn: (compares, ops) => store.txn(compares, ops),
      revision: () => store.revision(),
      close: () => store.close(),
      watch: (prefix, from, onEvents, onError) =>
        store.watch(
          prefix,
          from,
          (events, rev) =>
            held === undefined ? onEvents(events, rev) : held.push(() => onEvents(events, rev)),
          onError,
        ),
    };
    const b = await createRomanaService({ store: lagging });
    await a.putVip('old', { ip: '192.0.2.60', host: 'h1' });
    for (const release of held) release();
    held = [];
    assert.equal(b.getVip('old').ip, '192.0.2.60');
    await a.deleteVip('old');
    // b still holds 'old' from its watch, yet the store knows better.
    assert.equal(b.getVip('old').ip, '192.0.2.60');
    assert.deepEqual(await b.putVip('new', { ip: '192.0.2.60', host: 'h2' }), {
      name: 'new',
      ip: '192.0.2.60',
      host: 'h2',
    });
    for (const release of held) release();
    held = undefined;
    await a.close();
    await b.close();
  });

  it('refuses bad input and changes nothing', async () => {
    const svc = await serviceWithHosts();
    await rejectsWith(
      svc.putVip('v', { ip: '192.0.2.1', host: 'nope' }),
      'InvalidInput',
      /host: no host named 'nope'/,
    );
    await rejectsWith(
      svc.putVip('v', { ip: '10.0.0.9', host: 'h1' }),
      'InvalidInput',
      /inside Romana network pods/,
    );
    assert.deepEqual(svc.listVips(), []);
    await svc.close();
  });

  it('refuses a topology update whose networks would cover a VIP, and changes nothing', async () => {
    const svc = await serviceWithHosts();
    await svc.putVip('web', { ip: '10.1.0.5', host: 'h1' });
    const wider = {
      ...PODS_TOPOLOGY,
      networks: [{ name: 'pods', cidr: '10.0.0.0/15', block_mask: 29 }],
    };
    await rejectsWith(
      svc.updateTopology(wider),
      'InvalidInput',
      /^network pods \(10\.0\.0\.0\/15\) covers VIP web \(10\.1\.0\.5\); move or delete the VIP first$/,
    );
    assert.equal(svc.listNetworks()[0]!.cidr, '10.0.0.0/16');
    await svc.deleteVip('web');
    await svc.updateTopology(wider);
    assert.equal(svc.listNetworks()[0]!.cidr, '10.0.0.0/15');
    await svc.close();
  });

  it('streams VIP changes on the watch, to replicas and after a resume', async () => {
    const store = new MemoryStore();
    const a = await serviceWithHosts(store);
    const b = await createRomanaService({ store });
    const seen: WatchEvent[] = [];
    const h = b.watch(['vips'], undefined, (e) => seen.push(e), assert.fail);
    await a.putVip('web', { ip: '192.0.2.40', host: 'h1' });
    await a.putVip('web', { ip: '192.0.2.40', host: 'h2' });
    await a.deleteVip('web');
    for (let i = 0; i < 200 && seen.length < 3; i++) await new Promise((r) => setTimeout(r, 10));
    h.close();
    assert.deepEqual(
      seen.map((e) => [e.kind, e.type, e.id, (e.value as { host?: string } | null)?.host ?? null]),
      [
        ['vips', 'put', 'web', 'h1'],
        ['vips', 'put', 'web', 'h2'],
        ['vips', 'delete', 'web', null],
      ],
    );
    // Resuming from the second change replays it and the delete.
    const again: WatchEvent[] = [];
    const h2 = b.watch(['vips'], seen[1]!.revision, (e) => again.push(e), assert.fail);
    for (let i = 0; i < 200 && again.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    h2.close();
    assert.deepEqual(
      again.map((e) => [e.type, e.revision]),
      [
        ['put', seen[1]!.revision],
        ['delete', seen[2]!.revision],
      ],
    );
    await a.close();
    await b.close();
  });

  it('serves /vips over HTTP with the usual error bodies', async () => {
    const svc = await serviceWithHosts();
    const app = buildApp(svc);
    const put = await app.inject({
      method: 'PUT',
      url: '/vips/web.default',
      payload: { ip: '192.0.2.50', host: 'h1' },
    });
    assert.equal(put.statusCode, 200, put.body);
    assert.deepEqual(put.json(), { name: 'web.default', ip: '192.0.2.50', host: 'h1' });
    assert.deepEqual((await app.inject({ method: 'GET', url: '/vips' })).json(), [put.json()]);
    assert.deepEqual(
      (await app.inject({ method: 'GET', url: '/vips/web.default' })).json(),
      put.json(),
    );
    const bad = await app.inject({
      method: 'PUT',
      url: '/vips/w2',
      payload: { ip: '192.0.2.51', host: 'h7' },
    });
    assert.equal(bad.statusCode, 422);
    assert.equal(bad.json().code, 'InvalidInput');
    assert.match(bad.json().details, /host: no host named 'h7'/);
    const taken = await app.inject({
      method: 'PUT',
      url: '/vips/w2',
      payload: { ip: '192.0.2.50', host: 'h2' },
    });
    assert.equal(taken.statusCode, 409);
    assert.equal(taken.json().code, 'AlreadyExists');
    const missing = await app.inject({
      method: 'PUT',
      url: '/vips/w2',
      payload: { ip: '1.2.3.4' },
    });
    assert.equal(missing.statusCode, 400);
    assert.match(missing.json().details, /host/);
    assert.equal(
      (await app.inject({ method: 'DELETE', url: '/vips/web.default' })).statusCode,
      200,
    );
    const gone = await app.inject({ method: 'GET', url: '/vips/web.default' });
    assert.equal(gone.statusCode, 404);
    assert.equal(gone.json().resource_type, 'vip');
    await app.close();
    await svc.close();
  });
});
