/**
 * The dual-stack API (docs/api.md, "Addresses: IPv4, IPv6 or both"), in-process with
 * `inject()` over the real service and the memory store: what `POST /address` answers for an
 * IPv4-only, a dual-stack and an IPv6-only tenant, the views with `ips` and `ip6`, blocks of
 * both families, release of both, IPv6 blackouts and VIPs, and bad IPv6 input refused with
 * 400 naming the field and the value, changing nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.ts';
import {
  assertError,
  call,
  realService,
  type FaultyService,
} from '../../../test/helpers/service.ts';

const TOPOLOGY = {
  networks: [
    { name: 'v4', cidr: '10.0.0.0/16', block_mask: 28, tenants: ['dual', 'v4only'] },
    { name: 'v6', cidr: 'fd00:10::/48', tenants: ['dual', 'v6only'] },
  ],
  topologies: [{ networks: ['v4', 'v6'], map: [{ name: 'rack-1' }, { name: 'rack-2' }] }],
};

let service: FaultyService;
let app: FastifyInstance;

before(async () => {
  service = await realService({ initialTopology: TOPOLOGY });
  app = buildApp(service);
  const h = await call(app, 'POST', '/hosts', { name: 'h1', ip: '192.168.0.1', ip6: 'fd00:ff::1' });
  assert.equal(h.status, 200, h.text);
  assert.equal((await call(app, 'POST', '/hosts', { name: 'h2', ip: '192.168.0.2' })).status, 200);
});
after(async () => {
  await app.close();
  await service.close();
});

const post = (name: string, tenant: string, host = 'h1') =>
  call(app, 'POST', '/address', { name, host, tenant });

describe('POST /address and the address views', () => {
  test('answers the bare IPv4 string for an IPv4-only tenant (the 2.x shape)', async () => {
    const a = await post('only4', 'v4only');
    assert.equal(a.status, 200);
    assert.equal(a.text, '"10.0.0.0"');
    const v = (await call(app, 'GET', '/address?addressName=only4')).body;
    assert.deepEqual(v, {
      name: 'only4',
      ip: '10.0.0.0',
      host: 'h1',
      tenant: 'v4only',
      segment: '',
      network: 'v4',
      block: '10.0.0.0/28',
      ips: [{ ip: '10.0.0.0', network: 'v4', block: '10.0.0.0/28' }],
    });
  });

  test('answers { ip, ips } with IPv4 first for a dual-stack tenant; views list both', async () => {
    const a = await post('both', 'dual');
    assert.equal(a.status, 200);
    assert.deepEqual(a.body, { ip: '10.0.0.16', ips: ['10.0.0.16', 'fd00:10::'] });
    const want = {
      name: 'both',
      ip: '10.0.0.16',
      host: 'h1',
      tenant: 'dual',
      segment: '',
      network: 'v4',
      block: '10.0.0.16/28',
      ips: [
        { ip: '10.0.0.16', network: 'v4', block: '10.0.0.16/28' },
        { ip: 'fd00:10::', network: 'v6', block: 'fd00:10::/120' },
      ],
    };
    for (const key of ['both', '10.0.0.16', 'fd00:10::']) {
      assert.deepEqual((await call(app, 'GET', `/address?addressName=${key}`)).body, want, key);
    }
    const list = (await call(app, 'GET', '/addresses')).body as Array<{ name: string }>;
    assert.deepEqual(
      list.find((x) => x.name === 'both'),
      want,
    );
  });

  test('answers an object for an IPv6-only tenant; ip, network and block are the IPv6 ones', async () => {
    const a = await post('only6', 'v6only');
    assert.deepEqual(a.body, { ip: 'fd00:10::100', ips: ['fd00:10::100'] });
    const v = (await call(app, 'GET', '/address?addressName=only6')).body as Record<
      string,
      unknown
    >;
    assert.equal(v['network'], 'v6');
    assert.equal(v['block'], 'fd00:10::100/120');
  });

  test('GET /blocks lists the blocks of both families', async () => {
    const b = (await call(app, 'GET', '/blocks')).body as {
      blocks: Array<Record<string, unknown>>;
    };
    assert.deepEqual(
      b.blocks.map((x) => [x['cidr'], x['tenant'], x['allocated_ip_count']]),
      [
        ['10.0.0.0/28', 'v4only', 1],
        ['10.0.0.16/28', 'dual', 1],
        ['fd00:10::/120', 'dual', 1],
        ['fd00:10::100/120', 'v6only', 1],
      ],
    );
  });

  test('DELETE /address by one IPv6 address releases both of the name', async () => {
    await post('gone', 'dual');
    const held = (await call(app, 'GET', '/address?addressName=gone')).body as {
      ips: Array<{ ip: string }>;
    };
    const r = await call(app, 'DELETE', `/address?addressName=${held.ips[1]!.ip}`);
    assert.equal(r.status, 200);
    assert.equal(r.text, 'null');
    for (const k of ['gone', held.ips[0]!.ip, held.ips[1]!.ip]) {
      assertError(await call(app, 'GET', `/address?addressName=${k}`), 404, 'NotFound');
    }
    // Released addresses come back first.
    assert.deepEqual((await post('again', 'dual')).body, {
      ip: held.ips[0]!.ip,
      ips: held.ips.map((x) => x.ip),
    });
  });

  test('a pair that cannot be whole is refused and takes nothing', async () => {
    // h2 has no group left in v6 once a blackout covers its group: the IPv4 half is not taken.
    const before = (await call(app, 'GET', '/blocks')).text;
    const h2 = (await call(app, 'GET', '/hosts/h2')).body as {
      groups: Array<{ network: string; cidr: string }>;
    };
    const g6 = h2.groups.find((g) => g.network === 'v6')!.cidr;
    assert.equal((await call(app, 'POST', '/blackouts', { cidr: g6 })).status, 200);
    assertError(await post('half', 'dual', 'h2'), 507, 'NoAvailableIP', /no free IPv6 address/);
    assert.equal((await call(app, 'GET', '/blocks')).text, before);
    assert.equal((await call(app, 'DELETE', `/blackouts?cidr=${g6}`)).status, 200);
    assert.equal((await post('half', 'dual', 'h2')).status, 200);
  });
});

describe('hosts, blackouts and VIPs of both families', () => {
  test('host views show ip6 when the host has one, and only then', async () => {
    const hosts = (await call(app, 'GET', '/hosts')).body as {
      hosts: Array<Record<string, unknown>>;
    };
    assert.equal(hosts.hosts.find((h) => h['name'] === 'h1')!['ip6'], 'fd00:ff::1');
    assert.ok(!('ip6' in hosts.hosts.find((h) => h['name'] === 'h2')!));
    const topo = (await call(app, 'GET', '/topology')).body as { topologies: unknown[] };
    assert.match(JSON.stringify(topo), /"name":"h1","ip":"192.168.0.1","ip6":"fd00:ff::1"/);
  });

  test('an IPv6 blackout is skipped by allocation, and refused over a held address', async () => {
    assert.equal((await call(app, 'POST', '/blackouts', { cidr: 'fd00:10::8/125' })).status, 200);
    assertError(
      await call(app, 'POST', '/blackouts', { cidr: 'fd00:10::/126' }),
      409,
      'Conflict',
      /fd00:10::\/126 holds fd00:10::/,
    );
    const got: string[] = [];
    for (let i = 0; i < 10; i++) {
      const a = (await post(`bo${i}`, 'v6only')).body as { ip: string };
      got.push(a.ip);
    }
    assert.ok(
      got.every((ip) => !/^fd00:10::(8|9|a|b|c|d|e|f)$/.test(ip)),
      got.join(' '),
    );
    assert.equal((await call(app, 'DELETE', '/blackouts?cidr=fd00:10::8/125')).status, 200);
  });

  test('a VIP may be IPv6; one inside a network or on a host is refused', async () => {
    const v = await call(app, 'PUT', '/vips/web.default', { ip: 'fd00:99::10', host: 'h1' });
    assert.equal(v.status, 200, v.text);
    assertError(
      await call(app, 'PUT', '/vips/bad.default', { ip: 'fd00:10::77', host: 'h1' }),
      422,
      'InvalidInput',
      /ip: 'fd00:10::77' lies inside Romana network v6/,
    );
    assertError(
      await call(app, 'PUT', '/vips/bad.default', { ip: 'fd00:ff::1', host: 'h1' }),
      422,
      'InvalidInput',
      /is the address of host h1/,
    );
  });
});

describe('bad IPv6 input: 400 naming the field and the value, nothing changed', () => {
  const cases: Array<[string, string, unknown, RegExp]> = [
    [
      'POST',
      '/hosts',
      { name: 'h9', ip: '192.168.0.9', ip6: 'fe80::1%eth0' },
      /^ip6: 'fe80::1%eth0' .*zone id/,
    ],
    [
      'POST',
      '/hosts',
      { name: 'h9', ip: '192.168.0.9', ip6: '::ffff:10.1.2.3' },
      /^ip6: '::ffff:10\.1\.2\.3' .*IPv4-mapped; write the IPv4 address 10\.1\.2\.3/,
    ],
    [
      'POST',
      '/hosts',
      { name: 'h9', ip: '192.168.0.9', ip6: 'FD00:FF::9' },
      /^ip6: 'FD00:FF::9' is not written canonically; write it as fd00:ff::9$/,
    ],
    [
      'POST',
      '/hosts',
      { name: 'h9', ip: '192.168.0.9', ip6: '192.168.0.10' },
      /^ip6: '192\.168\.0\.10' is an IPv4 address; this field takes an IPv6 address$/,
    ],
    [
      'POST',
      '/hosts',
      { name: 'h9', ip: 'fd00:ff::9' },
      /^ip: 'fd00:ff::9' is an IPv6 address; this field takes an IPv4 address$/,
    ],
    [
      'POST',
      '/blackouts',
      { cidr: 'fd00:10:0:0::/64' },
      /^cidr: 'fd00:10:0:0::\/64' is not a CIDR.*write it as fd00:10::\/64$/,
    ],
    [
      'POST',
      '/blackouts',
      { cidr: 'fd00:10::1/64' },
      /^cidr: 'fd00:10::1\/64' has host bits set; the network address of that \/64 is fd00:10::\/64$/,
    ],
    [
      'PUT',
      '/vips/x.y',
      { ip: 'fd00:99::0010', host: 'h1' },
      /ip: 'fd00:99::0010' is not written canonically; write it as fd00:99::10/,
    ],
  ];
  for (const [method, url, body, re] of cases) {
    test(`${method} ${url} ${JSON.stringify(body)}`, async () => {
      const before = service.revision();
      assertError(await call(app, method, url, body), 400, 'InvalidInput', re);
      assert.equal(service.revision(), before);
    });
  }

  test('POST /topology refuses a non-canonical IPv6 network and a too-large IPv6 block', async () => {
    const bad = structuredClone(TOPOLOGY) as typeof TOPOLOGY & {
      networks: Array<Record<string, unknown>>;
    };
    bad.networks[1]!['cidr'] = 'FD00:10::/48';
    bad.networks[0]!['block_mask'] = 28;
    const before = service.revision();
    const a = await call(app, 'POST', '/topology', bad);
    assert.ok(a.status === 400 || a.status === 422, a.text);
    assert.match(
      a.text,
      /networks\[1\]\.cidr: 'FD00:10::\/48' is not a CIDR .*write it as fd00:10::\/48/,
    );
    bad.networks[1]!['cidr'] = 'fd00:10::/48';
    bad.networks[1]!['block_mask'] = 56;
    const b = await call(app, 'POST', '/topology', bad);
    assert.match(b.text, /networks\[1\]\.block_mask: 56 is too large a block for IPv6 network v6/);
    assert.equal(service.revision(), before);
  });
});
