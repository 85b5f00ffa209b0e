import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { RomanadApiError, RomanadClient, RomanadUnreachableError } from './index.ts';

interface Seen {
  method: string;
  url: string;
  auth: string | undefined;
  type: string | undefined;
  body: string;
}

/** A fake romanad that records requests and answers what the test queued. */
describe('RomanadClient', () => {
  const seen: Seen[] = [];
  let answer: { status: number; body: string; type?: string } = { status: 200, body: 'null' };
  let server: http.Server;
  let base: string;
  before(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({
          method: req.method ?? '',
          url: req.url ?? '',
          auth: req.headers.authorization,
          type: req.headers['content-type'],
          body,
        });
        if (req.url === '/slow') return; // never answers
        res.writeHead(answer.status, { 'content-type': answer.type ?? 'application/json' });
        res.end(answer.body);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  it('sends each route with its method, escaped path, query and JSON body', async () => {
    const c = new RomanadClient({ baseUrl: `${base}/`, token: 'secret-token-123456' });
    seen.length = 0;
    await c.getHost('a b/c');
    await c.removeHost('n1', true);
    await c.releaseAddress('10.0.0.1');
    await c.listAddresses();
    await c.listAddresses('h 1');
    await c.allocateAddress({ name: 'p', host: 'h' });
    await c.removeBlackout('10.1.0.0/24');
    await c.listBlocks('pods');
    assert.deepEqual(
      seen.map((s) => `${s.method} ${s.url}`),
      [
        'GET /hosts/a%20b%2Fc',
        'DELETE /hosts/n1?force=true',
        'DELETE /address?addressName=10.0.0.1',
        'GET /addresses',
        'GET /addresses?host=h+1',
        'POST /address',
        'DELETE /blackouts?cidr=10.1.0.0%2F24',
        'GET /networks/pods/blocks',
      ],
    );
    assert.ok(seen.every((s) => s.auth === 'Bearer secret-token-123456'));
    const post = seen[5]!;
    assert.deepEqual(
      [post.type, JSON.parse(post.body)],
      ['application/json', { name: 'p', host: 'h' }],
    );
    assert.equal(seen[0]!.type, undefined, 'no body, no content type');
  });

  it('resolves with the parsed body', async () => {
    answer = { status: 200, body: '"10.0.0.5"' };
    const c = new RomanadClient({ baseUrl: base });
    assert.equal(await c.allocateAddress({ name: 'p', host: 'h' }), '10.0.0.5');
    assert.equal(seen.at(-1)!.auth, undefined, 'no token, no header');
  });

  it('allocate resolves with the first IP; allocateAll with every one, IPv4 first', async () => {
    const c = new RomanadClient({ baseUrl: base });
    const req = { name: 'p', host: 'h' };
    answer = { status: 200, body: '"10.0.0.5"' };
    assert.equal(await c.allocate(req), '10.0.0.5');
    assert.deepEqual(await c.allocateAll(req), ['10.0.0.5']);
    answer = { status: 200, body: '{"ip":"10.0.0.5","ips":["10.0.0.5","fd00:10::5"]}' };
    assert.equal(await c.allocate(req), '10.0.0.5');
    assert.equal(await c.allocateAddress(req), '10.0.0.5');
    assert.deepEqual(await c.allocateAll(req), ['10.0.0.5', 'fd00:10::5']);
    answer = { status: 200, body: '{"ip":"fd00:10::5","ips":["fd00:10::5"]}' };
    assert.equal(await c.allocate(req), 'fd00:10::5');
    answer = { status: 200, body: 'null' };
  });

  it('throws RomanadApiError carrying status, code and details', async () => {
    answer = {
      status: 404,
      body: JSON.stringify({
        status_code: 404,
        code: 'NotFound',
        details: 'No host h9',
        resource_type: 'host',
        resource_id: 'h9',
      }),
    };
    const c = new RomanadClient({ baseUrl: base });
    await assert.rejects(c.getHost('h9'), (e: unknown) => {
      assert.ok(e instanceof RomanadApiError);
      assert.deepEqual(
        [e.status, e.code, e.details, e.resourceType, e.resourceId, e.request],
        [404, 'NotFound', 'No host h9', 'host', 'h9', `GET ${base}/hosts/h9`],
      );
      return true;
    });
  });

  it('reads an error answer that is not an error body as text', async () => {
    answer = { status: 502, body: 'bad gateway', type: 'text/plain' };
    await assert.rejects(new RomanadClient({ baseUrl: base }).listHosts(), (e: unknown) => {
      return e instanceof RomanadApiError && e.code === 'HTTP' && e.details === 'bad gateway';
    });
  });

  it('throws RomanadUnreachableError with the URL when nothing listens', async () => {
    const c = new RomanadClient({ baseUrl: 'http://127.0.0.1:1' });
    await assert.rejects(c.listHosts(), (e: unknown) => {
      return (
        e instanceof RomanadUnreachableError &&
        e.url === 'http://127.0.0.1:1' &&
        /ECONNREFUSED/.test(e.message)
      );
    });
  });

  it('gives up after timeoutMs without an answer', async () => {
    const c = new RomanadClient({ baseUrl: base, timeoutMs: 100 });
    await assert.rejects(c.call('GET', '/slow'), (e: unknown) => {
      return e instanceof RomanadUnreachableError && /no answer within 100 ms/.test(e.message);
    });
  });
});
