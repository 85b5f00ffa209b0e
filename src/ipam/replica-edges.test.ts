/**
 * Applying what another replica stored, at the edges: the order a replica keeps an owner's
 * blocks and the free blocks in, whatever order their states arrive in; names that move
 * between blocks; sequence numbers carried on; hosts replaced or only retagged; and the
 * inconsistencies it refuses, each named.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isRomanaError } from '../errors.ts';
import { replicaPair } from './ipam.fixtures.ts';
import { Ipam } from './ipam.ts';

/** Two engines on one topology (two groups, /29 blocks), two hosts, nothing allocated. */
const pair = (): [Ipam, Ipam] => replicaPair();

/** Copies what `from` touched into `to` in reverse order (a watcher may see any order). */
function syncReversed(from: Ipam, to: Ipam): void {
  for (const c of from.takeTouchedBlocks().reverse()) to.applyBlock(c.network, c.cidr, c.state);
}

function inconsistent(what: string): (e: unknown) => boolean {
  return (e) =>
    isRomanaError(e, 'Internal') && e.message === `replicated IPAM state is inconsistent: ${what}`;
}

describe('applying stored blocks in any order', () => {
  it("keeps an owner's blocks in the order they were acquired", () => {
    const [a, b] = pair();
    for (let i = 0; i < 10; i++) a.allocate({ name: `p${i}`, host: 'h1', tenant: 't' });
    a.release('p0');
    syncReversed(a, b);
    // Both blocks of t have room: the one acquired first is used first.
    assert.equal(a.allocate({ name: 'q', host: 'h1', tenant: 't' }).ip, '10.0.0.0');
    assert.equal(b.allocate({ name: 'q', host: 'h1', tenant: 't' }).ip, '10.0.0.0');
    // Then the owner's other block, not a new one.
    assert.equal(b.allocate({ name: 'r', host: 'h1', tenant: 't' }).ip, '10.0.0.10');
  });

  it("keeps an owner's other blocks when one of them changes", () => {
    const [a, b] = pair();
    for (let i = 0; i < 10; i++) a.allocate({ name: `p${i}`, host: 'h1', tenant: 't' });
    syncReversed(a, b);
    a.release('p0');
    syncReversed(a, b);
    assert.equal(b.allocate({ name: 'q', host: 'h1', tenant: 't' }).ip, '10.0.0.0');
    assert.equal(b.allocate({ name: 'r', host: 'h1', tenant: 't' }).ip, '10.0.0.10');
  });

  it('takes a block out of the free list once another replica gives it an owner', () => {
    const [a, b] = pair();
    a.allocate({ name: 'x', host: 'h1', tenant: 'x' });
    a.release('x');
    syncReversed(a, b); // 10.0.0.0/29 free on both
    assert.equal(a.allocate({ name: 'y', host: 'h1', tenant: 'y' }).ip, '10.0.0.0');
    syncReversed(a, b);
    assert.equal(b.getBlock('n', '10.0.0.0/29').tenant, 'y');
    assert.equal(b.allocate({ name: 'z', host: 'h1', tenant: 'z' }).ip, '10.0.0.8');
  });

  it('frees a block the store dropped, after the free blocks already queued, and gives it a new owner', () => {
    const [a, b] = pair();
    a.allocate({ name: 'p', host: 'h1', tenant: 't' });
    a.allocate({ name: 'x', host: 'h1', tenant: 'x' });
    a.allocate({ name: 'y', host: 'h1', tenant: 'y' });
    const touched = a.takeTouchedBlocks();
    const last = touched.find((c) => c.cidr === '10.0.0.16/29')!;
    // Only the third block arrives: the two below it are made free (never held).
    b.applyBlock(last.network, last.cidr, last.state);
    b.applyBlock('n', '10.0.0.16/29', null);
    assert.equal(b.allocate({ name: 'q', host: 'h1', tenant: 'q' }).ip, '10.0.0.8');
    assert.equal(b.getAddress('q').tenant, 'q');
    assert.equal(b.allocate({ name: 'r', host: 'h1', tenant: 'r' }).ip, '10.0.0.0');
    assert.equal(b.allocate({ name: 's', host: 'h1', tenant: 's' }).ip, '10.0.0.16');
    // A block the store dropped under its owner is free: taken again, it is owned again.
    b.applyBlock('n', '10.0.0.8/29', null);
    assert.equal(b.getBlock('n', '10.0.0.8/29').tenant, '');
    assert.equal(b.allocate({ name: 'u', host: 'h1', tenant: 'q' }).ip, '10.0.0.8');
    assert.equal(b.getBlock('n', '10.0.0.8/29').tenant, 'q');
    assert.equal(b.getAddress('u').tenant, 'q');
  });

  it('keeps free blocks in the order they were released', () => {
    const [a, b] = pair();
    a.allocate({ name: 'x', host: 'h1', tenant: 'x' });
    a.allocate({ name: 'y', host: 'h1', tenant: 'y' });
    a.allocate({ name: 'w', host: 'h1', tenant: 'w' });
    syncReversed(a, b);
    a.release('w');
    a.release('x');
    a.release('y');
    syncReversed(a, b);
    const first = a.allocate({ name: 'z', host: 'h1', tenant: 'z' }).ip;
    assert.equal(first, '10.0.0.16', 'the block released first is reused first');
    assert.equal(b.allocate({ name: 'z', host: 'h1', tenant: 'z' }).ip, first);
  });

  it('moves a name another block held to the block that now lists it', () => {
    const [a, b] = pair();
    a.allocate({ name: 'p', host: 'h1', tenant: 't' });
    const [held] = a.takeTouchedBlocks();
    b.applyBlock(held!.network, held!.cidr, held!.state);
    // Another replica gave `p` an address in a block of h2.
    b.applyBlock('n', '10.0.128.0/29', {
      owner: 't:',
      host: 'h2',
      acquired: 9,
      released: 0,
      names: [[3, 'p']],
    });
    assert.equal(b.getAddress('p').ip, '10.0.128.3');
    assert.equal(b.getBlock('n', '10.0.0.0/29').allocated_ip_count, 0);
    assert.equal(b.allocate({ name: 'q', host: 'h1', tenant: 't' }).ip, '10.0.0.0');
    // A block that no longer lists a name forgets it.
    b.applyBlock('n', '10.0.128.0/29', {
      owner: 't:',
      host: 'h2',
      acquired: 9,
      released: 0,
      names: [],
    });
    assert.throws(
      () => b.getAddress('p'),
      (e: unknown) => isRomanaError(e, 'NotFound'),
    );
    assert.deepEqual(
      b.listAddresses().map((x) => x.name),
      ['q'],
    );
  });

  it('goes on from the highest sequence number it applied, and leaves nothing touched', () => {
    const [, b] = pair();
    b.allocate({ name: 'lost', host: 'h1', tenant: 't' }); // never stored
    b.applyBlock('n', '10.0.0.0/29', {
      owner: 't:',
      host: 'h1',
      acquired: 40,
      released: 0,
      names: [[0, 'p']],
    });
    b.applyBlock('n', '10.0.0.8/29', {
      owner: null,
      host: null,
      acquired: 41,
      released: 50,
      names: [],
    });
    assert.deepEqual(b.takeTouchedBlocks(), []);
    assert.deepEqual(
      b.listAddresses().map((x) => x.name),
      ['p'],
    );
    b.allocate({ name: 'q', host: 'h2', tenant: 'u' });
    const [t] = b.takeTouchedBlocks();
    assert.equal(t!.state.acquired, 51);
    assert.equal(b.toSnapshot().blocks.find((x) => x.cidr === '10.0.0.8/29')!.released, 50);
    b.applyBlock('n', '10.0.0.8/29', null);
    assert.equal(b.toSnapshot().blocks.find((x) => x.cidr === '10.0.0.8/29')!.released, 0);
  });

  it('takes a block stored with an owner but no host, or a host but no owner, as free', () => {
    const [, b] = pair();
    b.applyBlock('n', '10.0.0.8/29', {
      owner: null,
      host: 'h1',
      acquired: 3,
      released: 4,
      names: [],
    });
    assert.equal(b.getBlock('n', '10.0.0.8/29').host, '');
    b.applyBlock('n', '10.0.0.0/29', {
      owner: 't:',
      host: null,
      acquired: 3,
      released: 4,
      names: [],
    });
    assert.deepEqual(b.getBlock('n', '10.0.0.0/29'), {
      ...b.getBlock('n', '10.0.0.0/29'),
      tenant: '',
      host: '',
      allocated_ip_count: 0,
    });
    assert.equal(b.allocate({ name: 'p', host: 'h1', tenant: 'v' }).ip, '10.0.0.8');
  });
});

