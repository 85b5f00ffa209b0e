/**
 * Carrying addresses across a topology update (reference §2.9), case by case: each address a
 * new topology cannot hold at its IP refuses the whole update with a semantic error that names
 * the address and says why, and changes nothing; the free blocks created below a carried
 * address are reusable, and a block taken over by an address leaves the reuse list.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isRomanaError } from '../errors.ts';
import { Ipam, type TopologyUpdateRequest } from './index.ts';
import { fourGroups, ips } from './ipam.fixtures.ts';

/** Asserts that the update is refused for address `name` with `message`, changing nothing. */
function refusedFor(ipam: Ipam, doc: unknown, name: string, message: string): void {
  const before = ipam.toSnapshot();
  assert.throws(
    () => ipam.updateTopology(doc),
    (e: unknown) => {
      assert.ok(isRomanaError(e, 'InvalidInput'), `expected InvalidInput, got ${String(e)}`);
      assert.equal(e.message, message);
      assert.equal(e.semantic, true, 'a well-formed document that cannot apply: 422');
      assert.deepEqual([e.resourceType, e.resourceId], ['address', name]);
      return true;
    },
  );
  assert.deepEqual(ipam.toSnapshot(), before, 'a refused update changes nothing');
}

const oneGroup = (mask: number): TopologyUpdateRequest => ({
  networks: [{ name: 'net1', cidr: '10.0.0.0/16', block_mask: mask }],
  topologies: [{ networks: ['net1'], map: [{ name: 'only' }] }],
});

