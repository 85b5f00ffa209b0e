/**
 * The dashboard's copy of romanad's state and what the page shows of it: pure data, no DOM, so
 * that it runs (and is tested) in Node as well as in the browser.
 *
 * The copy is filled from the list routes, then kept current by the watch stream's events
 * (full `put` states and `delete`s, applied idempotently). The topology tree with totals per
 * group and network is derived from it on demand (`buildView`).
 */
import type { Block, Host, Policy, Topology, Vip } from '../client/types.ts';

/** One change of the watch stream (docs/api.md#watch-stream). */
export interface WatchEvent {
  revision: number;
  kind: 'blocks' | 'hosts' | 'policies' | 'vips' | 'topology';
  type: 'put' | 'delete';
  id: string;
  value: unknown;
}

/** Everything the page shows, as romanad last told it. */
export interface DashState {
  topology: Topology | undefined;
  hosts: Map<string, Host>;
  /** By CIDR; free blocks (empty `host`) included. */
  blocks: Map<string, Block>;
  policies: Map<string, Policy>;
  vips: Map<string, Vip>;
}

export function emptyState(): DashState {
  return {
    topology: undefined,
    hosts: new Map(),
    blocks: new Map(),
    policies: new Map(),
    vips: new Map(),
  };
}

/** The lists as the GET routes return them. */
export interface Lists {
  topology: Topology;
  hosts: Host[];
  blocks: Block[];
  policies: Policy[];
  vips: Vip[];
}

export function stateFromLists(l: Lists): DashState {
  return {
    topology: l.topology,
    hosts: new Map(l.hosts.map((h) => [h.name, h])),
    blocks: new Map(l.blocks.map((b) => [b.cidr, b])),
    policies: new Map(l.policies.map((p) => [p.id, p])),
    vips: new Map(l.vips.map((v) => [v.name, v])),
  };
}

/**
 * Applies one event in place. Applying an event twice, or an older full state that a later
 * event overwrites, is harmless: that is what the resume rules rely on. Returns whether the
 * host placement may have changed (hosts come and go without a topology event, so the caller
 * reads the topology again).
 */
export function applyEvent(s: DashState, e: WatchEvent): { placementChanged: boolean } {
  const del = e.type === 'delete';
  switch (e.kind) {
    case 'blocks':
      if (del) s.blocks.delete(e.id);
      else s.blocks.set(e.id, e.value as Block);
      return { placementChanged: false };
    case 'hosts': {
      const known = s.hosts.has(e.id);
      if (del) s.hosts.delete(e.id);
      else s.hosts.set(e.id, e.value as Host);
      return { placementChanged: del || !known };
    }
    case 'policies':
      if (del) s.policies.delete(e.id);
      else s.policies.set(e.id, e.value as Policy);
      return { placementChanged: false };
    case 'vips':
      if (del) s.vips.delete(e.id);
      else s.vips.set(e.id, e.value as Vip);
      return { placementChanged: false };
    case 'topology':
      s.topology = del ? undefined : (e.value as Topology);
      return { placementChanged: false };
    default:
      // A kind this page does not show (a newer romanad may send more): nothing to do.
      return { placementChanged: false };
  }
}

/** Addresses held and addresses available in the blocks counted. */
export interface Usage {
  blocks: number;
  allocated: number;
  capacity: number;
}

export interface HostRow {
  name: string;
  ip: string;
  blocks: Block[];
  usage: Usage;
}

export interface GroupView {
  /** Unique path of the group in the tree, e.g. `pods/zone-a/rack-a1`. */
  key: string;
  name: string;
  cidr: string;
  network: string;
  depth: number;
  groups: GroupView[];
  hosts: HostRow[];
  /** Hosts in this group and every group below it. */
  hostCount: number;
  groupCount: number;
  usage: Usage;
}

export interface NetworkView {
  name: string;
  cidr: string;
  blockMask: number;
  /** The network's own level: its groups and the hosts placed directly in it. */
  root: GroupView;
  freeBlocks: number;
}

export interface DashView {
  networks: NetworkView[];
  totals: { networks: number; groups: number; hosts: number; blocks: number } & Usage;
}

/**
 * Number of addresses in a block of this CIDR (IPv4 or IPv6 prefix length).
 *
 * @example blockSize('10.0.0.0/28') // 16
 */
export function blockSize(cidr: string): number {
  const prefix = Number(cidr.slice(cidr.indexOf('/') + 1));
  const bits = cidr.includes(':') ? 128 : 32;
  return 2 ** (bits - prefix);
}

/**
 * Fill of a block or a sum of blocks, 0..1 (0 when there is nothing).
 *
 * @example fill({ blocks: 1, allocated: 4, capacity: 16 }) // 0.25
 */
