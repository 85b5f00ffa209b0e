/**
 * Pod links of addresses, namespaces and who manages a host, over the API (inject) on the real
 * service and the memory store: what each route answers, that an identical write writes
 * nothing, that a refusal names its field and value and changes nothing, and that a release
 * takes the pod link with it in the same transaction.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import {
  assertError,
  call,
  seededService,
  type FaultyService,
} from '../../../test/helpers/service.ts';
import { buildApp } from './app.ts';

let service: FaultyService;
let app: FastifyInstance;

before(async () => {
  service = await seededService();
  app = buildApp(service);
});

after(async () => {
  await app.close();
  await service.close();
});

/** The stored value of `key` in the service's memory store (undefined: absent). */
async function stored(key: string): Promise<unknown> {
  const kv = await service.store!.get(key);
  return kv === undefined ? undefined : JSON.parse(kv.value);
}

const WEB = { namespace: 'shop', name: 'web-0', uid: '1f0c-22' };
const LINK = {
  namespace: 'shop',
  name: 'web-0',
  uid: '1f0c-22',
  labels: { app: 'web', 'example.com/tier': 'front' },
  ports: [
    { name: 'http', port: 8080, protocol: 'TCP' },
    { port: 53, protocol: 'UDP' },
  ],
};

describe('pod links', () => {
  test('POST /address with pod links it in the allocation; the Address shows it', async () => {
    const rev = service.revision();
    assert.equal(
      (await call(app, 'POST', '/address', { name: 'p1', host: 'h1', pod: WEB })).status,
      200,
    );
    assert.equal(service.revision(), rev + 1, 'one transaction');
    const a = await call(app, 'GET', '/address?addressName=p1');
    assert.deepEqual((a.body as Record<string, unknown>)['pod'], { ...WEB, labels: {}, ports: [] });
    assert.deepEqual(await stored('pods/p1'), { ...WEB, labels: {}, ports: [] });
    const list = (await call(app, 'GET', '/addresses')).body as Array<Record<string, unknown>>;
    assert.deepEqual(list.find((x) => x['name'] === 'p1')?.['pod'], {
      ...WEB,
      labels: {},
      ports: [],
    });
  });

  test('an address without pod is stored as before and shows no pod', async () => {
    assert.equal((await call(app, 'POST', '/address', { name: 'p2', host: 'h1' })).status, 200);
    const a = (await call(app, 'GET', '/address?addressName=p2')).body as Record<string, unknown>;
    assert.equal('pod' in a, false);
    assert.equal(await stored('pods/p2'), undefined);
    assert.deepEqual(Object.keys((await stored('addresses/p2')) as object).sort(), [
      'host',
      'ip',
      'network',
    ]);
  });

  test('PUT /addresses/{name}/pod sets the link; the same body again writes nothing', async () => {
    const put = await call(app, 'PUT', '/addresses/p2/pod', LINK);
    assert.equal(put.status, 200, put.text);
    const body = put.body as Record<string, unknown>;
    assert.equal(body['name'], 'p2');
    assert.deepEqual(body['pod'], LINK);
    const rev = service.revision();
    // Same link, labels in another order: identical.
    const again = await call(app, 'PUT', '/addresses/p2/pod', {
      ...LINK,
      labels: { 'example.com/tier': 'front', app: 'web' },
    });
    assert.equal(again.status, 200);
    assert.deepEqual((again.body as Record<string, unknown>)['pod'], LINK);
    assert.equal(service.revision(), rev, 'no revision for an identical link');
    // A change is written.
    const changed = await call(app, 'PUT', '/addresses/p2/pod', {
      ...LINK,
      labels: { app: 'api' },
    });
    assert.equal(changed.status, 200);
    assert.equal(service.revision(), rev + 1);
    assert.deepEqual(await stored('pods/p2'), { ...LINK, labels: { app: 'api' } });
  });

  test('404 for an unknown address (also one named by its IP)', async () => {
    assertError(await call(app, 'PUT', '/addresses/nope/pod', WEB), 404, 'NotFound', /nope/);
    const ip = service.getAddress('p1').ip;
    assertError(await call(app, 'PUT', `/addresses/${ip}/pod`, WEB), 404, 'NotFound');
    assertError(await call(app, 'DELETE', '/addresses/nope/pod'), 404, 'NotFound');
  });

  test('refusals name the field and value and change nothing', async () => {
    const rev = service.revision();
    const before = JSON.stringify(service.listAddresses());
    const cases: Array<[string, unknown, RegExp]> = [
      ['/addresses/p2/pod', { ...LINK, namespace: 'Shop' }, /body\.namespace: "Shop"/],
      ['/addresses/p2/pod', { ...LINK, name: 'web_0' }, /body\.name: "web_0"/],
      ['/addresses/p2/pod', { ...LINK, uid: '' }, /body\.uid/],
      ['/addresses/p2/pod', { ...LINK, uid: 'u'.repeat(65) }, /body\.uid/],
      ['/addresses/p2/pod', { ...LINK, labels: { app: 'a b' } }, /body\.labels\.app: "a b"/],
      ['/addresses/p2/pod', { ...LINK, labels: { '-x': 'a' } }, /body\.labels.*"-x"/],
      ['/addresses/p2/pod', { ...LINK, labels: { ['a'.repeat(64)]: 'a' } }, /body\.labels/],
      [
        '/addresses/p2/pod',
        { ...LINK, ports: [{ port: 0, protocol: 'TCP' }] },
        /body\.ports\.0\.port/,
      ],
      [
        '/addresses/p2/pod',
        { ...LINK, ports: [{ port: 80, protocol: 'tcp' }] },
        /body\.ports\.0\.protocol/,
      ],
      [
        '/addresses/p2/pod',
        { ...LINK, ports: [{ name: 'http--x', port: 80, protocol: 'TCP' }] },
        /body\.ports\.0\.name: "http--x"/,
      ],
      [
        '/addresses/p2/pod',
        { ...LINK, ports: Array.from({ length: 257 }, () => ({ port: 1, protocol: 'TCP' })) },
        /body\.ports/,
      ],
      ['/addresses/p2/pod', { ...LINK, extra: 1 }, /body\.extra: unknown field/],
      [
        '/address',
        { name: 'p3', host: 'h1', pod: { namespace: 'shop' } },
        /body\.pod\.name: required/,
      ],
      [
        '/address',
        { name: 'p3', host: 'h1', pod: { ...WEB, labels: {} } },
        /body\.pod\.labels: unknown field/,
      ],
    ];
    for (const [url, body, details] of cases) {
      const method = url === '/address' ? 'POST' : 'PUT';
      assertError(await call(app, method, url, body), 400, 'InvalidInput', details);
    }
    assert.equal(service.revision(), rev);
    assert.equal(JSON.stringify(service.listAddresses()), before);
  });

  test('the service refuses a bad pod before the engine decides (no address left behind)', async () => {
    await assert.rejects(
      service.allocate({ name: 'p4', host: 'h1', pod: { namespace: 'x', name: '' } }),
      /pod\.name: "" must not be empty/,
    );
    assert.throws(() => service.getAddress('p4'), /p4/);
  });

  test('DELETE /addresses/{name}/pod removes the link; again, it writes nothing', async () => {
    const del = await call(app, 'DELETE', '/addresses/p2/pod');
    assert.equal(del.status, 200);
    assert.equal('pod' in (del.body as object), false);
    assert.equal(await stored('pods/p2'), undefined);
    const rev = service.revision();
    assert.equal((await call(app, 'DELETE', '/addresses/p2/pod')).status, 200);
    assert.equal(service.revision(), rev);
  });

  test('a release removes the pod link in the same transaction', async () => {
    assert.ok(await stored('pods/p1'));
    const rev = service.revision();
    assert.equal((await call(app, 'DELETE', '/address?addressName=p1')).status, 200);
    assert.equal(service.revision(), rev + 1, 'one transaction');
    assert.equal(await stored('pods/p1'), undefined);
    assert.equal(await stored('addresses/p1'), undefined);
    // The name allocated again carries no link of the old pod.
    assert.equal((await call(app, 'POST', '/address', { name: 'p1', host: 'h1' })).status, 200);
    assert.equal('pod' in service.getAddress('p1'), false);
  });
});

