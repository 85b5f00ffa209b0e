/**
 * Topology updates at the edges (reference §2.9): hosts written in the document (two IPs for one
 * name, an IP that clashes, the fields a registered host keeps), registered hosts carried over
 * in registration order or dropped, blackouts carried, dropped or absorbed, and the revisions
 * and touched blocks after an update.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isRomanaError } from '../errors.ts';
import { Ipam } from './ipam.ts';
import type { GroupOrHost, TopologyUpdateRequest } from './topology.ts';

const two = (mapA: GroupOrHost[], mapB: GroupOrHost[]): TopologyUpdateRequest => ({
  networks: [
    { name: 'a', cidr: '10.0.0.0/16' },
    { name: 'b', cidr: '10.1.0.0/16' },
  ],
  topologies: [
    { networks: ['a'], map: mapA },
    { networks: ['b'], map: mapB },
  ],
});

/** Asserts a refused update: a semantic InvalidInput about the topology, state unchanged. */
function refused(ipam: Ipam, doc: unknown, message: string, cause?: string): void {
  const before = ipam.toSnapshot();
  assert.throws(
    () => ipam.updateTopology(doc),
    (e: unknown) => {
      assert.ok(isRomanaError(e, 'InvalidInput'), String(e));
      assert.deepEqual(
        [e.message, e.semantic, e.resourceType, (e.cause as { code?: string } | undefined)?.code],
        [message, true, 'topology', cause],
      );
      return true;
    },
  );
  assert.deepEqual(ipam.toSnapshot(), before);
}

describe('hosts written in a topology document', () => {
  it('refuses one name with two IPs, one with two IPv6 addresses, and two names with one IP', () => {
    const ipam = new Ipam();
    refused(
      ipam,
      two([{ name: 'h', ip: '10.9.0.1' }], [{ name: 'h', ip: '10.9.0.2' }]),
      'host h is given two IPs: 10.9.0.1 and 10.9.0.2',
    );
    refused(
      ipam,
      two(
        [{ name: 'h', ip: '10.9.0.1', ip6: 'fd00::1' }],
        [{ name: 'h', ip: '10.9.0.1', ip6: 'fd00::2' }],
      ),
      'host h is given two IPv6 addresses: fd00::1 and fd00::2',
    );
    // Across networks the engine finds the clash; it is reported as a topology problem.
    refused(
      ipam,
      two([{ name: 'h', ip: '10.9.0.1' }], [{ name: 'k', ip: '10.9.0.1' }]),
      'IP 10.9.0.1 already belongs to another host: h (10.9.0.1)',
      'AlreadyExists',
    );
  });

  it('takes an ip6 written in either network, and keeps a registered host’s fields', () => {
    const ipam = new Ipam();
    ipam.updateTopology(
      two([{ name: 'h', ip: '10.9.0.1' }], [{ name: 'h', ip: '10.9.0.1', ip6: 'fd00::2' }]),
    );
    assert.equal(ipam.getHost({ name: 'h' }).ip6, 'fd00::2');
    ipam.updateTopology(
      two([{ name: 'h', ip: '10.9.0.1', ip6: 'fd00::2' }], [{ name: 'h', ip: '10.9.0.1' }]),
    );
    assert.equal(ipam.getHost({ name: 'h' }).ip6, 'fd00::2');
    // Registered through the API with more fields, then written in a document without them.
    const reg = new Ipam();
    reg.updateTopology(two([{ name: 'g' }], [{ name: 'g' }]));
    reg.addHost({
      name: 'h',
      ip: '10.9.0.1',
      ip6: 'fd00::9',
      agent_port: 7000,
      tags: { rack: 'r1' },
      k8s_info: { podCIDR: 'x' },
    });
    reg.updateTopology(two([{ name: 'h', ip: '10.9.0.1' }], [{ name: 'g' }]));
    const { groups, ...view } = reg.getHost({ name: 'h' });
    assert.deepEqual(view, {
      name: 'h',
      ip: '10.9.0.1',
      ip6: 'fd00::9',
      agent_port: 7000,
      tags: { rack: 'r1' },
      k8s_info: { podCIDR: 'x' },
      address_count: 0,
    });
    // A host the document lists sits where the document says: here in network a only.
    assert.deepEqual(
      groups.map((g) => [g.network, g.cidr]),
      [['a', '10.0.0.0/16']],
    );
  });

  it('refuses a document that gives a registered host’s IP to another name', () => {
    const ipam = new Ipam();
    ipam.updateTopology(two([{ name: 'g' }], [{ name: 'g' }]));
    ipam.addHost({ name: 'r', ip: '10.9.0.5' });
    refused(
      ipam,
      two([{ name: 'h', ip: '10.9.0.5' }], [{ name: 'g' }]),
      'host r (10.9.0.5) is registered, but the new topology gives its IP to host h',
    );
  });
});

