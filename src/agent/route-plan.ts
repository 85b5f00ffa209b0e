/**
 * Which routes a node needs to other hosts' pods (reference §6.2, improved): pure planning
 * from romanad's hosts, blocks and topology, and how other hosts are reached.
 *
 * - A group of the topology that holds exactly one host, another than this one, is routed as
 *   one prefix (the largest such group): its blocks can only ever belong to that host, so the
 *   route can never capture another host's addresses, and it does not change as blocks come
 *   and go.
 * - Every other block of another host gets its own route.
 * - A host is routed via its own IP when it is directly reachable (no gateway on the kernel's
 *   route to it); through that gateway only with multihop; otherwise not at all.
 */
import { parseIPv4 } from '../ipam/addr.ts';
import type { BlockView, GroupOrHost, HostView, TopologyUpdateRequest } from '../ipam/index.ts';

/** How the kernel reaches a host's IP (`ip route get`). */
export interface Reach {
  /** Next hop when the host is not on a connected network. */
  gateway?: string;
  dev?: string;
}

export interface PlanInput {
  self: string;
  hosts: HostView[];
  blocks: BlockView[];
  topology: TopologyUpdateRequest;
  /** Reachability of each other host's IP; a host missing here is unreachable. */
  reach: Map<string, Reach>;
  multihop: boolean;
}

export interface PlannedRoute {
  dst: string;
  via: string;
  /** Why this route exists, for `romana-agent plan`. */
  reason: string;
}

export interface RoutePlan {
  routes: PlannedRoute[];
  /** Hosts left without routes, and why. */
  skipped: Array<{ host: string; why: string }>;
}

/**
 * Plans the routes of table `romana` on host `self`.
 *
 * @example
 * planRoutes({ self: 'h1', hosts, blocks, topology, reach, multihop: false }).routes
 * // [{ dst: '10.0.64.0/18', via: '192.168.0.2', reason: 'group rack-2 holds only host h2' }]
 */
export function planRoutes(input: PlanInput): RoutePlan {
  const ipOf = new Map(input.hosts.map((h) => [h.name, h.ip]));
  const skipped = new Map<string, string>();
  const viaFor = (host: string): string | undefined => {
    const ip = ipOf.get(host);
    if (ip === undefined) return undefined;
    const r = input.reach.get(ip);
    if (r === undefined) {
      skipped.set(host, `no route to ${ip}`);
      return undefined;
    }
    if (r.gateway === undefined) return ip;
    if (input.multihop) return r.gateway;
    skipped.set(host, `${ip} is reached through ${r.gateway}; enable multihop to route its pods`);
    return undefined;
  };
  const routes = new Map<string, PlannedRoute>();
  const aggregated: string[] = [];
  for (const t of input.topology.topologies) {
    // A map of hosts has no group entry of its own: the network is its group.
    const net = input.topology.networks.find((n) => n.name === t.networks[0]);
    const root: GroupOrHost = { name: net?.name ?? '', cidr: net?.cidr, groups: t.map };
    for (const g of soleHostGroups([root])) {
      aggregated.push(g.cidr);
      if (g.host === input.self) continue;
      const via = viaFor(g.host);
      if (via !== undefined) {
        routes.set(g.cidr, {
          dst: g.cidr,
          via,
          reason: `group ${g.name} holds only host ${g.host}`,
        });
      }
    }
  }
  for (const b of input.blocks) {
    if (b.host === '' || b.host === input.self || routes.has(b.cidr)) continue;
    if (aggregated.some((cidr) => within(b.cidr, cidr))) continue;
    const via = viaFor(b.host);
    if (via !== undefined) {
      routes.set(b.cidr, { dst: b.cidr, via, reason: `block ${b.cidr} of host ${b.host}` });
    }
  }
  return {
    routes: [...routes.values()].sort((a, b) => compareCidr(a.dst, b.dst)),
    skipped: [...skipped].map(([host, why]) => ({ host, why })),
  };
}

interface SoleGroup {
  name: string;
  cidr: string;
  host: string;
}

/** The largest groups whose subtree holds exactly one host (padding holds none). */
function soleHostGroups(map: GroupOrHost[]): SoleGroup[] {
  const out: SoleGroup[] = [];
  const visit = (e: GroupOrHost): string[] => {
    if (e.ip !== undefined) return [e.name ?? ''];
    const kids = e.groups ?? [];
    const hostsBelow = kids.map(visit);
    const all = [...new Set(hostsBelow.flat())];
    if (all.length === 1 && e.cidr !== undefined) {
      // This group is routed whole: drop what its children contributed.
      const keep = out.filter((g) => !within(g.cidr, e.cidr!));
      out.length = 0;
      out.push(...keep, { name: e.name || e.cidr, cidr: e.cidr, host: all[0]! });
    }
    return all;
  };
  map.forEach(visit);
  return out;
}

function parse(cidr: string): [number, number] {
  const slash = cidr.indexOf('/');
  return [parseIPv4(cidr.slice(0, slash)) ?? 0, Number(cidr.slice(slash + 1))];
}

/** True when `inner` lies inside `outer`. */
export function within(inner: string, outer: string): boolean {
  const [iv, il] = parse(inner);
  const [ov, ol] = parse(outer);
  if (il < ol) return false;
  const size = 2 ** (32 - ol);
  return Math.floor(iv / size) === Math.floor(ov / size);
}

function compareCidr(a: string, b: string): number {
  const [av, al] = parse(a);
  const [bv, bl] = parse(b);
  return av - bv || al - bl;
}