describe('inconsistencies a replica refuses', () => {
  it('names an unknown network, a CIDR outside it and an unknown host', () => {
    const [, b] = pair();
    const st = { owner: 't:', host: 'h1', acquired: 1, released: 0, names: [] };
    assert.throws(
      () => b.applyBlock('m', '10.0.0.0/29', st),
      inconsistent('block 10.0.0.0/29 of unknown network m'),
    );
    assert.throws(
      () => b.applyBlock('n', '10.1.0.0/29', st),
      inconsistent('10.1.0.0/29 is not a block of network n'),
    );
    // An address inside the network but not a block's start: refused, and no block made.
    assert.throws(
      () => b.applyBlock('n', '10.0.0.3/32', st),
      inconsistent('10.0.0.3/32 is not a block of network n'),
    );
    assert.deepEqual(b.listAllBlocks().blocks, []);
    assert.throws(
      () => b.applyBlock('n', '10.0.0.0/29', { ...st, host: 'hx' }),
      inconsistent('block 10.0.0.0/29 is held by unknown host hx'),
    );
    assert.throws(() => b.applyBlackouts('m', []), inconsistent('blackouts of unknown network m'));
  });

  it("takes only a block's own CIDR, never an address or prefix inside an existing block", () => {
    const [, b] = pair();
    const st = { owner: 't:', host: 'h1', acquired: 1, released: 0, names: [] };
    b.applyBlock('n', '10.0.0.0/29', st);
    for (const cidr of ['10.0.0.3/32', '10.0.0.0/30', '10.0.0.0/28']) {
      assert.throws(
        () => b.getBlock('n', cidr),
        inconsistent(`${cidr} is not a block of network n`),
      );
      assert.throws(
        () => b.applyBlock('n', cidr, null),
        inconsistent(`${cidr} is not a block of network n`),
      );
    }
    assert.equal(b.getBlock('n', '10.0.0.0/29').tenant, 't');
  });

  it('names the field of stored text it cannot read', () => {
    const [a, b] = pair();
    const st = { owner: 't:', host: 'h1', acquired: 1, released: 0, names: [] };
    const bad = (f: () => void, message: string) =>
      assert.throws(f, (e: unknown) => isRomanaError(e, 'InvalidInput') && e.message === message);
    bad(() => b.applyBlock('n', 'nope', st), "cidr: 'nope' is not a CIDR (expected a.b.c.d/n)");
    bad(() => b.applyBlackouts('n', ['nope']), "cidr: 'nope' is not a CIDR (expected a.b.c.d/n)");
    const rec = a.hostRecord('h1');
    bad(() => b.applyHost('h7', { ...rec, ip: 'nope' }), "ip: 'nope' is not a valid IPv4 address");
    bad(
      () => b.applyHost('h7', { ...rec, ip: '10.9.0.7', ip6: 'nope' }),
      "ip6: 'nope' is not a valid IPv6 address",
    );
  });

  it('names a host record whose group does not exist, or that has no group', () => {
    const [a, b] = pair();
    a.addHost({ name: 'h3', ip: '10.9.0.3' });
    const rec = a.hostRecord('h3');
    assert.deepEqual(rec.groups, { n: '0' });
    assert.throws(
      () => b.applyHost('h3', { ...rec, groups: { n: '2' } }),
      inconsistent('no group 2 in network n'),
    );
    assert.throws(
      () => b.applyHost('h3', { ...rec, groups: { n: '0.0' } }),
      inconsistent('no group 0.0 in network n'),
    );
    assert.throws(
      () => b.applyHost('h3', { ...rec, groups: {} }),
      inconsistent('host h3 has no group'),
    );
    assert.deepEqual(
      b.listHosts().hosts.map((h) => h.name),
      ['h1', 'h2'],
    );
  });
});

