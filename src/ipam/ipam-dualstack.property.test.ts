/**
 * The engine under random IPv6 and mixed (IPv4 + IPv6) topologies and operation sequences, as
 * the IPv4 properties (ipam-sequences, ipam-reuse) do for IPv4: after every step no address is
 * held twice, every address lies in its block and its block in its host's group, a name holds
 * one address per family of its tenant's networks, nothing lies in a blackout, the counts of
 * the block views agree with the addresses, a snapshot restores the same state, and a failed
 * operation changes nothing (a dual-stack allocation takes both addresses or neither).
 * Addresses are compared as values (`Cidr`/`Addr` of src/net, not the engine's block math).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isRomanaError } from '../errors.ts';
import { Addr, BOTH_FAMILIES, Cidr } from '../net/addr.ts';
import { Ipam, type AddressView, type TopologyUpdateRequest } from './index.ts';

interface GenNet {
  family: 4 | 6;
  tenants: string[] | null;
  mask: number;
  groups: number;
  extraBits: number;
}

const HOSTS = ['h0', 'h1', 'h2', 'h3'];
const NAMES = ['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7'];
const TENANTS = ['', 't1', 't2'];

const netArb: fc.Arbitrary<GenNet> = fc.record({
  family: fc.constantFrom<4 | 6>(4, 6, 6),
  tenants: fc.constantFrom<string[] | null>(null, null, ['t1'], ['t2']),
  mask: fc.integer({ min: 0, max: 6 }),
  groups: fc.integer({ min: 1, max: 4 }),
  extraBits: fc.integer({ min: 0, max: 2 }),
});

const V4_MASKS = [28, 29, 29, 30, 30, 31, 32];
const V6_MASKS = [64, 112, 120, 124, 126, 127, 128];

function buildDoc(nets: GenNet[]): TopologyUpdateRequest {
  const doc: TopologyUpdateRequest = { networks: [], topologies: [] };
  nets.forEach((n, i) => {
    const mask = (n.family === 4 ? V4_MASKS : V6_MASKS)[n.mask]!;
    const bits = Math.ceil(Math.log2(n.groups));
    const prefix = mask - bits - n.extraBits;
    const cidr = n.family === 4 ? `10.${i}.0.0/${prefix}` : `fd00:${i + 1}::/${prefix}`;
    const def: TopologyUpdateRequest['networks'][number] = {
      name: `n${i}`,
      cidr,
      block_mask: mask,
    };
    if (n.tenants !== null) def.tenants = [...n.tenants];
    doc.networks.push(def);
    const map = Array.from({ length: n.groups }, (_, g) => ({ name: `n${i}-g${g}` }));
    doc.topologies.push({ networks: [`n${i}`], map });
  });
  return doc;
}

type Op =
  | { kind: 'addHost'; host: number; ip6: boolean }
  | { kind: 'allocate'; name: string; host: number; tenant: string }
  | { kind: 'releaseName'; pick: number }
  | { kind: 'releaseIp'; pick: number; second: boolean }
  | { kind: 'blackOut'; pick: number; len: number; undo: boolean }
  | { kind: 'removeHost'; host: number }
  | { kind: 'repost' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('addHost' as const),
      host: fc.nat(3),
      ip6: fc.boolean(),
    }),
  },
  {
    weight: 10,
    arbitrary: fc.record({
      kind: fc.constant('allocate' as const),
      name: fc.constantFrom(...NAMES),
      host: fc.nat(3),
      tenant: fc.constantFrom(...TENANTS),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('releaseName' as const), pick: fc.nat() }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('releaseIp' as const),
      pick: fc.nat(),
      second: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('blackOut' as const),
      pick: fc.nat(),
      len: fc.integer({ min: 0, max: 3 }),
      undo: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('removeHost' as const), host: fc.nat(3) }),
  },
  { weight: 1, arbitrary: fc.constant<Op>({ kind: 'repost' }) },
);

const scenarioArb = fc.record({
  nets: fc
    .array(netArb, { minLength: 1, maxLength: 3 })
    .filter((ns) => ns.some((n) => n.family === 6)),
  ops: fc.array(opArb, { minLength: 1, maxLength: 40 }),
});

/** The families a tenant's pods get: those of the networks it may use. */
function familiesFor(doc: TopologyUpdateRequest, tenant: string): Set<number> {
  const out = new Set<number>();
  for (const n of doc.networks) {
    if (n.tenants === undefined || n.tenants.includes(tenant)) {
      out.add(Cidr.parse(n.cidr, 'cidr', BOTH_FAMILIES).family);
    }
  }
  return out;
}

