/**
 * The two answer shapes of `POST /address` (docs/ipv6.md): a bare string for an IPv4-only
 * allocation, an object with `ips` (IPv4 first) otherwise; and the views' `ips`. Over real
 * HTTP against a server answering each shape.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { CniError } from './errors.ts';
import { allocatedIps, ipsOf, Romanad } from './romanad.ts';

describe('allocation answers of both shapes', () => {
  let answer: unknown = '10.0.0.5';
  let server: http.Server;
  let api: Romanad;
  before(async () => {
    server = http.createServer((req, res) => {
      req.resume().on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(answer));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    api = new Romanad({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
  });
  after(() => server.close());
  const req = { name: 'a.web.abcdef01', host: 'h1', tenant: 'web', segment: 'default' };

  it('reads a bare string as the one IPv4 address', async () => {
    answer = '10.0.0.5';
    assert.deepEqual(await api.allocateAll(req), ['10.0.0.5']);
    assert.equal(await api.allocate(req), '10.0.0.5');
  });

  it('reads an object as every address, IPv4 first; allocate keeps the first', async () => {
    answer = { ip: '10.0.0.5', ips: ['10.0.0.5', 'fd00:10::5'] };
    assert.deepEqual(await api.allocateAll(req), ['10.0.0.5', 'fd00:10::5']);
    assert.equal(await api.allocate(req), '10.0.0.5');
    answer = { ip: 'fd00:10::5', ips: ['fd00:10::5'] };
    assert.deepEqual(await api.allocateAll(req), ['fd00:10::5']);
  });

  it('refuses an answer carrying no address, quoting it', async () => {
    for (const bad of [{ ip: '10.0.0.5' }, { ips: [] }, { ips: [5] }, null, '']) {
      answer = bad;
      await assert.rejects(api.allocateAll(req), (e: unknown) => {
        assert.ok(e instanceof CniError);
        assert.equal(e.message, 'romanad answered no address');
        return true;
      });
    }
  });

  it('takes the ips of a view, or its ip from a romanad without them', () => {
    const view = { name: 'a', ip: '10.0.0.5', host: 'h1', tenant: 't', segment: 's' };
    assert.deepEqual(ipsOf(view), ['10.0.0.5']);
    const ips = [
      { ip: '10.0.0.5', network: 'v4', block: '10.0.0.0/29' },
      { ip: 'fd00:10::5', network: 'v6', block: 'fd00:10::/120' },
    ];
    assert.deepEqual(ipsOf({ ...view, ips }), ['10.0.0.5', 'fd00:10::5']);
  });

  it('allocatedIps keeps any non-empty list of strings as it is, and nothing else', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ minLength: 1 }), { minLength: 1, maxLength: 3 }), (ips) => {
        assert.deepEqual(allocatedIps({ ip: ips[0], ips }), ips);
      }),
    );
    assert.equal(allocatedIps(5), undefined);
    assert.equal(allocatedIps({ ips: ['10.0.0.5', ''] }), undefined);
  });
});
