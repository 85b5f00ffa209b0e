/**
 * Issue 11, "refuse what is not understood, never 500": each finding, through the real service
 * on the memory store. Every refusal names the field and the value, and changes nothing.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { MemoryStore } from '../../store/memory.ts';
import {
  assertError,
  call,
  type FaultyService,
  seededService,
  serviceWithHosts,
  TOPOLOGY,
} from '../../../test/helpers/service.ts';
import { buildApp } from './app.ts';
import { createRomanaService } from '../state/romana-service.ts';

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

/** Everything a client can read, to compare before and after a refused request. */
async function snapshot(): Promise<string> {
  const parts = [];
  for (const url of ['/hosts', '/addresses', '/policies', '/topology', '/blocks', '/vips']) {
    parts.push((await call(app, 'GET', url)).text);
  }
  return parts.join('\n');
}

async function refused(
  method: 'POST' | 'PUT' | 'PATCH' | 'GET' | 'DELETE',
  url: string,
  body: unknown,
  status: number,
  details: RegExp,
): Promise<void> {
  const before = await snapshot();
  const revision = service.revision();
  assertError(await call(app, method, url, body), status, 'InvalidInput', details);
  assert.equal(service.revision(), revision, 'store revision unchanged');
  assert.equal(await snapshot(), before, 'every read unchanged');
}

const policy = (rule: object, peer: object = { peer: 'any' }) => ({
  id: 'p1',
  applied_to: [{ tenant_id: 't' }],
  ingress: [{ peers: [peer], rules: [rule] }],
});

describe('unknown fields are refused at every depth', () => {
  test('a policy rule with "port" for "ports" is refused naming the path (it was stored for every port)', async () => {
    await refused(
      'POST',
      '/policies',
      policy({ protocol: 'tcp', port: [22] }),
      422,
      /ingress\[0\]\.rules\[0\]\.port: unknown field/,
    );
  });

  test('a peer with "cidrr" is refused naming the path', async () => {
    await refused(
      'POST',
      '/policies',
      policy({ protocol: 'tcp' }, { peer: 'any', cidrr: '10.0.0.0/8' }),
      422,
      /ingress\[0\]\.peers\[0\]\.cidrr: unknown field/,
    );
  });

  test('a topology group with "asignment" is refused naming the path', async () => {
    const doc = structuredClone(TOPOLOGY) as {
      topologies: Array<{ map: Array<Record<string, unknown>> }>;
    };
    doc.topologies[0]!.map[1]!['asignment'] = { rack: '2' };
    await refused(
      'POST',
      '/topology',
      doc,
      400,
      /^body\.topologies\.0\.map\.1\.asignment: unknown field/,
    );
  });

  test('unknown fields in hosts, addresses, VIPs and blackouts are refused', async () => {
    await refused(
      'POST',
      '/hosts',
      { name: 'h2', ip: '192.168.0.2', tag: {} },
      400,
      /body\.tag: unknown field/,
    );
    await refused(
      'POST',
      '/address',
      { name: 'a', host: 'h1', tennant: 't' },
      400,
      /body\.tennant/,
    );
    await refused('PUT', '/vips/web', { ip: '192.168.9.9', host: 'h1', ns: 'x' }, 400, /body\.ns/);
    await refused('POST', '/blackouts', { cidr: '10.0.1.0/24', net: 'x' }, 400, /body\.net/);
  });

  test('the body of DELETE /policies holds its id alone: another field is refused, nothing deleted', async () => {
    assert.equal((await call(app, 'POST', '/policies', policy({ protocol: 'tcp' }))).status, 200);
    await refused(
      'DELETE',
      '/policies',
      { id: 'p1', applied_to: [] },
      400,
      /^body\.applied_to: unknown field/,
    );
    await refused('DELETE', '/policies', { id: 'p1\u0000' }, 400, /^body\.id: must not hold/);
    await refused('DELETE', '/policies', { id: 7 }, 400, /^body\.id: must be a string, got 7$/);
    await refused('DELETE', '/policies', { idd: 'p1' }, 400, /^body\.idd: unknown field/);
    await refused('DELETE', '/policies', [], 400, /^body: must be an object/);
  });
});

