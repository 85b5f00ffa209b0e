/**
 * Every route of romanad's API, in-process with `inject()`, over the in-memory service: 2.x
 * paths and JSON shapes, the new routes, and each route's error statuses.
 */
import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { noAvailableIp, RomanaError } from '../errors.ts';
import { buildApp, type AppOptions } from './app.ts';
import {
  assertError,
  call,
  InMemoryService,
  seededService,
  TOPOLOGY,
} from './in-memory-service.test.ts';
import type { WatchEvent } from './service.ts';

let service: InMemoryService;
let app: FastifyInstance;

async function fresh(opts: AppOptions = {}): Promise<void> {
  service = await seededService();
  app = buildApp(service, opts);
}

describe('networks and blocks', () => {
  beforeEach(() => fresh());

  test('GET /networks lists each network with revision, id and cidr', async () => {
    const a = await call(app, 'GET', '/networks');
    assert.equal(a.status, 200);
    assert.match(String(a.headers['content-type']), /^application\/json; charset=utf-8/);
    assert.deepEqual(a.body, [{ revision: 1, id: 'net1', cidr: '10.0.0.0/16', block_mask: 28 }]);
  });

  test('GET /blocks and GET /networks/{network}/blocks give revision and blocks', async () => {
    await call(app, 'POST', '/address', { name: 'pod-a', host: 'h1', tenant: 't', segment: 's' });
    const want = {
      revision: 1,
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

  test('POST /address refuses an empty name or host with 2.x messages', async () => {
    assertError(
      await call(app, 'POST', '/address', { name: '', host: 'h1' }),
      400,
      'InvalidInput',
      /^Name required$/,
    );
    assertError(
      await call(app, 'POST', '/address', { name: 'x', host: '' }),
      400,
      'InvalidInput',
      /^Host required$/,
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
    const s = new InMemoryService();
    await s.updateTopology({
      networks: [{ name: 'tiny', cidr: '10.9.0.0/30', block_mask: 30 }],
      topologies: [{ networks: ['tiny'], map: [{ name: 'g' }] }],
    });
    await s.addHost({ name: 'h', ip: '192.168.0.9' });
    const small = buildApp(s);
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

describe('hosts and topology', () => {
  beforeEach(() => fresh());

  test('GET /hosts gives each host once, with tags, and the revision', async () => {
    const a = await call(app, 'GET', '/hosts');
    assert.equal(a.status, 200);
    assert.deepEqual(a.body, {
      hosts: [{ name: 'h1', ip: '192.168.0.1', agent_port: 9604, tags: null, k8s_info: null }],
      revision: 2,
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
      { revision: 1, id: 'net1', cidr: '10.0.0.0/16', block_mask: 28 },
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
      /too large/,
    );
    const small = buildApp(service, { topologyBodyLimit: 1024 });
    assertError(
      await call(small, 'POST', '/topology', padded, { 'content-type': 'application/json' }),
      413,
      'InvalidInput',
    );
  });
});

describe('policies', () => {
  beforeEach(() => fresh());
  const policy = { id: 'p1', direction: 'ingress', applied_to: [{ tenant_id: 't' }], ingress: [] };

  test('POST /policies answers null; GET /policies and GET /policies/{id} return it (2.x bug fixed)', async () => {
    const a = await call(app, 'POST', '/policies', policy);
    assert.equal(a.status, 200);
    assert.equal(a.text, 'null');
    assert.deepEqual((await call(app, 'GET', '/policies')).body, [policy]);
    const one = await call(app, 'GET', '/policies/p1');
    assert.equal(one.status, 200);
    assert.deepEqual(one.body, policy);
    assertError(await call(app, 'GET', '/policies/zz'), 404, 'NotFound', /zz/);
  });

  test('POST /policies answers 422 for an invalid policy and 400 for a mistyped id', async () => {
    assertError(
      await call(app, 'POST', '/policies', { id: 'p2' }),
      422,
      'InvalidInput',
      /applied_to/,
    );
    assertError(
      await call(app, 'POST', '/policies', { id: 7 }),
      400,
      'InvalidInput',
      /^body\.id: must be string, got 7$/,
    );
    assert.deepEqual((await call(app, 'GET', '/policies')).body, []);
  });

  test('DELETE /policies/{id} answers null, then 404 with resource type policy', async () => {
    await call(app, 'POST', '/policies', policy);
    const a = await call(app, 'DELETE', '/policies/p1');
    assert.equal(a.status, 200);
    assert.equal(a.text, 'null');
    const b = await call(app, 'DELETE', '/policies/p1');
    assertError(b, 404, 'NotFound');
    assert.equal((b.body as Record<string, unknown>)['resource_type'], 'policy');
    assert.equal((b.body as Record<string, unknown>)['resource_id'], 'p1');
  });

  test('DELETE /policies with a body keeps its three 2.x errors: 400, 422, 404', async () => {
    await call(app, 'POST', '/policies', policy);
    assertError(
      await call(app, 'DELETE', '/policies'),
      400,
      'InvalidInput',
      /^Request must either be to \/policies\/\{policyID\} or have a body\.$/,
    );
    assertError(
      await call(app, 'DELETE', '/policies', {}),
      422,
      'InvalidInput',
      /^Policy ID not found in input$/,
    );
    assertError(await call(app, 'DELETE', '/policies', { id: 'zz' }), 404, 'NotFound');
    const a = await call(app, 'DELETE', '/policies', { id: 'p1' });
    assert.equal(a.status, 200);
    assert.equal(a.text, 'null');
    assert.deepEqual((await call(app, 'GET', '/policies')).body, []);
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

describe('probes, metrics and failures', () => {
  beforeEach(() => fresh());

  test('/healthz answers 200; /readyz answers 503 until the service is ready', async () => {
    assert.deepEqual((await call(app, 'GET', '/healthz')).body, { status: 'ok' });
    service.isReady = false;
    assertError(await call(app, 'GET', '/readyz'), 503, 'Unavailable', /not ready/);
    assert.equal((await call(app, 'GET', '/healthz')).status, 200);
    service.isReady = true;
    const r = await call(app, 'GET', '/readyz');
    assert.equal(r.status, 200);
    assert.equal((r.body as Record<string, unknown>)['status'], 'ready');
  });

  test('/metrics exposes request counts by route pattern and the state gauges', async () => {
    await call(app, 'POST', '/address', { name: 'pod-a', host: 'h1' });
    await call(app, 'GET', '/hosts/h9');
    await call(app, 'GET', '/no/such/path');
    const m = await call(app, 'GET', '/metrics');
    assert.equal(m.status, 200);
    assert.match(String(m.headers['content-type']), /^text\/plain/);
    assert.match(
      m.text,
      /romanad_http_requests_total\{route="\/address",method="POST",status="200"\} 1/,
    );
    assert.match(
      m.text,
      /romanad_http_requests_total\{route="\/hosts\/:name",method="GET",status="404"\} 1/,
    );
    assert.match(
      m.text,
      /romanad_http_requests_total\{route="unmatched",method="GET",status="404"\} 1/,
    );
    assert.match(
      m.text,
      /romanad_http_request_duration_seconds_bucket\{le="0.005",route="\/address",method="POST"\}/,
    );
    assert.match(m.text, /romanad_addresses_allocated 1/);
    assert.match(m.text, /romanad_hosts 1/);
    assert.match(m.text, /romanad_blocks 1/);
    assert.match(m.text, /romanad_ready 1/);
  });

  test('two apps in one process keep separate metrics', async () => {
    const other = buildApp(service);
    await call(app, 'GET', '/hosts');
    const m = await call(other, 'GET', '/metrics');
    assert.doesNotMatch(m.text, /route="\/hosts"/);
  });

  test('an unexpected error is a 500 with a generic message; the cause is not leaked', async () => {
    service.failures.set('listNetworks', new Error('secret internals at /var/lib/x'));
    const a = await call(app, 'GET', '/networks', undefined, { 'x-request-id': 'req-42' });
    assertError(a, 500, 'Internal', /request id req-42/);
    assert.doesNotMatch(a.text, /secret/);
    assert.equal(a.headers['x-request-id'], 'req-42');
  });

  test('an Internal error from the service is answered generically too', async () => {
    service.failures.set(
      'listNetworks',
      new RomanaError('Internal', 'invariant broken in block 10.0.0.0/28'),
    );
    const a = await call(app, 'GET', '/networks');
    assertError(a, 500, 'Internal', /request id/);
    assert.doesNotMatch(a.text, /invariant/);
  });

  test('a store outage is a 503 and a conflict a 409, from the error code', async () => {
    service.failures.set(
      'allocate',
      new RomanaError('Unavailable', 'etcd unreachable: 127.0.0.1:2379'),
    );
    assertError(
      await call(app, 'POST', '/address', { name: 'x', host: 'h1' }),
      503,
      'Unavailable',
      /etcd unreachable/,
    );
    service.failures.set('addHost', new RomanaError('Conflict', 'changed under us'));
    assertError(
      await call(app, 'POST', '/hosts', { name: 'h3', ip: '192.168.0.3' }),
      409,
      'Conflict',
    );
  });
});

test('the in-memory service replays its log from a revision and refuses compacted ones', async () => {
  const s = await seededService();
  await s.allocate({ name: 'pod-a', host: 'h1' });
  const seen: WatchEvent[] = [];
  const h = s.watch(['blocks', 'hosts'], 2, (e) => seen.push(e), assert.fail);
  await Promise.resolve();
  h.close();
  assert.deepEqual(
    seen.map((e) => [e.revision, e.kind]),
    [
      [2, 'hosts'],
      [3, 'blocks'],
    ],
  );
  s.compactedBefore = 3;
  const errors: Error[] = [];
  s.watch(
    ['blocks'],
    1,
    () => assert.fail('no event expected'),
    (e) => errors.push(e),
  );
  await Promise.resolve();
  assert.match(errors[0]!.message, /compacted/);
});