export function fill(u: Usage): number {
  return u.capacity === 0 ? 0 : u.allocated / u.capacity;
}

function addUsage(into: Usage, u: Usage): void {
  into.blocks += u.blocks;
  into.allocated += u.allocated;
  into.capacity += u.capacity;
}

const zero = (): Usage => ({ blocks: 0, allocated: 0, capacity: 0 });

/** Owned blocks by network, then host. */
function blocksByHost(blocks: Iterable<Block>): Map<string, Map<string, Block[]>> {
  const out = new Map<string, Map<string, Block[]>>();
  for (const b of blocks) {
    if (b.host === '') continue;
    let net = out.get(b.network);
    if (net === undefined) out.set(b.network, (net = new Map()));
    const list = net.get(b.host);
    if (list === undefined) net.set(b.host, [b]);
    else list.push(b);
  }
  return out;
}

interface MapEntry {
  name?: string;
  ip?: string;
  cidr?: string;
  groups?: MapEntry[];
}

/**
 * The tree the page draws: per network, its groups (with their CIDRs), the hosts placed in
 * each, each host's blocks, and totals per group and network.
 */
export function buildView(s: DashState): DashView {
  const owned = blocksByHost(s.blocks.values());
  const free = new Map<string, number>();
  for (const b of s.blocks.values()) {
    if (b.host === '') free.set(b.network, (free.get(b.network) ?? 0) + 1);
  }
  const networks: NetworkView[] = [];
  const totals = { networks: 0, groups: 0, hosts: 0, ...zero() };
  for (const t of s.topology?.topologies ?? []) {
    for (const netName of t.networks) {
      const net = s.topology?.networks.find((n) => n.name === netName);
      if (net === undefined) continue;
      const hostBlocks = owned.get(netName) ?? new Map<string, Block[]>();
      const root = groupView(
        { name: netName, cidr: net.cidr, groups: t.map as MapEntry[] },
        netName,
        netName,
        0,
        { hosts: s.hosts, hostBlocks },
      );
      networks.push({
        name: netName,
        cidr: net.cidr,
        blockMask: net.block_mask ?? 0,
        root,
        freeBlocks: free.get(netName) ?? 0,
      });
      totals.networks += 1;
      totals.groups += root.groupCount;
      totals.hosts += root.hostCount;
      addUsage(totals, root.usage);
    }
  }
  return { networks, totals };
}

interface Ctx {
  hosts: Map<string, Host>;
  hostBlocks: Map<string, Block[]>;
}

function groupView(e: MapEntry, key: string, network: string, depth: number, c: Ctx): GroupView {
  const g: GroupView = {
    key,
    name: e.name || e.cidr || '(unnamed)',
    cidr: e.cidr ?? '',
    network,
    depth,
    groups: [],
    hosts: [],
    hostCount: 0,
    groupCount: 0,
    usage: zero(),
  };
  (e.groups ?? []).forEach((kid, i) => {
    if (kid.ip !== undefined) {
      const name = kid.name ?? '';
      const blocks = [...(c.hostBlocks.get(name) ?? [])].sort(byCidr);
      const usage = zero();
      for (const b of blocks) {
        addUsage(usage, {
          blocks: 1,
          allocated: b.allocated_ip_count,
          capacity: blockSize(b.cidr),
        });
      }
      g.hosts.push({ name, ip: c.hosts.get(name)?.ip ?? kid.ip, blocks, usage });
      g.hostCount += 1;
      addUsage(g.usage, usage);
      return;
    }
    const sub = groupView(kid, `${key}/${kid.name || i}`, network, depth + 1, c);
    g.groups.push(sub);
    g.hostCount += sub.hostCount;
    g.groupCount += 1 + sub.groupCount;
    addUsage(g.usage, sub.usage);
  });
  return g;
}

/** Orders CIDR text by address (IPv4 dotted quads compared numerically). */
function byCidr(a: Block, b: Block): number {
  return ipKey(a.cidr) - ipKey(b.cidr) || a.cidr.localeCompare(b.cidr);
}

function ipKey(cidr: string): number {
  const parts = cidr.split('/')[0]!.split('.');
  if (parts.length !== 4) return 0;
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

/** Where a host sits: the innermost group holding it, in one network. */
export function groupOfHost(view: DashView, network: string, host: string): GroupView | undefined {
  const net = view.networks.find((n) => n.name === network);
  if (net === undefined) return undefined;
  const find = (g: GroupView): GroupView | undefined =>
    g.hosts.some((h) => h.name === host) ? g : g.groups.map(find).find((x) => x !== undefined);
  return find(net.root);
}
