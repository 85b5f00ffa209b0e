/**
 * During an upgrade the plugin may be newer than romanad. A romanad from before pod links
 * refuses the allocation's `pod` field as unknown, with the body below (its answer to any
 * unknown body field, e.g. `body.tennant: unknown field` in its own tests): the plugin then
 * allocates without it. Any other refusal stands.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { CniError } from './errors.ts';
import { Romanad } from './romanad.ts';

describe('romana-cni against a romanad older than pod links', () => {
  const bodies: Array<Record<string, unknown>> = [];
  let server: http.Server;
  let url = '';
  before(async () => {
    server = http.createServer((req, res) => {
      let text = '';
      req.on('data', (c: Buffer) => (text += c.toString()));
      req.on('end', () => {
        const body = JSON.parse(text) as Record<string, unknown>;
        bodies.push(body);
        const refuse = (details: string) => {
          res.writeHead(400, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ status_code: 400, code: 'InvalidInput', details }));
        };
        if ('pod' in body)
          return refuse(`body.pod: unknown field; known: name, host, tenant, segment`);
        if (body['host'] === 'nowhere') return refuse(`body.host: 'nowhere' is not a name`);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify('10.0.0.5'));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => server.close());

  it('allocates again without the pod when romanad does not know the field', async () => {
    bodies.length = 0;
    const api = new Romanad({ url });
    const pod = { namespace: 'web', name: 'a', uid: 'u1' };
    const req = { name: 'a.web.abcdef01', host: 'h1', tenant: 'web', segment: 'default' };
    assert.equal(await api.allocate({ ...req, pod }), '10.0.0.5');
    assert.deepEqual(bodies, [{ ...req, pod }, req]);
  });

  it('keeps any other refusal, and asks once', async () => {
    bodies.length = 0;
    const api = new Romanad({ url });
    const req = { name: 'b.web.abcdef01', host: 'nowhere', tenant: 'web', segment: 'default' };
    await assert.rejects(api.allocate(req), (e: unknown) => {
      assert.ok(e instanceof CniError);
      assert.match(String(e.details ?? e.message), /nowhere/);
      return true;
    });
    assert.equal(bodies.length, 1);
  });
});
