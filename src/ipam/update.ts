/**
 * Topology update (reference §2.9), all-or-nothing: a new `State` is built beside the old
 * one and returned only when every host and every address found its place. Addresses stay
 * where they are, blackouts survive, hosts registered before stay registered.
 */
import { invalidTopology, RomanaError } from '../errors.ts';
import { Addr, BOTH_FAMILIES, Cidr } from './addr.ts';
import { allocateSpecific } from './alloc.ts';
import { byStart } from './blackouts.ts';
import { Group, Host, Network, smallestEligibleLeaf } from './model.ts';
import { State } from './state.ts';
import { parseTopology } from './topology.ts';

export interface TopologyUpdateResult {
  /** Hosts registered before that fit no group of the new topology (they held no address). */
  droppedHosts: string[];
  /** Blackouts that no network of the new topology can hold. */
  droppedBlackouts: string[];
}

export function buildUpdatedState(
  old: State,
  input: unknown,
): { state: State; result: TopologyUpdateResult } {
  const parsed = parseTopology(input);
  if (!parsed.ok) {
    throw invalidTopology(parsed.problems.join('\n'), { resourceId: 'topology' });
  }
  checkVipPool(parsed.spec.request.vip_cidr, old);
  const next = new State(parsed.spec);
  next.seq = old.seq;
  for (const n of next.networks) n.revision = (old.byName.get(n.name)?.revision ?? 0) + 1;
  try {
    placeDeclaredHosts(old, next);
    const droppedHosts = carryOverHosts(old, next);
    const droppedBlackouts = carryOverBlackouts(old, next);
    carryOverAddresses(old, next);
    next.revisions.allocation = old.revisions.allocation + 1;
    next.revisions.topology = old.revisions.topology + 1;
    next.touched.clear();
    return { state: next, result: { droppedHosts, droppedBlackouts } };
  } catch (err) {
    if (err instanceof RomanaError && !err.semantic) {
      throw invalidTopology(err.message, { cause: err });
    }
    throw err;
  }
}

/**
 * The VIP pool holds no address of a host registered before (those of the map's hosts are
 * checked with the document).
 */
function checkVipPool(pool: string | undefined, old: State): void {
  if (pool === undefined) return;
  const cidr = Cidr.parse(pool, 'vip_cidr', BOTH_FAMILIES);
  const problems: string[] = [];
  for (const h of old.hosts.values()) {
    for (const a of [h.ip, h.ip6]) {
      if (a !== null && cidr.containsAddr(a)) {
        problems.push(`vip_cidr: '${pool}' holds ${a.toString()}, the address of host ${h.name}`);
      }
    }
  }
  if (problems.length > 0) throw invalidTopology(problems.join('\n'), { resourceId: 'topology' });
}

/** Hosts written in the document go to the groups that list them. */
function placeDeclaredHosts(old: State, next: State): void {
  const declared = new Map<
    string,
    { ip: Host['ip']; ip6: Addr | undefined; groups: Map<Network, Group> }
  >();
  for (const net of next.networks) {
    for (const g of net.root.walk()) {
      for (const h of g.spec.hosts) {
        const d = declared.get(h.name) ?? { ip: h.ip, ip6: h.ip6, groups: new Map() };
        if (!d.ip.equals(h.ip)) {
          throw invalidTopology(`host ${h.name} is given two IPs: ${d.ip} and ${h.ip}`);
        }
        if (h.ip6 !== undefined && d.ip6 !== undefined && !d.ip6.equals(h.ip6)) {
          throw invalidTopology(
            `host ${h.name} is given two IPv6 addresses: ${d.ip6} and ${h.ip6}`,
          );
        }
        d.ip6 ??= h.ip6;
        d.groups.set(net, g);
        declared.set(h.name, d);
      }
    }
  }
  for (const [name, d] of declared) {
    const before = old.hosts.get(name);
    const host = next.addHost(
      {
        name,
        ip: d.ip,
        ip6: d.ip6 ?? before?.ip6 ?? null,
        agentPort: before?.agentPort,
        tags: before?.tags ?? null,
        k8sInfo: before?.k8sInfo ?? null,
      },
      (net) => d.groups.get(net),
    );
    if (host === undefined) throw invalidTopology(`host ${name} has no group`);
  }
}

/**
 * Hosts registered before and not written in the document keep their registration: each
 * goes back to the group that holds its blocks when that group still accepts it, else to
 * the smallest eligible leaf.
 */
function carryOverHosts(old: State, next: State): string[] {
  const dropped: string[] = [];
  const olds = [...old.hosts.values()].filter((h) => !next.hosts.has(h.name));
  olds.sort((a, b) => a.seq - b.seq);
  for (const h of olds) {
    const clash = next.hostsByIp.get(h.ipText);
    if (clash !== undefined) {
      throw invalidTopology(
        `host ${h.name} (${h.ipText}) is registered, but the new topology gives its IP to host ${clash.name}`,
      );
    }
    const placed = next.addHost(
      {
        name: h.name,
        ip: h.ip,
        ip6: h.ip6,
        agentPort: h.agentPort,
        tags: h.tags,
        k8sInfo: h.k8sInfo,
      },
      (net, host) => previousGroup(h, net) ?? smallestEligibleLeaf(net.root, host.tags),
    );
    if (placed === undefined) dropped.push(h.name);
  }
  return dropped;
}

function previousGroup(h: Host, net: Network): Group | undefined {
  for (const p of h.placements) {
    for (const list of p.owned.values()) {
      for (const b of list) {
        const same = net.family === b.network.family;
        const leaf = same ? net.leafAt(b.start) : undefined;
        if (leaf !== undefined && leaf.pathFromRoot().every((g) => g.accepts(h.tags))) {
          return leaf;
        }
      }
    }
  }
  return undefined;
}

function carryOverBlackouts(old: State, next: State): string[] {
  const dropped: string[] = [];
  for (const on of old.networks) {
    for (const bo of on.blackouts) {
      const net = next.networks.find((n) => n.cidr.contains(bo.cidr) && !n.cidr.equals(bo.cidr));
      if (net === undefined) {
        dropped.push(bo.cidr.toString());
        continue;
      }
      if (net.blackouts.some((b) => b.cidr.contains(bo.cidr))) continue;
      net.blackouts = net.blackouts
        .filter((b) => !bo.cidr.contains(b.cidr))
        .concat({ cidr: bo.cidr, start: bo.cidr.start, end: bo.cidr.end })
        .sort(byStart);
    }
  }
  return dropped;
}

/** Every address goes to exactly the same IP, lowest first, so blocks are made in order. */
function carryOverAddresses(old: State, next: State): void {
  const all = [...old.addresses, ...old.addresses6].map(([name, b]) => ({
    name,
    block: b,
    off: b.start + BigInt(b.indexOf(name)),
  }));
  const order = new Map(old.networks.map((n, i) => [n, i]));
  all.sort(
    (x, y) =>
      order.get(x.block.network)! - order.get(y.block.network)! ||
      (x.off < y.off ? -1 : x.off > y.off ? 1 : 0),
  );
  for (const { name, block, off } of all) {
    const p = block.placement;
    const ip = Addr.fromBigInt(block.network.family, off);
    if (p === null || block.owner === null) {
      throw invalidTopology(`Unexpected result when looking up IP ${ip}: host , owner `);
    }
    const colon = block.owner.indexOf(':');
    allocateSpecific(
      next,
      name,
      ip,
      p.host.name,
      block.owner.slice(0, colon),
      block.owner.slice(colon + 1),
    );
  }
}
