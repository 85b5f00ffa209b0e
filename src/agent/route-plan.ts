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
 */
import type { BlockView, GroupOrHost, HostView, TopologyUpdateRequest } from '../ipam/index.ts';
import { BOTH_FAMILIES, Cidr } from '../net/addr.ts';
import { Aggregates, soleHostGroups, sortByPrefix } from '../net/aggregate.ts';

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
  readonly #ipOf: Map<string, string>;
  readonly #skipped = new Map<string, string>();
  readonly #groupRoutes = new Map<string, PlannedRoute>();
  /** Groups routed whole (also those of this host, which get no route). */
  readonly #aggregated: Aggregates;

  constructor(input: Omit<PlanInput, 'blocks'>) {
    this.#input = input;
    this.#ipOf = new Map(input.hosts.map((h) => [h.name, h.ip]));
    const aggregated: Cidr[] = [];
    for (const t of input.topology.topologies) {
      // A map of hosts has no group entry of its own: the network is its group.
      const net = input.topology.networks.find((n) => n.name === t.networks[0]);
      const root: GroupOrHost = { name: net?.name ?? '', cidr: net?.cidr, groups: t.map };
      for (const g of soleHostGroups([root])) {
        aggregated.push(g.cidr);
        if (g.host === input.self) continue;
        const via = this.#via(g.host);
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

  #via(host: string): string | undefined {
    const ip = this.#ipOf.get(host);
    if (ip === undefined) return undefined;
    const r = this.#input.reach.get(ip);
    if (r === undefined) {
      this.#skipped.set(host, `no route to ${ip}`);
      return undefined;
    }
    if (r.gateway === undefined) return ip;
    if (this.#input.multihop) return r.gateway;
    this.#skipped.set(
      host,
      this.#input.bgp
        ? `${ip} is reached through ${r.gateway}; its pods are routed by BGP`
        : `${ip} is reached through ${r.gateway}; enable multihop to route its pods`,
    );
    return undefined;
  }

  /** The route a block needs of its own (none for this host's, free or aggregated blocks). */
  blockRoute(b: BlockView): PlannedRoute | undefined {
    if (b.host === '' || b.host === this.#input.self) return undefined;
    if (this.#aggregated.covers(Cidr.parse(b.cidr, 'cidr', BOTH_FAMILIES))) return undefined;
    const via = this.#via(b.host);
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
      skipped: [...this.#skipped].map(([host, why]) => ({ host, why })),
    };
  }
}
