/**
 * Routes of romanad's API for hosts, the topology and blackouts, in-process with `inject()`,
 * over the real service on the memory store: 2.x paths and JSON shapes, and each route's error statuses.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp, type AppOptions } from './app.ts';
import {
  assertError,
  call,
  type FaultyService,
  H1_REVISION,
  seededService,
  TOPOLOGY,
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

describe('hosts and topology', () => {
  beforeEach(() => fresh());

  test('GET /hosts gives each host once, with tags, and the revision', async () => {
    const a = await call(app, 'GET', '/hosts');
    assert.equal(a.status, 200);
    assert.deepEqual(a.body, {
      hosts: [{ name: 'h1', ip: '192.168.0.1', agent_port: 9604, tags: null, k8s_info: null }],
      revision: H1_REVISION,
    });
  });

  test('POST /hosts answers null (2.x); GET /hosts/{name} then shows the placement', async () => {
    const a = await call(app, 'POST', '/hosts', {
      name: 'h2',
      ip: '192.168.0.2',
      tags: { rack: 'r2' },
      agent_port: 9604,
    });
    assert.equal(a.status, 200);
    assert.equal(a.text, 'null');
    const h = await call(app, 'GET', '/hosts/h2');
    assert.deepEqual(h.body, {
      name: 'h2',
      ip: '192.168.0.2',
      agent_port: 9604,
      tags: { rack: 'r2' },
      k8s_info: null,
      groups: [{ network: 'net1', group: 'rack-2', cidr: '10.0.128.0/17' }],
      address_count: 0,
    });
  });

  test('POST /hosts: 409 for a duplicate, 400 naming a bad field', async () => {
    assertError(
      await call(app, 'POST', '/hosts', { name: 'h1', ip: '192.168.0.1' }),
      409,
      'AlreadyExists',
    );
    assertError(
      await call(app, 'POST', '/hosts', { name: 'h3', ip: '192.168.0.3', tags: { rack: 1 } }),
      400,
      'InvalidInput',
      /^body\.tags\.rack: must be string, got 1$/,
    );
    assertError(
      await call(app, 'POST', '/hosts', { name: 'h3', ip: '192.168.0.3', agent_port: 'x' }),
      400,
      'InvalidInput',
      /body\.agent_port/,
    );
    assertError(
      await call(app, 'POST', '/hosts', { name: 'h3', ip: '300.1.1.1' }),
      400,
      'InvalidInput',
      /300\.1\.1\.1/,
    );
    assertError(
      await call(app, 'POST', '/hosts', { ip: '192.168.0.3' }),
      400,
      'InvalidInput',
      /^body\.name: required$/,
    );
  });

  test('GET /hosts/{name} answers 404 for an unknown host', async () => {
    assertError(await call(app, 'GET', '/hosts/h9'), 404, 'NotFound', /h9/);
  });

  test('DELETE /hosts/{name} refuses with 409 while the host holds addresses, unless ?force=true', async () => {
    await call(app, 'POST', '/address', { name: 'pod-a', host: 'h1' });
    assertError(await call(app, 'DELETE', '/hosts/h1'), 409, 'Conflict', /h1/);
    assertError(
      await call(app, 'DELETE', '/hosts/h1?force=yes'),
      400,
      'InvalidInput',
      /querystring\.force.*"yes"/,
    );
    const a = await call(app, 'DELETE', '/hosts/h1?force=true');
    assert.equal(a.status, 200);
    assert.deepEqual(a.body, {
      name: 'h1',
      ip: '192.168.0.1',
      releasedAddresses: ['pod-a'],
      releasedBlocks: ['10.0.0.0/28'],
    });
    assertError(await call(app, 'DELETE', '/hosts/h1'), 404, 'NotFound');
  });

  test('PATCH /hosts/{name} replaces tags and k8s info; null clears; an empty patch is 400', async () => {
    const a = await call(app, 'PATCH', '/hosts/h1', {
      tags: { zone: 'z1' },
      k8s_info: { node: 'n1' },
    });
    assert.equal(a.status, 200);
    assert.deepEqual((a.body as Record<string, unknown>)['tags'], { zone: 'z1' });
    assert.deepEqual((a.body as Record<string, unknown>)['k8s_info'], { node: 'n1' });
    const b = await call(app, 'PATCH', '/hosts/h1', { tags: null });
    assert.equal((b.body as Record<string, unknown>)['tags'], null);
    assert.deepEqual((b.body as Record<string, unknown>)['k8s_info'], { node: 'n1' });
    assertError(
      await call(app, 'PATCH', '/hosts/h1', {}),
      400,
      'InvalidInput',
      /^body: must not be empty/,
    );
    assertError(await call(app, 'PATCH', '/hosts/h9', { tags: {} }), 404, 'NotFound');
  });

  test('GET /topology gives a document that POST /topology takes back (answering null)', async () => {
    const t = await call(app, 'GET', '/topology');
    assert.equal(t.status, 200);
    assert.deepEqual((t.body as { networks: unknown }).networks, TOPOLOGY.networks);
    const a = await call(app, 'POST', '/topology', t.body);
    assert.equal(a.status, 200, a.text);
    assert.equal(a.text, 'null');
  });

  test('POST /topology: 400 for a malformed document, 422 for an invalid one, and nothing changes', async () => {
    assertError(
      await call(app, 'POST', '/topology', { networks: 'x', topologies: [] }),
      400,
      'InvalidInput',
      /^body\.networks: must be array, got "x"$/,
    );
    const bad = {
      networks: [
        { name: 'a', cidr: '10.0.0.0/8' },
        { name: 'b', cidr: '10.1.0.0/16' },
      ],
      topologies: [{ networks: ['a', 'b'], map: [] }],
    };
    const a = await call(app, 'POST', '/topology', bad);
    assertError(a, 422, 'InvalidInput', /already is contained/);
    assert.equal((a.body as Record<string, unknown>)['resource_type'], 'topology');
    assert.deepEqual((await call(app, 'GET', '/networks')).body, [
      { revision: TOPOLOGY_REVISION, id: 'net1', cidr: '10.0.0.0/16', block_mask: 28 },
    ]);
  });

  test('POST /topology takes documents above the 1 MiB general limit, up to its own', async () => {
    const padded = JSON.stringify(TOPOLOGY).replace('{', `{${' '.repeat(2 * 1024 * 1024)}`);
    const a = await call(app, 'POST', '/topology', padded, { 'content-type': 'application/json' });
    assert.equal(a.status, 200, a.text.slice(0, 200));
    const big = JSON.stringify({ name: 'x', host: 'h1' }).replace(
      '{',
      `{${' '.repeat(2 * 1024 * 1024)}`,
    );
    assertError(
      await call(app, 'POST', '/address', big, { 'content-type': 'application/json' }),
      413,
      'InvalidInput',
      /^body: Request body is too large$/,
    );
    const small = buildApp(service, { topologyBodyLimit: 1024 });
    try {
      assertError(
        await call(small, 'POST', '/topology', padded, { 'content-type': 'application/json' }),
        413,
        'InvalidInput',
      );
    } finally {
      await small.close();
    }
  });
});

describe('blackouts', () => {
  beforeEach(() => fresh());

  test('POST /blackouts answers the blackout; GET lists it; DELETE ?cidr= answers null, then 404', async () => {
    const a = await call(app, 'POST', '/blackouts', { cidr: '10.0.200.0/24' });
    assert.equal(a.status, 200);
    assert.deepEqual(a.body, { network: 'net1', cidr: '10.0.200.0/24' });
    assert.deepEqual((await call(app, 'GET', '/blackouts')).body, [
      { network: 'net1', cidr: '10.0.200.0/24' },
    ]);
    const d = await call(app, 'DELETE', '/blackouts?cidr=10.0.200.0/24');
    assert.equal(d.status, 200);
    assert.equal(d.text, 'null');
    assertError(await call(app, 'DELETE', '/blackouts?cidr=10.0.200.0/24'), 404, 'NotFound');
  });

  test('POST /blackouts: 400 for a bad CIDR or field, 404 outside every network, 422 for the whole network', async () => {
    assertError(
      await call(app, 'POST', '/blackouts', { cidr: '10.0.0.1/24' }),
      400,
      'InvalidInput',
      /10\.0\.0\.1\/24/,
    );
    assertError(
      await call(app, 'POST', '/blackouts', { cidr: 5 }),
      400,
      'InvalidInput',
      /^body\.cidr: must be string, got 5$/,
    );
    assertError(await call(app, 'POST', '/blackouts', { cidr: '172.16.0.0/24' }), 404, 'NotFound');
    assertError(
      await call(app, 'POST', '/blackouts', { cidr: '10.0.0.0/16' }),
      422,
      'InvalidInput',
      /entire network/,
    );
    assertError(
      await call(app, 'DELETE', '/blackouts'),
      400,
      'InvalidInput',
      /^querystring\.cidr: required$/,
    );
  });
});
