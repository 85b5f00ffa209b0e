/** The model of the IPAM property tests: what the reference rules say each operation does. */
import assert from 'node:assert/strict';
import { RomanaError, type ErrorCode } from '../../src/errors.ts';
import { Ipam, type GroupOrHost } from '../../src/ipam/index.ts';
import { cidrRange, intToIp, ipToInt, rangeContains, type Range } from './invariants.ts';
import { type HostHow, type Tags, hostIp } from './arbitraries.ts';

// ------------------------------------------------------------------------------------------
// The model and what it reads from the engine

/** Who holds an address. */
export interface Holder {
  ip: string;
  host: string;
  tenant: string;
  segment: string;
}

export type Model = Map<string, Holder>;

/** A group of a topology document, as placement reads it. */
export interface Node {
  cidr: Range;
  assignment: Tags | null;
  dummy: boolean;
  /** A host group: `hosts` is its host count. */
  leaf: boolean;
  hosts: number;
  children: Node[];
}

export interface NetInfo extends Range {
  name: string;
  prefix: number;
  blockSize: number;
  tenants: string[] | null;
  root: Node;
}

export function nodeOf(e: GroupOrHost): Node {
  assert.ok(e.cidr !== undefined, `getTopology(): group ${e.name} has no cidr`);
  const groups = e.groups ?? [];
  const isHosts = groups.length === 0 || groups[0]!.ip !== undefined;
  return {
    cidr: cidrRange(e.cidr),
    assignment: e.assignment ?? null,
    dummy: e.dummy === true,
    leaf: isHosts,
    hosts: isHosts ? groups.length : 0,
    children: isHosts ? [] : groups.map(nodeOf),
  };
}

/** The root of a map (reference §2.2: one entry is the root; several get a made-up root). */
export function rootOf(map: GroupOrHost[], cidr: Range): Node {
  if (map.length === 1 && map[0]!.ip === undefined) return nodeOf(map[0]!);
  const hosts = map.length > 0 && map[0]!.ip !== undefined;
  return {
    cidr,
    assignment: null,
    dummy: false,
    leaf: hosts,
    hosts: hosts ? map.length : 0,
    children: hosts ? [] : map.map(nodeOf),
  };
}

export function readNets(ipam: Ipam): NetInfo[] {
  const doc = ipam.getTopology();
  return doc.networks.map((d) => {
    const r = cidrRange(d.cidr);
    const topo = doc.topologies.find((t) => t.networks.includes(d.name));
    assert.ok(topo !== undefined, `getTopology(): network ${d.name} has no topology`);
    assert.ok(d.block_mask !== undefined, `getTopology(): network ${d.name} has no block_mask`);
    return {
      name: d.name,
      ...r,
      blockSize: 2 ** (32 - d.block_mask),
      tenants: d.tenants !== undefined && d.tenants.length > 0 ? d.tenants : null,
      root: rootOf(topo.map, r),
    };
  });
}

export function accepts(n: Node, tags: Tags | null): boolean {
  if (n.dummy) return false;
  return Object.entries(n.assignment ?? {}).every(([k, v]) => tags?.[k] === v);
}

/** Reference §2.3: the eligible leaf with the fewest hosts, the first on a tie. */
export function smallestLeaf(n: Node, tags: Tags | null): Node | undefined {
  if (!accepts(n, tags)) return undefined;
  if (n.leaf) return n;
  let best: Node | undefined;
  for (const c of n.children) {
    const l = smallestLeaf(c, tags);
    if (l !== undefined && (best === undefined || l.hosts < best.hosts)) best = l;
  }
  return best;
}

/** The groups from the root down to the one with range `g`. */
export function pathTo(root: Node, g: Range): Node[] {
  const out: Node[] = [];
  let n: Node | undefined = root;
  while (n !== undefined && rangeContains(n.cidr, g)) {
    out.push(n);
    n = n.children.find((c) => rangeContains(c.cidr, g));
  }
  return out;
}

export interface HostInfo {
  name: string;
  ip: string;
  tags: Tags | null;
  groups: Map<string, Range>;
}

export function readHosts(ipam: Ipam): HostInfo[] {
  return ipam.listHosts().hosts.map((h) => ({
    name: h.name,
    ip: h.ip,
    tags: h.tags,
    groups: new Map(
      ipam.getHost({ name: h.name }).groups.map((g) => [g.network, cidrRange(g.cidr)]),
    ),
  }));
}

export function blackoutRanges(ipam: Ipam): Array<Range & { network: string; cidr: string }> {
  return ipam.listBlackouts().map((b) => ({ ...b, ...cidrRange(b.cidr) }));
}

export type Outcome<T> = { ok: true; value: T } | { ok: false; code: ErrorCode };

export function fail(code: ErrorCode): { ok: false; code: ErrorCode } {
  return { ok: false, code };
}