describe('registered hosts across an update', () => {
  it('keeps them in registration order, and drops those without addresses that fit nowhere', () => {
    const ipam = new Ipam();
    const doc = (rack: string): TopologyUpdateRequest => ({
      networks: [{ name: 'a', cidr: '10.0.0.0/16' }],
      topologies: [
        { networks: ['a'], map: [{ name: 'r', assignment: { rack } }, { name: 'any' }] },
      ],
    });
    ipam.updateTopology(doc('1'));
    ipam.addHost({ name: 'z', ip: '10.9.0.1' });
    ipam.addHost({ name: 'y', ip: '10.9.0.2', tags: { rack: '1' } });
    ipam.addHost({ name: 'x', ip: '10.9.0.3' });
    ipam.removeHost({ name: 'z' });
    ipam.addHost({ name: 'z', ip: '10.9.0.1' });
    const topology = ipam.revisions.topology;
    const dropped = ipam.updateTopology({
      networks: [{ name: 'a', cidr: '10.0.0.0/16' }],
      topologies: [{ networks: ['a'], map: [{ name: 'r', assignment: { rack: '1' } }] }],
    });
    assert.deepEqual(dropped, { droppedHosts: ['x', 'z'], droppedBlackouts: [] });
    assert.deepEqual(
      ipam.listHosts().hosts.map((h) => h.name),
      ['y'],
    );
    assert.equal(ipam.revisions.topology, topology + 1);
    ipam.updateTopology(doc('1'));
    for (const [name, ip] of [
      ['z', '10.9.0.1'],
      ['x', '10.9.0.3'],
    ]) {
      ipam.addHost({ name, ip });
    }
    ipam.updateTopology(doc('1'));
    assert.deepEqual(
      ipam.listHosts().hosts.map((h) => h.name),
      ['y', 'z', 'x'],
    );
  });

  it('puts a host back in the group holding its blocks while that group still takes it', () => {
    const ipam = new Ipam();
    const map = (assign: Record<string, string>): TopologyUpdateRequest => ({
      networks: [{ name: 'a', cidr: '10.0.0.0/16', block_mask: 28 }],
      topologies: [
        {
          networks: ['a'],
          map: [
            { name: 'p', assignment: assign, groups: [{ name: 'p0' }, { name: 'p1' }] },
            { name: 'q' },
          ],
        },
      ],
    });
    ipam.updateTopology(map({ zone: 'z' }));
    ipam.addHost({ name: 'h1', ip: '10.9.0.1', tags: { zone: 'z' } });
    ipam.addHost({ name: 'h2', ip: '10.9.0.2', tags: { zone: 'z' } });
    assert.equal(ipam.allocate({ name: 'a2', host: 'h2' }).ip, '10.0.64.0');
    ipam.removeHost({ name: 'h1' });
    ipam.updateTopology(map({ zone: 'z' }));
    assert.equal(ipam.getHost({ name: 'h2' }).groups[0]!.group, 'p1', 'stays where its blocks are');
    // Its group's parent no longer takes it: the update is refused (its address would move).
    const before = ipam.toSnapshot();
    assert.throws(() => ipam.updateTopology(map({ zone: 'other' })), /h2/);
    assert.deepEqual(ipam.toSnapshot(), before);
  });
});

