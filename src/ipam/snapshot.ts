/**
 * The engine's state as plain JSON, one record per object (topology, network, host, block,
 * address) so that a store can keep each under its own key. Pools are not stored: a block's
 * pool is rebuilt from the addresses that point into it, so the two can never disagree.
 */
import { RomanaError } from '../errors.ts';
import { Addr, BOTH_FAMILIES, Cidr, IPV4_ONLY, IPV6_ONLY } from './addr.ts';
import { byStart } from './blackouts.ts';
import type { Block, Host } from './model.ts';
import { groupAt } from './replica.ts';
import { hostView, type HostView } from './views.ts';
import { State } from './state.ts';
import { parseTopology, type TopologyUpdateRequest } from './topology.ts';

export interface NetworkRecord {
  name: string;
  revision: number;
  blackouts: string[];
}

export interface HostRecord extends HostView {
  /** Registration order. */
  seq: number;
  /** Network name to the path of the host's group ('' = root, '1.0' = second child's first). */
  groups: Record<string, string>;
}

export interface BlockRecord {
  network: string;
  cidr: string;
  /** `tenant:segment`, or null for a free block. */
  owner: string | null;
  host: string | null;
  revision: number;
  acquired: number;
  released: number;
}

export interface AddressRecord {
  name: string;
  ip: string;
}

export interface IpamSnapshot {
  version: 1;
  topology: TopologyUpdateRequest;
  revisions: { allocation: number; topology: number; seq: number };
  networks: NetworkRecord[];
  hosts: HostRecord[];
  blocks: BlockRecord[];
  addresses: AddressRecord[];
}

export function toSnapshot(s: State): IpamSnapshot {
  const blocks: BlockRecord[] = [];
  for (const n of s.networks) {
    for (const g of n.root.walk()) for (const b of g.blocks) blocks.push(blockRecord(b));
  }
  return {
    version: 1,
    topology: structuredClone(s.request),
    revisions: { ...s.revisions, seq: s.seq },
    networks: s.networks.map((n) => ({
      name: n.name,
      revision: n.revision,
      blackouts: n.blackouts.map((b) => b.cidr.toString()),
    })),
    hosts: [...s.hosts.values()].map(hostRecord),
    blocks,
    addresses: [...s.addresses, ...s.addresses6].map(([name, b]) => ({
      name,
      ip: b.network.addrText(b, b.indexOf(name)),
    })),
  };
}

export function hostRecord(h: Host): HostRecord {
  return {
    ...hostView(h),
    seq: h.seq,
    groups: Object.fromEntries(h.placements.map((p) => [p.group.network.name, p.group.path])),
  };
}

export function blockRecord(b: Block): BlockRecord {
  return {
    network: b.network.name,
    cidr: b.cidr,
    owner: b.owner,
    host: b.placement?.host.name ?? null,
    revision: b.revision,
    acquired: b.acquired,
    released: b.released,
  };
}

function corrupt(what: string): RomanaError {
  return new RomanaError('Internal', `stored IPAM state is inconsistent: ${what}`);
}

/** Rebuilds a state from a snapshot; throws an `Internal` error if it does not hold together. */
export function fromSnapshot(snap: IpamSnapshot): State {
  if (snap.version !== 1) throw corrupt(`unknown version ${String(snap.version)}`);
  const parsed = parseTopology(snap.topology);
  if (!parsed.ok) throw corrupt(`topology: ${parsed.problems.join('; ')}`);
  const s = new State(parsed.spec);
  Object.assign(s.revisions, {
    allocation: snap.revisions.allocation,
    topology: snap.revisions.topology,
  });
  for (const r of snap.networks) {
    const n = s.byName.get(r.name);
    if (n === undefined) throw corrupt(`network ${r.name} is not in the topology`);
    n.revision = r.revision;
    n.blackouts = r.blackouts
      .map((text) => {
        const cidr = Cidr.parse(text, 'cidr', BOTH_FAMILIES);
        return { cidr, start: cidr.start, end: cidr.end };
      })
      .sort(byStart);
  }
  for (const r of [...snap.hosts].sort((a, b) => a.seq - b.seq)) restoreHost(s, r);
  restoreBlocks(s, snap.blocks);
  for (const a of snap.addresses) restoreAddress(s, a);
  s.seq = snap.revisions.seq;
  s.touched.clear();
  return s;
}

function restoreHost(s: State, r: HostRecord): void {
  s.seq = r.seq - 1;
  const host = s.addHost(
    {
      name: r.name,
      ip: Addr.parse(r.ip, 'ip', IPV4_ONLY),
      ip6: r.ip6 === undefined ? null : Addr.parse(r.ip6, 'ip6', IPV6_ONLY),
      agentPort: r.agent_port,
      tags: r.tags,
      k8sInfo: r.k8s_info,
    },
    (net) => groupAt(net, r.groups[net.name]),
  );
  if (host === undefined) throw corrupt(`host ${r.name} has no group`);
}

function restoreBlocks(s: State, records: BlockRecord[]): void {
  const located = records.map((r) => {
    const net = s.byName.get(r.network);
    if (net === undefined) throw corrupt(`block ${r.cidr} of unknown network ${r.network}`);
    const c = Cidr.parse(r.cidr, 'cidr', BOTH_FAMILIES);
    if (!net.cidr.contains(c)) throw corrupt(`block ${r.cidr} outside network ${r.network}`);
    return { r, net, off: c.start };
  });
  located.sort((a, b) => (a.off < b.off ? -1 : a.off > b.off ? 1 : 0));
  const free: Block[] = [];
  const owned: Array<{ b: Block; owner: string; host: string }> = [];
  for (const { r, net, off } of located) {
    const b = s.blockAt(net, off);
    if (b === undefined) throw corrupt(`block ${r.cidr} is not a block of network ${net.name}`);
    const k = b.group.reusable.indexOf(b);
    if (k >= 0) b.group.reusable.splice(k, 1);
    b.revision = r.revision;
    b.acquired = r.acquired;
    b.released = r.released;
    if (r.owner === null || r.host === null) free.push(b);
    else owned.push({ b, owner: r.owner, host: r.host });
  }
  owned.sort((x, y) => x.b.acquired - y.b.acquired);
  for (const { b, owner, host } of owned) {
    const p = s.hosts.get(host)?.placementIn(b.network);
    if (p === undefined) throw corrupt(`block ${b.cidr} of unknown host ${host}`);
    const acquired = b.acquired;
    s.assign(b, owner, p);
    b.acquired = acquired;
  }
  free.sort((x, y) => x.released - y.released);
  for (const b of free) b.group.reusable.push(b);
}

function restoreAddress(s: State, a: AddressRecord): void {
  const ip = Addr.parse(a.ip, 'ip', BOTH_FAMILIES);
  const at = s.networkOf(ip)?.blockOf(ip);
  if (at === undefined || at.block.owner === null)
    throw corrupt(`address ${a.name} (${a.ip}) has no block`);
  at.block.pool.take(at.index);
  at.block.setName(at.index, a.name);
  s.names(ip.family).set(a.name, at.block);
}
