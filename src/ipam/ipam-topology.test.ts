/** Ipam: topology updates, revisions and snapshots. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Ipam } from './ipam.ts';
import { fourGroups, ips, throwsCode } from './ipam.fixtures.ts';

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
    // An address without tenant or segment says so (2.x printed "tenant , segment ").
    const bare = new Ipam();
    const doc = {
      networks: [{ name: 'net1', cidr: '10.0.0.0/16' }],
      topologies: [{ networks: ['net1'], map: [{ name: 'g' }] }],
    };
    bare.updateTopology(doc);
    bare.addHost({ name: 'A', ip: '192.168.0.1' });
    bare.allocate({ name: 'p', host: 'A' });
    doc.networks[0]!.cidr = '10.5.0.0/16';
    throwsCode(
      () => bare.updateTopology(doc),
      'InvalidInput',
      'No suitable network found to allocate p: 10.0.0.0 (Host A, no tenant, no segment)',
    );
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
