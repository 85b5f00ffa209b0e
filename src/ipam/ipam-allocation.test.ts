/** Ipam: allocation order, tenants and networks, and allocation and release errors. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Ipam } from './ipam.ts';
import { fourGroups, ips, throwsCode } from './ipam.fixtures.ts';

describe('allocation order (reference §2.4)', () => {
  it('follows the worked example', () => {
    const ipam = fourGroups();
    ipam.addHost({ name: 'A', ip: '192.168.0.1' });
    ipam.addHost({ name: 'B', ip: '192.168.0.2' });
    assert.deepEqual(
      ips(ipam, [
        ['a1', 'A'],
        ['a2', 'A'],
        ['a3', 'A', 'u'],
        ['b1', 'B'],
      ]),
      ['10.0.0.0', '10.0.0.1', '10.0.0.8', '10.0.64.0'],
    );
  });

  it('fills a block, then opens the next one of the group', () => {
    const ipam = fourGroups();
    ipam.addHost({ name: 'A', ip: '192.168.0.1' });
    const got = ips(
      ipam,
      Array.from({ length: 10 }, (_, i) => [`p${i}`, 'A'] as [string, string]),
    );
    assert.deepEqual(got.slice(7), ['10.0.0.7', '10.0.0.8', '10.0.0.9']);
    assert.deepEqual(
      ipam.listAllBlocks().blocks.map((b) => [b.cidr, b.allocated_ip_count]),
      [
        ['10.0.0.0/29', 8],
        ['10.0.0.8/29', 2],
      ],
    );
  });

  it('hands out the lowest free address again after a release', () => {
    const ipam = fourGroups();
    ipam.addHost({ name: 'A', ip: '192.168.0.1' });
    ips(ipam, [
      ['a', 'A'],
      ['b', 'A'],
      ['c', 'A'],
    ]);
    ipam.release('b');
    ipam.release('10.0.0.0');
    assert.deepEqual(
      ips(ipam, [
        ['d', 'A'],
        ['e', 'A'],
        ['f', 'A'],
      ]),
      ['10.0.0.0', '10.0.0.1', '10.0.0.3'],
    );
  });

  it('reuses released blocks in release order before making new ones', () => {
    const ipam = fourGroups({}, [{ name: 'only' }]);
    ipam.addHost({ name: 'A', ip: '192.168.0.1' });
    ipam.addHost({ name: 'B', ip: '192.168.0.2' });
    ips(ipam, [
      ['x', 'A', 'x'],
      ['y', 'A', 'y'],
      ['z', 'A', 'z'],
    ]); // blocks .0, .8, .16
    ipam.release('z');
    ipam.release('x');
    assert.deepEqual(
      ips(ipam, [
        ['b1', 'B'],
        ['b2', 'B', 'other'],
      ]),
      ['10.0.0.16', '10.0.0.0'],
    );
    assert.equal(ips(ipam, [['b3', 'B', 'third']])[0], '10.0.0.24');
    const blocks = ipam.listAllBlocks().blocks;
    assert.deepEqual(
      blocks.map((b) => `${b.cidr} ${b.host} ${b.tenant}`),
      ['10.0.0.0/29 B other', '10.0.0.8/29 A y', '10.0.0.16/29 B t', '10.0.0.24/29 B third'],
    );
  });

  it('keeps a released block listed, free and without owner', () => {
    const ipam = fourGroups();
    ipam.addHost({ name: 'A', ip: '192.168.0.1' });
    ips(ipam, [['a', 'A']]);
    ipam.release('a');
    assert.deepEqual(ipam.listAllBlocks().blocks, [
      {
        revision: 2,
        cidr: '10.0.0.0/29',
        network: 'net1',
        tenant: '',
        segment: '',
        host: '',
        allocated_ip_count: 0,
      },
    ]);
  });

  it('never shares a block between segments, tenants or hosts', () => {
    const ipam = fourGroups({}, [{ name: 'only' }]);
    ipam.addHost({ name: 'A', ip: '192.168.0.1' });
    ipam.addHost({ name: 'B', ip: '192.168.0.2' });
    const got = ips(ipam, [
      ['1', 'A', 't', 's1'],
      ['2', 'A', 't', 's2'],
      ['3', 'A', 'u', 's1'],
      ['4', 'B', 't', 's1'],
      ['5', 'A', 't', 's1'],
    ]);
    assert.deepEqual(got, ['10.0.0.0', '10.0.0.8', '10.0.0.16', '10.0.0.24', '10.0.0.1']);
  });

  it('reports a full group as no available IP, then recovers after a release', () => {
    const ipam = new Ipam();
    ipam.updateTopology({
      networks: [{ name: 'n', cidr: '10.0.0.0/29', block_mask: 30 }],
      topologies: [{ networks: ['n'], map: [{ name: 'g' }] }],
    });
    ipam.addHost({ name: 'A', ip: '192.168.0.1' });
    ips(ipam, [
      ['1', 'A'],
      ['2', 'A'],
      ['3', 'A'],
      ['4', 'A'],
      ['5', 'A'],
      ['6', 'A'],
      ['7', 'A'],
      ['8', 'A'],
    ]);
    throwsCode(
      () => ipam.allocate({ name: '9', host: 'A' }),
      'NoAvailableIP',
      'No available IP. Host A has no free address for no tenant, no segment in network(s) n.',
    );
    throwsCode(
      () => ipam.allocate({ name: '9', host: 'A', tenant: 't' }),
      'NoAvailableIP',
      'No available IP. Host A has no free address for tenant t, no segment in network(s) n.',
    );
    ipam.release('5');
    assert.equal(ipam.allocate({ name: '9', host: 'A', tenant: 't', segment: 's' }).ip, '10.0.0.4');
  });
});

describe('tenants and networks (reference §2.6)', () => {
  function twoNets(): Ipam {
    const ipam = new Ipam();
    ipam.updateTopology({
      networks: [
        { name: 'open', cidr: '10.0.0.0/16' },
        { name: 'web', cidr: '10.1.0.0/16', tenants: ['web'] },
      ],
      topologies: [
        { networks: ['open'], map: [{ name: 'g' }] },
        { networks: ['web'], map: [{ name: 'g' }] },
      ],
    });
    ipam.addHost({ name: 'A', ip: '192.168.0.1' });
    return ipam;
  }

  it('gives a tenant its own networks first, then the wildcard ones', () => {
    const ipam = twoNets();
    assert.equal(ipam.allocate({ name: 'w', host: 'A', tenant: 'web' }).network, 'web');
    assert.equal(ipam.allocate({ name: 'x', host: 'A', tenant: 'other' }).network, 'open');
    assert.equal(ipam.allocate({ name: 'y', host: 'A', tenant: '' }).network, 'open');
  });

  it('says when a tenant has no network at all', () => {
    const ipam = new Ipam();
    ipam.updateTopology({
      networks: [{ name: 'web', cidr: '10.1.0.0/16', tenants: ['web'] }],
      topologies: [{ networks: ['web'], map: [{ name: 'g' }] }],
    });
    ipam.addHost({ name: 'A', ip: '192.168.0.1' });
    throwsCode(
      () => ipam.allocate({ name: 'x', host: 'A', tenant: 'db' }),
      'NotFound',
      'No networks found for tenant db.',
    );
    // No Go-style gap ("for tenant ."): an address without a tenant says so.
    throwsCode(
      () => ipam.allocate({ name: 'x', host: 'A' }),
      'NotFound',
      'No networks found for an address without a tenant: each network lists the tenants it takes.',
    );
  });
});

describe('allocation and release errors', () => {
  const ipam = fourGroups();
  ipam.addHost({ name: 'A', ip: '192.168.0.1' });
  ipam.allocate({ name: 'taken', host: 'A' });

  it('requires a name and a host', () => {
    throwsCode(() => ipam.allocate({ name: '', host: 'A' }), 'InvalidInput', 'Name required');
    throwsCode(() => ipam.allocate({ name: 'n', host: '' }), 'InvalidInput', 'Host required');
  });

  it('refuses a name already allocated, saying where it is', () => {
    throwsCode(
      () => ipam.allocate({ name: 'taken', host: 'A' }),
      'AlreadyExists',
      'Address with name taken already allocated: 10.0.0.0',
    );
  });

  it('names an unknown host', () => {
    throwsCode(() => ipam.allocate({ name: 'n', host: 'nope' }), 'NotFound', /Host nope not found/);
  });

  it('rejects a tenant with a colon, which would make owners ambiguous', () => {
    throwsCode(
      () => ipam.allocate({ name: 'n', host: 'A', tenant: 'a:b' }),
      'InvalidInput',
      /^tenant: 'a:b'/,
    );
  });

  it('reports unknown names and IPs as not found', () => {
    throwsCode(
      () => ipam.release('ghost'),
      'NotFound',
      "No address named 'ghost' (and it is not an IP address)",
    );
    throwsCode(
      () => ipam.release('10.0.0.5'),
      'NotFound',
      'No address named or holding IP 10.0.0.5',
    );
    throwsCode(
      () => ipam.release('172.16.0.1'),
      'NotFound',
      'No address named or holding IP 172.16.0.1',
    );
  });

  it('releases by IP and returns what it released', () => {
    const v = ipam.release('10.0.0.0');
    assert.deepEqual(v, {
      name: 'taken',
      ip: '10.0.0.0',
      ips: [{ ip: '10.0.0.0', network: 'net1', block: '10.0.0.0/29' }],
      host: 'A',
      tenant: '',
      segment: '',
      network: 'net1',
      block: '10.0.0.0/29',
    });
    assert.deepEqual(ipam.listAddresses(), []);
  });
});
