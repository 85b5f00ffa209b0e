/**
 * Carving a network into its prefix-group tree (reference §2.2). A list of k groups is padded
 * to the next power of two P; each group gets `parentPrefix + log2(P)` bits. Padding groups
 * really are dummy (they never receive hosts), and nested groups keep their names.
 */
import { Addr, Cidr, IPV4_ONLY, IPV6_ONLY } from './addr.ts';
import type { GroupOrHost, NetworkSpec, Problems } from './topology.ts';

export interface HostSpec {
  name: string;
  ip: Addr;
  /** The host's own IPv6 address, when the map gives one. */
  ip6?: Addr;
}

/** One group of a carved tree. `children === null` marks a leaf (a host group). */
export interface GroupSpec {
  name: string;
  cidr: Cidr;
  assignment: Record<string, string> | null;
  routing: string;
  dummy: boolean;
  /** Added to reach a power of two; never receives hosts; not echoed by GET /topology. */
  padding: boolean;
  /** The root made up for a map of several entries (or of hosts); not echoed as a group. */
  synthetic: boolean;
  children: GroupSpec[] | null;
  hosts: HostSpec[];
}

/**
 * Builds the group tree of one network from its topology map.
 * Problems (too fine a division, duplicate hosts) are added to `p`; the tree is returned
 * only when this network added none.
 */
export function carveNetwork(
  net: NetworkSpec,
  map: GroupOrHost[],
  path: string,
  p: Problems,
): GroupSpec | undefined {
  const before = p.list.length;
  let root: GroupSpec;
  if (map.length === 1 && map[0]!.ip === undefined) {
    root = groupOf(map[0]!, net.cidr, false);
    root.children = carveChildren(map[0]!.groups ?? [], root, net, `${path}[0].groups`, p);
  } else {
    root = {
      ...groupOf({ name: '/' }, net.cidr, false),
      synthetic: true,
    };
    root.children = map.length === 0 ? [] : carveChildren(map, root, net, path, p);
  }
  checkHosts(root, net, p);
  return p.list.length === before ? root : undefined;
}

function groupOf(e: GroupOrHost, cidr: Cidr, padding: boolean): GroupSpec {
  return {
    name: e.name ?? '',
    cidr,
    assignment: e.assignment ?? null,
    routing: e.routing ?? '',
    dummy: padding || e.dummy === true,
    padding,
    synthetic: false,
    children: null,
    hosts: [],
  };
}

/**
 * Children of `parent` from its `groups` list: `null` (a leaf) for an empty list or a list
 * of hosts, otherwise the carved child groups.
 */
function carveChildren(
  list: GroupOrHost[],
  parent: GroupSpec,
  net: NetworkSpec,
  path: string,
  p: Problems,
): GroupSpec[] | null {
  if (list.length === 0) return null;
  const hostCount = list.filter((e) => e.ip !== undefined).length;
  if (hostCount > 0) {
    if (hostCount < list.length) {
      p.add(
        path,
        'mixes hosts (entries with "ip") and groups (entries without); a list holds only one kind',
      );
      return null;
    }
    // Hosts with an unreadable IP were reported while normalizing the map.
    parent.hosts = list.flatMap((e) => {
      const ip = Addr.tryParse(e.ip!, IPV4_ONLY);
      if (ip === undefined) return [];
      const ip6 = e.ip6 === undefined ? undefined : Addr.tryParse(e.ip6, IPV6_ONLY);
      return [ip6 === undefined ? { name: e.name ?? '', ip } : { name: e.name ?? '', ip, ip6 }];
    });
    return null;
  }
  const slots = nextPowerOfTwo(list.length);
  const prefix = parent.cidr.prefix + Math.log2(slots);
  if (prefix > parent.cidr.addr.bits) {
    p.add(
      path,
      `cannot divide ${parent.cidr} of network ${net.name} into ${list.length} groups: each would be a /${prefix}`,
    );
    return null;
  }
  if (prefix > net.blockMask) {
    p.add(
      path,
      `the ${list.length} groups carved from ${parent.cidr} of network ${net.name} are /${prefix}, smaller than one /${net.blockMask} block; use fewer groups or a longer block_mask`,
    );
    return null;
  }
  const children: GroupSpec[] = [];
  for (let i = 0; i < slots; i++) {
    const cidr = parent.cidr.subnet(prefix, i);
    const entry = list[i];
    if (entry === undefined) {
      children.push(groupOf({ name: '' }, cidr, true));
      continue;
    }
    const child = groupOf(entry, cidr, false);
    child.children = carveChildren(entry.groups ?? [], child, net, `${path}[${i}].groups`, p);
    children.push(child);
  }
  return children;
}

/** A host may appear once per network, and a name always with the same IP. */
function checkHosts(root: GroupSpec, net: NetworkSpec, p: Problems): void {
  const byName = new Map<string, string>();
  const byIp = new Map<string, string>();
  walk(root, (g) => {
    for (const h of g.hosts) {
      const ip = h.ip.toString();
      if (byName.has(h.name)) {
        p.add('', `host ${h.name} appears more than once in the topology of network ${net.name}`);
      } else if (byIp.has(ip)) {
        p.add('', `hosts ${byIp.get(ip)} and ${h.name} of network ${net.name} share IP ${ip}`);
      }
      const ip6 = h.ip6?.toString();
      if (ip6 !== undefined && byIp.has(ip6) && byIp.get(ip6) !== h.name) {
        p.add('', `hosts ${byIp.get(ip6)} and ${h.name} of network ${net.name} share IP ${ip6}`);
      }
      byName.set(h.name, ip);
      byIp.set(ip, h.name);
      if (ip6 !== undefined) byIp.set(ip6, h.name);
    }
  });
}

/** Visits a tree depth-first, pre-order. */
export function walk(g: GroupSpec, visit: (g: GroupSpec) => void): void {
  visit(g);
  for (const c of g.children ?? []) walk(c, visit);
}

export function nextPowerOfTwo(k: number): number {
  let p = 1;
  while (p < k) p *= 2;
  return p;
}
