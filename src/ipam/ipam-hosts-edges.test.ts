/**
 * Hosts and blackouts at the edges: every field of a host request checked with a message that
 * names the field and value, a refused request changes nothing, removal frees a host's place
 * and addresses, tags and Kubernetes info change only when they differ, and blackouts name
 * the lowest address they would take and bump their network's revision.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isRomanaError } from '../errors.ts';
import { allocate } from './alloc.ts';
import { addHost, addressCount } from './hosts.ts';
import { Ipam } from './ipam.ts';
import type { HostRequest } from './hosts.ts';
import { State } from './state.ts';
import { parseTopology } from './topology.ts';
import { fourGroups, throwsCode } from './ipam.fixtures.ts';

/** The error `fn` throws, with its fields. */
function caught(fn: () => unknown): { code: string; message: string; rest: unknown[] } {
  try {
    fn();
  } catch (e) {
    assert.ok(isRomanaError(e), `expected a RomanaError, got ${String(e)}`);
    return { code: e.code, message: e.message, rest: [e.semantic, e.resourceType, e.resourceId] };
  }
  return assert.fail('no error');
}

describe('host requests at the edges', () => {
  it('names each bad field and its value, and registers nothing', () => {
    const ipam = fourGroups();
    const long = `a${'b'.repeat(251)}c`;
    const cases: Array<[HostRequest, string]> = [
      [{ name: null, ip: '10.9.0.1' }, 'Host name is required.'],
      [{ name: '', ip: '10.9.0.1' }, 'Host name is required.'],
      [
        { name: 7, ip: '10.9.0.1' },
        "name: '7' is not a valid host name (letters, digits, '.', '_' and '-', at most 253)",
      ],
      [
        { name: 'a b', ip: '10.9.0.1' },
        "name: 'a b' is not a valid host name (letters, digits, '.', '_' and '-', at most 253)",
      ],
      [
        { name: '-ab', ip: '10.9.0.1' },
        "name: '-ab' is not a valid host name (letters, digits, '.', '_' and '-', at most 253)",
      ],
      [
        { name: 'ab-', ip: '10.9.0.1' },
        "name: 'ab-' is not a valid host name (letters, digits, '.', '_' and '-', at most 253)",
      ],
      [
        { name: `${long}d`, ip: '10.9.0.1' },
        `name: '${long}d' is not a valid host name (letters, digits, '.', '_' and '-', at most 253)`,
      ],
      [{ name: 'h', ip: null }, 'Host IP is required.'],
      [{ name: 'h', ip: '' }, 'Host IP is required.'],
      [{ name: 'h', ip: 7 }, 'ip: must be a string'],
      [
        { name: 'h', ip: 'fd00::1' },
        "ip: 'fd00::1' is an IPv6 address; this field takes an IPv4 address",
      ],
      [{ name: 'h', ip: '10.9.0.1', ip6: 7 }, 'ip6: must be a string'],
      [
        { name: 'h', ip: '10.9.0.1', ip6: '10.9.0.2' },
        "ip6: '10.9.0.2' is an IPv4 address; this field takes an IPv6 address",
      ],
      [{ name: 'h', ip: '10.9.0.1', tags: 'rack=1' }, 'tags: must be an object of string labels'],
      [{ name: 'h', ip: '10.9.0.1', tags: ['a'] }, 'tags: must be an object of string labels'],
      [{ name: 'h', ip: '10.9.0.1', tags: { a: 'x', b: 2 } }, 'tags.b: must be a string, got 2'],
      [
        { name: 'h', ip: '10.9.0.1', agent_port: '9604' },
        'agent_port: "9604" is not a port number (1-65535)',
      ],
      [
        { name: 'h', ip: '10.9.0.1', agent_port: 1.5 },
        'agent_port: 1.5 is not a port number (1-65535)',
      ],
      [
        { name: 'h', ip: '10.9.0.1', agent_port: -1 },
        'agent_port: -1 is not a port number (1-65535)',
      ],
      [
        { name: 'h', ip: '10.9.0.1', agent_port: 65536 },
        'agent_port: 65536 is not a port number (1-65535)',
      ],
      [{ name: 'h', ip: '10.9.0.1', k8s_info: 'x' }, 'k8s_info: must be an object'],
      [{ name: 'h', ip: '10.9.0.1', k8s_info: [1] }, 'k8s_info: must be an object'],
    ];
    for (const [r, message] of cases) {
      const e = caught(() => ipam.addHost(r));
      assert.deepEqual([e.code, e.message], ['InvalidInput', message], JSON.stringify(r));
    }
    assert.deepEqual(ipam.listHosts(), { hosts: [], revision: 1 });
  });

  it('takes the fields it may leave out as absent, and the edge values as given', () => {
    const ipam = fourGroups();
    const long = `a${'b'.repeat(251)}c`;
    const tags = { rack: 'r1' };
    const info = { podCIDR: '10.244.0.0/24' };
    const h = ipam.addHost({
      name: long,
      ip: '10.9.0.1',
      ip6: '',
      tags,
      agent_port: 65535,
      k8s_info: info,
    });
    assert.deepEqual(
      [h.name, h.ip6, h.tags, h.agent_port, h.k8s_info],
      [long, undefined, { rack: 'r1' }, 65535, { podCIDR: '10.244.0.0/24' }],
    );
    // The engine keeps copies: the caller's objects may change afterwards.
    tags.rack = 'r2';
    info.podCIDR = 'changed';
    assert.deepEqual(ipam.getHost({ name: long }).tags, { rack: 'r1' });
    assert.deepEqual(ipam.getHost({ name: long }).k8s_info, { podCIDR: '10.244.0.0/24' });
    const empty = { name: 'e', ip: '10.9.0.2', ip6: null, tags: null, k8s_info: null };
    for (const agent_port of [null, 0, undefined]) {
      const e = ipam.addHost({ ...empty, agent_port });
      assert.deepEqual([e.ip6, e.tags, e.agent_port, e.k8s_info], [undefined, null, 9604, null]);
      ipam.removeHost({ name: 'e' });
    }
    assert.equal(ipam.addHost({ name: 'one', ip: '10.9.0.3', agent_port: 1 }).agent_port, 1);
    assert.equal(ipam.addHost({ name: 'A.b_c-9', ip: '10.9.0.4' }).name, 'A.b_c-9');
    assert.deepEqual(ipam.addHost({ name: 'x', ip: '10.9.0.5', tags: {} }).tags, {});
  });

  it('counts a registration in the topology revision, and a refused one not', () => {
    const ipam = fourGroups({}, [{ name: 'r1', assignment: { rack: 'r1' } }]);
    const r0 = ipam.revisions.topology;
    ipam.addHost({ name: 'h', ip: '10.9.0.1', tags: { rack: 'r1' } });
    assert.equal(ipam.revisions.topology, r0 + 1);
    const e = caught(() => ipam.addHost({ name: 'g', ip: '10.9.0.2' }));
    assert.deepEqual(e.rest, [true, 'host', 'g'], 'fits nowhere: a semantic error naming it');
    assert.equal(ipam.revisions.topology, r0 + 1);
  });
});

