/**
 * The fabric the advisor counts routes on, read from the engine's own views: every host sits
 * in a leaf group; the group at depth `tor` on its path is its rack (one ToR), the group at
 * depth `spine` its zone (one spine), the network itself the core above the spines.
 *
 * Routing model (docs/advisor.md): a host routes directly to the pods of the hosts behind its
 * own ToR (one L2 segment) and sends the rest to the ToR; each device holds routes for what lies
 * below it and a default route up (not counted). Under Romana's aggregation a host announces
 * the largest group only it can hold addresses in (`soleHostGroups`, shared with the agent and
 * the route publisher), else its blocks; a ToR announces its rack group, a spine its zone group.
 */
import type { BlockView, GroupOrHost, TopologyUpdateRequest } from '../ipam/index.ts';
import { BOTH_FAMILIES, Cidr } from '../net/addr.ts';
import { Aggregates, soleHostGroups } from '../net/aggregate.ts';
import type { TierInput } from './types.ts';

/** A group on a host's path: its CIDR and a key naming the device (index path from the root). */
export interface GroupNode {
  key: string;
  name: string;
  cidr: Cidr;
  depth: number;
}

/** One host in one network. */
export interface Placement {
  host: string;
  network: string;
  /** Groups from the network (depth 0) down to the host's leaf group. */
  path: GroupNode[];
  tor: GroupNode;
  spine: GroupNode;
  /** Prefixes that only this host can hold addresses in (announced whole). */
  sole: Cidr[];
  soleCover: Aggregates;
}

export class Fabric {
  readonly placements: Placement[] = [];
  /** `network/host` to its placement. */
  readonly #byHost = new Map<string, Placement>();
  /** `network|ToR key` to the placements behind that ToR in that network. */
  readonly torMembers = new Map<string, Placement[]>();
  /** Whether some host's spine group lies below the network (then a core tier exists). */
  hasCore = false;
  torDepth: number | null = null;
  spineDepth: number | null = null;
  /** The topology, every host in its group (`GET /topology`). */
  readonly topology: TopologyUpdateRequest;

  constructor(topology: TopologyUpdateRequest, tiers?: TierInput) {
    this.topology = topology;
    for (const t of topology.topologies) {
      for (const netName of t.networks) {
        const net = topology.networks.find((n) => n.name === netName);
        if (net === undefined) continue;
        this.#addNetwork(netName, net.cidr, t.map, tiers);
      }
    }
  }

  #addNetwork(network: string, cidr: string, map: GroupOrHost[], tiers?: TierInput): void {
    const root: GroupOrHost = { name: network, cidr, groups: map };
    const sole = new Map<string, Cidr[]>();
    for (const g of soleHostGroups([root])) sole.set(g.host, [...(sole.get(g.host) ?? []), g.cidr]);
    const walk = (e: GroupOrHost, path: GroupNode[], key: string): void => {
      if (e.ip !== undefined) {
        this.#place(network, e.name ?? '', path, sole.get(e.name ?? '') ?? [], tiers);
        return;
      }
      const node: GroupNode = {
        key,
        name: e.name || (e.cidr ?? ''),
        cidr: Cidr.parse(e.cidr ?? '', 'cidr', BOTH_FAMILIES),
        depth: path.length,
      };
      (e.groups ?? []).forEach((kid, i) =>
        walk(kid, [...path, node], key === '' ? `${i}` : `${key}.${i}`),
      );
    };
    walk(root, [], '');
  }

  #place(network: string, host: string, path: GroupNode[], sole: Cidr[], tiers?: TierInput) {
    const leaf = path.length - 1;
    const torDepth = Math.min(tiers?.tor ?? leaf, leaf);
    const spineDepth = Math.min(tiers?.spine ?? Math.max(0, torDepth - 1), torDepth);
    this.torDepth = Math.max(this.torDepth ?? 0, torDepth);
    this.spineDepth = Math.max(this.spineDepth ?? 0, spineDepth);
    const p: Placement = {
      host,
      network,
      path,
      tor: path[torDepth]!,
      spine: path[spineDepth]!,
      sole,
      soleCover: new Aggregates(sole),
    };
    if (spineDepth > 0) this.hasCore = true;
    this.placements.push(p);
    this.#byHost.set(`${network}/${host}`, p);
    const id = `${network}|${p.tor.key}`;
    const members = this.torMembers.get(id) ?? [];
    members.push(p);
    this.torMembers.set(id, members);
  }

  placementOf(network: string, host: string): Placement | undefined {
    return this.#byHost.get(`${network}/${host}`);
  }

  /** Whether the spine of `p` passes its ToR's table up unchanged (the two are one group). */
  spinePassesThrough(p: Placement): boolean {
    return p.spine.key === p.tor.key;
  }

  /**
   * What the agents of `p`'s rack peers route to `p`'s host (src/agent/route-plan.ts): its sole
   * groups, and each of its blocks outside them.
   *
   * @example fabric.agentRoutes(p, blocksOfHost).map(String) // ['10.0.0.0/19']
   */
  agentRoutes(p: Placement, blocks: readonly Cidr[]): Cidr[] {
    const out = [...p.sole];
    for (const b of blocks) if (!p.soleCover.covers(b)) out.push(b);
    return out;
  }
}

/** Blocks in use, as CIDRs, by `network/host`. */
export function blocksByHost(blocks: readonly BlockView[]): Map<string, Cidr[]> {
  const out = new Map<string, Cidr[]>();
  for (const b of blocks) {
    if (b.host === '') continue;
    const k = `${b.network}/${b.host}`;
    const list = out.get(k) ?? [];
    list.push(Cidr.parse(b.cidr, 'cidr', BOTH_FAMILIES));
    out.set(k, list);
  }
  return out;
}