describe('blackouts and revisions across an update', () => {
  it('carries blackouts to the network that holds them, absorbs covered ones, drops the rest', () => {
    const ipam = new Ipam();
    ipam.updateTopology(two([{ name: 'g' }], [{ name: 'g' }]));
    for (const c of ['10.0.9.0/24', '10.1.4.0/24', '10.1.2.0/24', '10.1.2.0/25']) ipam.blackOut(c);
    ipam.blackOut('10.1.2.0/23');
    assert.deepEqual(ipam.listBlackouts(), [
      { network: 'a', cidr: '10.0.9.0/24' },
      { network: 'b', cidr: '10.1.2.0/23' },
      { network: 'b', cidr: '10.1.4.0/24' },
    ]);
    const r = ipam.updateTopology({
      networks: [
        { name: 'big', cidr: '10.1.0.0/20' },
        { name: 'c', cidr: '10.0.9.0/24' },
      ],
      topologies: [{ networks: ['big', 'c'], map: [{ name: 'g' }] }],
    });
    assert.deepEqual(r, { droppedHosts: [], droppedBlackouts: ['10.0.9.0/24'] });
    assert.deepEqual(ipam.listBlackouts(), [
      { network: 'big', cidr: '10.1.2.0/23' },
      { network: 'big', cidr: '10.1.4.0/24' },
    ]);
  });

  it('merges blackouts of two networks into the one that now holds both, in address order', () => {
    const ipam = new Ipam();
    ipam.updateTopology(two([{ name: 'g' }], [{ name: 'g' }]));
    ipam.blackOut('10.1.0.0/24');
    ipam.blackOut('10.0.5.0/24');
    ipam.blackOut('10.0.4.0/24');
    ipam.updateTopology({
      networks: [{ name: 'all', cidr: '10.0.0.0/15' }],
      topologies: [{ networks: ['all'], map: [{ name: 'g' }] }],
    });
    assert.deepEqual(ipam.blackoutsOf('all'), ['10.0.4.0/24', '10.0.5.0/24', '10.1.0.0/24']);
  });

  it('counts one more revision per network kept, starts new networks at 1, and leaves no touched block', () => {
    const ipam = new Ipam();
    ipam.updateTopology(two([{ name: 'g' }], [{ name: 'g' }]));
    ipam.addHost({ name: 'h', ip: '10.9.0.1' });
    ipam.allocate({ name: 'p', host: 'h' });
    ipam.blackOut('10.0.9.0/24');
    const revs = ipam.listNetworks().map((n) => n.revision);
    assert.deepEqual(revs, [3, 1]);
    const r = ipam.revisions;
    ipam.updateTopology({
      networks: [
        { name: 'a', cidr: '10.0.0.0/16' },
        { name: 'c', cidr: '10.2.0.0/16' },
      ],
      topologies: [{ networks: ['a', 'c'], map: [{ name: 'g' }] }],
    });
    assert.deepEqual(
      ipam.listNetworks().map((n) => [n.id, n.revision]),
      [
        ['a', 4],
        ['c', 1],
      ],
    );
    assert.deepEqual(ipam.revisions, { allocation: r.allocation + 1, topology: r.topology + 1 });
    assert.deepEqual(ipam.takeTouchedBlocks(), []);
    // Sequence numbers go on from where they were: the next block is acquired after the last.
    ipam.allocate({ name: 'q', host: 'h', tenant: 'other' });
    const [t] = ipam.takeTouchedBlocks();
    assert.ok(t!.state.acquired > 2, `acquired ${t!.state.acquired}`);
  });
});