describe('applying stored hosts', () => {
  it('removes nothing for a host it does not know', () => {
    const [, b] = pair();
    const before = b.toSnapshot();
    b.applyHost('nobody', null);
    assert.deepEqual(b.toSnapshot(), before);
  });

  it('only retags a host whose addresses and groups are unchanged, keeping its blocks', () => {
    const [a, b] = pair();
    b.allocate({ name: 'p', host: 'h1' });
    const rec = { ...a.hostRecord('h1'), tags: { k: 'v' }, agent_port: 9999 };
    b.applyHost('h1', rec);
    assert.equal(b.getHost({ name: 'h1' }).agent_port, 9999);
    assert.deepEqual(b.getHost({ name: 'h1' }).tags, { k: 'v' });
    assert.equal(b.getAddress('p').ip, '10.0.0.0');
    assert.equal(b.hostRecord('h1').seq, a.hostRecord('h1').seq);
  });

  it('replaces a host whose group or address changed, freeing its blocks', () => {
    for (const change of [{ groups: { n: '1' } }, { ip: '10.9.0.9' }]) {
      const [a, b] = pair();
      b.allocate({ name: 'p', host: 'h1' });
      b.applyHost('h1', { ...a.hostRecord('h1'), ...change, seq: 7 });
      assert.deepEqual(b.listAddresses(), [], JSON.stringify(change));
      const rec = b.hostRecord('h1');
      assert.equal(rec.groups.n, change.groups?.n ?? '0');
      assert.equal(rec.ip, change.ip ?? '10.9.0.1');
      assert.equal(rec.seq, 7);
      b.addHost({ name: 'h4', ip: '10.9.0.4' });
      assert.equal(b.hostRecord('h4').seq, 8);
    }
  });

  it('frees the IPv6 address of a host it removes', () => {
    const [a, b] = pair();
    a.addHost({ name: 'h3', ip: '10.9.0.3', ip6: 'fd00::3' });
    b.applyHost('h3', a.hostRecord('h3'));
    assert.equal(b.getHost({ name: 'h3' }).ip6, 'fd00::3');
    assert.equal(b.getHost({ ip: 'fd00::3' }).name, 'h3');
    b.applyHost('h3', { ...a.hostRecord('h3'), ip6: 'fd00::33' });
    assert.equal(b.getHost({ name: 'h3' }).ip6, 'fd00::33');
    b.applyHost('h3', null);
    assert.equal(b.addHost({ name: 'h4', ip: '10.9.0.4', ip6: 'fd00::33' }).ip6, 'fd00::33');
  });

  it('moves a host whose group changed in any of its networks, or that is in a network more', () => {
    const a = new Ipam();
    a.updateTopology({
      networks: [
        { name: 'a', cidr: '10.0.0.0/16' },
        { name: 'b', cidr: '10.1.0.0/16' },
      ],
      topologies: [
        {
          networks: ['a'],
          map: [
            {
              name: 'g',
              groups: [{ name: 'g0', groups: [{ name: 'x' }, { name: 'y' }] }, { name: 'g1' }],
            },
          ],
        },
        { networks: ['b'], map: [{ name: 'k0' }, { name: 'k1' }] },
      ],
    });
    a.addHost({ name: 'h', ip: '10.9.0.1' });
    const b = new Ipam(a.toSnapshot());
    const rec = a.hostRecord('h');
    assert.deepEqual(rec.groups, { a: '0.0', b: '0' });
    const groups = () => b.getHost({ name: 'h' }).groups.map((g) => `${g.network}:${g.group}`);
    b.applyHost('h', { ...rec, groups: { a: '0.1', b: '1' } });
    assert.deepEqual(groups(), ['a:y', 'b:k1']);
    b.applyHost('h', { ...rec, groups: { a: '1' } });
    assert.deepEqual(groups(), ['a:g1']);
    b.applyHost('h', { ...rec, groups: { a: '1', b: '0' } });
    assert.deepEqual(groups(), ['a:g1', 'b:k0']);
  });

  it('sorts the blackouts it is given by address', () => {
    const [, b] = pair();
    b.applyBlackouts('n', ['10.0.9.0/24', '10.0.5.0/24', '10.0.7.0/24']);
    assert.deepEqual(b.blackoutsOf('n'), ['10.0.5.0/24', '10.0.7.0/24', '10.0.9.0/24']);
  });
});
