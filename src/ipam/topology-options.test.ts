/**
 * The topology's options beside its networks: the VIP pool (`vip_cidr`, read by
 * romana-listener) and ECMP per topology (`topologies[].ecmp`, read by the route publisher).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Ipam } from './ipam.ts';
import { Cidr } from './addr.ts';
import { parseTopology } from './topology.ts';

function doc(extra: Record<string, unknown> = {}, topo: Record<string, unknown> = {}) {
  return {
    networks: [
      { name: 'pods', cidr: '10.112.0.0/16' },
      { name: 'pods6', cidr: 'fd00:10::/112' },
    ],
    topologies: [
      {
        networks: ['pods', 'pods6'],
        map: [
          { name: 'rack-1', groups: [{ name: 'h1', ip: '192.168.0.11', ip6: 'fd00:1::11' }] },
          { name: 'rack-2' },
        ],
        ...topo,
      },
    ],
    ...extra,
  };
}

function problemsOf(input: unknown): string[] {
  const r = parseTopology(input);
  assert.equal(r.ok, false, 'expected the document to be refused');
  return r.ok ? [] : r.problems;
}

describe('vip_cidr: the VIP pool of the topology', () => {
  it('is kept in normal form and returned by GET /topology, IPv4 and IPv6', () => {
    for (const [given, normal] of [
      ['192.168.99.0/24', '192.168.99.0/24'],
      ['fd00:99::/120', 'fd00:99::/120'],
    ]) {
      const ipam = new Ipam();
      ipam.updateTopology(doc({ vip_cidr: given }));
      assert.equal(ipam.getTopology().vip_cidr, normal);
      // …and survives a snapshot (what the store holds) and a post of GET /topology back.
      const back = new Ipam(ipam.toSnapshot());
      assert.equal(back.getTopology().vip_cidr, normal);
      back.updateTopology(back.getTopology());
      assert.equal(back.getTopology().vip_cidr, normal);
    }
  });

  it('is absent when not given, and an update without it removes it', () => {
    const ipam = new Ipam();
    ipam.updateTopology(doc());
    assert.equal('vip_cidr' in ipam.getTopology(), false);
    ipam.updateTopology(doc({ vip_cidr: '192.168.99.0/24' }));
    ipam.updateTopology(doc());
    assert.equal('vip_cidr' in ipam.getTopology(), false);
  });

  it('refuses a value that is not a CIDR, naming the field and the value', () => {
    assert.deepEqual(problemsOf(doc({ vip_cidr: 24 })), [
      'vip_cidr: must be a CIDR string (a.b.c.d/n or an IPv6 address/n), got 24',
    ]);
    const bad = problemsOf(doc({ vip_cidr: '192.168.99.0' }));
    assert.equal(bad.length, 1);
    assert.match(bad[0]!, /^vip_cidr: '192\.168\.99\.0' is not a CIDR/);
    const host = problemsOf(doc({ vip_cidr: '192.168.99.1/24' }));
    assert.match(host[0]!, /^vip_cidr: '192\.168\.99\.1\/24'/);
  });

  it('refuses loopback, multicast and reserved ranges', () => {
    for (const [pool, kind] of [
      ['127.0.0.0/24', 'loopback'],
      ['224.0.0.0/24', 'multicast'],
      ['64.0.0.0/2', 'loopback'],
      ['ff02::/120', 'multicast'],
    ]) {
      assert.deepEqual(problemsOf(doc({ vip_cidr: pool })), [
        `vip_cidr: '${pool}' holds ${kind} addresses, which cannot be VIPs`,
      ]);
    }
  });

  it('refuses a pool that overlaps a Romana network, either way round', () => {
    assert.deepEqual(problemsOf(doc({ vip_cidr: '10.112.5.0/24' })), [
      "vip_cidr: '10.112.5.0/24' overlaps network pods (10.112.0.0/16), whose addresses go to pods",
    ]);
    assert.deepEqual(problemsOf(doc({ vip_cidr: 'fd00::/16' })), [
      "vip_cidr: 'fd00::/16' overlaps network pods6 (fd00:10::/112), whose addresses go to pods",
    ]);
  });

  it('refuses a pool that holds a host address of the map', () => {
    assert.deepEqual(problemsOf(doc({ vip_cidr: '192.168.0.0/28' })), [
      "topologies[0].map[0].groups[0].ip: '192.168.0.11' lies inside vip_cidr 192.168.0.0/28",
    ]);
    assert.deepEqual(problemsOf(doc({ vip_cidr: 'fd00:1::/120' })), [
      "topologies[0].map[0].groups[0].ip6: 'fd00:1::11' lies inside vip_cidr fd00:1::/120",
    ]);
  });

  it('refuses a pool that holds a host registered by the API, and such a host under a pool', () => {
    const ipam = new Ipam();
    ipam.updateTopology(doc());
    ipam.addHost({ name: 'api-1', ip: '192.168.5.7' });
    const before = ipam.getTopology();
    assert.throws(
      () => ipam.updateTopology(doc({ vip_cidr: '192.168.5.0/24' })),
      (e: Error) =>
        e.message === "vip_cidr: '192.168.5.0/24' holds 192.168.5.7, the address of host api-1",
    );
    assert.deepEqual(ipam.getTopology(), before, 'a refused update changes nothing');
    ipam.updateTopology(doc({ vip_cidr: '192.168.6.0/24' }));
    assert.throws(
      () => ipam.addHost({ name: 'api-2', ip: '192.168.6.9' }),
      (e: Error) =>
        e.message ===
        "ip: '192.168.6.9' lies inside the topology's vip_cidr 192.168.6.0/24, whose addresses go to VIPs",
    );
    assert.deepEqual(
      ipam.listHosts().hosts.map((h) => h.name),
      ['h1', 'api-1'],
    );
  });

  it('still refuses unknown fields beside it (a misspelt "vip_cidrs" is not dropped)', () => {
    assert.deepEqual(
      problemsOf(doc({ vip_cidrs: ['192.168.99.0/24'] })).map((p) => p.split(' (')[0]),
      ['vip_cidrs: unknown field'],
    );
  });

  it('is accepted exactly when it is disjoint from every network (property)', () => {
    const v4 = fc
      .tuple(fc.integer({ min: 1, max: 126 }), fc.nat(255), fc.integer({ min: 8, max: 30 }))
      .map(([a, b, p]) => Cidr.parse(`${a}.${b}.0.0/${Math.max(p, 16)}`).toString());
    fc.assert(
      fc.property(v4, (pool) => {
        const r = parseTopology(doc({ vip_cidr: pool }));
        const expected = !Cidr.parse(pool).overlaps(Cidr.parse('10.112.0.0/16'));
        const hostInside = Cidr.parse(pool).containsAddr(Cidr.parse('192.168.0.11/32').addr);
        assert.equal(r.ok, expected && !hostInside, pool);
      }),
    );
  });
});

describe('topologies[].ecmp', () => {
  it('is kept on every network of its topology in GET /topology', () => {
    const ipam = new Ipam();
    ipam.updateTopology(doc({}, { ecmp: true }));
    assert.deepEqual(
      ipam.getTopology().topologies.map((t) => [t.networks, t.ecmp]),
      [
        [['pods'], true],
        [['pods6'], true],
      ],
    );
    const back = new Ipam(ipam.toSnapshot());
    back.updateTopology(back.getTopology());
    assert.deepEqual(
      back.getTopology().topologies.map((t) => t.ecmp),
      [true, true],
    );
  });

  it('false or absent leaves it out; anything but a boolean is refused by name', () => {
    const ipam = new Ipam();
    ipam.updateTopology(doc({}, { ecmp: false }));
    assert.deepEqual(
      ipam.getTopology().topologies.map((t) => 'ecmp' in t),
      [false, false],
    );
    assert.deepEqual(problemsOf(doc({}, { ecmp: 'yes' })), [
      'topologies[0].ecmp: must be true or false, got "yes"',
    ]);
  });
});
