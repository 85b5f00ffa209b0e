/**
 * Routes of romanad's API for policies, and the probes, metrics and error mapping, in-process
 * with `inject()`, over the real service on the memory store; and the service's watch log.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { isRomanaError, RomanaError } from '../../errors.ts';
import { buildApp, type AppOptions } from './app.ts';
import {
  assertError,
  call,
  type FaultyService,
  H1_REVISION,
  seededService,
} from '../../../test/helpers/service.ts';
import type { WatchEvent } from '../state/service.ts';

let service: FaultyService;
let app: FastifyInstance;

async function fresh(opts: AppOptions = {}): Promise<void> {
  service = await seededService();
  app = buildApp(service, opts);
}

async function closeBoth(): Promise<void> {
  await app.close();
  await service.close();
}

describe('policies', () => {
  beforeEach(() => fresh());
  afterEach(closeBoth);
  const policy = {
    id: 'p1',
    direction: 'ingress',
    applied_to: [{ tenant_id: 't' }],
    ingress: [{ peers: [{ peer: 'any' }], rules: [{ protocol: 'tcp', ports: [80] }] }],
  };

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
      /^body: Request must either be to \/policies\/\{policyID\} or have a body\.$/,
    );
    assertError(
      await call(app, 'DELETE', '/policies', {}),
      422,
      'InvalidInput',
      /^body\.id: Policy ID not found in input$/,
    );
    assertError(await call(app, 'DELETE', '/policies', { id: 'zz' }), 404, 'NotFound');
    const a = await call(app, 'DELETE', '/policies', { id: 'p1' });
    assert.equal(a.status, 200);
    assert.equal(a.text, 'null');
    assert.deepEqual((await call(app, 'GET', '/policies')).body, []);
  });
});

describe('probes, metrics and failures', () => {
  beforeEach(() => fresh());
  afterEach(closeBoth);

  test('/healthz answers 200; /readyz answers 503 until the service is ready', async () => {
    assert.deepEqual((await call(app, 'GET', '/healthz')).body, { status: 'ok' });
    service.readyOverride = false;
    assertError(await call(app, 'GET', '/readyz'), 503, 'Unavailable', /not ready/);
    assert.equal((await call(app, 'GET', '/healthz')).status, 200);
    service.readyOverride = undefined;
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
    try {
      await call(app, 'GET', '/hosts');
      const m = await call(other, 'GET', '/metrics');
      assert.doesNotMatch(m.text, /route="\/hosts"/);
    } finally {
      await other.close();
    }
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

test('the service replays its log from a revision and refuses compacted ones', async () => {
  const s = await seededService();
  try {
    await s.allocate({ name: 'pod-a', host: 'h1' });
    const seen: WatchEvent[] = [];
    const h = s.watch(['blocks', 'hosts'], H1_REVISION, (e) => seen.push(e), assert.fail);
    await Promise.resolve();
    h.close();
    assert.deepEqual(
      seen.map((e) => [e.revision, e.kind]),
      [
        [H1_REVISION, 'hosts'],
        [H1_REVISION + 1, 'blocks'],
      ],
    );
  } finally {
    await s.close();
  }
  // The real service keeps `eventCapacity` events; older revisions are refused at once.
  const small = await seededService({ eventCapacity: 2 });
  try {
    for (const name of ['pod-a', 'pod-b', 'pod-c']) await small.allocate({ name, host: 'h1' });
    assert.throws(
      () =>
        small.watch(
          ['blocks'],
          1,
          () => assert.fail('no event expected'),
          () => assert.fail('refused at once, not through onError'),
        ),
      (e: unknown) => isRomanaError(e, 'Compacted') && /compacted/.test(e.message),
    );
    assert.equal(small.openWatches, 0);
  } finally {
    await small.close();
  }
});
