/** Ipam: hosts (placement, removal, tags) and blackouts. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Ipam } from './ipam.ts';
import { fourGroups, ips, throwsCode } from './ipam.fixtures.ts';

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
      "No group can take host h (10.9.0.1) with tags rack=r9, zone=a: no group's assignment matches them",
    );
    assert.deepEqual(ipam.listHosts().hosts, []);
  });

  it('refuses a second host with the same name or IP, and validates fields', () => {
    const ipam = fourGroups();
    ipam.addHost({ name: 'h', ip: '10.9.0.1' });
    throwsCode(
      () => ipam.addHost({ name: 'h', ip: '10.9.0.2' }),
      'AlreadyExists',
      /^a host named 'h' already exists: h \(10\.9\.0\.1\)$/,
    );
    throwsCode(
      () => ipam.addHost({ name: 'g', ip: '10.9.0.1' }),
      'AlreadyExists',
      /^IP 10\.9\.0\.1 already belongs to another host: h \(10\.9\.0\.1\)$/,
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
    throwsCode(() => ipam.release('a1'), 'NotFound', /^No address named 'a1'/);
    // The freed blocks go to the next owner; the stale name cannot free anyone's address.
    assert.deepEqual(ips(ipam, [['b2', 'B', 'v']]), ['10.0.0.0']);
    throwsCode(() => ipam.release('a1'), 'NotFound', /^No address named 'a1'/);
    assert.deepEqual(
      ipam
        .listAddresses()
        .map((a) => a.name)
        .sort(),
      ['b1', 'b2'],
    );
    throwsCode(() => ipam.removeHost({ name: 'A' }), 'NotFound', "No host named 'A'");
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
      'Host h cannot take tags rack=r2: its group r1 needs tags rack=r1',
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
