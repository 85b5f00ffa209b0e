/**
 * The HTTP layer over the real service (src/server/state/romana-service.ts) on the in-memory store:
 * every route once with its success shape and its main error statuses, and a watch stream
 * resumed from a revision.
 */
import assert from 'node:assert/strict';
import { get } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { MemoryStore } from '../../store/memory.ts';
import { assertError, call } from '../../../test/helpers/service.ts';
import { buildApp } from './app.ts';
import { createRomanaService } from '../state/romana-service.ts';
import type { RomanaService } from '../state/service.ts';

const TOPOLOGY = {
  networks: [{ name: 'pods', cidr: '10.0.0.0/16', block_mask: 29 }],
  topologies: [{ networks: ['pods'], map: [{ name: 'r1' }, { name: 'r2' }] }],
};

const POLICY = {
  id: 'allow-web',
  direction: 'ingress',
  applied_to: [{ tenant_id: 'web' }],
  ingress: [{ peers: [{ peer: 'any' }], rules: [{ protocol: 'tcp', ports: [80] }] }],
};

describe('romanad HTTP over the real service and the memory store', () => {
  let service: RomanaService;
  let app: FastifyInstance;

  before(async () => {
    service = await createRomanaService({ store: new MemoryStore(), initialTopology: TOPOLOGY });
    app = buildApp(service);
  });
  after(async () => {
    await app.close();
    await service.close();
  });

  test('ready, networks, hosts', async () => {
    assert.equal((await call(app, 'GET', '/readyz')).status, 200);
    assert.deepEqual(
      ((await call(app, 'GET', '/networks')).body as Array<{ id: string }>).map((n) => n.id),
      ['pods'],
    );
    const a = await call(app, 'POST', '/hosts', {
      name: 'h1',
      ip: '192.168.0.1',
      tags: { rack: 'a' },
    });
    assert.equal(a.status, 200, a.text);
    assert.equal(a.text, 'null');
    assertError(
      await call(app, 'POST', '/hosts', { name: 'h1', ip: '192.168.0.1' }),
      409,
      'AlreadyExists',
    );
    assert.equal(
      (await call(app, 'POST', '/hosts', { name: 'h2', ip: '192.168.0.2' })).status,
      200,
    );
    const hosts = (await call(app, 'GET', '/hosts')).body as {
      hosts: Array<{ name: string }>;
      revision: number;
    };
    assert.deepEqual(hosts.hosts.map((h) => h.name).sort(), ['h1', 'h2']);
    assert.equal(typeof hosts.revision, 'number');
    const h1 = (await call(app, 'GET', '/hosts/h1')).body as Record<string, unknown>;
    assert.deepEqual(h1['tags'], { rack: 'a' });
    assertError(await call(app, 'GET', '/hosts/h9'), 404, 'NotFound');
  });

  test('addresses: allocate, read, list, release', async () => {
    const a = await call(app, 'POST', '/address', {
      name: 'pod-a',
      host: 'h1',
      tenant: 'web',
      segment: 'fe',
    });
    assert.equal(a.status, 200, a.text);
    assert.match(a.text, /^"10\.0\.\d+\.\d+"$/);
    const ip = JSON.parse(a.text) as string;
    assertError(
      await call(app, 'POST', '/address', { name: 'pod-a', host: 'h1' }),
      409,
      'AlreadyExists',
    );
    assertError(
      await call(app, 'POST', '/address', { name: '', host: 'h1' }),
      400,
      'InvalidInput',
      /body\.name: required/,
    );
    assertError(await call(app, 'POST', '/address', { name: 'x', host: 'h9' }), 404, 'NotFound');
    const one = (await call(app, 'GET', `/address?addressName=${ip}`)).body as Record<
      string,
      unknown
    >;
    assert.deepEqual(
      [one['name'], one['host'], one['tenant'], one['segment'], one['network']],
      ['pod-a', 'h1', 'web', 'fe', 'pods'],
    );
    assert.equal(((await call(app, 'GET', '/addresses?host=h1')).body as unknown[]).length, 1);
    const blocks = (await call(app, 'GET', '/blocks')).body as {
      blocks: Array<Record<string, unknown>>;
    };
    assert.equal(blocks.blocks.filter((b) => b['host'] === 'h1').length, 1);
    assert.equal(
      ((await call(app, 'GET', '/networks/pods/blocks')).body as { blocks: unknown[] }).blocks
        .length,
      blocks.blocks.length,
    );
    assert.equal((await call(app, 'POST', '/address', { name: 'pod-b', host: 'h1' })).status, 200);
    const del = await call(app, 'DELETE', '/address?addressName=pod-b');
    assert.equal(del.status, 200, del.text);
    assert.equal(del.text, 'null');
    assertError(await call(app, 'DELETE', '/address?addressName=pod-b'), 404, 'NotFound');
  });

  test('hosts: patch, refuse removal while holding addresses, force', async () => {
    const p = await call(app, 'PATCH', '/hosts/h2', { tags: { rack: 'b' } });
    assert.equal(p.status, 200, p.text);
    assert.deepEqual((p.body as Record<string, unknown>)['tags'], { rack: 'b' });
    assert.equal((await call(app, 'POST', '/address', { name: 'pod-c', host: 'h2' })).status, 200);
    assertError(await call(app, 'DELETE', '/hosts/h2'), 409, 'Conflict');
    const r = await call(app, 'DELETE', '/hosts/h2?force=true');
    assert.equal(r.status, 200, r.text);
    assert.deepEqual((r.body as Record<string, unknown>)['releasedAddresses'], ['pod-c']);
    assertError(await call(app, 'GET', '/address?addressName=pod-c'), 404, 'NotFound');
  });

  test('topology: read back, post back, refuse an invalid one with 422', async () => {
    const t = await call(app, 'GET', '/topology');
    assert.equal(t.status, 200);
    const back = await call(app, 'POST', '/topology', t.body);
    assert.equal(back.status, 200, back.text);
    assert.equal(back.text, 'null');
    const bad = {
      networks: [{ name: 'x', cidr: '10.0.0.1/16' }],
      topologies: [{ networks: ['x'], map: [] }],
    };
    assertError(await call(app, 'POST', '/topology', bad), 422, 'InvalidInput', /10\.0\.0\.0\/16/);
    assert.equal(((await call(app, 'GET', '/addresses')).body as unknown[]).length, 1);
  });

  test('policies: store, read by id, 422 for an invalid one, delete both ways', async () => {
    const a = await call(app, 'POST', '/policies', POLICY);
    assert.equal(a.status, 200, a.text);
    assert.equal(a.text, 'null');
    const got = await call(app, 'GET', '/policies/allow-web');
    assert.equal(got.status, 200, got.text);
    assert.equal((got.body as Record<string, unknown>)['id'], 'allow-web');
    assert.equal(((await call(app, 'GET', '/policies')).body as unknown[]).length, 1);
    assertError(
      await call(app, 'POST', '/policies', { id: 'bad', applied_to: [] }),
      422,
      'InvalidInput',
    );
    assertError(await call(app, 'GET', '/policies/nope'), 404, 'NotFound');
    assert.equal((await call(app, 'DELETE', '/policies', { id: 'allow-web' })).text, 'null');
    assertError(await call(app, 'DELETE', '/policies/allow-web'), 404, 'NotFound');
    assertError(
      await call(app, 'DELETE', '/policies', {}),
      422,
      'InvalidInput',
      /Policy ID not found in input/,
    );
  });

  test('blackouts: add, list, remove', async () => {
    const a = await call(app, 'POST', '/blackouts', { cidr: '10.0.200.0/24' });
    assert.equal(a.status, 200, a.text);
    assert.deepEqual(a.body, { network: 'pods', cidr: '10.0.200.0/24' });
    assert.deepEqual((await call(app, 'GET', '/blackouts')).body, [
      { network: 'pods', cidr: '10.0.200.0/24' },
    ]);
    assert.equal((await call(app, 'DELETE', '/blackouts?cidr=10.0.200.0/24')).text, 'null');
    assertError(await call(app, 'DELETE', '/blackouts?cidr=10.0.200.0/24'), 404, 'NotFound');
  });

  test('watch: a stream resumed from a revision replays, then follows', async () => {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.server.address() as AddressInfo).port;
    const from = service.revision();
    assert.equal((await call(app, 'POST', '/address', { name: 'pod-w', host: 'h1' })).status, 200);
    const lines: Array<Record<string, unknown>> = [];
    const req = get(
      `http://127.0.0.1:${port}/watch?kinds=blocks,hosts&revision=${from + 1}`,
      (res) => {
        assert.equal(res.headers['content-type'], 'application/x-ndjson');
        let buf = '';
        res.on('data', (c: Buffer) => {
          buf += c.toString();
          let i: number;
          while ((i = buf.indexOf('\n')) >= 0) {
            lines.push(JSON.parse(buf.slice(0, i)) as Record<string, unknown>);
            buf = buf.slice(i + 1);
          }
        });
      },
    );
    const wait = async (pred: () => boolean) => {
      for (let i = 0; i < 300 && !pred(); i++) await new Promise((r) => setTimeout(r, 10));
      assert.ok(pred(), JSON.stringify(lines));
    };
    await wait(() => lines.some((l) => l['kind'] === 'blocks'));
    assert.ok(lines.every((l) => (l['revision'] as number) > from));
    const before = lines.length;
    assert.equal(
      (await call(app, 'POST', '/hosts', { name: 'h3', ip: '192.168.0.3' })).status,
      200,
    );
    await wait(() => lines.slice(before).some((l) => l['kind'] === 'hosts' && l['id'] === 'h3'));
    req.destroy();
  });
});
