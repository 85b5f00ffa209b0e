/**
 * Read views (reference §2.12), in the JSON shapes of the 2.x API, with its duplications
 * fixed: each host once and with its tags, and a topology document that can be posted back.
 */
import { notFound } from '../errors.ts';
import { jsonString } from '../json-text.ts';
import { addressOf, type AddressLocation } from './alloc.ts';
import type { Block, Group, Host, Network } from './model.ts';
import type { State } from './state.ts';
import {
  networkDefinitionOf,
  type GroupOrHost,
  type TopologyDefinition,
  type TopologyUpdateRequest,
} from './topology.ts';

export interface HostView {
  name: string;
  ip: string;
  /** The host's own IPv6 address; absent when it has none. */
  ip6?: string;
  agent_port: number;
  tags: Record<string, string> | null;
  k8s_info: Record<string, unknown> | null;
}

/** A host with where it sits in each network. */
export interface HostDetailView extends HostView {
  groups: Array<{ network: string; group: string; cidr: string }>;
  address_count: number;
}

export interface NetworkView {
  revision: number;
  id: string;
  cidr: string;
  block_mask: number;
}

export interface BlockView {
  revision: number;
  cidr: string;
  network: string;
  tenant: string;
  segment: string;
  host: string;
  allocated_ip_count: number;
}

export interface BlocksView {
  revision: number;
  blocks: BlockView[];
}

/** One family's address of a name. */
export interface AddressIp {
  ip: string;
  network: string;
  block: string;
}

/**
 * An address name. `ip`, `network` and `block` describe its IPv4 address (its IPv6 one when it
 * has no IPv4); `ips` lists every family's, IPv4 first.
 */
export interface AddressView {
  name: string;
  ip: string;
  host: string;
  tenant: string;
  segment: string;
  network: string;
  block: string;
  ips: AddressIp[];
}

export function hostView(h: Host): HostView {
  const v: HostView = {
    name: h.name,
    ip: h.ipText,
    agent_port: h.agentPort,
    tags: h.tags === null ? null : { ...h.tags },
    k8s_info: h.k8sInfo === null ? null : structuredClone(h.k8sInfo),
  };
  if (h.ip6 !== null) v.ip6 = h.ip6.toString();
  return v;
}

export function listHosts(s: State): { hosts: HostView[]; revision: number } {
  return { hosts: [...s.hosts.values()].map(hostView), revision: s.revisions.topology };
}

export function hostDetail(h: Host): HostDetailView {
  let count = 0;
  for (const p of h.placements) {
    for (const list of p.owned.values()) for (const b of list) count += b.pool.allocatedCount;
  }
  return {
    ...hostView(h),
    groups: h.placements.map((p) => ({
      network: p.group.network.name,
      group: p.group.label,
      cidr: p.group.spec.cidr.toString(),
    })),
    address_count: count,
  };
}

export function listNetworks(s: State): NetworkView[] {
  return s.networks.map((n) => ({
    revision: n.revision,
    id: n.name,
    cidr: n.cidr.toString(),
    block_mask: n.blockMask,
  }));
}

export function blockView(b: Block): BlockView {
  const owner = b.owner ?? '';
  const colon = owner.indexOf(':');
  return {
    revision: b.revision,
    cidr: b.cidr,
    network: b.network.name,
    tenant: colon < 0 ? owner : owner.slice(0, colon),
    segment: colon < 0 ? '' : owner.slice(colon + 1),
    host: b.placement?.host.name ?? '',
    allocated_ip_count: b.pool.allocatedCount,
  };
}

function networkBlocks(n: Network): BlockView[] {
  const out: BlockView[] = [];
  for (const g of n.root.walk()) for (const b of g.blocks) out.push(blockView(b));
  return out;
}

/** Every block of every network: networks in order, groups depth-first, blocks in order. */
export function listAllBlocks(s: State): BlocksView {
  return { revision: s.revisions.allocation, blocks: s.networks.flatMap(networkBlocks) };
}

export function listNetworkBlocks(s: State, name: string): BlocksView {
  const n = s.byName.get(name);
  if (n === undefined) throw notFound('network', name, `Network with name ${name} not defined`);
  return { revision: n.revision, blocks: networkBlocks(n) };
}

