/**
 * A reusable invariant checker for the IPAM engine, for scenario and property tests: call
 * `checkInvariants(ipam)` after every step. It reads the engine only through its public API
 * and throws an `AssertionError` naming the first violation it finds.
 *
 * @example
 * const ipam = new Ipam();
 * ipam.updateTopology(doc);
 * ipam.allocate({ name: 'pod-a', host: 'h1', tenant: 't', segment: 's' });
 * checkInvariants(ipam);
 */
import assert from 'node:assert/strict';
import { Ipam, type AddressView, type BlockView, type HostView } from '../../src/ipam/index.ts';

/** An inclusive range of IPv4 integers. */
export interface Range {
  start: number;
  end: number;
}

/** Dotted-quad text to its integer (the test's own parser, independent of the engine's). */
export function ipToInt(text: string): number {
  const parts = text.split('.').map(Number);
  assert.ok(
    parts.length === 4 && parts.every((p) => Number.isInteger(p) && p >= 0 && p <= 255),
    `invariant: '${text}' is not an IPv4 address`,
  );
  return ((parts[0]! * 256 + parts[1]!) * 256 + parts[2]!) * 256 + parts[3]!;
}

export function intToIp(v: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(v / 2 ** s) % 256).join('.');
}

/** `a.b.c.d/n` to its range and prefix; the address must be aligned. */
export function cidrRange(text: string): Range & { prefix: number } {
  const [ip, len] = text.split('/');
  const prefix = Number(len);
  const start = ipToInt(ip ?? '');
  const size = 2 ** (32 - prefix);
  assert.ok(Number.isInteger(prefix) && prefix >= 0 && prefix <= 32, `invariant: bad CIDR ${text}`);
  assert.equal(start % size, 0, `invariant: CIDR ${text} is not aligned`);
  return { start, end: start + size - 1, prefix };
}

export function rangeContains(outer: Range, inner: Range): boolean {
  return inner.start >= outer.start && inner.end <= outer.end;
}

/** Checks every invariant; throws on the first violation. */
export function checkInvariants(ipam: Ipam): void {
  checkStructure(ipam);
  checkSnapshotRoundTrip(ipam);
  checkTopologyRepost(ipam);
}

/** The invariants readable from one state's views (no copies made). */
export function checkStructure(ipam: Ipam): void {
  const nets = new Map(ipam.listNetworks().map((n) => [n.id, { ...n, ...cidrRange(n.cidr) }]));
  const groups = checkHosts(ipam, nets);
  const blocks = checkBlocks(ipam.listAllBlocks().blocks, nets, groups);
  checkAddresses(ipam, blocks, groups);
  checkBlackouts(ipam, nets);
}

type Nets = Map<string, Range & { prefix: number; block_mask: number }>;
/** Host name to network name to the range of the host's group there. */
type HostGroups = Map<string, Map<string, Range>>;

function checkHosts(ipam: Ipam, nets: Nets): HostGroups {
  const out: HostGroups = new Map();
  const ips = new Set<string>();
  for (const h of ipam.listHosts().hosts) {
    assert.ok(!out.has(h.name), `invariant: host name ${h.name} is listed twice`);
    assert.ok(!ips.has(h.ip), `invariant: host IP ${h.ip} is listed twice`);
    ips.add(h.ip);
    const detail = ipam.getHost({ name: h.name });
    assert.equal(detail.ip, h.ip, `invariant: getHost(${h.name}) has another IP than listHosts`);
    assert.ok(detail.groups.length > 0, `invariant: host ${h.name} is in no group`);
    const byNet = new Map<string, Range>();
    for (const g of detail.groups) {
      const net = nets.get(g.network);
      assert.ok(net !== undefined, `invariant: host ${h.name} is in unknown network ${g.network}`);
      assert.ok(!byNet.has(g.network), `invariant: host ${h.name} has two groups in ${g.network}`);
      const r = cidrRange(g.cidr);
      assert.ok(
        rangeContains(net, r),
        `invariant: group ${g.cidr} of ${h.name} is outside ${g.network}`,
      );
      byNet.set(g.network, r);
    }
    out.set(h.name, byNet);
  }
  return out;
}

