import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isRomanaError } from '../errors.ts';
import { Ipam } from './ipam.ts';
import { parseTopology, type GroupOrHost, type TopologyUpdateRequest } from './topology.ts';

const groups = (n: number, prefix = 'g'): GroupOrHost[] =>
  Array.from({ length: n }, (_, i) => ({ name: `${prefix}${i}` }));

function doc(cidr: string, map: GroupOrHost[], extra: Partial<TopologyUpdateRequest> = {}) {
  return {
    networks: [{ name: 'net1', cidr, block_mask: 29 }],
    topologies: [{ networks: ['net1'], map }],
    ...extra,
  };
}

function problemsOf(input: unknown): string[] {
  const r = parseTopology(input);
  assert.equal(r.ok, false, 'expected the document to be rejected');
  return r.ok ? [] : r.problems;
}

/** CIDRs of the top-level groups as GET /topology reports them. */
function topCidrs(ipam: Ipam): string[] {
  return ipam.getTopology().topologies[0]!.map.map((e) => e.cidr!);
}

describe('carving networks into prefix groups', () => {
  it('pads 3 groups of a /16 to four /18s', () => {
    const ipam = new Ipam();
    ipam.updateTopology(doc('10.0.0.0/16', groups(3)));
    assert.deepEqual(topCidrs(ipam), ['10.0.0.0/18', '10.0.64.0/18', '10.0.128.0/18']);
  });

  it('pads 5 groups to eight /19s', () => {
    const ipam = new Ipam();
    ipam.updateTopology(doc('10.0.0.0/16', groups(5)));
    assert.deepEqual(topCidrs(ipam), [
      '10.0.0.0/19',
      '10.0.32.0/19',
      '10.0.64.0/19',
      '10.0.96.0/19',
      '10.0.128.0/19',
    ]);
  });

  it('carves the kubeadm default (10.112.0.0/12, 8 groups) into /15s', () => {
    const ipam = new Ipam();
    ipam.updateTopology(doc('10.112.0.0/12', groups(8)));
    assert.deepEqual(
      topCidrs(ipam),
      [112, 114, 116, 118, 120, 122, 124, 126].map((b) => `10.${b}.0.0/15`),
    );
  });

  it('carves the AWS file (100.96.0.0/11, 6 zones of 4) into /14 zones of /16 groups', () => {
    const ipam = new Ipam();
    const zones = Array.from({ length: 6 }, (_, z) => ({
      name: `zone${z}`,
      groups: groups(4, `z${z}g`),
    }));
    ipam.updateTopology(doc('100.96.0.0/11', zones));
    const map = ipam.getTopology().topologies[0]!.map;
    assert.deepEqual(
      map.map((e) => e.cidr),
      [96, 100, 104, 108, 112, 116].map((b) => `100.${b}.0.0/14`),
    );
    assert.deepEqual(
      map[0]!.groups!.map((g) => g.cidr),
      ['100.96.0.0/16', '100.97.0.0/16', '100.98.0.0/16', '100.99.0.0/16'],
    );
    assert.deepEqual(
      map[0]!.groups!.map((g) => g.name),
      ['z0g0', 'z0g1', 'z0g2', 'z0g3'],
      'nested group names are kept',
    );
  });

  it('never places a host in a padding group', () => {
    const ipam = new Ipam();
    ipam.updateTopology(doc('10.0.0.0/16', groups(3)));
    const placed = [1, 2, 3, 4, 5, 6].map(
      (i) => ipam.addHost({ name: `h${i}`, ip: `192.168.0.${i}` }).groups[0]!.group,
    );
    assert.deepEqual(placed, ['g0', 'g1', 'g2', 'g0', 'g1', 'g2']);
  });

  it('honours dummy on nested groups', () => {
    const ipam = new Ipam();
    ipam.updateTopology(
      doc('10.0.0.0/16', [{ name: 'top', groups: [{ name: 'a', dummy: true }, { name: 'b' }] }]),
    );
    assert.equal(ipam.addHost({ name: 'h1', ip: '192.168.0.1' }).groups[0]!.group, 'b');
    assert.equal(ipam.addHost({ name: 'h2', ip: '192.168.0.2' }).groups[0]!.group, 'b');
  });

  it('makes a single top-level entry the root, holding the whole network', () => {
    const ipam = new Ipam();
    ipam.updateTopology(doc('10.0.0.0/16', [{ name: 'only', groups: groups(2) }]));
    const map = ipam.getTopology().topologies[0]!.map;
    assert.equal(map.length, 1);
    assert.equal(map[0]!.cidr, '10.0.0.0/16');
    assert.deepEqual(
      map[0]!.groups!.map((g) => g.cidr),
      ['10.0.0.0/17', '10.0.128.0/17'],
    );
  });

  it('puts hosts listed in a group into that group, sharing its CIDR', () => {
    const ipam = new Ipam();
    ipam.updateTopology(
      doc('10.0.0.0/16', [
        {
          name: 'r1',
          groups: [
            { name: 'h1', ip: '192.168.0.1' },
            { name: 'h2', ip: '192.168.0.2' },
          ],
        },
        { name: 'r2' },
      ]),
    );
    assert.equal(ipam.getHost({ name: 'h2' }).groups[0]!.cidr, '10.0.0.0/17');
    assert.equal(ipam.allocate({ name: 'p', host: 'h2' }).ip, '10.0.0.0');
  });

  it('treats a map of hosts as hosts placed directly in the network', () => {
    const ipam = new Ipam();
    ipam.updateTopology(doc('10.0.0.0/24', [{ name: 'h1', ip: '192.168.0.1' }]));
    assert.equal(ipam.getHost({ name: 'h1' }).groups[0]!.cidr, '10.0.0.0/24');
    assert.deepEqual(ipam.getTopology().topologies[0]!.map, [{ name: 'h1', ip: '192.168.0.1' }]);
  });

  it('gives a network with an empty map a tree that accepts no host', () => {
    const ipam = new Ipam();
    ipam.updateTopology(doc('10.0.0.0/16', []));
    assert.throws(
      () => ipam.addHost({ name: 'h1', ip: '192.168.0.1' }),
      /No group can take host h1 \(192\.168\.0\.1\) with no tags: /,
    );
    assert.deepEqual(ipam.listAllBlocks().blocks, []);
    assert.deepEqual(ipam.listHosts().hosts, []);
  });
});