/** The view of a name's addresses (IPv4 first; at least one). */
export function addressView(locs: readonly AddressLocation[]): AddressView {
  const ips = locs.map((l) => ({
    ip: l.block.network.addrText(l.block, l.index),
    network: l.block.network.name,
    block: l.block.cidr,
  }));
  const b = locs[0]!.block;
  const owner = b.owner ?? '';
  const colon = owner.indexOf(':');
  const first = ips[0]!;
  return {
    name: locs[0]!.name,
    ip: first.ip,
    host: b.placement?.host.name ?? '',
    tenant: colon < 0 ? owner : owner.slice(0, colon),
    segment: colon < 0 ? '' : owner.slice(colon + 1),
    network: first.network,
    block: first.block,
    ips,
  };
}

/**
 * `JSON.stringify(view)` for an address view, built from its fields (the request log writes
 * one per allocation; see src/json-text.ts).
 */
export function addressViewJson(v: AddressView): string {
  let ips = '';
  for (const a of v.ips) {
    ips +=
      `${ips === '' ? '' : ','}{"ip":${jsonString(a.ip)},"network":${jsonString(a.network)}` +
      `,"block":${jsonString(a.block)}}`;
  }
  return (
    `{"name":${jsonString(v.name)},"ip":${jsonString(v.ip)},"host":${jsonString(v.host)}` +
    `,"tenant":${jsonString(v.tenant)},"segment":${jsonString(v.segment)}` +
    `,"network":${jsonString(v.network)},"block":${jsonString(v.block)},"ips":[${ips}]}`
  );
}

/**
 * Every address name: those with an IPv4 address first, then the IPv6-only ones, each part
 * sorted by name.
 */
export function listAddresses(s: State): AddressView[] {
  const v4 = [...s.addresses.keys()].sort(byCodeUnits);
  const v6 = [...s.addresses6.keys()].filter((n) => !s.addresses.has(n)).sort(byCodeUnits);
  return [...v4, ...v6].map((name) => addressView(s.locations(name)));
}

function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export { addressOf };

/**
 * The topology as a document that `updateTopology` accepts back unchanged: one topology per
 * network (a host may sit in different groups of two networks), every host in its group,
 * padding groups left out (they are implied), user dummy groups kept.
 */
export function getTopology(s: State): TopologyUpdateRequest {
  const topologies: TopologyDefinition[] = s.networks.map((n) => {
    const t: TopologyDefinition = { networks: [n.name], map: mapOf(n.root) };
    if (s.request.topologies.some((r) => r.ecmp === true && r.networks.includes(n.name))) {
      t.ecmp = true;
    }
    return t;
  });
  const networks = s.request.networks.filter((d) => s.byName.has(d.name));
  const vipCidr = s.request.vip_cidr === undefined ? {} : { vip_cidr: s.request.vip_cidr };
  return {
    networks: networks.map((d) => {
      const n = s.byName.get(d.name)!;
      return networkDefinitionOf({
        name: n.name,
        cidr: n.cidr,
        blockMask: n.blockMask,
        tenants: n.tenants,
      });
    }),
    topologies,
    ...vipCidr,
  };
}

function mapOf(root: Group): GroupOrHost[] {
  if (!root.spec.synthetic) return [entryOf(root)];
  if (root.children === null) {
    // A map of hosts: once they are all gone, one unnamed group stands for the same leaf.
    return root.hosts.length > 0
      ? root.hosts.map(hostEntry)
      : [{ name: '', cidr: root.spec.cidr.toString() }];
  }
  return childEntries(root);
}

function childEntries(g: Group): GroupOrHost[] {
  const kids = g.children ?? [];
  // Trailing padding is implied by the count of real groups; keep only what was declared.
  let last = kids.length;
  while (last > 0 && kids[last - 1]!.spec.padding) last--;
  return kids.slice(0, last).map(entryOf);
}

function entryOf(g: Group): GroupOrHost {
  const e: GroupOrHost = { name: g.spec.name, cidr: g.spec.cidr.toString() };
  if (g.spec.assignment !== null) e.assignment = { ...g.spec.assignment };
  if (g.spec.routing !== '') e.routing = g.spec.routing;
  if (g.spec.dummy && !g.spec.padding) e.dummy = true;
  const groups = g.children === null ? g.hosts.map(hostEntry) : childEntries(g);
  if (groups.length > 0) e.groups = groups;
  return e;
}

function hostEntry(h: Host): GroupOrHost {
  return h.ip6 === null
    ? { name: h.name, ip: h.ipText }
    : { name: h.name, ip: h.ipText, ip6: h.ip6.toString() };
}