/** The address reference §2.4 gives `req`, computed from the views and the model. */
export function predictAllocate(
  ipam: Ipam,
  model: Model,
  req: { name: string; host: string; tenant: string; segment: string },
): Outcome<{ ip: string; network: string }> {
  if (model.has(req.name)) return fail('AlreadyExists');
  const nets = readNets(ipam);
  const eligible = [
    ...nets.filter((n) => n.tenants?.includes(req.tenant)),
    ...nets.filter((n) => n.tenants === null),
  ];
  if (eligible.length === 0) return fail('NotFound');
  const host = readHosts(ipam).find((h) => h.name === req.host);
  if (host === undefined) return fail('NotFound');
  const used = new Set([...model.values()].map((h) => ipToInt(h.ip)));
  const blackouts = blackoutRanges(ipam);
  const blocks = ipam.toSnapshot().blocks.map((b) => ({ ...b, range: cidrRange(b.cidr) }));
  const owner = `${req.tenant}:${req.segment}`;
  for (const net of eligible) {
    const g = host.groups.get(net.name);
    if (g === undefined) continue;
    const lowest = (start: number): number | undefined => {
      for (let a = start; a < start + net.blockSize; a++) {
        if (!used.has(a) && !blackouts.some((b) => a >= b.start && a <= b.end)) return a;
      }
      return undefined;
    };
    const inNet = blocks.filter((b) => b.network === net.name);
    const owned = inNet
      .filter((b) => b.owner === owner && b.host === req.host)
      .sort((x, y) => x.acquired - y.acquired);
    const free = inNet
      .filter((b) => b.owner === null && rangeContains(g, b.range))
      .sort((x, y) => x.released - y.released);
    const created = inNet.filter((b) => rangeContains(g, b.range)).length;
    const starts = [...owned, ...free].map((b) => b.range.start);
    for (
      let s = g.start + created * net.blockSize;
      s + net.blockSize - 1 <= g.end;
      s += net.blockSize
    ) {
      starts.push(s);
    }
    for (const s of starts) {
      const a = lowest(s);
      if (a !== undefined) return { ok: true, value: { ip: intToIp(a), network: net.name } };
    }
  }
  return fail('NoAvailableIP');
}

/** Reference §2.3: the group (by network) a new host lands in. */
export function predictAddHost(
  ipam: Ipam,
  op: { host: string; ip: string; tags: Tags | null },
): Outcome<Map<string, Range>> {
  const hosts = readHosts(ipam);
  if (hosts.some((h) => h.name === op.host || h.ip === op.ip)) return fail('AlreadyExists');
  const groups = new Map<string, Range>();
  for (const net of readNets(ipam)) {
    const leaf = smallestLeaf(net.root, op.tags);
    if (leaf !== undefined) groups.set(net.name, leaf.cidr);
  }
  return groups.size === 0 ? fail('InvalidInput') : { ok: true, value: groups };
}

export function hostRef(host: string, how: HostHow): { name?: string; ip?: string } {
  switch (how) {
    case 'name':
      return { name: host };
    case 'ip':
      return { ip: hostIp(host) };
    case 'both':
      return { name: host, ip: hostIp(host) };
    case 'mismatch':
      return { name: host, ip: hostIp(host === 'h0' ? 'h1' : 'h0') };
  }
}

/** Reference §2.8 lookup: by IP when given (the name must then agree), else by name. */
export function predictFindHost(
  ipam: Ipam,
  ref: { name?: string; ip?: string },
): Outcome<HostInfo> {
  const hosts = readHosts(ipam);
  const h =
    ref.ip !== undefined
      ? hosts.find((x) => x.ip === ref.ip)
      : hosts.find((x) => x.name === ref.name);
  if (h === undefined) return fail('NotFound');
  if (ref.ip !== undefined && ref.name !== undefined && h.name !== ref.name)
    return fail('InvalidInput');
  return { ok: true, value: h };
}

export function sameTags(a: Tags | null, b: Tags | null): boolean {
  const ka = Object.keys(a ?? {});
  return ka.length === Object.keys(b ?? {}).length && ka.every((k) => a?.[k] === b?.[k]);
}

// ------------------------------------------------------------------------------------------
// Running operations

export interface Ctx {
  ipam: Ipam;
  model: Model;
}

/** Runs `f`, which must fail with `code` and leave the snapshot unchanged. */
export function expectFailure(
  ctx: Ctx,
  what: string,
  code: ErrorCode | undefined,
  f: () => unknown,
): void {
  const before = ctx.ipam.toSnapshot();
  let error: unknown;
  try {
    f();
  } catch (err) {
    error = err;
  }
  assert.ok(error !== undefined, `${what} should have failed${code ? ` with ${code}` : ''}`);
  assert.ok(error instanceof RomanaError, `${what} threw a non-Romana error: ${String(error)}`);
  if (code !== undefined) assert.equal(error.code, code, `${what}: ${error.message}`);
  assert.deepEqual(
    ctx.ipam.toSnapshot(),
    before,
    `${what} failed (${error.message}) but changed the state`,
  );
}

export function expectUnchanged(ctx: Ctx, what: string, f: () => unknown): void {
  const before = ctx.ipam.toSnapshot();
  f();
  assert.deepEqual(ctx.ipam.toSnapshot(), before, `${what} was a no-op but changed the state`);
}

export function modelView(ipam: Ipam): Model {
  return new Map(
    ipam
      .listAddresses()
      .map((a) => [a.name, { ip: a.ip, host: a.host, tenant: a.tenant, segment: a.segment }]),
  );
}

export function sorted<T>(xs: Iterable<T>): T[] {
  return [...xs].sort();
}