describe('topology validation', () => {
  const ok = doc('10.0.0.0/16', groups(2));

  it('accepts a valid document and resolves the default block mask', () => {
    const r = parseTopology({ ...ok, networks: [{ name: 'net1', cidr: '10.0.0.0/16' }] });
    assert.ok(r.ok);
    assert.equal(r.ok && r.spec.networks[0]!.blockMask, 29);
    const r30 = parseTopology({
      networks: [{ name: 'net1', cidr: '10.0.0.0/30' }],
      topologies: [{ networks: ['net1'], map: [] }],
    });
    assert.equal(
      r30.ok && r30.spec.networks[0]!.blockMask,
      30,
      'a /30 network defaults to /30 blocks',
    );
  });

  it('reports a duplicate network name', () => {
    const p = problemsOf({
      networks: [
        { name: 'n', cidr: '10.0.0.0/16' },
        { name: 'n', cidr: '10.1.0.0/16' },
      ],
      topologies: [{ networks: ['n'], map: [] }],
    });
    assert.ok(p.includes('networks[1].name: Network with name n already defined'), p.join('\n'));
  });

  it('reports a bad CIDR and a CIDR with host bits', () => {
    assert.match(
      problemsOf(doc('10.0.0/16', []))[0]!,
      /networks\[0\]\.cidr: '10\.0\.0\/16' is not a CIDR/,
    );
    assert.match(problemsOf(doc('10.0.0.1/16', []))[0]!, /has host bits set/);
  });

  it('reports a block mask outside prefix..32', () => {
    for (const m of [15, 33]) {
      const p = problemsOf({
        networks: [{ name: 'n', cidr: '10.0.0.0/16', block_mask: m }],
        topologies: [{ networks: ['n'], map: [] }],
      });
      assert.deepEqual(p, [
        `networks[0].block_mask: invalid blockmask(${m}) for network(n), must be 16 <= blockmask <= 32`,
      ]);
    }
  });

  it('reports a bad tenant name, including the empty one', () => {
    const p = problemsOf({
      networks: [{ name: 'n', cidr: '10.0.0.0/16', tenants: ['ok', 'b@d', ''] }],
      topologies: [{ networks: ['n'], map: [] }],
    });
    assert.equal(p.length, 2);
    assert.match(p[0]!, /^networks\[0\]\.tenants\[1\]: Bad tenant name: must be .*, got "b@d"$/);
    assert.match(
      p[1]!,
      /^networks\[0\]\.tenants\[2\]: Bad tenant name: required, must not be empty$/,
    );
  });

  it('refuses unknown fields at every depth, naming each (a misspelt "asignment" is not dropped)', () => {
    const p = problemsOf({
      networks: [{ name: 'n', cidr: '10.0.0.0/16', tenant: ['a'] }],
      topologies: [
        {
          networks: ['n'],
          maps: [],
          map: [{ name: 'r1', asignment: { rack: '1' } }, { groups: [{ name: 'g', x: 1 }] }],
        },
      ],
      extra: true,
    });
    assert.deepEqual(
      p.map((s) => s.replace(/ \(known: .*\)$/, '')),
      [
        'extra: unknown field',
        'networks[0].tenant: unknown field',
        'topologies[0].maps: unknown field',
        'topologies[0].map[0].asignment: unknown field',
        'topologies[0].map[1].groups[0].x: unknown field',
      ],
    );
  });

  it('refuses names that break the name rule and host IPs that are special or inside a network', () => {
    const p = problemsOf({
      networks: [
        { name: 'n\u0000', cidr: '10.0.0.0/16' },
        { name: 'm', cidr: '10.1.0.0/16' },
      ],
      topologies: [{ networks: ['m'], map: [{ name: 'a b' }] }],
    });
    assert.match(p[0]!, /^networks\[0\]\.name: must be .*, got "n\\u0000"$/);
    assert.ok(
      p.some((s) => /^topologies\[0\]\.map\[0\]\.name: must be .*, got "a b"$/.test(s)),
      p.join('\n'),
    );
    const ips = problemsOf({
      networks: [{ name: 'm', cidr: '10.1.0.0/16' }],
      topologies: [
        {
          networks: ['m'],
          map: [
            { name: 'g', groups: [{ name: 'h1', ip: '0.0.0.0' }] },
            { name: 'g2', groups: [{ name: 'h2', ip: '10.1.0.9' }] },
          ],
        },
      ],
    });
    assert.deepEqual(ips, [
      "topologies[0].map[0].groups[0].ip: '0.0.0.0' is unspecified (0.0.0.0/8), not a host's address",
      "topologies[0].map[1].groups[0].ip: '10.1.0.9' lies inside network m (10.1.0.0/16), whose addresses go to pods",
    ]);
  });

  it('reports overlapping networks, naming the inner and outer one', () => {
    const p = problemsOf({
      networks: [
        { name: 'big', cidr: '10.0.0.0/8' },
        { name: 'small', cidr: '10.2.0.0/16' },
      ],
      topologies: [{ networks: ['big', 'small'], map: [] }],
    });
    assert.deepEqual(p, [
      'networks[1].cidr: CIDR 10.2.0.0/16 of network small already is contained in CIDR 10.0.0.0/8 of network big',
    ]);
  });

  it('reports a network used twice, an undefined one and an unused one', () => {
    const p = problemsOf({
      networks: [
        { name: 'a', cidr: '10.0.0.0/16' },
        { name: 'b', cidr: '10.1.0.0/16' },
      ],
      topologies: [
        { networks: ['a', 'x'], map: [] },
        { networks: ['a'], map: [] },
      ],
    });
    assert.deepEqual(p, [
      'topologies[0].networks[1]: Network with name x not defined',
      'topologies[1].networks[0]: Network a appears more than once.',
      `networks[1]: Network b is not used by any topology; list it in a topology's "networks" or remove it`,
    ]);
  });

  it('requires a name on hosts and a valid IP', () => {
    const p = problemsOf(
      doc('10.0.0.0/16', [{ name: 'r', groups: [{ ip: '10.9.9.9' }, { name: 'h', ip: '1.2.3' }] }]),
    );
    assert.match(
      p[0]!,
      /^topologies\[0\]\.map\[0\]\.groups\[0\]: Both name and IP are required for hosts/,
    );
    assert.equal(p[1], "topologies[0].map[0].groups[1].ip: '1.2.3' is not a valid IPv4 address");
  });

  it('rejects a division finer than one block and finer than the address width', () => {
    const p = problemsOf({
      networks: [{ name: 'n', cidr: '10.0.0.0/28', block_mask: 29 }],
      topologies: [{ networks: ['n'], map: groups(3) }],
    });
    assert.match(
      p[0]!,
      /groups carved from 10\.0\.0\.0\/28 of network n are \/30, smaller than one \/29 block/,
    );
    const q = problemsOf({
      networks: [{ name: 'n', cidr: '10.0.0.0/31', block_mask: 32 }],
      topologies: [{ networks: ['n'], map: groups(3) }],
    });
    assert.match(
      q[0]!,
      /cannot divide 10\.0\.0\.0\/31 of network n into 3 groups: each would be a \/33/,
    );
  });

  it('rejects lists that mix hosts and groups, and duplicate hosts', () => {
    assert.match(
      problemsOf(
        doc('10.0.0.0/16', [{ name: 'r', groups: [{ name: 'h', ip: '10.9.9.9' }, { name: 'g' }] }]),
      )[0]!,
      /mixes hosts/,
    );
    assert.match(
      problemsOf(
        doc('10.0.0.0/16', [
          { name: 'r1', groups: [{ name: 'h', ip: '10.9.9.9' }] },
          { name: 'r2', groups: [{ name: 'h', ip: '10.9.9.8' }] },
        ]),
      )[0]!,
      /host h appears more than once in the topology of network net1/,
    );
  });

  it('reports every problem at once, in check order', () => {
    const p = problemsOf({
      networks: [
        { name: 'n', cidr: 'nope' },
        { name: 'm', cidr: '10.0.0.0/16', block_mask: 8 },
      ],
      topologies: [{ networks: ['m', 'zz'], map: [] }],
    });
    assert.equal(p.length, 3, p.join('\n'));
  });

  it('rejects non-objects with a message naming the expected shape', () => {
    assert.deepEqual(problemsOf(null), [
      'the topology must be a JSON object with "networks" and "topologies"',
    ]);
    assert.deepEqual(problemsOf({ networks: {}, topologies: [] }), [
      'networks: required, a list of networks',
    ]);
  });

  it('makes updateTopology throw a semantic InvalidInput error that lists the problems', () => {
    const ipam = new Ipam();
    assert.throws(
      () => ipam.updateTopology(doc('10.0.0.1/16', [])),
      (e: unknown) => isRomanaError(e, 'InvalidInput') && e.semantic && /host bits/.test(e.message),
    );
    assert.equal(ipam.hasTopology, false);
  });
});
