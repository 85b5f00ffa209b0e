import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isRomanaError, type ErrorCode } from '../errors.ts';
import { Ipam } from './ipam.ts';
import type { GroupOrHost, NetworkDefinition } from './topology.ts';

function fourGroups(extra: Partial<NetworkDefinition> = {}, map?: GroupOrHost[]): Ipam {
  const ipam = new Ipam();
  ipam.updateTopology({
    networks: [{ name: 'net1', cidr: '10.0.0.0/16', block_mask: 29, ...extra }],
    topologies: [
      {
        networks: ['net1'],
        map: map ?? [{ name: 'g0' }, { name: 'g1' }, { name: 'g2' }, { name: 'g3' }],
      },
    ],
  });
  return ipam;
}

function throwsCode(fn: () => unknown, code: ErrorCode, message: RegExp | string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isRomanaError(e, code), `expected ${code}, got ${String(e)}`);
    if (typeof message === 'string') assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  });
}

const ips = (ipam: Ipam, reqs: Array<[string, string, string?, string?]>): string[] =>
  reqs.map(
    ([name, host, tenant = 't', segment = 's']) =>
      ipam.allocate({ name, host, tenant, segment }).ip,
  );

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
      /^No available IP\./,
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
      'An address object with attributes map[name:ghost] not found',
    );
    throwsCode(
      () => ipam.release('10.0.0.5'),
      'NotFound',
      'An IP object with attributes map[IP:10.0.0.5] not found',
    );
    throwsCode(
      () => ipam.release('172.16.0.1'),
      'NotFound',
      'An IP object with attributes map[IP:172.16.0.1] not found',
    );
  });

  it('releases by IP and returns what it released', () => {
    const v = ipam.release('10.0.0.0');
    assert.deepEqual(v, {
      name: 'taken',
      ip: '10.0.0.0',
      host: 'A',
      tenant: '',
      segment: '',
      network: 'net1',
      block: '10.0.0.0/29',
    });
    assert.deepEqual(ipam.listAddresses(), []);
  });
});