describe('namespaces', () => {
  test('PUT, GET, list sorted by name, identical PUT writes nothing, DELETE', async () => {
    const a = await call(app, 'PUT', '/namespaces/shop', { labels: { team: 'a', env: 'prod' } });
    assert.equal(a.status, 200, a.text);
    assert.deepEqual(a.body, { name: 'shop', labels: { env: 'prod', team: 'a' } });
    assert.equal((await call(app, 'PUT', '/namespaces/default', {})).status, 200);
    const rev = service.revision();
    assert.equal(
      (await call(app, 'PUT', '/namespaces/shop', { labels: { env: 'prod', team: 'a' } })).status,
      200,
    );
    assert.equal(service.revision(), rev, 'identical: no write');
    assert.deepEqual((await call(app, 'GET', '/namespaces')).body, [
      { name: 'default', labels: {} },
      { name: 'shop', labels: { env: 'prod', team: 'a' } },
    ]);
    assert.deepEqual((await call(app, 'GET', '/namespaces/default')).body, {
      name: 'default',
      labels: {},
    });
    assertError(await call(app, 'GET', '/namespaces/nope'), 404, 'NotFound', /nope/);
    const del = await call(app, 'DELETE', '/namespaces/default');
    assert.equal(del.status, 200);
    assert.equal(del.body, null);
    assertError(await call(app, 'DELETE', '/namespaces/default'), 404, 'NotFound');
    assert.deepEqual(await stored('namespaces/shop'), {
      name: 'shop',
      labels: { env: 'prod', team: 'a' },
    });
  });

  test('refusals name the field and value and change nothing', async () => {
    const rev = service.revision();
    assertError(
      await call(app, 'PUT', '/namespaces/Shop', {}),
      400,
      'InvalidInput',
      /params\.name: "Shop"/,
    );
    assertError(await call(app, 'PUT', '/namespaces/a.b', {}), 400, 'InvalidInput', /params\.name/);
    assertError(
      await call(app, 'PUT', '/namespaces/shop', { labels: { team: 'x'.repeat(64) } }),
      400,
      'InvalidInput',
      /body\.labels\.team/,
    );
    assertError(
      await call(app, 'PUT', '/namespaces/shop', { labels: {}, name: 'x' }),
      400,
      'InvalidInput',
      /body\.name: unknown field/,
    );
    assert.equal(service.revision(), rev);
  });
});