/** Block CIDR to its view and range. */
type Blocks = Map<string, { view: BlockView; range: Range }>;

function checkBlocks(views: BlockView[], nets: Nets, groups: HostGroups): Blocks {
  const out: Blocks = new Map();
  for (const b of views) {
    const where = `invariant: block ${b.cidr} of ${b.network}`;
    assert.ok(!out.has(b.cidr), `invariant: block ${b.cidr} is listed twice`);
    const range = cidrRange(b.cidr);
    out.set(b.cidr, { view: b, range });
    const net = nets.get(b.network);
    assert.ok(net !== undefined, `${where}: unknown network`);
    assert.equal(range.prefix, net.block_mask, `${where}: prefix is not the network's block mask`);
    assert.ok(rangeContains(net, range), `${where}: outside its network`);
    const size = range.end - range.start + 1;
    const n = b.allocated_ip_count;
    assert.ok(Number.isInteger(n) && n >= 0 && n <= size, `${where}: allocated_ip_count ${n}`);
    if (n === 0) {
      assert.deepEqual(
        { host: b.host, tenant: b.tenant, segment: b.segment },
        { host: '', tenant: '', segment: '' },
        `${where}: a free block keeps an owner`,
      );
      continue;
    }
    assert.ok(b.host !== '', `${where}: holds ${n} addresses but has no host`);
    const group = groups.get(b.host)?.get(b.network);
    assert.ok(group !== undefined, `${where}: its host ${b.host} is not in ${b.network}`);
    assert.ok(rangeContains(group, range), `${where}: outside the group of its host ${b.host}`);
  }
  return out;
}

function checkAddresses(ipam: Ipam, blocks: Blocks, groups: HostGroups): void {
  const addresses = ipam.listAddresses();
  const names = new Map<string, AddressView>();
  const ips = new Map<string, string>();
  const perBlock = new Map<string, number>();
  const perHost = new Map<string, number>();
  const blackouts = ipam.listBlackouts().map((b) => ({ ...b, ...cidrRange(b.cidr) }));
  for (const a of addresses) {
    const where = `invariant: address ${a.name} (${a.ip})`;
    assert.ok(!names.has(a.name), `invariant: address name ${a.name} is listed twice`);
    names.set(a.name, a);
    const other = ips.get(a.ip);
    assert.ok(other === undefined, `invariant: ${a.ip} is held by both ${other} and ${a.name}`);
    ips.set(a.ip, a.name);
    const ip = ipToInt(a.ip);
    const block = blocks.get(a.block);
    assert.ok(block !== undefined, `${where}: its block ${a.block} is not listed`);
    assert.ok(rangeContains(block.range, { start: ip, end: ip }), `${where}: outside ${a.block}`);
    const b = block.view;
    assert.deepEqual(
      { network: a.network, host: a.host, tenant: a.tenant, segment: a.segment },
      { network: b.network, host: b.host, tenant: b.tenant, segment: b.segment },
      `${where}: disagrees with its block ${a.block} on network/host/tenant/segment`,
    );
    assert.ok(
      groups.get(a.host)?.has(a.network),
      `${where}: host ${a.host} is not in ${a.network}`,
    );
    const bo = blackouts.find((x) => rangeContains(x, { start: ip, end: ip }));
    assert.ok(bo === undefined, `${where}: inside blackout ${bo?.cidr}`);
    perBlock.set(a.block, (perBlock.get(a.block) ?? 0) + 1);
    perHost.set(a.host, (perHost.get(a.host) ?? 0) + 1);
  }
  for (const [cidr, { view }] of blocks) {
    assert.equal(
      view.allocated_ip_count,
      perBlock.get(cidr) ?? 0,
      `invariant: block ${cidr}: allocated_ip_count is not the number of its addresses`,
    );
  }
  for (const h of groups.keys()) {
    assert.equal(
      ipam.getHost({ name: h }).address_count,
      perHost.get(h) ?? 0,
      `invariant: host ${h}: address_count is not the number of its addresses`,
    );
  }
  for (const a of addresses) {
    assert.deepEqual(ipam.getAddress(a.name), a, `invariant: getAddress(${a.name})`);
    // By IP, unless a name is spelled like that IP: names are looked up first.
    if (!names.has(a.ip))
      assert.deepEqual(ipam.getAddress(a.ip), a, `invariant: getAddress(${a.ip})`);
  }
}