describe('removing a host', () => {
  it('frees its place in its group, its IPv6 address and its dual-stack names once each', () => {
    const ipam = new Ipam();
    ipam.updateTopology({
      networks: [
        { name: 'v4', cidr: '10.0.0.0/16', block_mask: 28 },
        { name: 'v6', cidr: 'fd00:10::/48', block_mask: 124 },
      ],
      topologies: [{ networks: ['v4', 'v6'], map: [{ name: 'a' }, { name: 'b' }] }],
    });
    ipam.addHost({ name: 'h1', ip: '10.9.0.1', ip6: 'fd00:ff::1' });
    ipam.allocate({ name: 'p', host: 'h1' });
    ipam.allocate({ name: 'q', host: 'h1' });
    const r = ipam.revisions;
    const removed = ipam.removeHost({ ip: '10.9.0.1' });
    assert.deepEqual(removed, {
      name: 'h1',
      ip: '10.9.0.1',
      releasedAddresses: ['p', 'q'],
      releasedBlocks: ['10.0.0.0/28', 'fd00:10::/124'],
    });
    assert.deepEqual(ipam.revisions, { allocation: r.allocation + 1, topology: r.topology + 1 });
    // Its IPv6 address and its place in group a are free for the next host.
    const h2 = ipam.addHost({ name: 'h2', ip: '10.9.0.2', ip6: 'fd00:ff::1' });
    assert.deepEqual(
      h2.groups.map((g) => g.group),
      ['a', 'a'],
    );
    // A host without blocks: the allocation revision stays.
    const r2 = ipam.revisions;
    ipam.removeHost({ name: 'h2' });
    assert.deepEqual(ipam.revisions, { allocation: r2.allocation, topology: r2.topology + 1 });
  });

  it('needs a name or an IP', () => {
    const ipam = fourGroups();
    throwsCode(
      () => ipam.removeHost({ name: '', ip: '' }),
      'InvalidInput',
      'At least one of IP, Name must be specified to delete a host',
    );
    throwsCode(
      () => ipam.updateHostTags({}, { a: 'b' }),
      'InvalidInput',
      'At least one of IP, Name must be specified to update a host',
    );
    throwsCode(
      () => ipam.updateHostTags({ name: '', ip: '' }, null),
      'InvalidInput',
      'At least one of IP, Name must be specified to update a host',
    );
  });

  it('counts the addresses a host holds, in every network and for every owner', () => {
    const parsed = parseTopology({
      networks: [
        { name: 'v4', cidr: '10.0.0.0/16', block_mask: 30 },
        { name: 'v6', cidr: 'fd00:10::/48', block_mask: 126 },
      ],
      topologies: [{ networks: ['v4', 'v6'], map: [{ name: 'only' }] }],
    });
    assert.ok(parsed.ok);
    const s = new State(parsed.spec);
    const a = addHost(s, { name: 'A', ip: '10.9.0.1' });
    const b = addHost(s, { name: 'B', ip: '10.9.0.2' });
    for (const [name, host, tenant] of [
      ['a1', 'A', 't'],
      ['a2', 'A', 't'],
      ['a3', 'A', 't'],
      ['a4', 'A', 't'],
      ['a5', 'A', 't'],
      ['a6', 'A', 'u'],
      ['b1', 'B', 't'],
    ] as const) {
      allocate(s, { name, host, tenant });
    }
    // Two families each: 6 names on A in three blocks per family.
    assert.equal(addressCount(a), 12);
    assert.equal(addressCount(b), 2);
  });
});