/** Every invariant readable from the engine's public views. */
function check(ipam: Ipam, doc: TopologyUpdateRequest): void {
  const nets = new Map(doc.networks.map((n) => [n.name, n]));
  const seen = new Set<string>();
  const perBlock = new Map<string, number>();
  const blackouts = ipam.listBlackouts().map((b) => Cidr.parse(b.cidr, 'cidr', BOTH_FAMILIES));
  for (const a of ipam.listAddresses()) {
    assert.ok(a.ips.length >= 1, `${a.name} has no address`);
    assert.deepEqual(
      [a.ip, a.network, a.block],
      [a.ips[0]!.ip, a.ips[0]!.network, a.ips[0]!.block],
    );
    const fams = a.ips.map((x) => Addr.parse(x.ip, 'ip', BOTH_FAMILIES).family);
    assert.deepEqual(fams, [...fams].sort(), `${a.name}: IPv4 first`);
    assert.deepEqual(new Set(fams), familiesFor(doc, a.tenant), `${a.name}: one per family`);
    assert.equal(new Set(fams).size, fams.length, `${a.name}: one address per family`);
    const host = ipam.getHost({ name: a.host });
    for (const x of a.ips) {
      assert.ok(!seen.has(x.ip), `${x.ip} held twice`);
      seen.add(x.ip);
      const ip = Addr.parse(x.ip, 'ip', BOTH_FAMILIES);
      const block = Cidr.parse(x.block, 'cidr', BOTH_FAMILIES);
      const net = nets.get(x.network)!;
      assert.ok(block.containsAddr(ip), `${x.ip} outside its block ${x.block}`);
      assert.equal(block.prefix, net.block_mask, `${x.block}: the block mask of ${net.name}`);
      assert.ok(Cidr.parse(net.cidr, 'cidr', BOTH_FAMILIES).contains(block));
      const group = host.groups.find((g) => g.network === x.network);
      assert.ok(group !== undefined, `${a.host} holds ${x.ip} in ${x.network} without a group`);
      assert.ok(
        Cidr.parse(group.cidr, 'cidr', BOTH_FAMILIES).contains(block),
        `${x.block} outside ${a.host}'s group ${group.cidr}`,
      );
      assert.ok(!blackouts.some((b) => b.containsAddr(ip)), `${x.ip} is blacked out`);
      const k = `${x.network} ${x.block}`;
      perBlock.set(k, (perBlock.get(k) ?? 0) + 1);
    }
  }
  for (const b of ipam.listAllBlocks().blocks) {
    assert.equal(b.allocated_ip_count, perBlock.get(`${b.network} ${b.cidr}`) ?? 0, b.cidr);
  }
}

function hostIp(k: number): { ip: string; ip6: string } {
  return { ip: `192.168.0.${k + 1}`, ip6: `fd00:ff::${k + 1}` };
}

/** Runs one step; a refused one must leave the snapshot unchanged. */
function step(ipam: Ipam, op: Op, doc: TopologyUpdateRequest): void {
  const before = JSON.stringify(ipam.toSnapshot());
  const list = ipam.listAddresses();
  try {
    apply(ipam, op, list);
  } catch (err) {
    if (!isRomanaError(err)) throw err;
    assert.equal(JSON.stringify(ipam.toSnapshot()), before, `${op.kind} refused but changed state`);
    return;
  }
  check(ipam, doc);
}

function apply(ipam: Ipam, op: Op, list: AddressView[]): void {
  const nth = <T>(xs: T[], i: number): T | undefined => xs[i % Math.max(xs.length, 1)];
  switch (op.kind) {
    case 'addHost': {
      const { ip, ip6 } = hostIp(op.host);
      ipam.addHost({ name: HOSTS[op.host], ip, ...(op.ip6 ? { ip6 } : {}) });
      return;
    }
    case 'allocate': {
      const got = ipam.allocate({ name: op.name, host: HOSTS[op.host]!, tenant: op.tenant });
      assert.deepEqual(ipam.getAddress(op.name), got);
      return;
    }
    case 'releaseName': {
      const a = nth(list, op.pick);
      const gone = ipam.release(a?.name ?? 'nobody');
      assert.deepEqual(gone, a);
      assertGone(ipam, gone);
      return;
    }
    case 'releaseIp': {
      const a = nth(list, op.pick);
      const ip = a?.ips[op.second ? a.ips.length - 1 : 0]?.ip ?? 'fd00:ee::1';
      const gone = ipam.release(ip);
      assert.deepEqual(gone, a, 'released by one IP: every family of the name');
      assertGone(ipam, gone);
      return;
    }
    case 'blackOut': {
      const a = nth(list, op.pick);
      const x = a?.ips[op.pick % a.ips.length];
      if (x === undefined) return;
      const ip = Addr.parse(x.ip, 'ip', BOTH_FAMILIES);
      const c = Cidr.containing(ip, ip.bits - op.len).toString();
      if (op.undo) ipam.unBlackOut(c);
      else ipam.blackOut(c);
      return;
    }
    case 'removeHost':
      ipam.removeHost({ name: HOSTS[op.host] });
      return;
    case 'repost': {
      const before = ipam.listAddresses();
      ipam.updateTopology(ipam.getTopology());
      const byName = (l: AddressView[]) =>
        l.map((a) => [a.name, a.ips] as const).sort((x, y) => x[0].localeCompare(y[0]));
      assert.deepEqual(byName(ipam.listAddresses()), byName(before));
    }
  }
}

