/**
 * What applies to every route: content types, malformed JSON, unknown paths (404), wrong
 * methods (405), trailing slashes, request ids, and no request detached by a timeout.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, afterEach, beforeEach, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { makeCerts } from '../../../test/helpers/tls.ts';
import {
  assertError,
  call,
  type FaultyService,
  seededService,
} from '../../../test/helpers/service.ts';
import { buildApp, requestIds } from './app.ts';

let service: FaultyService;
let app: FastifyInstance;

beforeEach(async () => {
  service = await seededService();
  app = buildApp(service);
});

afterEach(async () => {
  await app.close();
  await service.close();
});

describe('request bodies', () => {
  const body = JSON.stringify({ name: 'pod-a', host: 'h1' });

  for (const type of [
    'application/json',
    'application/json; charset=utf-8',
    'application/json;charset=UTF-8',
    'application/vnd.romana.v1+json',
    'application/vnd.romana+json',
  ]) {
    test(`a JSON body sent as '${type}' is accepted`, async () => {
      const a = await call(app, 'POST', '/address', body, { 'content-type': type });
      assert.equal(a.status, 200, a.text);
      assert.equal(a.text, '"10.0.0.0"');
    });
  }

  test('a body without a Content-Type is read as JSON, as 2.x did', async () => {
    const res = await app.inject({ method: 'POST', url: '/address', payload: Buffer.from(body) });
    assert.equal(res.statusCode, 200, res.body);
  });

  test('other content types are refused with 415 and our error body', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
      const a = await call(app, 'POST', '/address', body, { 'content-type': type });
      assertError(a, 415, 'InvalidInput', new RegExp(`^content-type: '${type}' is not supported`));
    }
  });

  test('a body it cannot read as sent is refused with 415, not read as plain UTF-8 JSON', async () => {
    for (const [headers, details] of [
      [{ 'content-encoding': 'gzip' }, /^content-encoding: 'gzip' is not supported; send/],
      [{ 'content-encoding': 'br, gzip' }, /^content-encoding: 'br, gzip' is not supported/],
      [
        { 'content-type': 'application/json; charset=utf-16' },
        /^content-type: charset 'utf-16' is not supported; send UTF-8/,
      ],
      [{ 'content-type': 'application/json; charset="latin1"' }, /charset 'latin1'/],
    ] as const) {
      const a = await call(app, 'POST', '/address', body, {
        'content-type': 'application/json',
        ...headers,
      });
      assertError(a, 415, 'InvalidInput', details);
    }
    assert.deepEqual(service.listAddresses(), []);
    const plain = {
      'content-encoding': 'identity',
      'content-type': 'application/json; charset=us-ascii',
    };
    assert.equal((await call(app, 'POST', '/address', body, plain)).status, 200);
  });

  test('malformed JSON is a 400 with our error body (2.x sent 500)', async () => {
    const a = await call(app, 'POST', '/address', '{"name": "x",', {
      'content-type': 'application/json; charset=utf-8',
    });
    assertError(a, 400, 'InvalidInput', /^body: not valid JSON/);
    assert.equal(service.listAddresses().length, 0);
  });

  test('a body poisoning __proto__ is refused', async () => {
    const a = await call(
      app,
      'POST',
      '/address',
      '{"name":"x","host":"h1","__proto__":{"admin":true}}',
      {
        'content-type': 'application/json',
      },
    );
    assertError(a, 400, 'InvalidInput', /^body: a "__proto__" key/);
  });

  test('a JSON array where an object is expected names the body', async () => {
    assertError(
      await call(app, 'POST', '/hosts', [1]),
      400,
      'InvalidInput',
      /^body: must be object, got \[1\]$/,
    );
  });
});

describe('paths and methods', () => {
  test('an unknown path is a 404 JSON body with resource type URI and the path with its query', async () => {
    const a = await call(app, 'GET', '/nope/x?y=1');
    assertError(a, 404, 'NotFound', /GET \/nope\/x/);
    const b = a.body as Record<string, unknown>;
    assert.equal(b['resource_type'], 'URI');
    assert.equal(b['resource_id'], '/nope/x?y=1');
  });

  test('a known path with a wrong method is a 405 with an Allow header', async () => {
    const cases: Array<[string, string, string]> = [
      ['PUT', '/hosts', 'GET, HEAD, POST'],
      ['DELETE', '/networks', 'GET, HEAD'],
      ['POST', '/hosts/h1', 'DELETE, GET, HEAD, PATCH'],
      ['PUT', '/policies', 'DELETE, GET, HEAD, POST'],
      ['POST', '/watch', 'GET'],
      ['PUT', '/address/', 'DELETE, GET, HEAD, POST'],
    ];
    for (const [method, url, allow] of cases) {
      const res = await app.inject({ method: method as 'GET', url });
      assert.equal(res.statusCode, 405, `${method} ${url}: ${res.body}`);
      assert.equal(res.headers['allow'], allow, `${method} ${url}`);
      const b = JSON.parse(res.body) as Record<string, unknown>;
      assert.equal(b['status_code'], 405);
      assert.equal(b['resource_type'], 'URI');
    }
  });

  test('a trailing slash reaches the same route (2.x redirected)', async () => {
    assert.equal((await call(app, 'GET', '/hosts/')).status, 200);
    assert.equal((await call(app, 'GET', '/hosts/h1/')).status, 200);
  });

  test('HEAD works on GET routes', async () => {
    const res = await app.inject({ method: 'HEAD', url: '/hosts' });
    assert.equal(res.statusCode, 200);
    assert.equal(res.body, '');
  });
});

describe('request ids and timeouts', () => {
  test('every answer carries an x-request-id; a sane incoming one is kept', async () => {
    const a = await call(app, 'GET', '/hosts', undefined, { 'x-request-id': 'abc-123' });
    assert.equal(a.headers['x-request-id'], 'abc-123');
    const b = await call(app, 'GET', '/hosts', undefined, {
      'x-request-id': 'bad id\twith spaces',
    });
    const made = String(b.headers['x-request-id']);
    assert.match(made, /^[0-9a-f]{12}-[0-9a-z]+$/);
    const c = await call(app, 'GET', '/nope');
    const next = String(c.headers['x-request-id']);
    assert.match(next, /^[0-9a-f]{12}-[0-9a-z]+$/);
    // One prefix per process, a counter after it: never the same id twice.
    assert.equal(next.split('-')[0], made.split('-')[0]);
    assert.notEqual(next, made);
  });

  test('each process draws its own request id prefix', () => {
    const prefixes = new Set(Array.from({ length: 20 }, () => requestIds()().split('-')[0]));
    assert.equal(prefixes.size, 20);
  });

  test('a slow operation is answered when it completes, not cut off by a timeout (2.x: 503 after 500 ms)', async () => {
    const slow = Object.create(service) as FaultyService;
    slow.allocate = async (req) => {
      await new Promise((r) => setTimeout(r, 700));
      return service.allocate(req);
    };
    const slowApp = buildApp(slow);
    try {
      const a = await call(slowApp, 'POST', '/address', { name: 'pod-slow', host: 'h1' });
      assert.equal(a.status, 200, a.text);
      assert.equal(a.text, '"10.0.0.0"');
    } finally {
      await slowApp.close();
    }
  });
});

describe('logging', () => {
  test('logs are JSON lines with the request id, and a 500 logs its cause', async () => {
    const lines: string[] = [];
    const stream = { write: (s: string) => lines.push(s) };
    const logged = buildApp(service, { logger: { level: 'info', stream } });
    service.failures.set('listNetworks', new Error('disk on fire'));
    const r = await call(logged, 'GET', '/networks', undefined, { 'x-request-id': 'rid-7' });
    assert.equal(r.status, 500);
    await logged.close();
    const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const failure = records.find((r) => r['msg'] === 'internal error');
    assert.ok(failure, lines.join(''));
    assert.equal(failure['reqId'], 'rid-7');
    assert.match(JSON.stringify(failure['err']), /disk on fire/);
    assert.ok(
      records.every((r) => typeof r['level'] === 'number' && typeof r['time'] === 'number'),
    );
  });
});

describe('TLS', () => {
  test('with https options the app serves HTTPS (and only HTTPS)', async () => {
    const certs = makeCerts();
    after(() => certs.remove());
    const cert = certs.serverCert;
    const key = certs.serverKey;
    const tls = buildApp(service, { https: { cert: readFileSync(cert), key: readFileSync(key) } });
    await tls.listen({ host: '127.0.0.1', port: 0 });
    try {
      const port = (tls.server.address() as AddressInfo).port;
      const body = await new Promise<string>((resolve, reject) => {
        httpsGet(`https://127.0.0.1:${port}/hosts`, { ca: readFileSync(certs.ca) }, (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => resolve(text));
        }).on('error', reject);
      });
      assert.equal((JSON.parse(body) as { hosts: unknown[] }).hosts.length, 1);
      await assert.rejects(
        new Promise((resolve, reject) =>
          httpGet(`http://127.0.0.1:${port}/hosts`, resolve).on('error', reject),
        ),
      );
    } finally {
      await tls.close();
    }
  });
});
