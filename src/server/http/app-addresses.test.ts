/**
 * Routes of romanad's API for networks, blocks and addresses, in-process with `inject()`, over
 * the real service over the memory store: 2.x paths and JSON shapes, and each route's error statuses.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { noAvailableIp } from '../../errors.ts';
import { buildApp, type AppOptions } from './app.ts';
import {
  assertError,
  call,
  type FaultyService,
  H1_REVISION,
  realService,
  seededService,
  TOPOLOGY_REVISION,
} from '../../../test/helpers/service.ts';

let service: FaultyService;
let app: FastifyInstance;

async function fresh(opts: AppOptions = {}): Promise<void> {
  service = await seededService();
  app = buildApp(service, opts);
}

afterEach(async () => {
  await app.close();
  await service.close();
});

describe('networks and blocks', () => {
  beforeEach(() => fresh());

  test('GET /networks lists each network with revision, id and cidr', async () => {
    const a = await call(app, 'GET', '/networks');
    assert.equal(a.status, 200);
    assert.match(String(a.headers['content-type']), /^application\/json; charset=utf-8/);
    assert.deepEqual(a.body, [
      { revision: TOPOLOGY_REVISION, id: 'net1', cidr: '10.0.0.0/16', block_mask: 28 },
    ]);
  });

  test('GET /blocks and GET /networks/{network}/blocks give revision and blocks', async () => {
    await call(app, 'POST', '/address', { name: 'pod-a', host: 'h1', tenant: 't', segment: 's' });
    const want = {
      revision: H1_REVISION + 1, // the allocation's
      cidr: '10.0.0.0/28',
      network: 'net1',
      tenant: 't',
      segment: 's',
      host: 'h1',
      allocated_ip_count: 1,
    };
    const all = await call(app, 'GET', '/blocks');
    assert.equal(all.status, 200);
    assert.deepEqual((all.body as { blocks: unknown[] }).blocks, [want]);
    assert.equal(typeof (all.body as { revision: number }).revision, 'number');
    const one = await call(app, 'GET', '/networks/net1/blocks');
    assert.deepEqual((one.body as { blocks: unknown[] }).blocks, [want]);
  });

  test('an unknown network answers 404 naming it (2.x answered null)', async () => {
    const a = await call(app, 'GET', '/networks/nope/blocks');
    assertError(a, 404, 'NotFound', /nope/);
    assert.equal((a.body as Record<string, unknown>)['resource_type'], 'network');
    assert.equal((a.body as Record<string, unknown>)['resource_id'], 'nope');
  });
});

describe('addresses', () => {
  beforeEach(() => fresh());

  test('POST /address answers the IP as a JSON string, as 2.x', async () => {
    const a = await call(app, 'POST', '/address', {
      name: 'pod-a',
      host: 'h1',
      tenant: 't',
      segment: 's',
    });
    assert.equal(a.status, 200);
    assert.equal(a.text, '"10.0.0.0"');
    assert.match(String(a.headers['content-type']), /^application\/json/);
  });

  test('POST /address refuses an empty name or host, naming the field', async () => {
    assertError(
      await call(app, 'POST', '/address', { name: '', host: 'h1' }),
      400,
      'InvalidInput',
      /^body\.name: required, must not be empty$/,
    );
    assertError(
      await call(app, 'POST', '/address', { name: 'x', host: '' }),
      400,
      'InvalidInput',
      /^body\.host: required, must not be empty$/,
    );
  });

  test('POST /address names a missing or mistyped field and its value', async () => {
    assertError(
      await call(app, 'POST', '/address', { name: 'x' }),
      400,
      'InvalidInput',
      /^body\.host: required$/,
    );
    assertError(
      await call(app, 'POST', '/address', { name: 5, host: 'h1' }),
      400,
      'InvalidInput',
      /^body\.name: must be string, got 5$/,
    );
    assertError(
      await call(app, 'POST', '/address', { name: 'x', host: 'h1', tennant: 't' }),
      400,
      'InvalidInput',
      /^body\.tennant: unknown field/,
    );
    assertError(await call(app, 'POST', '/address'), 400, 'InvalidInput', /^body: required/);
    assert.equal(service.listAddresses().length, 0);
  });

  test('POST /address: 409 for a name in use, 404 for an unknown host, 507 when space runs out', async () => {
    await call(app, 'POST', '/address', { name: 'pod-a', host: 'h1' });
    const dup = await call(app, 'POST', '/address', { name: 'pod-a', host: 'h1' });
    assertError(dup, 409, 'AlreadyExists', /pod-a/);
    assertError(
      await call(app, 'POST', '/address', { name: 'x', host: 'h9' }),
      404,
      'NotFound',
      /h9/,
    );
    service.failures.set('allocate', noAvailableIp());
    assertError(
      await call(app, 'POST', '/address', { name: 'y', host: 'h1' }),
      507,
      'NoAvailableIP',
      /No available IP/,
    );
  });

  test('a full network answers 507 from the engine itself', async () => {
    const s = await realService({
      initialTopology: {
        networks: [{ name: 'tiny', cidr: '10.9.0.0/30', block_mask: 30 }],
        topologies: [{ networks: ['tiny'], map: [{ name: 'g' }] }],
      },
    });
    const small = buildApp(s);
    try {
      await s.addHost({ name: 'h', ip: '192.168.0.9' });
      for (let i = 0; i < 4; i++)
        assert.equal(
          (await call(small, 'POST', '/address', { name: `p${i}`, host: 'h' })).status,
          200,
        );
      assertError(
        await call(small, 'POST', '/address', { name: 'p4', host: 'h' }),
        507,
        'NoAvailableIP',
      );
    } finally {
      await small.close();
      await s.close();
    }
  });

  test('GET /address?addressName= gives one address by name or IP', async () => {
    await call(app, 'POST', '/address', { name: 'pod-a', host: 'h1', tenant: 't', segment: 's' });
    const want = {
      name: 'pod-a',
      ip: '10.0.0.0',
      host: 'h1',
      tenant: 't',
      segment: 's',
      network: 'net1',
      block: '10.0.0.0/28',
      ips: [{ ip: '10.0.0.0', network: 'net1', block: '10.0.0.0/28' }],
    };
    assert.deepEqual((await call(app, 'GET', '/address?addressName=pod-a')).body, want);
    assert.deepEqual((await call(app, 'GET', '/address?addressName=10.0.0.0')).body, want);
    assertError(await call(app, 'GET', '/address?addressName=nope'), 404, 'NotFound');
    assertError(
      await call(app, 'GET', '/address'),
      400,
      'InvalidInput',
      /^querystring\.addressName: required$/,
    );
  });

  test('DELETE /address?addressName= answers null, then 404', async () => {
    await call(app, 'POST', '/address', { name: 'pod-a', host: 'h1' });
    const a = await call(app, 'DELETE', '/address?addressName=pod-a');
    assert.equal(a.status, 200);
    assert.equal(a.text, 'null');
    const again = await call(app, 'DELETE', '/address?addressName=pod-a');
    assertError(again, 404, 'NotFound', /pod-a/);
    assert.equal((again.body as Record<string, unknown>)['resource_type'], 'address');
  });

  test('DELETE /address accepts an empty body sent with a JSON content type, as 2.x clients do', async () => {
    await call(app, 'POST', '/address', { name: 'pod-a', host: 'h1' });
    const a = await call(app, 'DELETE', '/address?addressName=pod-a', '', {
      'content-type': 'application/json',
    });
    assert.equal(a.status, 200, a.text);
  });

  test('GET /addresses lists every address, or those of one host', async () => {
    await call(app, 'POST', '/hosts', { name: 'h2', ip: '192.168.0.2' });
    await call(app, 'POST', '/address', { name: 'pod-a', host: 'h1' });
    await call(app, 'POST', '/address', { name: 'pod-b', host: 'h2' });
    const names = (a: { body: unknown }) =>
      (a.body as Array<{ name: string }>).map((x) => x.name).sort();
    assert.deepEqual(names(await call(app, 'GET', '/addresses')), ['pod-a', 'pod-b']);
    assert.deepEqual(names(await call(app, 'GET', '/addresses?host=h2')), ['pod-b']);
    assert.deepEqual(names(await call(app, 'GET', '/addresses?host=h9')), []);
  });
});