describe('hosts (reference §2.3, §2.8)', () => {
  it('places hosts round-robin in the least loaded eligible group, by labels', () => {
    const ipam = fourGroups({}, [
      { name: 'r1', assignment: { rack: 'r1' } },
      { name: 'r2', assignment: { rack: 'r2' } },
      { name: 'any' },
    ]);
    const group = (name: string, ip: string, tags?: Record<string, string>) =>
      ipam
        .addHost({ name, ip, tags })
        .groups.map((g) => g.group)
        .join();
    assert.equal(group('h1', '10.9.0.1', { rack: 'r2' }), 'r2');
    assert.equal(group('h2', '10.9.0.2'), 'any');
    assert.equal(group('h3', '10.9.0.3', { rack: 'r1' }), 'r1');
    assert.equal(group('h4', '10.9.0.4', { rack: 'r1' }), 'r1', 'ties go to the earliest group');
    assert.equal(group('h5', '10.9.0.5', { rack: 'r1' }), 'any');
  });

  it('says why a host fits nowhere, with its tags', () => {
    const ipam = fourGroups({}, [{ name: 'r1', assignment: { rack: 'r1' } }]);
    throwsCode(
      () => ipam.addHost({ name: 'h', ip: '10.9.0.1', tags: { rack: 'r9', zone: 'a' } }),
      'InvalidInput',
      'No suitable groups to add host 10.9.0.1 (h) Tags: map[rack:r9 zone:a] to.',
    );
    assert.deepEqual(ipam.listHosts().hosts, []);
  });

  it('refuses a second host with the same name or IP, and validates fields', () => {
    const ipam = fourGroups();
    ipam.addHost({ name: 'h', ip: '10.9.0.1' });
    throwsCode(
      () => ipam.addHost({ name: 'h', ip: '10.9.0.2' }),
      'AlreadyExists',
      /map\[name:h\] already exists/,
    );
    throwsCode(
      () => ipam.addHost({ name: 'g', ip: '10.9.0.1' }),
      'AlreadyExists',
      /map\[IP:10\.9\.0\.1\] already exists/,
    );
    throwsCode(() => ipam.addHost({ ip: '10.9.0.3' }), 'InvalidInput', 'Host name is required.');
    throwsCode(() => ipam.addHost({ name: 'x' }), 'InvalidInput', 'Host IP is required.');
    throwsCode(
      () => ipam.addHost({ name: 'x', ip: '10.9.0.300' }),
      'InvalidInput',
      /^ip: '10\.9\.0\.300'/,
    );
    throwsCode(
      () => ipam.addHost({ name: 'x', ip: '10.9.0.3', tags: { a: 1 } }),
      'InvalidInput',
      /^tags\.a: must be a string/,
    );
    assert.equal(ipam.listHosts().hosts.length, 1);
  });

  it('lists each host once, with its tags, even in two networks', () => {
    const ipam = new Ipam();
    ipam.updateTopology({
      networks: [
        { name: 'a', cidr: '10.0.0.0/16' },
        { name: 'b', cidr: '10.1.0.0/16' },
      ],
      topologies: [{ networks: ['a', 'b'], map: [{ name: 'g' }] }],
    });
    ipam.addHost({ name: 'h', ip: '10.9.0.1', tags: { rack: 'r1' } });
    assert.deepEqual(ipam.listHosts().hosts, [
      { name: 'h', ip: '10.9.0.1', agent_port: 9604, tags: { rack: 'r1' }, k8s_info: null },
    ]);
    assert.deepEqual(
      ipam.getHost({ name: 'h' }).groups.map((g) => g.cidr),
      ['10.0.0.0/16', '10.1.0.0/16'],
    );
  });

  it('removes a host: its blocks are freed and its address names are gone', () => {
    const ipam = fourGroups({}, [{ name: 'only' }]);
    ipam.addHost({ name: 'A', ip: '10.9.0.1' });
    ipam.addHost({ name: 'B', ip: '10.9.0.2' });
    ips(ipam, [
      ['a1', 'A'],
      ['a2', 'A', 'u'],
      ['b1', 'B'],
    ]);
    const removed = ipam.removeHost({ name: 'A' });
    assert.deepEqual(removed.releasedAddresses.sort(), ['a1', 'a2']);
    assert.deepEqual(removed.releasedBlocks, ['10.0.0.0/29', '10.0.0.8/29']);
    throwsCode(() => ipam.release('a1'), 'NotFound', /map\[name:a1\]/);
    // The freed blocks go to the next owner; the stale name cannot free anyone's address.
    assert.deepEqual(ips(ipam, [['b2', 'B', 'v']]), ['10.0.0.0']);
    throwsCode(() => ipam.release('a1'), 'NotFound', /map\[name:a1\]/);
    assert.deepEqual(
      ipam
        .listAddresses()
        .map((a) => a.name)
        .sort(),
      ['b1', 'b2'],
    );
    throwsCode(
      () => ipam.removeHost({ name: 'A' }),
      'NotFound',
      'No host found with IP  and/or name A',
    );
    throwsCode(
      () => ipam.removeHost({}),
      'InvalidInput',
      'At least one of IP, Name must be specified to delete a host',
    );
  });

  it('checks that a name and an IP given together agree', () => {
    const ipam = fourGroups();
    ipam.addHost({ name: 'A', ip: '10.9.0.1' });
    throwsCode(
      () => ipam.removeHost({ name: 'B', ip: '10.9.0.1' }),
      'InvalidInput',
      'Found host with IP 10.9.0.1 but it has name A, not B',
    );
    assert.equal(ipam.removeHost({ ip: '10.9.0.1' }).name, 'A');
  });

  it('updates tags only when the host stays eligible for its groups', () => {
    const ipam = fourGroups({}, [
      { name: 'r1', assignment: { rack: 'r1' } },
      { name: 'r2', assignment: { rack: 'r2' } },
    ]);
    ipam.addHost({ name: 'h', ip: '10.9.0.1', tags: { rack: 'r1' } });
    assert.equal(ipam.updateHostTags({ name: 'h' }, { rack: 'r1', extra: 'x' }), true);
    assert.equal(ipam.updateHostTags({ name: 'h' }, { rack: 'r1', extra: 'x' }), false);
    throwsCode(
      () => ipam.updateHostTags({ name: 'h' }, { rack: 'r2' }),
      'InvalidInput',
      'New tags for host h (map[rack:r2]) will result for host being ineligible for current group r1 with assignment map[rack:r1]',
    );
    assert.deepEqual(ipam.getHost({ name: 'h' }).tags, { rack: 'r1', extra: 'x' });
  });

  it('sets Kubernetes info', () => {
    const ipam = fourGroups();
    ipam.addHost({ name: 'h', ip: '10.9.0.1' });
    const before = ipam.revisions.topology;
    assert.equal(ipam.updateHostK8sInfo({ name: 'h' }, { podCIDR: '10.244.0.0/24' }), true);
    assert.deepEqual(ipam.getHost({ name: 'h' }).k8s_info, { podCIDR: '10.244.0.0/24' });
    assert.equal(ipam.revisions.topology, before + 1);
  });
});