describe('the order addresses are carried in', () => {
  it("keeps an owner's blocks in address order, so the next address is the lowest free one", () => {
    const ipam = new Ipam();
    const doc: TopologyUpdateRequest = {
      networks: [{ name: 'a', cidr: '10.0.0.0/24', block_mask: 29 }],
      topologies: [{ networks: ['a'], map: [{ name: 'g' }] }],
    };
    ipam.updateTopology(doc);
    ipam.addHost({ name: 'h', ip: '10.9.0.1' });
    for (let i = 0; i < 24; i++) ipam.allocate({ name: `p${i}`, host: 'h' });
    // Block 10.0.0.0/29 is emptied and taken again last: its names come last too.
    for (let i = 0; i < 8; i++) ipam.release(`p${i}`);
    for (let i = 0; i < 8; i++) ipam.allocate({ name: `q${i}`, host: 'h' });
    ipam.updateTopology(doc);
    for (const n of ['q3', 'p19']) ipam.release(n);
    assert.equal(ipam.allocate({ name: 'x', host: 'h' }).ip, '10.0.0.3');
    assert.equal(ipam.allocate({ name: 'y', host: 'h' }).ip, '10.0.0.19');
  });

  it("keeps an owner's blocks in address order in a topology's second network too", () => {
    const ipam = new Ipam();
    const doc: TopologyUpdateRequest = {
      networks: [
        { name: 'a', cidr: '10.0.0.0/24', tenants: ['other'] },
        { name: 'b', cidr: '10.1.0.0/24', block_mask: 29, tenants: ['t'] },
      ],
      topologies: [{ networks: ['a', 'b'], map: [{ name: 'g' }] }],
    };
    ipam.updateTopology(doc);
    ipam.addHost({ name: 'h', ip: '10.9.0.1' });
    ipam.allocate({ name: 'o', host: 'h', tenant: 'other' });
    for (let i = 0; i < 24; i++) ipam.allocate({ name: `p${i}`, host: 'h', tenant: 't' });
    // Block 10.1.0.0/29 is emptied and taken again last: its names come last too.
    for (let i = 0; i < 8; i++) ipam.release(`p${i}`);
    for (let i = 0; i < 8; i++) ipam.allocate({ name: `q${i}`, host: 'h', tenant: 't' });
    ipam.updateTopology(doc);
    for (const n of ['q3', 'p19']) ipam.release(n);
    assert.equal(ipam.allocate({ name: 'x', host: 'h', tenant: 't' }).ip, '10.1.0.3');
    assert.equal(ipam.allocate({ name: 'y', host: 'h', tenant: 't' }).ip, '10.1.0.19');
    assert.equal(ipam.allocate({ name: 'z', host: 'h', tenant: 'other' }).ip, '10.0.0.1');
  });

  it('refuses a document with several problems, naming each on a line of its own', () => {
    const ipam = new Ipam();
    ipam.updateTopology(two([{ name: 'g' }], [{ name: 'g' }]));
    refused(
      ipam,
      {
        networks: [
          { name: 'a', cidr: 'nope' },
          { name: 'b', cidr: '10.0.0.0/16', block_mask: 40 },
        ],
        topologies: [{ networks: ['a', 'b'], map: [] }],
      },
      "networks[0].cidr: 'nope' is not a CIDR (expected a.b.c.d/n)\n" +
        'networks[1].block_mask: invalid blockmask(40) for network(b), must be 16 <= blockmask <= 32',
    );
  });

  it('refuses a document that is not a topology with the resource it names', () => {
    assert.throws(
      () => new Ipam().updateTopology({ networks: [] }),
      (e: unknown) =>
        isRomanaError(e, 'InvalidInput') &&
        e.semantic &&
        e.resourceType === 'topology' &&
        e.resourceId === 'topology' &&
        e.message === 'topologies: required, a list of topologies',
    );
  });
});
