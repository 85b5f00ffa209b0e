/**
 * Every route of romanad over a real process: HTTPS with bearer tokens of each role, every
 * success shape and error status, and 503 when its etcd is down.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startEtcd } from '../helpers/etcd.ts';
import { request, startRomanad, type Romanad } from '../helpers/romanad.ts';
import { makeCerts, type TestCerts } from '../helpers/tls.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const ADMIN = 'admin-token-0123456789abcdef';
const NODE = 'node-token-0123456789abcdef';
const READER = 'reader-token-0123456789abcdef';

describe('romanad routes over HTTPS with tokens', () => {
  let certs: TestCerts;
  let d: Romanad;
  let ca: Buffer;
  /** `token: ''` sends none. */
  const call = (method: string, p: string, body?: unknown, token = ADMIN) =>
    request(`${d.url}${p}`, method, body, { token, ca });
  const expect = async (
    method: string,
    p: string,
    body: unknown,
    status: number,
    token?: string,
  ) => {
    const r = await call(method, p, body, token);
    assert.equal(r.status, status, `${method} ${p}: ${JSON.stringify(r.body)}`);
    return r.body;
  };

  before(async () => {
    certs = makeCerts();
    ca = readFileSync(certs.ca);
    const tokens = path.join(certs.dir, 'tokens.yaml');
    writeFileSync(
      tokens,
      `- {token: ${ADMIN}, role: admin}\n- {token: ${NODE}, role: node}\n- {token: ${READER}, role: read-only}\n`,
      { mode: 0o600 },
    );
    d = await startRomanad([
      '--store',
      'memory:',
      '--initial-topology-file',
      path.join(ROOT, 'examples/topology.json'),
      '--token-file',
      tokens,
      '--tls-cert',
      certs.serverCert,
      '--tls-key',
      certs.serverKey,
    ]);
  });
  after(async () => {
    await d?.stop();
    certs?.remove();
  });

  it('serves https only, and checks the token and its role', async () => {
    assert.match(d.url, /^https:\/\//);
    assert.equal((await call('GET', '/networks', undefined, '')).status, 401);
    assert.equal((await call('GET', '/networks', undefined, 'not-a-token-at-all-xx')).status, 401);
    await expect('GET', '/healthz', undefined, 200, '');
    await expect('GET', '/readyz', undefined, 200, '');
    await expect('POST', '/hosts', { name: 'h-ro', ip: '192.168.9.9' }, 403, READER);
    await expect('POST', '/topology', {}, 403, NODE);
  });

  it('serves every route with its 2.x shape, and every error status', async () => {
    const nets = (await expect('GET', '/networks', undefined, 200, READER)) as Array<{
      id: string;
    }>;
    assert.equal(nets[0]!.id, 'pods');
    assert.equal(
      await expect(
        'POST',
        '/hosts',
        { name: 'n1', ip: '192.168.1.1', tags: { zone: 'a', rack: 'a1' } },
        200,
        NODE,
      ),
      null,
    );
    await expect('POST', '/hosts', { name: 'n1', ip: '192.168.1.2' }, 409, NODE);
    await expect(
      'POST',
      '/hosts',
      { name: 'n2', ip: '192.168.1.2', tags: { zone: 'zz' } },
      200,
      NODE,
    );
    await expect('POST', '/hosts', { name: 'bad name!', ip: '192.168.1.3' }, 400, NODE);
    assert.deepEqual(
      (
        (await expect('GET', '/hosts', undefined, 200, READER)) as {
          hosts: Array<{ name: string }>;
        }
      ).hosts.map((h) => h.name),
      ['n1', 'n2'],
    );
    assert.equal(
      ((await expect('GET', '/hosts/n1', undefined, 200, READER)) as { name: string }).name,
      'n1',
    );
    await expect('GET', '/hosts/ghost', undefined, 404, READER);
    await expect('PATCH', '/hosts/n1', { tags: { zone: 'a', rack: 'a1', x: 'y' } }, 200, NODE);
    await expect('PATCH', '/hosts/n1', { tags: { zone: 'b' } }, 422, NODE);
    assert.equal(
      await expect(
        'POST',
        '/address',
        { name: 'p1', host: 'n1', tenant: 'default', segment: 'web' },
        200,
        NODE,
      ),
      '10.112.0.0',
    );
    await expect('POST', '/address', { name: 'p1', host: 'n1' }, 409, NODE);
    await expect('POST', '/address', { host: 'n1' }, 400, NODE);
    await expect('POST', '/address', { name: 'p2', host: 'ghost' }, 404, NODE);
    const one = (await expect('GET', '/address?addressName=p1', undefined, 200, READER)) as Record<
      string,
      unknown
    >;
    assert.deepEqual(one, {
      name: 'p1',
      ip: '10.112.0.0',
      host: 'n1',
      tenant: 'default',
      segment: 'web',
      network: 'pods',
      block: '10.112.0.0/28',
      // every family's address (one here: the topology has only an IPv4 network)
      ips: [{ ip: '10.112.0.0', network: 'pods', block: '10.112.0.0/28' }],
    });
    assert.equal(
      ((await expect('GET', '/addresses?host=n1', undefined, 200, READER)) as unknown[]).length,
      1,
    );
    const blocks = (await expect('GET', '/blocks', undefined, 200, READER)) as {
      revision: number;
      blocks: Array<Record<string, unknown>>;
    };
    assert.deepEqual(Object.keys(blocks.blocks[0]!).sort(), [
      'allocated_ip_count',
      'cidr',
      'host',
      'network',
      'revision',
      'segment',
      'tenant',
    ]);
    await expect('GET', '/networks/pods/blocks', undefined, 200, READER);
    await expect('GET', '/networks/nope/blocks', undefined, 404, READER);
    // Blackouts.
    await expect('POST', '/blackouts', { cidr: '10.112.0.0/30' }, 409);
    assert.deepEqual(await expect('POST', '/blackouts', { cidr: '10.113.0.0/24' }, 200), {
      network: 'pods',
      cidr: '10.113.0.0/24',
    });
    await expect('POST', '/blackouts', { cidr: '10.112.0.0/12' }, 422);
    await expect('POST', '/blackouts', { cidr: '172.16.0.0/24' }, 404);
    assert.deepEqual(await expect('GET', '/blackouts', undefined, 200, READER), [
      { network: 'pods', cidr: '10.113.0.0/24' },
    ]);
    await expect('DELETE', '/blackouts?cidr=10.113.0.0/24', undefined, 200);
    // Policies.
    const policy = {
      id: 'web-in',
      applied_to: [{ tenant_id: 'default', segment_id: 'web' }],
      ingress: [{ peers: [{ peer: 'any' }], rules: [{ protocol: 'tcp', ports: [80] }] }],
    };
    assert.equal(await expect('POST', '/policies', policy, 200), null);
    await expect('POST', '/policies', { id: 'broken', ingress: [] }, 422);
    assert.equal(
      ((await expect('GET', '/policies/web-in', undefined, 200, READER)) as { id: string }).id,
      'web-in',
    );
    assert.equal(
      ((await expect('GET', '/policies', undefined, 200, READER)) as unknown[]).length,
      1,
    );
    await expect('DELETE', '/policies', { id: 'web-in' }, 200);
    await expect('DELETE', '/policies', { id: 'web-in' }, 404);
    await expect('DELETE', '/policies', {}, 422);
    await expect('POST', '/policies', policy, 200);
    await expect('DELETE', '/policies/web-in', undefined, 200);
    await expect('GET', '/policies/web-in', undefined, 404, READER);
    // VIPs.
    const vip = { name: 'web.default', ip: '192.168.7.200', host: 'n1' };
    assert.deepEqual(
      await expect('PUT', '/vips/web.default', { ip: vip.ip, host: 'n1' }, 200),
      vip,
    );
    await expect('PUT', '/vips/other', { ip: vip.ip, host: 'n1' }, 409);
    await expect('PUT', '/vips/other', { ip: '192.168.7.201', host: 'nope' }, 422);
    await expect('PUT', '/vips/other', { ip: '192.168.7.201' }, 400);
    await expect('PUT', '/vips/other', { ip: '192.168.7.201', host: 'n1' }, 403, NODE);
    assert.deepEqual(await expect('GET', '/vips', undefined, 200, READER), [vip]);
    assert.deepEqual(await expect('GET', '/vips/web.default', undefined, 200, READER), vip);
    await expect('DELETE', '/vips/web.default', undefined, 200);
    await expect('GET', '/vips/web.default', undefined, 404, READER);
    // Topology.
    const topo = await expect('GET', '/topology', undefined, 200, READER);
    assert.equal(await expect('POST', '/topology', topo, 200), null);
    await expect(
      'POST',
      '/topology',
      { networks: [{ name: 'x', cidr: '10.0.0.1/8' }], topologies: [] },
      422,
    );
    await expect('POST', '/topology', 'not a document', 400);
    // Hosts: removal refused while it holds addresses, forced removal releases them.
    await expect('DELETE', '/hosts/n1', undefined, 403, NODE);
    await expect('DELETE', '/hosts/n1', undefined, 409);
    const removed = (await expect('DELETE', '/hosts/n1?force=true', undefined, 200)) as {
      releasedAddresses: string[];
    };
    assert.deepEqual(removed.releasedAddresses, ['p1']);
    await expect('DELETE', '/address?addressName=p1', undefined, 404, NODE);
    // Metrics and an unknown path.
    const metrics = await call('GET', '/metrics', undefined, READER);
    assert.equal(metrics.status, 200);
    assert.match(String(metrics.body), /# TYPE/);
    await expect('GET', '/no/such/route', undefined, 404, READER);
    await expect('PUT', '/networks', undefined, 405, READER);
  });

  it('streams changes as newline-delimited JSON', async () => {
    const first = await new Promise<string>((resolve, reject) => {
      const req = https.get(
        `${d.url}/watch?kinds=hosts`,
        { ca, headers: { authorization: `Bearer ${READER}` } },
        (res) => {
          assert.equal(res.statusCode, 200);
          assert.match(res.headers['content-type'] ?? '', /ndjson/);
          res.setEncoding('utf8');
          let buf = '';
          res.on('data', (c: string) => {
            buf += c;
            const nl = buf.indexOf('\n');
            if (nl >= 0) {
              resolve(buf.slice(0, nl));
              req.destroy();
            }
          });
        },
      );
      req.on('error', (e) => (String(e).includes('socket hang up') ? undefined : reject(e)));
    });
    const ev = JSON.parse(first) as { kind: string; type: string; id: string };
    assert.deepEqual([ev.kind, ev.type, ev.id], ['hosts', 'put', 'n2']);
  });
});