describe('host tags and Kubernetes info', () => {
  it('clears tags with null, and refuses tags a group on its path needs, as a semantic error', () => {
    const ipam = fourGroups({}, [
      { name: 'outer', assignment: { zone: 'z' }, groups: [{ name: 'inner' }, { name: 'x' }] },
      { name: 'free' },
    ]);
    ipam.addHost({ name: 'h', ip: '10.9.0.1', tags: { zone: 'z' } });
    ipam.addHost({ name: 'f', ip: '10.9.0.2', tags: { k: 'v' } });
    const r = ipam.revisions.topology;
    const e = caught(() => ipam.updateHostTags({ name: 'h' }, null));
    assert.deepEqual(
      [e.message, e.rest],
      ['Host h cannot take no tags: its group outer needs tags zone=z', [true, 'host', 'h']],
    );
    assert.equal(ipam.revisions.topology, r);
    // Same keys, another value; other keys, same count: both are changes.
    assert.equal(ipam.updateHostTags({ name: 'f' }, { k: 'w' }), true);
    assert.equal(ipam.updateHostTags({ name: 'f' }, { j: 'w' }), true);
    assert.deepEqual(ipam.getHost({ name: 'f' }).tags, { j: 'w' });
    assert.equal(ipam.updateHostTags({ name: 'f' }, null), true);
    assert.equal(ipam.getHost({ name: 'f' }).tags, null);
    assert.equal(ipam.updateHostTags({ name: 'f' }, undefined), false);
    assert.equal(ipam.updateHostTags({ name: 'f' }, {}), false, 'no tags is no tags');
    assert.equal(ipam.revisions.topology, r + 3);
  });

  it('changes Kubernetes info only when it differs, and clears it with null', () => {
    const ipam = fourGroups();
    ipam.addHost({ name: 'h', ip: '10.9.0.1' });
    const r = ipam.revisions.topology;
    assert.equal(ipam.updateHostK8sInfo({ name: 'h' }, null), false);
    assert.equal(ipam.updateHostK8sInfo({ name: 'h' }, { a: 1 }), true);
    assert.equal(ipam.updateHostK8sInfo({ name: 'h' }, { a: 1 }), false);
    assert.equal(ipam.revisions.topology, r + 1);
    assert.equal(ipam.updateHostK8sInfo({ name: 'h' }, undefined), true);
    assert.equal(ipam.getHost({ name: 'h' }).k8s_info, null);
    throwsCode(
      () => ipam.updateHostK8sInfo({ name: 'h' }, 'x'),
      'InvalidInput',
      'k8s_info: must be an object',
    );
  });
});

