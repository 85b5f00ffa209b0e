/**
 * Restoring an engine from its stored records at the edges: records in any order give the same
 * engine (hosts in registration order, an owner's blocks in acquisition order, free blocks in
 * release order, blackouts in address order), counters carried on, and every inconsistency
 * refused with what it is.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isRomanaError } from '../errors.ts';
import { twoRacks } from './ipam.fixtures.ts';
import { Ipam } from './ipam.ts';
import type { IpamSnapshot } from './snapshot.ts';

/** An engine with a history: hosts, owners with two blocks, free blocks, blackouts. */
function busy(): Ipam {
  const a = twoRacks();
  a.addHost({ name: 'h0', ip: '10.9.0.3' });
  a.allocate({ name: 'x', host: 'h1', tenant: 'x' }); // 10.0.0.0/29
  for (let i = 0; i < 8; i++) a.allocate({ name: `p${i}`, host: 'h1', tenant: 't' }); // 10.0.0.8/29
  a.release('x');
  // t's second block is the free 10.0.0.0/29: acquired after, but below, its first.
  assert.equal(a.allocate({ name: 'p8', host: 'h1', tenant: 't' }).ip, '10.0.0.0');
  for (const t of ['y', 'w', 'u']) a.allocate({ name: t, host: 'h1', tenant: t });
  a.release('p0');
  for (const t of ['u', 'y', 'w']) a.release(t);
  a.addHost({ name: 'h5', ip: '10.9.0.5' });
  a.blackOut('10.0.200.0/24');
  a.blackOut('10.0.100.0/24');
  return a;
}

const reversed = (s: IpamSnapshot): IpamSnapshot => ({
  ...s,
  networks: [...s.networks].reverse().map((n) => ({ ...n, blackouts: [...n.blackouts].reverse() })),
  hosts: [...s.hosts].reverse(),
  blocks: [...s.blocks].reverse(),
  addresses: [...s.addresses].reverse(),
});

function corrupt(snap: IpamSnapshot, what: string): void {
  assert.throws(
    () => new Ipam(snap),
    (e: unknown) =>
      isRomanaError(e, 'Internal') && e.message === `stored IPAM state is inconsistent: ${what}`,
  );
}

describe('restoring from records in any order', () => {
  it('gives the same engine, which goes on allocating as the original would', () => {
    const a = busy();
    const snap = a.toSnapshot();
    a.takeTouchedBlocks();
    const b = new Ipam(reversed(snap));
    const c = new Ipam(snap);
    const sorted = (s: IpamSnapshot) => ({
      ...s,
      addresses: [...s.addresses].sort((x, y) => (x.name < y.name ? -1 : 1)),
    });
    assert.deepEqual(sorted(b.toSnapshot()), sorted(snap));
    assert.deepEqual(b.listHosts(), a.listHosts());
    assert.deepEqual(b.takeTouchedBlocks(), []);
    assert.deepEqual(b.revisions, a.revisions);
    assert.deepEqual(b.blackoutsOf('n'), ['10.0.100.0/24', '10.0.200.0/24']);
    for (const e of [a, b, c]) {
      // t's two blocks both have room: the first acquired is used first.
      assert.equal(e.allocate({ name: 'q', host: 'h1', tenant: 't' }).ip, '10.0.0.8');
      // The free block released first is reused first.
      assert.equal(e.allocate({ name: 'z', host: 'h1', tenant: 'z' }).ip, '10.0.0.32');
      assert.equal(e.allocate({ name: 'v', host: 'h1', tenant: 'v' }).ip, '10.0.0.16');
      e.addHost({ name: 'h9', ip: '10.9.0.9' });
    }
    assert.deepEqual(b.takeTouchedBlocks(), a.takeTouchedBlocks());
    assert.equal(b.hostRecord('h9').seq, a.hostRecord('h9').seq);
    assert.deepEqual(
      b.listHosts().hosts.map((h) => h.name),
      ['h1', 'h2', 'h0', 'h5', 'h9'],
    );
  });
});