describe('carrying addresses across a topology update', () => {
  it('refuses a network that no longer holds an address, naming it', () => {
    const ipam = fourGroups();
    ipam.addHost({ name: 'A', ip: '10.9.0.1' });
    ips(ipam, [['a', 'A', 't', 's']]);
    refusedFor(
      ipam,
      {
        networks: [{ name: 'net1', cidr: '10.5.0.0/16' }],
        topologies: [{ networks: ['net1'], map: [{ name: 'g' }] }],
      },
      'a',
      'No suitable network found to allocate a: 10.0.0.0 (Host A, tenant t, segment s)',
    );
  });

  it('refuses a host that no longer fits the network holding its address', () => {
    const ipam = new Ipam();
    const doc = (rack: string): TopologyUpdateRequest => ({
      networks: [
        { name: 'net1', cidr: '10.0.0.0/16', block_mask: 29 },
        { name: 'net2', cidr: '10.1.0.0/16', block_mask: 29 },
      ],
      topologies: [
        { networks: ['net1'], map: [{ name: 'r', assignment: { rack } }] },
        { networks: ['net2'], map: [{ name: 'any' }] },
      ],
    });
    ipam.updateTopology(doc('r1'));
    ipam.addHost({ name: 'A', ip: '10.9.0.1', tags: { rack: 'r1' } });
    assert.equal(ipam.allocate({ name: 'a', host: 'A' }).ip, '10.0.0.0');
    refusedFor(ipam, doc('r2'), 'a', 'Host A not found in network net1, but it holds 10.0.0.0');
  });

  it('refuses an address whose host now fits no network at all', () => {
    const ipam = fourGroups({}, [{ name: 'r', assignment: { rack: 'r1' } }]);
    ipam.addHost({ name: 'A', ip: '10.9.0.1', tags: { rack: 'r1' } });
    ips(ipam, [['a', 'A']]);
    const doc = ipam.getTopology();
    doc.topologies[0]!.map = [{ name: 'r', assignment: { rack: 'r2' } }];
    refusedFor(ipam, doc, 'a', 'Host A not found in network net1, but it holds 10.0.0.0');
  });

  it('refuses a host placed in a group whose range does not hold its address', () => {
    const ipam = fourGroups({}, [{ name: 'g0' }, { name: 'g1' }]);
    ipam.addHost({ name: 'A', ip: '10.9.0.1' });
    ips(ipam, [['a', 'A']]);
    const doc = ipam.getTopology();
    doc.topologies[0]!.map = [
      { name: 'g0' },
      { name: 'g1', groups: [{ name: 'A', ip: '10.9.0.1' }] },
    ];
    refusedFor(ipam, doc, 'a', 'Cannot allocate IP 10.0.0.0 in group g1 (10.0.128.0/17) of host A');
    // And the other way round: an address above the group the document gives its host.
    const up = fourGroups({}, [{ name: 'g0' }, { name: 'g1' }]);
    up.addHost({ name: 'A', ip: '10.9.0.1' });
    up.addHost({ name: 'B', ip: '10.9.0.2' });
    ips(up, [['b', 'B']]);
    const down = up.getTopology();
    down.topologies[0]!.map = [
      { name: 'g0', groups: [{ name: 'B', ip: '10.9.0.2' }] },
      { name: 'g1' },
    ];
    refusedFor(up, down, 'b', 'Cannot allocate IP 10.0.128.0 in group g0 (10.0.0.0/17) of host B');
  });

  it("keeps an address at its group's very first and last addresses", () => {
    const ipam = new Ipam();
    const doc: TopologyUpdateRequest = {
      networks: [{ name: 'n', cidr: '10.0.0.0/29', block_mask: 30 }],
      topologies: [{ networks: ['n'], map: [{ name: 'g0' }, { name: 'g1' }] }],
    };
    ipam.updateTopology(doc);
    ipam.addHost({ name: 'A', ip: '10.9.0.1' });
    const got = ips(ipam, [
      ['p0', 'A'],
      ['p1', 'A'],
      ['p2', 'A'],
      ['p3', 'A'],
    ]);
    assert.deepEqual(got, ['10.0.0.0', '10.0.0.1', '10.0.0.2', '10.0.0.3']);
    ipam.updateTopology(doc);
    assert.deepEqual(
      ipam.listAddresses().map((a) => a.ip),
      got,
    );
  });

  it('refuses an address a blackout now covers', () => {
    const ipam = fourGroups();
    ipam.addHost({ name: 'A', ip: '10.9.0.1' });
    ips(ipam, [['a', 'A']]);
    // What the store holds wins over the local check (another replica reserved the range).
    ipam.applyBlackouts('net1', ['10.0.0.0/30']);
    refusedFor(
      ipam,
      ipam.getTopology(),
      'a',
      'Cannot allocate 10.0.0.0: blacked out by 10.0.0.0/30',
    );
  });

  it('refuses two owners whose blocks a larger block mask would merge', () => {
    const ipam = new Ipam();
    ipam.updateTopology(oneGroup(29));
    ipam.addHost({ name: 'A', ip: '10.9.0.1' });
    ipam.addHost({ name: 'B', ip: '10.9.0.2' });
    // Same host, another owner in the next /29.
    ips(ipam, [
      ['a', 'A', 't'],
      ['u', 'A', 'u'],
    ]);
    refusedFor(
      ipam,
      oneGroup(28),
      'u',
      'Cannot allocate IP 10.0.0.8 on host A: block belongs to A (tenant t, segment s)',
    );
    // Same owner, another host in the next /29.
    ipam.release('u');
    ipam.allocate({ name: 'x', host: 'A', tenant: 'x' });
    assert.equal(
      ipam.allocate({ name: 'b', host: 'B', tenant: 't', segment: 's' }).ip,
      '10.0.0.16',
    );
    ipam.release('x');
    const doc = oneGroup(27);
    refusedFor(
      ipam,
      doc,
      'b',
      'Cannot allocate IP 10.0.0.16 on host B: block belongs to A (tenant t, segment s)',
    );
    // The same owner on the same host may share the merged block.
    ipam.release('b');
    ips(ipam, [['c', 'A', 't']]);
    ipam.updateTopology(doc);
    assert.deepEqual(
      ipam.listAddresses().map((a) => [a.name, a.ip, a.block]),
      [
        ['a', '10.0.0.0', '10.0.0.0/27'],
        ['c', '10.0.0.1', '10.0.0.0/27'],
      ],
    );
  });

  it('refuses an IPv6 address past the first 2^32 of a block a larger mask makes', () => {
    const doc = (mask: number): TopologyUpdateRequest => ({
      networks: [{ name: 'v6', cidr: 'fd00:10::/48', block_mask: mask }],
      topologies: [{ networks: ['v6'], map: [{ name: 'a' }, { name: 'b' }] }],
    });
    const ipam = new Ipam();
    ipam.updateTopology(doc(96));
    ipam.addHost({ name: 'h1', ip: '192.168.0.1' });
    assert.equal(ipam.blackOut('fd00:10::/96'), true);
    assert.equal(ipam.allocate({ name: 'p', host: 'h1' }).ip, 'fd00:10::1:0:0');
    refusedFor(
      ipam,
      doc(64),
      'p',
      'Cannot allocate fd00:10::1:0:0: past the first 4294967296 addresses of its block',
    );
  });

  it('creates the blocks below a carried address free, and takes a reused one off the reuse list', () => {
    // Two networks become one: the first network's addresses are carried first, so the blocks
    // below them, the second network's among them, are made free before its addresses come.
    const ipam = new Ipam();
    ipam.updateTopology({
      networks: [
        { name: 'hi', cidr: '10.1.0.0/16', block_mask: 24, tenants: ['a'] },
        { name: 'lo', cidr: '10.0.0.0/16', block_mask: 24, tenants: ['b'] },
      ],
      topologies: [{ networks: ['hi', 'lo'], map: [{ name: 'g' }] }],
    });
    ipam.addHost({ name: 'A', ip: '10.9.0.1' });
    assert.equal(ipam.allocate({ name: 'x', host: 'A', tenant: 'a' }).ip, '10.1.0.0');
    assert.equal(ipam.allocate({ name: 'y', host: 'A', tenant: 'b' }).ip, '10.0.0.0');
    assert.equal(ipam.allocate({ name: 'z', host: 'A', tenant: 'b', segment: 'z' }).ip, '10.0.1.0');
    ipam.updateTopology({
      networks: [{ name: 'all', cidr: '10.0.0.0/15', block_mask: 24, tenants: ['a', 'b'] }],
      topologies: [{ networks: ['all'], map: [{ name: 'g' }] }],
    });
    const held = ipam.listAllBlocks().blocks.filter((b) => b.allocated_ip_count > 0);
    assert.deepEqual(
      held.map((b) => [b.cidr, b.tenant, b.segment, b.host]),
      [
        ['10.0.0.0/24', 'b', '', 'A'],
        ['10.0.1.0/24', 'b', 'z', 'A'],
        ['10.1.0.0/24', 'a', '', 'A'],
      ],
    );
    // The free blocks made below are released in address order, each after the one before.
    const freed = ipam
      .toSnapshot()
      .blocks.filter((b) => b.owner === null)
      .map((b) => b.released);
    assert.equal(freed.length, 254);
    assert.ok(
      freed.every((r, i) => r > (i === 0 ? 0 : freed[i - 1]!)),
      `released in order: ${freed.slice(0, 4).join(', ')}…`,
    );
    assert.ok(
      held.every((b) => b.revision > 0),
      'a block that receives an address has a newer revision than a fresh one',
    );
    // The blocks held are not reusable: a new owner gets the first free block in release order.
    assert.equal(ipam.allocate({ name: 'n', host: 'A', tenant: 'a', segment: 'n' }).ip, '10.0.2.0');
    assert.equal(ipam.allocate({ name: 'm', host: 'A', tenant: 'b', segment: 'm' }).ip, '10.0.3.0');
    assert.equal(ipam.getAddress('y').block, '10.0.0.0/24');
    assert.equal(ipam.allocate({ name: 'y2', host: 'A', tenant: 'b' }).ip, '10.0.0.1');
  });
});
