/**
 * Which routes a node needs to other hosts' pods (reference §6.2, improved): pure planning
 * from romanad's hosts, blocks and topology, and how other hosts are reached.
 *
 * - A group of the topology that holds exactly one host, another than this one, is routed as
 *   one prefix (the largest such group; see `src/net/aggregate.ts`, shared with the route
 *   publisher).
 * - Every other block of another host gets its own route.
 * - A host is routed via its own IP when it is directly reachable (no gateway on the kernel's
 *   route to it); through that gateway only with multihop; otherwise not at all (with `bgp`,
 *   such hosts are left to BGP: romana-route-publisher announces their prefixes to the
 *   network, which routes them; see docs/bgp.md).
 * - Both families are planned alike: an IPv6 block or group goes via the host's `ip6` (a host
 *   without one gets no IPv6 routes, and is listed in `skipped`), an IPv4 one via its `ip`.
 */
import type { BlockView, GroupOrHost, HostView, TopologyUpdateRequest } from '../ipam/index.ts';
import { BOTH_FAMILIES, Cidr, type Family } from '../net/addr.ts';
import { Aggregates, soleHostGroups, sortByPrefix } from '../net/aggregate.ts';

/** How the kernel reaches a host's IP (`ip route get`). */
export interface Reach {
  /** Next hop when the host is not on a connected network. */
  gateway?: string;
  dev?: string;
}

/** A host as planning needs it: its IPv4 `ip`, and its IPv6 `ip6` when it has one. */
export type PlanHost = HostView & { ip6?: string | undefined };

export interface PlanInput {
  self: string;
  hosts: PlanHost[];
  blocks: BlockView[];
  topology: TopologyUpdateRequest;
  /** Reachability of each other host's IP and IPv6 `ip6`; an IP missing here is unreachable. */
  reach: Map<string, Reach>;
  multihop: boolean;
  /** BGP carries the routes to hosts beyond a gateway (docs/bgp.md); excludes `multihop`. */
  bgp?: boolean;
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
  return new RoutePlanner(input).plan(input.blocks);
}

/**
 * The planning context that changes rarely (hosts, topology, reachability): group routes are
 * worked out once, then any number of blocks can be planned against it, all of them or one
 * that just changed.
 */
export class RoutePlanner {
  readonly #input: Omit<PlanInput, 'blocks'>;
  readonly #ipOf: Map<string, PlanHost>;
  /** Why a host (of a family) is not routed, keyed `<host> <family>`. */
  readonly #skipped = new Map<string, { host: string; why: string }>();
  readonly #groupRoutes = new Map<string, PlannedRoute>();
  /** Groups routed whole (also those of this host, which get no route). */
  readonly #aggregated: Aggregates;

  constructor(input: Omit<PlanInput, 'blocks'>) {
    this.#input = input;
    this.#ipOf = new Map(input.hosts.map((h) => [h.name, h]));
    const aggregated: Cidr[] = [];
    for (const t of input.topology.topologies) {
      // A map of hosts has no group entry of its own: the network is its group.
      const net = input.topology.networks.find((n) => n.name === t.networks[0]);
      const root: GroupOrHost = { name: net?.name ?? '', cidr: net?.cidr, groups: t.map };
      for (const g of soleHostGroups([root])) {
        aggregated.push(g.cidr);
        if (g.host === input.self) continue;
        const via = this.#via(g.host, g.cidr.family);
        if (via !== undefined) {
          const dst = g.cidr.toString();
          this.#groupRoutes.set(dst, {
            dst,
            via,
            reason: `group ${g.name} holds only host ${g.host}`,
          });
        }
      }
    }
    this.#aggregated = new Aggregates(aggregated);
  }

  #via(host: string, family: Family): string | undefined {
    const h = this.#ipOf.get(host);
    if (h === undefined) return undefined;
    const skip = (why: string): undefined => {
      this.#skipped.set(`${host} ${family}`, { host, why });
      return undefined;
    };
    const ip = family === 4 ? h.ip : h.ip6;
    if (ip === undefined) return skip('it has no ip6: its IPv6 blocks are not routed');
    const r = this.#input.reach.get(ip);
    if (r === undefined) return skip(`no route to ${ip}`);
    if (r.gateway === undefined) return ip;
    if (this.#input.multihop) return r.gateway;
    return skip(
      this.#input.bgp
        ? `${ip} is reached through ${r.gateway}; its pods are routed by BGP`
        : `${ip} is reached through ${r.gateway}; enable multihop to route its pods`,
    );
  }

  /** The route a block needs of its own (none for this host's, free or aggregated blocks). */
  blockRoute(b: BlockView): PlannedRoute | undefined {
    if (b.host === '' || b.host === this.#input.self) return undefined;
    const cidr = Cidr.parse(b.cidr, 'cidr', BOTH_FAMILIES);
    if (this.#aggregated.covers(cidr)) return undefined;
    const via = this.#via(b.host, cidr.family);
    return via === undefined
      ? undefined
      : { dst: b.cidr, via, reason: `block ${b.cidr} of host ${b.host}` };
  }

  plan(blocks: BlockView[]): RoutePlan {
    const routes = new Map(this.#groupRoutes);
    for (const b of blocks) {
      const r = routes.has(b.cidr) ? undefined : this.blockRoute(b);
      if (r !== undefined) routes.set(r.dst, r);
    }
    return {
      routes: sortByPrefix([...routes.values()], (r) => r.dst),
      skipped: [...this.#skipped.values()],
    };
  }
}