describe('hosts managed by', () => {
  test('POST /hosts takes managed_by; Host views show it; PATCH refuses it', async () => {
    const add = await call(app, 'POST', '/hosts', {
      name: 'h2',
      ip: '192.168.0.2',
      managed_by: 'romana-listener',
    });
    assert.equal(add.status, 200, add.text);
    const detail = (await call(app, 'GET', '/hosts/h2')).body as Record<string, unknown>;
    assert.equal(detail['managed_by'], 'romana-listener');
    const list = (await call(app, 'GET', '/hosts')).body as {
      hosts: Array<Record<string, unknown>>;
    };
    assert.equal(list.hosts.find((h) => h['name'] === 'h2')?.['managed_by'], 'romana-listener');
    assert.equal('managed_by' in list.hosts.find((h) => h['name'] === 'h1')!, false);
    const rev = service.revision();
    assertError(
      await call(app, 'PATCH', '/hosts/h2', { managed_by: 'someone' }),
      400,
      'InvalidInput',
      /body\.managed_by: "someone"/,
    );
    assert.equal(service.revision(), rev);
    // A patch of tags keeps it.
    const patched = await call(app, 'PATCH', '/hosts/h2', { tags: { role: 'x' } });
    assert.equal((patched.body as Record<string, unknown>)['managed_by'], 'romana-listener');
    assertError(
      await call(app, 'POST', '/hosts', { name: 'h3', ip: '192.168.0.3', managed_by: 'a b' }),
      400,
      'InvalidInput',
      /body\.managed_by/,
    );
  });
});
