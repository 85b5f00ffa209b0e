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
  readonly #aggregated: Array<[number, number]> = [];

  constructor(input: Omit<PlanInput, 'blocks'>) {
    this.#input = input;
    this.#ipOf = new Map(input.hosts.map((h) => [h.name, h.ip]));
    for (const t of input.topology.topologies) {
      // A map of hosts has no group entry of its own: the network is its group.
      const net = input.topology.networks.find((n) => n.name === t.networks[0]);
      const root: GroupOrHost = { name: net?.name ?? '', cidr: net?.cidr, groups: t.map };
      for (const g of soleHostGroups([root])) {
        this.#aggregated.push(range(g.cidr));
        if (g.host === input.self) continue;
        const via = this.#via(g.host);
        if (via !== undefined) {
          this.#groupRoutes.set(g.cidr, {
            dst: g.cidr,
            via,
            reason: `group ${g.name} holds only host ${g.host}`,
          });
        }
      }
    }
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
      `${ip} is reached through ${r.gateway}; enable multihop to route its pods`,
    );
    return undefined;
  }

  /** The route a block needs of its own (none for this host's, free or aggregated blocks). */
  blockRoute(b: BlockView): PlannedRoute | undefined {
    if (b.host === '' || b.host === this.#input.self) return undefined;
    const [lo, hi] = range(b.cidr);
    if (this.#aggregated.some(([glo, ghi]) => lo >= glo && hi <= ghi)) return undefined;
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
      routes: sortByCidr([...routes.values()]),
      skipped: [...this.#skipped].map(([host, why]) => ({ host, why })),
    };
  }
}

/** First and last address of a CIDR, as numbers. */
function range(cidr: string): [number, number] {
  const [v, len] = parse(cidr);
  return [v, v + 2 ** (32 - len) - 1];
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

/** Routes in address order (keys computed once: a comparator that parses is 10x slower). */
function sortByCidr(routes: PlannedRoute[]): PlannedRoute[] {
  const keyed = routes.map((r) => {
    const [v, len] = parse(r.dst);
    return { r, key: v * 64 + len };
  });
  keyed.sort((a, b) => a.key - b.key);
  return keyed.map((k) => k.r);
}