describe('blackouts at the edges', () => {
  it('names the lowest address a blackout would take, whatever order its blocks were made in', () => {
    const ipam = fourGroups();
    ipam.addHost({ name: 'A', ip: '10.9.0.1' });
    ipam.addHost({ name: 'B', ip: '10.9.0.2' });
    assert.equal(ipam.allocate({ name: 'b', host: 'B' }).ip, '10.0.64.0');
    assert.equal(ipam.allocate({ name: 'a', host: 'A' }).ip, '10.0.0.0');
    const e = caught(() => ipam.blackOut('10.0.0.0/17'));
    assert.deepEqual(
      [e.code, e.message, e.rest],
      [
        'Conflict',
        'Blackout block contains already allocated IPs. 10.0.0.0/17 holds 10.0.0.0.',
        [false, 'blackout', '10.0.0.0/17'],
      ],
    );
  });

  it('names the lowest address it would take in a block made before or after the others', () => {
    // Same group: the lower block was made first.
    const one = fourGroups({}, [{ name: 'only' }]);
    one.addHost({ name: 'A', ip: '10.9.0.1' });
    for (let i = 0; i < 16; i++) one.allocate({ name: `p${i}`, host: 'A' });
    for (let i = 0; i < 15; i++) if (i !== 7) one.release(`p${i}`);
    throwsCode(
      () => one.blackOut('10.0.0.0/28'),
      'Conflict',
      'Blackout block contains already allocated IPs. 10.0.0.0/28 holds 10.0.0.7.',
    );
    // Two groups: the higher block (10.0.0.64/28) was made first.
    const two = new Ipam();
    two.updateTopology({
      networks: [{ name: 'n', cidr: '10.0.0.0/24', block_mask: 28 }],
      topologies: [{ networks: ['n'], map: [{ name: 'g0' }, { name: 'g1' }, { name: 'g2' }] }],
    });
    two.addHost({ name: 'A', ip: '10.9.0.1' });
    two.addHost({ name: 'B', ip: '10.9.0.2' });
    for (let i = 0; i < 16; i++) two.allocate({ name: `b${i}`, host: 'B' });
    for (let i = 0; i < 64; i++) two.allocate({ name: `a${i}`, host: 'A' });
    for (let i = 0; i < 15; i++) two.release(`b${i}`);
    for (let i = 0; i < 63; i++) two.release(`a${i}`);
    throwsCode(
      () => two.blackOut('10.0.0.0/25'),
      'Conflict',
      'Blackout block contains already allocated IPs. 10.0.0.0/25 holds 10.0.0.63.',
    );
  });

  it('checks exactly the addresses it covers, at a block’s first and last address too', () => {
    const ipam = fourGroups();
    ipam.addHost({ name: 'A', ip: '10.9.0.1' });
    const got = Array.from({ length: 9 }, (_, i) => ipam.allocate({ name: `p${i}`, host: 'A' }).ip);
    assert.deepEqual(got.slice(7), ['10.0.0.7', '10.0.0.8']);
    for (const i of [1, 2, 3, 4]) ipam.release(`p${i}`);
    const holds = (cidr: string, ip: string) =>
      throwsCode(
        () => ipam.blackOut(cidr),
        'Conflict',
        `Blackout block contains already allocated IPs. ${cidr} holds ${ip}.`,
      );
    holds('10.0.0.7/32', '10.0.0.7');
    holds('10.0.0.8/32', '10.0.0.8');
    holds('10.0.0.4/30', '10.0.0.5');
    holds('10.0.0.0/31', '10.0.0.0');
    // Inside one block, between used addresses: free.
    assert.equal(ipam.blackOut('10.0.0.2/31'), true);
    assert.deepEqual(ipam.listBlackouts(), [{ network: 'net1', cidr: '10.0.0.2/31' }]);
  });

  it('bumps its network’s revision when it changes the list, and only then', () => {
    const ipam = fourGroups();
    const rev = () => ipam.listNetworks()[0]!.revision;
    const r = rev();
    assert.equal(ipam.blackOut('10.0.2.0/24'), true);
    assert.equal(rev(), r + 1);
    assert.equal(ipam.blackOut('10.0.2.0/25'), false);
    assert.equal(rev(), r + 1);
    assert.throws(() => ipam.unBlackOut('10.0.2.0/25'));
    assert.equal(rev(), r + 1);
    ipam.unBlackOut('10.0.2.0/24');
    assert.equal(rev(), r + 2);
    assert.deepEqual(ipam.listBlackouts(), []);
  });

  it('lists blackouts in address order, every network’s in the not-found message', () => {
    const ipam = new Ipam();
    ipam.updateTopology({
      networks: [
        { name: 'a', cidr: '10.0.0.0/16' },
        { name: 'b', cidr: '10.1.0.0/16' },
      ],
      topologies: [{ networks: ['a', 'b'], map: [{ name: 'g' }] }],
    });
    for (const c of ['10.0.3.0/24', '10.1.0.0/24', '10.0.1.0/24', '10.0.2.0/24']) {
      assert.equal(ipam.blackOut(c), true);
    }
    assert.deepEqual(ipam.listBlackouts(), [
      { network: 'a', cidr: '10.0.1.0/24' },
      { network: 'a', cidr: '10.0.2.0/24' },
      { network: 'a', cidr: '10.0.3.0/24' },
      { network: 'b', cidr: '10.1.0.0/24' },
    ]);
    assert.deepEqual(ipam.blackoutsOf('a'), ['10.0.1.0/24', '10.0.2.0/24', '10.0.3.0/24']);
    const e = caught(() => ipam.unBlackOut('10.0.9.0/24'));
    assert.deepEqual(
      [e.message, e.rest],
      [
        'No such CIDR 10.0.9.0/24 found in the blackout list: [10.0.1.0/24 10.0.2.0/24 10.0.3.0/24 10.1.0.0/24]',
        [false, 'blackout', '10.0.9.0/24'],
      ],
    );
  });

  it('names a missing or unplaceable CIDR, and refuses the whole network as a semantic error', () => {
    const ipam = fourGroups();
    throwsCode(() => ipam.blackOut(''), 'InvalidInput', 'cidr: required');
    throwsCode(() => ipam.blackOut(7 as unknown as string), 'InvalidInput', 'cidr: required');
    throwsCode(
      () => ipam.blackOut('bad'),
      'InvalidInput',
      "cidr: 'bad' is not a CIDR (expected a.b.c.d/n)",
    );
    const nf = caught(() => ipam.blackOut('10.1.0.0/24'));
    assert.deepEqual(nf.rest, [false, 'network', '10.1.0.0/24']);
    const whole = caught(() => ipam.blackOut('10.0.0.0/16'));
    assert.deepEqual([whole.code, whole.rest[0]], ['InvalidInput', true]);
    assert.deepEqual(ipam.listBlackouts(), []);
  });
});