describe('blackouts (reference §2.7)', () => {
  function setup(): Ipam {
    const ipam = fourGroups({}, [{ name: 'only' }]);
    ipam.addHost({ name: 'A', ip: '10.9.0.1' });
    return ipam;
  }

  it('skips blacked-out addresses and whole blocks', () => {
    const ipam = setup();
    assert.equal(ipam.blackOut('10.0.0.0/31'), true);
    assert.equal(ipam.blackOut('10.0.0.8/29'), true);
    assert.deepEqual(
      ips(
        ipam,
        Array.from({ length: 7 }, (_, i) => [`p${i}`, 'A'] as [string, string]),
      ),
      ['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6', '10.0.0.7', '10.0.0.16'],
    );
    ipam.unBlackOut('10.0.0.8/29');
    assert.equal(
      ipam.allocate({ name: 'u', host: 'A', tenant: 'other' }).ip,
      '10.0.0.8',
      'the lifted block is reused',
    );
  });

  it('refuses a blackout over allocated addresses, partial overlaps included', () => {
    const ipam = setup();
    ips(ipam, [
      ['a', 'A'],
      ['b', 'A'],
      ['c', 'A'],
      ['d', 'A'],
    ]); // .0-.3
    ipam.release('a');
    ipam.release('b');
    // .0-.1 free, .2-.3 used: /30 covers a used range only partly.
    throwsCode(
      () => ipam.blackOut('10.0.0.0/30'),
      'Conflict',
      /^Blackout block contains already allocated IPs\. 10\.0\.0\.0\/30 holds 10\.0\.0\.2/,
    );
    throwsCode(() => ipam.blackOut('10.0.0.0/24'), 'Conflict', /already allocated IPs/);
    assert.equal(ipam.blackOut('10.0.0.0/31'), true);
    assert.deepEqual(ipam.listBlackouts(), [{ network: 'net1', cidr: '10.0.0.0/31' }]);
  });

  it('ignores a blackout inside an existing one, and absorbs smaller ones', () => {
    const ipam = setup();
    ipam.blackOut('10.0.1.0/28');
    ipam.blackOut('10.0.1.32/28');
    assert.equal(ipam.blackOut('10.0.1.0/29'), false);
    assert.equal(ipam.blackOut('10.0.1.0/24'), true);
    assert.deepEqual(ipam.listBlackouts(), [{ network: 'net1', cidr: '10.0.1.0/24' }]);
  });

  it('names the errors of bad blackouts', () => {
    const ipam = setup();
    throwsCode(
      () => ipam.blackOut('172.16.0.0/24'),
      'NotFound',
      'No network found for 172.16.0.0/24',
    );
    throwsCode(
      () => ipam.blackOut('10.0.0.0/16'),
      'InvalidInput',
      'Cannot black out the entire network (10.0.0.0/16 vs 10.0.0.0/16)',
    );
    throwsCode(() => ipam.blackOut('10.0.0.1/24'), 'InvalidInput', /host bits set/);
    ipam.blackOut('10.0.2.0/24');
    throwsCode(
      () => ipam.unBlackOut('10.0.3.0/24'),
      'NotFound',
      'No such CIDR 10.0.3.0/24 found in the blackout list: [10.0.2.0/24]',
    );
  });
});