function checkBlackouts(ipam: Ipam, nets: Nets): void {
  const list = ipam.listBlackouts();
  const ranges = list.map((b) => ({ ...b, ...cidrRange(b.cidr) }));
  for (const [i, b] of ranges.entries()) {
    const net = nets.get(b.network);
    assert.ok(net !== undefined, `invariant: blackout ${b.cidr} in unknown network ${b.network}`);
    assert.ok(rangeContains(net, b), `invariant: blackout ${b.cidr} is outside ${b.network}`);
    assert.ok(b.prefix > net.prefix, `invariant: blackout ${b.cidr} covers all of ${b.network}`);
    for (const o of ranges.slice(i + 1)) {
      assert.ok(
        o.end < b.start || o.start > b.end,
        `invariant: blackouts ${b.cidr} and ${o.cidr} overlap`,
      );
    }
  }
}

/** `new Ipam(snapshot)` rebuilds a state whose snapshot is the same. */
function checkSnapshotRoundTrip(ipam: Ipam): void {
  const snap = ipam.toSnapshot();
  let copy: Ipam;
  try {
    copy = new Ipam(structuredClone(snap));
  } catch (err) {
    assert.fail(`invariant: the snapshot does not load back: ${(err as Error).message}`);
  }
  assert.deepEqual(copy.toSnapshot(), snap, 'invariant: snapshot round trip changed the state');
}

/** Who holds an address: what a topology update must keep. */
function holders(ipam: Ipam): Map<string, Pick<AddressView, 'ip' | 'host' | 'tenant' | 'segment'>> {
  return new Map(
    ipam
      .listAddresses()
      .map((a) => [a.name, { ip: a.ip, host: a.host, tenant: a.tenant, segment: a.segment }]),
  );
}

function hostsByName(ipam: Ipam): Array<HostView & { groups: string[] }> {
  return ipam
    .listHosts()
    .hosts.map((h) => ({
      ...h,
      groups: ipam
        .getHost({ name: h.name })
        .groups.map((g) => `${g.network} ${g.cidr}`)
        .sort(),
    }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * `getTopology()` posted to a copy is accepted and keeps every address where it is (same IP,
 * host, tenant and segment), every host in its group and every blackout.
 */
function checkTopologyRepost(ipam: Ipam): void {
  const doc = ipam.getTopology();
  const copy = new Ipam(ipam.toSnapshot());
  try {
    copy.updateTopology(structuredClone(doc));
  } catch (err) {
    assert.fail(`invariant: getTopology() does not post back: ${(err as Error).message}`);
  }
  assert.deepEqual(
    holders(copy),
    holders(ipam),
    'invariant: re-posting getTopology() moved addresses',
  );
  assert.deepEqual(
    hostsByName(copy),
    hostsByName(ipam),
    'invariant: re-posting getTopology() moved hosts',
  );
  const blackouts = (i: Ipam) =>
    i
      .listBlackouts()
      .map((b) => `${b.network} ${b.cidr}`)
      .sort();
  assert.deepEqual(
    blackouts(copy),
    blackouts(ipam),
    'invariant: re-posting getTopology() lost blackouts',
  );
  checkStructure(copy);
}