describe('romanad when its datastore is down', () => {
  it('answers 503 Unavailable, and recovers when etcd is back', async () => {
    const etcd = await startEtcd();
    const d = await startRomanad(['--store', 'etcd', '--etcd-endpoints', etcd.endpoints.join(',')]);
    try {
      await request(`${d.url}/topology`, 'POST', {
        networks: [{ name: 'n', cidr: '10.0.0.0/16' }],
        topologies: [
          { networks: ['n'], map: [{ name: 'g', groups: [{ name: 'h', ip: '192.168.0.1' }] }] },
        ],
      });
      await etcd.kill();
      const r = await request(`${d.url}/address`, 'POST', { name: 'p', host: 'h' });
      assert.equal(r.status, 503, JSON.stringify(r.body));
      assert.equal((r.body as { code: string }).code, 'Unavailable');
      await etcd.start();
      let ok = 0;
      for (let i = 0; i < 100 && ok === 0; i++) {
        const again = await request(`${d.url}/address`, 'POST', { name: `q${i}`, host: 'h' });
        if (again.status === 200) ok++;
        else await new Promise((res) => setTimeout(res, 100));
      }
      assert.equal(ok, 1, 'allocations work again once etcd is back');
      const list = (await request(`${d.url}/addresses`, 'GET')).body as Array<{ name: string }>;
      assert.ok(!list.some((a) => a.name === 'p'), 'the refused allocation left nothing behind');
    } finally {
      await d.stop();
      await etcd.stop();
    }
  });
});