describe('topology update (reference §2.9)', () => {
  function populated(): Ipam {
    const ipam = fourGroups({}, [{ name: 'r1', assignment: { rack: 'r1' } }, { name: 'r2' }]);
    ipam.addHost({ name: 'A', ip: '10.9.0.1', tags: { rack: 'r1' } });
    ipam.addHost({ name: 'B', ip: '10.9.0.2' });
    ips(ipam, [
      ['a1', 'A'],
      ['a2', 'A', 'u'],
      ['b1', 'B'],
    ]);
    ipam.release('a1');
    ipam.blackOut('10.0.200.0/24');
    return ipam;
  }

  it('accepts its own GET /topology output and changes no address', () => {
    const ipam = populated();
    const before = ipam.listAddresses();
    const blocks = ipam.listAllBlocks().blocks.filter((b) => b.allocated_ip_count > 0);
    assert.deepEqual(ipam.updateTopology(ipam.getTopology()), {
      droppedHosts: [],
      droppedBlackouts: [],
    });
    assert.deepEqual(ipam.listAddresses(), before);
    assert.deepEqual(
      ipam
        .listAllBlocks()
        .blocks.filter((b) => b.allocated_ip_count > 0)
        .map(({ revision: _r, ...b }) => b),
      blocks.map(({ revision: _r, ...b }) => b),
    );
    assert.deepEqual(ipam.listBlackouts(), [{ network: 'net1', cidr: '10.0.200.0/24' }]);
    assert.deepEqual(ipam.getHost({ name: 'A' }).tags, { rack: 'r1' }, 'tags survive');
  });

  it('keeps addresses when the block mask changes, if owners still fit', () => {
    const ipam = populated();
    const before = ipam.listAddresses().map((a) => `${a.name} ${a.ip} ${a.host}`);
    const doc = ipam.getTopology();
    doc.networks[0]!.block_mask = 28;
    ipam.updateTopology(doc);
    assert.deepEqual(
      ipam.listAddresses().map((a) => `${a.name} ${a.ip} ${a.host}`),
      before,
    );
    assert.ok(ipam.listAllBlocks().blocks.every((b) => b.cidr.endsWith('/28')));
  });

  it('is all-or-nothing: a failing update leaves state and blackouts untouched', () => {
    const ipam = populated();
    const snap = ipam.toSnapshot();
    // Moving the network away strands every address.
    throwsCode(
      () =>
        ipam.updateTopology({
          networks: [{ name: 'net1', cidr: '10.5.0.0/16' }],
          topologies: [{ networks: ['net1'], map: [{ name: 'g' }] }],
        }),
      'InvalidInput',
      /No suitable network found to allocate a2: 10\.0\.0\.8 \(Host A, tenant u, segment s\)/,
    );
    assert.deepEqual(ipam.toSnapshot(), snap);
  });

  it('refuses when a host that owns addresses no longer fits its group', () => {
    const ipam = populated();
    const doc = ipam.getTopology();
    doc.topologies[0]!.map.reverse(); // A's addresses are in the first half, A is now listed in the second
    throwsCode(
      () => ipam.updateTopology(doc),
      'InvalidInput',
      /Cannot allocate IP 10\.0\.0\.8 in group r1 \(10\.0\.128\.0\/17\) of host A/,
    );
  });

  it('keeps hosts registered before, even when the document does not list them', () => {
    const ipam = populated();
    ipam.updateTopology({
      networks: [{ name: 'net1', cidr: '10.0.0.0/16', block_mask: 29 }],
      topologies: [
        { networks: ['net1'], map: [{ name: 'r1', assignment: { rack: 'r1' } }, { name: 'r2' }] },
      ],
    });
    assert.deepEqual(
      ipam.listHosts().hosts.map((h) => h.name),
      ['A', 'B'],
    );
    assert.equal(ipam.getAddress('b1').ip, '10.0.128.0');
  });

  it('re-homes an address into an already released block and gives that block to its owner', () => {
    const ipam = fourGroups({}, [{ name: 'only' }]);
    ipam.addHost({ name: 'A', ip: '10.9.0.1' });
    ips(ipam, [
      ['x', 'A', 'x'],
      ['y', 'A', 'y'],
    ]);
    ipam.release('x');
    ipam.updateTopology(ipam.getTopology());
    // 10.0.0.0/29 is free again: the next owner takes it, and y's block stays y's.
    assert.equal(ipam.allocate({ name: 'z', host: 'A', tenant: 'z' }).ip, '10.0.0.0');
    assert.equal(
      ipam.allocate({ name: 'y2', host: 'A', tenant: 'y', segment: 's' }).ip,
      '10.0.0.9',
    );
  });

  it('grows the revisions', () => {
    const ipam = populated();
    const r = ipam.revisions;
    ipam.updateTopology(ipam.getTopology());
    assert.ok(ipam.revisions.topology > r.topology && ipam.revisions.allocation > r.allocation);
  });
});