describe('a union field names what it takes and why the value failed', () => {
  const topology = (blockMask: unknown) => {
    const doc = structuredClone(TOPOLOGY) as { networks: Array<Record<string, unknown>> };
    doc.networks[0]!['block_mask'] = blockMask;
    return JSON.stringify(doc);
  };

  test('a block_mask that is neither null nor an integer says both (was "must be null")', async () => {
    for (const [raw, shown] of [
      ['28.5', '28.5'],
      ['"28"', '"28"'],
      ['1e400', 'Infinity'],
    ] as const) {
      await refused(
        'POST',
        '/topology',
        topology(0).replace('"block_mask":0', `"block_mask":${raw}`),
        400,
        new RegExp(`^body\\.networks\\.0\\.block_mask: must be null or integer, got ${shown}$`),
      );
    }
  });

  test('too many tags is named as such, not as "must be null"', async () => {
    const tags = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v']));
    await refused(
      'PATCH',
      '/hosts/h1',
      { tags },
      400,
      /^body\.tags: must NOT have more than 64 properties, got \{/,
    );
  });
});

describe('names follow one rule', () => {
  for (const [what, name, shown] of [
    ['a lone UTF-16 surrogate', 'a\ud800', '"a\\\\ud800"'],
    ['a control character (it would forge a row of `romana address list`)', 'a\nb', '"a\\\\nb"'],
    ['a space', 'a b', '"a b"'],
    ['an IP address (it would shadow the pod at that IP)', '10.112.0.3', '"10.112.0.3"'],
  ] as const) {
    test(`an address name holding ${what} is a 400 naming the field and value`, async () => {
      await refused(
        'POST',
        '/address',
        { name, host: 'h1' },
        400,
        new RegExp(`^body\\.name: must be .*, got ${shown}$`),
      );
    });
  }

  test('host, tenant, segment and VIP names are checked too', async () => {
    await refused('POST', '/hosts', { name: 'h\u0007', ip: '192.168.0.2' }, 400, /^body\.name: /);
    await refused(
      'POST',
      '/address',
      { name: 'a', host: 'h1', tenant: 'a.b' },
      400,
      /^body\.tenant: must be 1-63/,
    );
    await refused(
      'POST',
      '/address',
      { name: 'a', host: 'h1', segment: '-x' },
      400,
      /^body\.segment: /,
    );
    await refused(
      'PUT',
      '/vips/web%20x',
      { ip: '192.168.9.9', host: 'h1' },
      400,
      /^params\.name: /,
    );
  });

  test('tag keys and values refuse control characters', async () => {
    await refused(
      'POST',
      '/hosts',
      { name: 'h2', ip: '192.168.0.2', tags: { 'a\u0000': 'x' } },
      400,
      /body\.tags/,
    );
    await refused(
      'POST',
      '/hosts',
      { name: 'h2', ip: '192.168.0.2', tags: { a: 'x\ud800' } },
      400,
      /body\.tags\.a: must not hold/,
    );
  });

  test('an address stored before the rule can still be read and released by its name', async () => {
    // The service accepts what the engine does; the HTTP rule is for new names only.
    await service.allocate({ name: 'old name', host: 'h1' });
    assert.equal((await call(app, 'GET', '/address?addressName=old%20name')).status, 200);
    assert.equal((await call(app, 'DELETE', '/address?addressName=old%20name')).status, 200);
    assert.deepEqual(service.listAddresses(), []);
  });
});

describe('a refused allocation leaves no phantom address (the engine decided before the key was checked)', () => {
  test('a name that cannot be a store key is refused before the engine takes an address', async () => {
    const svc = await serviceWithHosts();
    const before = svc.revision();
    await assert.rejects(svc.allocate({ name: 'a\ud800', host: 'h1' }), /lone UTF-16 surrogate/);
    assert.deepEqual(svc.listAddresses(), []);
    assert.equal(svc.revision(), before);
    assert.equal((await svc.allocate({ name: 'b', host: 'h1' })).ip, '10.0.0.0');
    await svc.close();
  });

  test('a refused job in the same batch as a good one is not persisted by the good one', async () => {
    const store = new MemoryStore();
    const svc = await serviceWithHosts(store);
    const [bad, good] = await Promise.allSettled([
      svc.allocate({ name: 'x\udc00', host: 'h1' }),
      svc.allocate({ name: 'good', host: 'h1' }),
    ]);
    assert.equal(bad.status, 'rejected');
    assert.equal(good.status, 'fulfilled');
    await svc.close();
    const again = await createRomanaService({ store });
    assert.deepEqual(
      again.listAddresses().map((a) => a.name),
      ['good'],
    );
    assert.equal(again.listBlocks().blocks[0]?.allocated_ip_count, 1);
    await again.close();
  });
});

describe('limits and framework errors answer our error body, never a 5xx', () => {
  test('10,000 nested brackets are a 400 naming the depth limit', async () => {
    const body = '['.repeat(10_000) + ']'.repeat(10_000);
    const a = await call(app, 'POST', '/address', body, { 'content-type': 'application/json' });
    assertError(a, 400, 'InvalidInput', /^body: nested deeper than 64 levels/);
  });

  test('a URL that is not valid percent-encoding is a 400 naming the path', async () => {
    assertError(await call(app, 'GET', '/hosts/%ZZ'), 400, 'InvalidInput', /^path: '\/hosts\/%ZZ'/);
  });

  test('a 5,000-character path is a 414 with our body', async () => {
    assertError(
      await call(app, 'GET', `/hosts/${'a'.repeat(5000)}`),
      414,
      'InvalidInput',
      /^path: /,
    );
  });

  test('a 253-character host name can be read by its path', async () => {
    const name = 'h'.repeat(253);
    assert.equal((await call(app, 'POST', '/hosts', { name, ip: '192.168.0.7' })).status, 200);
    assert.equal((await call(app, 'GET', `/hosts/${name}`)).status, 200);
  });

  test('content-length: abc over a real socket is a 400 with our body', async () => {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as AddressInfo;
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/address',
          headers: { 'content-type': 'application/json', 'content-length': 'abc' },
        },
        (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      req.end('{}');
    });
    assert.equal(answer.status, 400, answer.body);
    const b = JSON.parse(answer.body) as Record<string, unknown>;
    assert.equal(b['code'], 'InvalidInput');
    assert.equal(b['see_also'], 'docs/api.md#errors');
    assert.match(String(b['details']), /^request: the request is not valid HTTP/);
  });
});

describe('host IPs', () => {
  for (const [ip, what] of [
    ['0.0.0.0', 'unspecified'],
    ['255.255.255.255', 'reserved or broadcast'],
    ['224.0.0.1', 'multicast'],
    ['127.0.0.1', 'loopback'],
  ] as const) {
    test(`${ip} is refused with 400 naming the field and value`, async () => {
      await refused(
        'POST',
        '/hosts',
        { name: 'h2', ip },
        400,
        new RegExp(`^body\\.ip: '${ip.replace(/\./g, '\\.')}' is ${what}`),
      );
    });
  }

  test('an address inside a Romana network is refused with 422', async () => {
    await refused(
      'POST',
      '/hosts',
      { name: 'h2', ip: '10.0.3.4' },
      422,
      /^body\.ip: '10\.0\.3\.4' lies inside Romana network net1/,
    );
  });
});