function assertGone(ipam: Ipam, gone: AddressView): void {
  assert.throws(() => ipam.getAddress(gone.name), { code: 'NotFound' });
  for (const x of gone.ips) assert.throws(() => ipam.getAddress(x.ip), { code: 'NotFound' });
}

describe('IPAM engine over IPv6 and mixed topologies', () => {
  it('keeps every invariant after every step; a refused step changes nothing', () => {
    fc.assert(
      fc.property(scenarioArb, ({ nets, ops }) => {
        const doc = buildDoc(nets);
        const ipam = new Ipam();
        ipam.updateTopology(doc);
        for (const h of [0, 1]) ipam.addHost({ name: HOSTS[h], ...hostIp(h) });
        for (const op of ops) step(ipam, op, doc);
        const copy = new Ipam(JSON.parse(JSON.stringify(ipam.toSnapshot())));
        assert.deepEqual(copy.listAddresses(), ipam.listAddresses());
        assert.deepEqual(copy.listAllBlocks(), ipam.listAllBlocks());
      }),
      { numRuns: 300 },
    );
  });

  it('hands every released address out again once the group is filled again', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(120, 124, 126, 127, 128),
        fc.integer({ min: 1, max: 3 }),
        fc.array(fc.boolean(), { minLength: 64, maxLength: 64 }),
        (mask, bits, releasePicks) => {
          const ipam = new Ipam();
          const prefix = Math.max(mask - bits - 2, 64);
          ipam.updateTopology({
            networks: [{ name: 'v6', cidr: `fd00:1::/${prefix}`, block_mask: mask }],
            topologies: [{ networks: ['v6'], map: [{ name: 'g0' }, { name: 'g1' }] }],
          });
          ipam.addHost({ name: 'h', ip: '192.168.0.1' });
          const fill = (tag: string): string[] => {
            const got: string[] = [];
            for (let i = 0; ; i++) {
              try {
                got.push(ipam.allocate({ name: `${tag}${i}`, host: 'h', tenant: 't' }).ip);
              } catch (err) {
                assert.ok(isRomanaError(err, 'NoAvailableIP'), String(err));
                return got;
              }
            }
          };
          const first = fill('a');
          assert.ok(first.length > 0 && first.length <= 4096);
          const released = first.filter((_, i) => releasePicks[i % 64]);
          for (const ip of released) ipam.release(ip);
          const again = fill('b');
          assert.deepEqual(new Set(again), new Set(released));
          check(ipam, ipam.getTopology());
        },
      ),
      { numRuns: 100 },
    );
  });

  it('a dual-stack allocation whose IPv6 group is full takes no IPv4 address either', () => {
    const ipam = new Ipam();
    const doc: TopologyUpdateRequest = {
      networks: [
        { name: 'v4', cidr: '10.0.0.0/24', block_mask: 28 },
        { name: 'v6', cidr: 'fd00:1::/126', block_mask: 127 },
      ],
      topologies: [{ networks: ['v4', 'v6'], map: [{ name: 'g' }] }],
    };
    ipam.updateTopology(doc);
    ipam.addHost({ name: 'h', ip: '192.168.0.1', ip6: 'fd00:ff::1' });
    for (let i = 0; i < 4; i++) ipam.allocate({ name: `p${i}`, host: 'h' });
    const before = JSON.stringify(ipam.toSnapshot());
    assert.throws(() => ipam.allocate({ name: 'p4', host: 'h' }), {
      code: 'NoAvailableIP',
      message: /no free IPv6 address/,
    });
    assert.equal(JSON.stringify(ipam.toSnapshot()), before);
    check(ipam, doc);
    ipam.release('p2');
    assert.deepEqual(
      ipam.allocate({ name: 'p4', host: 'h' }).ips.map((x) => x.ip),
      ['10.0.0.2', 'fd00:1::2'],
    );
  });
});
