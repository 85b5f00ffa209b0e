/**
 * What one host announces over BGP, computed from romanad's state alone (pure: no I/O).
 *
 * - A group of the topology that holds only this host (the largest such group, found by the
 *   aggregation shared with the agent's route plan, `src/net/aggregate.ts`) is announced as one
 *   prefix: every block carved inside it can only ever be this host's, and the prefix does not
 *   change as blocks come and go.
 * - Every other block of this host is announced on its own (its group holds other hosts too).
 * - With ECMP on for a topology (its `ecmp: true` in romanad's document, or any of its networks
 *   named by the publisher's `--ecmp-network`: either turns it on), every host of a group announces
 *   the group's whole prefix instead: the ToR then holds one route to the group with one next
 *   hop per host, and a host that receives traffic for a neighbour's pod forwards it on the
 *   group's shared segment. That prefix covers the other hosts' blocks of the same group, and no
 *   address outside it.
 *
 * Never is a prefix announced that could hold an address of another host outside the ECMP case
 * above (property tested in `announce.property.test.ts`).
 */
import type {
  BlockView,
  GroupOrHost,
  TopologyDefinition,
  TopologyUpdateRequest,
} from '../ipam/index.ts';
import { BOTH_FAMILIES, Cidr } from '../net/addr.ts';
import { Aggregates, hostGroup, soleHostGroups, sortByPrefix } from '../net/aggregate.ts';

/** Why a prefix is announced. */
export type AnnouncementKind = 'group' | 'ecmp-group' | 'block';

/** One prefix a host announces. */
export interface Announcement {
  /** The prefix in CIDR text, e.g. `10.112.0.0/20`. */
  prefix: string;
  /** The Romana network the prefix belongs to. */
  network: string;
  kind: AnnouncementKind;
  /** The group's name (kinds `group` and `ecmp-group`). */
  group?: string;
  /** Why the prefix is announced, for `romana-route-publisher status` and logs. */
  reason: string;
}

export interface AnnounceInput {
  /** This host's name in romanad. */
  self: string;
  /** `GET /topology`: the map with every host in its group and every group's CIDR. */
  topology: TopologyUpdateRequest;
  /** `GET /blocks` (only `cidr`, `network` and `host` are read). */
  blocks: ReadonlyArray<Pick<BlockView, 'cidr' | 'network' | 'host'>>;
  /**
   * Networks whose topology announces each host group whole from every host of the group
   * (ECMP at the ToR), from `--ecmp-network`. A topology is ECMP when any of its networks is
   * listed here or its document says `ecmp: true`. Default: none.
   */
  ecmpNetworks?: ReadonlySet<string>;
}

/**
 * The prefixes host `self` announces, sorted by family, address, then length; no prefix lies
 * inside another. Every block of `self` lies inside one of them.
 *
 * @example
 * announce({ self: 'h1', topology, blocks }).map((a) => a.prefix)
 * // ['10.112.0.0/21']            (h1 is alone in group host-1 of rack-1)
 * announce({ self: 'h1', topology, blocks, ecmpNetworks: new Set(['pods']) })
 * // [{ prefix: '10.112.0.0/20', kind: 'ecmp-group', group: 'rack-1', ... }]
 */
export function announce(input: AnnounceInput): Announcement[] {
  const out = new Map<string, Announcement>();
  const prefixes: Cidr[] = [];
  const add = (cidr: Cidr, a: Omit<Announcement, 'prefix'>): void => {
    const prefix = cidr.toString();
    if (out.has(prefix)) return;
    out.set(prefix, { prefix, ...a });
    prefixes.push(cidr);
  };
  const ecmp = input.ecmpNetworks ?? new Set<string>();
  for (const t of input.topology.topologies) {
    const net = input.topology.networks.find((n) => n.name === t.networks[0]);
    if (net === undefined) continue;
    // A map of hosts has no group entry of its own: the network is its group.
    const root: GroupOrHost = { name: net.name, cidr: net.cidr, groups: t.map };
    if (isEcmp(t, ecmp)) {
      const g = hostGroup([root], input.self);
      if (g !== undefined) {
        add(g.cidr, {
          network: net.name,
          kind: 'ecmp-group',
          group: g.name,
          reason: `ECMP: group ${g.name} is announced by each of its hosts`,
        });
        continue;
      }
    }
    for (const g of soleHostGroups([root])) {
      if (g.host !== input.self) continue;
      add(g.cidr, {
        network: net.name,
        kind: 'group',
        group: g.name,
        reason: `group ${g.name} holds only this host`,
      });
    }
  }
  // Blocks inside an announced group need nothing of their own.
  const covered = new Aggregates([...prefixes]);
  for (const b of input.blocks) {
    if (b.host !== input.self) continue;
    const cidr = Cidr.parse(b.cidr, 'cidr', BOTH_FAMILIES);
    if (covered.covers(cidr)) continue;
    add(cidr, { network: b.network, kind: 'block', reason: `block ${b.cidr} of this host` });
  }
  return sortByPrefix([...out.values()], (a) => a.prefix);
}

/**
 * Whether a topology announces its groups whole from every host: its own `ecmp: true`, or one
 * of its networks named by `--ecmp-network`. The flag only adds: it cannot turn off a
 * topology's `ecmp`.
 *
 * @example isEcmp({ networks: ['pods'], map: [], ecmp: true }, new Set()) // true
 */
export function isEcmp(t: TopologyDefinition, flagNetworks: ReadonlySet<string>): boolean {
  return t.ecmp === true || t.networks.some((n) => flagNetworks.has(n));
}

/**
 * What every host of the topology announces, by host name: the union of the values is what a
 * ToR above all of them learns (prefixes announced by several hosts are ECMP routes).
 */
export function announceAll(
  hosts: readonly string[],
  input: Omit<AnnounceInput, 'self'>,
): Map<string, Announcement[]> {
  return new Map(hosts.map((self) => [self, announce({ ...input, self })]));
}