describe('stored records that do not hold together', () => {
  const snap = busy().toSnapshot();

  it('refuses an unknown version or a topology that is not valid', () => {
    corrupt({ ...snap, version: 2 as 1 }, 'unknown version 2');
    const networks = [
      { name: 'n', cidr: 'nope' },
      { name: 'm', cidr: '10.1.0.0/16', block_mask: 40 },
    ];
    corrupt(
      { ...snap, topology: { ...snap.topology, networks } },
      "topology: networks[0].cidr: 'nope' is not a CIDR (expected a.b.c.d/n); " +
        'networks[1].block_mask: invalid blockmask(40) for network(m), must be 16 <= blockmask <= 32',
    );
  });

  it('refuses a network, host, block or address that has no place', () => {
    corrupt(
      { ...snap, networks: [{ name: 'm', revision: 1, blackouts: [] }] },
      'network m is not in the topology',
    );
    const h = snap.hosts[0]!;
    corrupt({ ...snap, hosts: [{ ...h, groups: {} }] }, `host ${h.name} has no group`);
    const b = snap.blocks.find((x) => x.owner !== null)!;
    corrupt({ ...snap, blocks: [{ ...b, network: 'm' }] }, `block ${b.cidr} of unknown network m`);
    corrupt(
      { ...snap, blocks: [{ ...b, cidr: '10.1.0.0/29' }] },
      'block 10.1.0.0/29 outside network n',
    );
    corrupt(
      { ...snap, blocks: [{ ...b, cidr: '10.0.0.3/32' }] },
      'block 10.0.0.3/32 is not a block of network n',
    );
    corrupt({ ...snap, blocks: [{ ...b, host: 'hx' }] }, `block ${b.cidr} of unknown host hx`);
    corrupt(
      { ...snap, addresses: [{ name: 'lost', ip: '10.0.9.9' }] },
      'address lost (10.0.9.9) has no block',
    );
    // 10.0.0.16/29 is a free block: no address may point into it.
    assert.equal(snap.blocks.find((x) => x.cidr === '10.0.0.16/29')!.owner, null);
    corrupt(
      { ...snap, addresses: [{ name: 'free', ip: '10.0.0.17' }] },
      'address free (10.0.0.17) has no block',
    );
    corrupt(
      { ...snap, addresses: [{ name: 'out', ip: '10.7.0.1' }] },
      'address out (10.7.0.1) has no block',
    );
  });

  it('names the field of stored text it cannot read', () => {
    const bad = (changed: Partial<IpamSnapshot>, message: string) =>
      assert.throws(
        () => new Ipam({ ...snap, ...changed }),
        (e: unknown) => isRomanaError(e, 'InvalidInput') && e.message === message,
      );
    const notCidr = "cidr: 'nope' is not a CIDR (expected a.b.c.d/n)";
    bad({ networks: [{ ...snap.networks[0]!, blackouts: ['nope'] }] }, notCidr);
    bad({ blocks: [{ ...snap.blocks[0]!, cidr: 'nope' }] }, notCidr);
    bad({ hosts: [{ ...snap.hosts[0]!, ip: 'nope' }] }, "ip: 'nope' is not a valid IPv4 address");
    bad({ hosts: [{ ...snap.hosts[0]!, ip6: 'nope' }] }, "ip6: 'nope' is not a valid IPv6 address");
    bad(
      { addresses: [{ name: 'p', ip: 'nope' }] },
      "ip: 'nope' is not a valid IPv4 or IPv6 address",
    );
  });
});

describe('restoring what a store may hold', () => {
  it("keeps a host's IPv6 address", () => {
    const a = busy();
    a.addHost({ name: 'h6', ip: '10.9.0.6', ip6: 'fd00::6' });
    assert.equal(new Ipam(a.toSnapshot()).getHost({ name: 'h6' }).ip6, 'fd00::6');
  });

  it('takes a block stored with an owner but no host, or a host but no owner, as free', () => {
    const snap = busy().toSnapshot();
    const blocks = snap.blocks.map((b) =>
      b.cidr === '10.0.0.8/29'
        ? { ...b, host: null }
        : b.cidr === '10.0.0.0/29'
          ? { ...b, owner: null }
          : b,
    );
    const e = new Ipam({ ...snap, blocks, addresses: [] });
    for (const cidr of ['10.0.0.0/29', '10.0.0.8/29']) {
      const v = e.getBlock('n', cidr);
      assert.deepEqual([v.tenant, v.host], ['', ''], cidr);
    }
  });

  it('keeps the free blocks below a stored block that the store does not hold', () => {
    const a = new Ipam();
    a.updateTopology({
      networks: [{ name: 'n', cidr: '10.0.0.0/16', block_mask: 29 }],
      topologies: [{ networks: ['n'], map: [{ name: 'g' }] }],
    });
    a.addHost({ name: 'h1', ip: '10.9.0.1' });
    for (const t of ['x', 'y', 'z']) a.allocate({ name: t, host: 'h1', tenant: t });
    const snap = a.toSnapshot();
    // The store holds z's block only: the two below it were never written.
    const e = new Ipam({
      ...snap,
      blocks: snap.blocks.filter((b) => b.cidr === '10.0.0.16/29'),
      addresses: snap.addresses.filter((x) => x.name === 'z'),
    });
    // Made free as a replica makes them (state.blockAt): the one next below first.
    assert.equal(e.allocate({ name: 'q', host: 'h1', tenant: 'q' }).ip, '10.0.0.8');
    assert.equal(e.allocate({ name: 'r', host: 'h1', tenant: 'r' }).ip, '10.0.0.0');
    assert.equal(e.allocate({ name: 's', host: 'h1', tenant: 's' }).ip, '10.0.0.24');
    // Two stored free blocks released at the same number: the lower is reused first.
    const free = (x: IpamSnapshot['blocks'][number]) =>
      x.cidr === '10.0.0.16/29' ? x : { ...x, owner: null, host: null, released: 0 };
    for (const order of [snap.blocks, [...snap.blocks].reverse()]) {
      const f = new Ipam({
        ...snap,
        blocks: order.map(free),
        addresses: snap.addresses.filter((x) => x.name === 'z'),
      });
      assert.equal(f.allocate({ name: 'q', host: 'h1', tenant: 'q' }).ip, '10.0.0.0');
    }
  });
});