describe('revisions and snapshots (reference §2.11)', () => {
  it('bumps the allocation revision on allocate/release and the topology revision on host changes', () => {
    const ipam = fourGroups();
    const r0 = ipam.revisions;
    ipam.addHost({ name: 'A', ip: '10.9.0.1' });
    assert.deepEqual(ipam.revisions, { allocation: r0.allocation, topology: r0.topology + 1 });
    ipam.allocate({ name: 'a', host: 'A' });
    ipam.release('a');
    assert.deepEqual(ipam.revisions, { allocation: r0.allocation + 2, topology: r0.topology + 1 });
    ipam.allocate({ name: 'b', host: 'A' });
    ipam.removeHost({ name: 'A' });
    assert.deepEqual(
      ipam.revisions,
      { allocation: r0.allocation + 4, topology: r0.topology + 2 },
      'removing a host with blocks notifies block watchers',
    );
  });

  it('round-trips through a plain-JSON snapshot and continues identically', () => {
    const ipam = fourGroups({}, [{ name: 'only' }]);
    ipam.addHost({ name: 'A', ip: '10.9.0.1', tags: { a: 'b' } });
    ipam.addHost({ name: 'B', ip: '10.9.0.2' });
    ips(ipam, [
      ['1', 'A', 'x'],
      ['2', 'A', 'y'],
      ['3', 'B', 'x'],
      ['4', 'A', 'x'],
    ]);
    ipam.release('1');
    ipam.release('2');
    ipam.blackOut('10.0.9.0/24');
    const snap = JSON.parse(JSON.stringify(ipam.toSnapshot()));
    const copy = new Ipam(snap);
    assert.deepEqual(copy.toSnapshot(), ipam.toSnapshot());
    const next = (i: Ipam) =>
      ips(i, [
        ['5', 'B', 'q'],
        ['6', 'A', 'x'],
        ['7', 'A', 'r'],
      ]);
    assert.deepEqual(next(copy), next(ipam));
  });

  it('refuses an inconsistent snapshot with an internal error', () => {
    const ipam = fourGroups();
    ipam.addHost({ name: 'A', ip: '10.9.0.1' });
    ipam.allocate({ name: 'a', host: 'A' });
    const snap = ipam.toSnapshot();
    snap.addresses.push({ name: 'b', ip: '10.0.0.0' });
    throwsCode(() => new Ipam(snap), 'Conflict', /already allocated/);
    const snap2 = ipam.toSnapshot();
    snap2.addresses[0]!.ip = '10.0.99.1';
    throwsCode(() => new Ipam(snap2), 'Internal', /address a \(10\.0\.99\.1\) has no block/);
  });
});
