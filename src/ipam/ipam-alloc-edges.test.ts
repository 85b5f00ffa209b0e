/**
 * Allocation and release at the edges: blackouts inside blocks a host already holds, the limit
 * on wholly blacked-out blocks a new block may skip, each family of a dual-stack or IPv6-only
 * tenant, the networks a host is not in, revisions, and finding an address by either IP.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isRomanaError } from '../errors.ts';
import { addressOf, allocate } from './alloc.ts';
import { addHost } from './hosts.ts';
import { Ipam } from './ipam.ts';
import { State } from './state.ts';
import { parseTopology } from './topology.ts';
import type { TopologyUpdateRequest } from './topology.ts';
import { fourGroups, throwsCode } from './ipam.fixtures.ts';

const next = (ipam: Ipam, name: string, tenant = '') =>
  ipam.allocate({ name, host: 'A', tenant }).ip;

function dualStack(v6Mask = 124): Ipam {
  const ipam = new Ipam();
  ipam.updateTopology({
    networks: [
      { name: 'v4', cidr: '10.0.0.0/16', block_mask: 29 },
      { name: 'v6', cidr: 'fd00:10::/48', block_mask: v6Mask, tenants: ['six'] },
    ],
    topologies: [{ networks: ['v4', 'v6'], map: [{ name: 'g' }] }],
  } satisfies TopologyUpdateRequest);
  ipam.addHost({ name: 'A', ip: '10.9.0.1', ip6: 'fd00:ff::1' });
  return ipam;
}

describe('allocation around blackouts', () => {
  it('skips blacked-out addresses inside a block it holds, and leaves a block whose free rest is blacked out', () => {
    const ipam = fourGroups({}, [{ name: 'only' }]);
    ipam.addHost({ name: 'A', ip: '10.9.0.1' });
    for (let i = 0; i < 5; i++) next(ipam, `p${i}`);
    ipam.release('p2');
    ipam.release('p3');
    assert.equal(ipam.blackOut('10.0.0.2/31'), true);
    assert.deepEqual(
      [next(ipam, 'a'), next(ipam, 'b'), next(ipam, 'c'), next(ipam, 'd')],
      ['10.0.0.5', '10.0.0.6', '10.0.0.7', '10.0.0.8'],
    );
    ipam.release('b');
    ipam.release('c');
    assert.equal(ipam.blackOut('10.0.0.6/31'), true);
    assert.equal(next(ipam, 'e'), '10.0.0.9', 'the first block has nothing free left to give');
    // A released block whose free addresses are all blacked out is not reused either.
    for (const n of ['p0', 'p1', 'p4', 'a']) ipam.release(n);
    assert.equal(ipam.blackOut('10.0.0.0/29'), true);
    assert.equal(next(ipam, 'f', 'other'), '10.0.0.16');
    ipam.unBlackOut('10.0.0.0/29');
    assert.equal(next(ipam, 'g', 'another'), '10.0.0.0');
  });

  it('skips at most 1024 wholly blacked-out blocks to open a new one', () => {
    const ipam = fourGroups({}, [{ name: 'only' }]);
    ipam.addHost({ name: 'A', ip: '10.9.0.1' });
    // 10.0.0.0/19 is 1024 blocks of /29.
    assert.equal(ipam.blackOut('10.0.0.0/19'), true);
    assert.equal(ipam.blackOut('10.0.32.0/29'), true);
    throwsCode(
      () => next(ipam, 'p'),
      'NoAvailableIP',
      'No available IP. Host A has no free address for no tenant, no segment in network(s) net1.',
    );
    ipam.unBlackOut('10.0.32.0/29');
    assert.equal(next(ipam, 'p'), '10.0.32.0');
    // The skipped blocks were made free, in order, and are written like every changed block.
    const touched = ipam.takeTouchedBlocks();
    assert.equal(touched.length, 1025);
    assert.deepEqual(
      touched.slice(0, 2).map((t) => t.cidr),
      ['10.0.0.0/29', '10.0.0.8/29'],
    );
    // Each skipped block is released after the one before it, and the block taken after them.
    const seqs = touched.map((t) => t.state.released || t.state.acquired);
    assert.ok(
      seqs.every((q, i) => q > (i === 0 ? 1 : seqs[i - 1]!)),
      `in order after the host's registration (1): ${seqs.slice(0, 3).join(', ')}…`,
    );
    ipam.unBlackOut('10.0.0.0/19');
    assert.equal(next(ipam, 'q', 'u'), '10.0.0.0', 'the oldest skipped block first');
    assert.equal(next(ipam, 'r', 'v'), '10.0.0.8');
  });
});

describe('allocation in each family', () => {
  it('names both addresses of a dual-stack name already allocated', () => {
    const ipam = dualStack();
    ipam.allocate({ name: 'd', host: 'A', tenant: 'six' });
    throwsCode(
      () => ipam.allocate({ name: 'd', host: 'A' }),
      'AlreadyExists',
      'Address with name d already allocated: 10.0.0.0, fd00:10::',
    );
  });

  it('lists every network of the family that has no room', () => {
    const ipam = new Ipam();
    ipam.updateTopology({
      networks: [
        { name: 'n1', cidr: '10.0.0.0/30', block_mask: 30 },
        { name: 'n2', cidr: '10.1.0.0/30', block_mask: 30 },
      ],
      topologies: [{ networks: ['n1', 'n2'], map: [{ name: 'g' }] }],
    });
    ipam.addHost({ name: 'A', ip: '10.9.0.1' });
    for (let i = 0; i < 8; i++) next(ipam, `p${i}`);
    throwsCode(
      () => next(ipam, 'p8'),
      'NoAvailableIP',
      'No available IP. Host A has no free address for no tenant, no segment in network(s) n1, n2.',
    );
  });

  it('looks for the networks of the empty tenant when none is given', () => {
    const ipam = new Ipam();
    ipam.updateTopology({
      networks: [{ name: 'web', cidr: '10.1.0.0/16', tenants: ['web'] }],
      topologies: [{ networks: ['web'], map: [{ name: 'g' }] }],
    });
    ipam.addHost({ name: 'A', ip: '10.9.0.1' });
    assert.throws(
      () => ipam.allocate({ name: 'p', host: 'A' }),
      (e: unknown) =>
        isRomanaError(e, 'NotFound') &&
        e.message ===
          'No networks found for an address without a tenant: each network lists the tenants it takes.' &&
        e.resourceType === 'tenant' &&
        e.resourceId === '',
    );
  });

  it('gives the text of a named address in its block', () => {
    const parsed = parseTopology({
      networks: [{ name: 'n', cidr: '10.0.0.0/16' }],
      topologies: [{ networks: ['n'], map: [{ name: 'g' }] }],
    });
    assert.ok(parsed.ok);
    const s = new State(parsed.spec);
    addHost(s, { name: 'A', ip: '10.9.0.1' });
    allocate(s, { name: 'p', host: 'A' });
    const [loc] = allocate(s, { name: 'q', host: 'A' });
    assert.equal(addressOf(loc!.block, 'q'), '10.0.0.1');
    assert.equal(addressOf(loc!.block, 'p'), '10.0.0.0');
  });

  it('gives a dual-stack tenant one address of each family, and an IPv4-only tenant one', () => {
    const ipam = dualStack();
    const both = ipam.allocate({ name: 'd', host: 'A', tenant: 'six' });
    assert.deepEqual(
      both.ips.map((x) => x.ip),
      ['10.0.0.0', 'fd00:10::'],
    );
    assert.deepEqual(
      ipam.allocate({ name: 'o', host: 'A', tenant: 'other' }).ips.map((x) => x.ip),
      ['10.0.0.8'],
    );
    // Either IP finds (and releases) both.
    assert.equal(ipam.getAddress('fd00:10::').name, 'd');
    assert.deepEqual(
      ipam.release('fd00:10::').ips.map((x) => x.ip),
      ['10.0.0.0', 'fd00:10::'],
    );
    assert.deepEqual(
      ipam.listAddresses().map((a) => a.name),
      ['o'],
    );
    throwsCode(
      () => ipam.getAddress('fd00:10::'),
      'NotFound',
      'No address named or holding IP fd00:10::',
    );
  });

  it('says which family has no room for a dual-stack tenant', () => {
    const ipam = dualStack(127);
    ipam.allocate({ name: 'a', host: 'A', tenant: 'six' });
    ipam.blackOut('fd00:10::2/127');
    ipam.blackOut('fd00:10::4/126');
    ipam.blackOut('fd00:10::8/125');
    ipam.blackOut('fd00:10::10/124');
    ipam.blackOut('fd00:10::20/123');
    ipam.blackOut('fd00:10::40/122');
    ipam.blackOut('fd00:10::80/121');
    ipam.blackOut('fd00:10::100/120');
    ipam.blackOut('fd00:10::200/119');
    ipam.blackOut('fd00:10::400/118');
    ipam.blackOut('fd00:10::800/117');
    ipam.allocate({ name: 'b', host: 'A', tenant: 'six' });
    throwsCode(
      () => ipam.allocate({ name: 'c', host: 'A', tenant: 'six' }),
      'NoAvailableIP',
      'No available IP. Host A has no free IPv6 address for tenant six, no segment in network(s) v6.',
    );
  });

  it('allocates in IPv6 only for a tenant whose networks are all IPv6', () => {
    const ipam = new Ipam();
    ipam.updateTopology({
      networks: [
        { name: 'v6', cidr: 'fd00:10::/48', tenants: ['six'] },
        { name: 'v4', cidr: '10.0.0.0/16', tenants: ['four'] },
      ],
      topologies: [{ networks: ['v6', 'v4'], map: [{ name: 'g' }] }],
    });
    ipam.addHost({ name: 'A', ip: '10.9.0.1' });
    const a = ipam.allocate({ name: 'p', host: 'A', tenant: 'six' });
    assert.deepEqual([a.ip, a.network, a.tenant], ['fd00:10::', 'v6', 'six']);
    assert.deepEqual(
      ipam.listAddresses().map((x) => [x.name, x.ip]),
      [['p', 'fd00:10::']],
    );
    throwsCode(
      () => ipam.allocate({ name: 'p', host: 'A', tenant: 'four' }),
      'AlreadyExists',
      'Address with name p already allocated: fd00:10::',
    );
  });

  it("uses the tenant's next network when the host is not in the first", () => {
    const ipam = new Ipam();
    ipam.updateTopology({
      networks: [
        { name: 'n1', cidr: '10.0.0.0/16' },
        { name: 'n2', cidr: '10.1.0.0/16' },
      ],
      topologies: [
        { networks: ['n1'], map: [{ name: 'r', assignment: { rack: 'x' } }] },
        { networks: ['n2'], map: [{ name: 'g' }] },
      ],
    });
    ipam.addHost({ name: 'A', ip: '10.9.0.1' });
    assert.equal(next(ipam, 'p'), '10.1.0.0');
  });
});

describe('revisions of allocation and release', () => {
  it('bump the block, its network and the allocation revision by one each', () => {
    const ipam = dualStack();
    const state = () => ({
      alloc: ipam.revisions.allocation,
      nets: ipam.listNetworks().map((n) => n.revision),
      block: ipam.listAllBlocks().blocks.map((b) => b.revision),
    });
    const s0 = state();
    ipam.allocate({ name: 'p', host: 'A', tenant: 'six' });
    const s1 = state();
    assert.deepEqual(s1, {
      alloc: s0.alloc + 2,
      nets: s0.nets.map((r) => r + 1),
      block: [1, 1],
    });
    ipam.allocate({ name: 'q', host: 'A' });
    ipam.release('p');
    assert.deepEqual(state(), {
      alloc: s1.alloc + 3,
      nets: [s1.nets[0]! + 2, s1.nets[1]! + 1],
      block: [2, 1, 2],
    });
  });
});
