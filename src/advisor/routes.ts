/**
 * Route counts per tier (host, ToR, spine, core) under Romana's aggregation, next to one route
 * per block and one route per host, for the state an engine holds now.
 */
import { announce } from '../bgp/announce.ts';
import type { BlockView } from '../ipam/index.ts';
import { BOTH_FAMILIES, Cidr } from '../net/addr.ts';
import { blocksByHost, Fabric, type Placement } from './fabric.ts';
import type { RouteReport, Spread, TierRoutes } from './types.ts';

/** One device's table sizes under the three schemes. */
interface Counts {
  romana: number;
  perBlock: number;
  perHost: number;
}

/**
 * Counts the routes every device of the fabric holds for the blocks in use.
 *
 * @example routeReport(new Fabric(ipam.getTopology()), ipam.listAllBlocks().blocks).spine.romana.max
 */
export function routeReport(
  fabric: Fabric,
  blocks: readonly BlockView[],
  opts: { ecmp?: boolean } = {},
): RouteReport {
  const byHost = blocksByHost(blocks);
  const own = (p: Placement): Cidr[] => byHost.get(`${p.network}/${p.host}`) ?? [];
  const announced = announcements(fabric, blocks, opts.ecmp === true);
  const hosts = new Map<string, Counts>();
  const tors = new Map<string, Counts>();
  const torTables = new Map<string, Cidr[]>();
  for (const [torId, members] of fabric.torMembers) {
    // The ToR learns what each host behind it announces (src/bgp/announce.ts); a prefix
    // announced by several hosts (ECMP) is one route.
    const table = new Map<string, Cidr>();
    let blockCount = 0;
    const routed = members.map((p) => {
      for (const a of announced.get(`${p.network}/${p.host}`) ?? []) table.set(a.toString(), a);
      blockCount += own(p).length;
      return fabric.agentRoutes(p, own(p)).length;
    });
    const routedAll = routed.reduce((a, b) => a + b, 0);
    torTables.set(torId, [...table.values()]);
    add(tors, members[0]!.tor.key, {
      romana: table.size,
      perBlock: blockCount,
      perHost: members.length,
    });
    // A host routes its rack peers' pods as their agents' plan says.
    members.forEach((p, i) => {
      add(hosts, p.host, {
        romana: routedAll - routed[i]!,
        perBlock: blockCount - own(p).length,
        perHost: members.length - 1,
      });
    });
  }
  const spines = new Map<string, Counts>();
  const spineTables = new Map<string, Cidr[]>();
  const seenTor = new Set<string>();
  for (const p of fabric.placements) {
    const torId = `${p.network}|${p.tor.key}`;
    const spineId = `${p.network}|${p.spine.key}`;
    const c = add(spines, p.spine.key, {
      romana: 0,
      perBlock: own(p).length,
      perHost: 1,
    });
    if (seenTor.has(torId)) continue;
    seenTor.add(torId);
    const torTable = torTables.get(torId)!;
    const up = fabric.spinePassesThrough(p) ? torTable : [upward(p.tor.cidr, torTable)];
    c.romana += up.length;
    const st = spineTables.get(spineId) ?? [];
    st.push(...up);
    spineTables.set(spineId, st);
  }
  const core = coreCounts(fabric, byHost, spineTables);
  return {
    host: tier(hosts),
    tor: tier(tors),
    spine: tier(spines),
    core: core === null ? null : tier(new Map([['core', core]])),
  };
}

/** What every host announces over BGP, by `network/host` (the publisher's own function). */
function announcements(
  fabric: Fabric,
  blocks: readonly BlockView[],
  ecmp: boolean,
): Map<string, Cidr[]> {
  const mine = new Map<string, BlockView[]>();
  for (const b of blocks) {
    if (b.host === '') continue;
    const list = mine.get(b.host) ?? [];
    list.push(b);
    mine.set(b.host, list);
  }
  const ecmpNetworks = new Set(ecmp ? fabric.topology.networks.map((n) => n.name) : []);
  const out = new Map<string, Cidr[]>();
  const seen = new Set<string>();
  for (const p of fabric.placements) {
    if (seen.has(p.host)) continue;
    seen.add(p.host);
    const list = announce({
      self: p.host,
      topology: fabric.topology,
      blocks: mine.get(p.host) ?? [],
      ecmpNetworks,
    });
    for (const a of list) {
      const k = `${a.network}/${p.host}`;
      out.set(k, [...(out.get(k) ?? []), Cidr.parse(a.prefix, 'cidr', BOTH_FAMILIES)]);
    }
  }
  return out;
}

/** The core holds each spine's aggregate (or the spine's table when the spine is the network). */
function coreCounts(
  fabric: Fabric,
  byHost: Map<string, Cidr[]>,
  spineTables: Map<string, Cidr[]>,
): Counts | null {
  if (!fabric.hasCore) return null;
  const c: Counts = { romana: 0, perBlock: 0, perHost: 0 };
  const seen = new Set<string>();
  for (const p of fabric.placements) {
    c.perBlock += byHost.get(`${p.network}/${p.host}`)?.length ?? 0;
    c.perHost += 1;
    const id = `${p.network}|${p.spine.key}`;
    if (seen.has(id)) continue;
    seen.add(id);
    const table = spineTables.get(id) ?? [];
    c.romana += p.spine.depth === 0 ? table.length : 1;
  }
  return c;
}

/** What a device at group `cidr` announces up: its group, or a larger prefix it learned. */
function upward(cidr: Cidr, table: readonly Cidr[]): Cidr {
  for (const t of table) if (t.contains(cidr)) return t;
  return cidr;
}

function add(map: Map<string, Counts>, key: string, c: Counts): Counts {
  const cur = map.get(key);
  if (cur === undefined) {
    map.set(key, { ...c });
    return map.get(key)!;
  }
  cur.romana += c.romana;
  cur.perBlock += c.perBlock;
  cur.perHost += c.perHost;
  return cur;
}

function tier(map: Map<string, Counts>): TierRoutes {
  const all = [...map.values()];
  return {
    devices: all.length,
    romana: spread(all.map((c) => c.romana)),
    per_block: spread(all.map((c) => c.perBlock)),
    per_host: spread(all.map((c) => c.perHost)),
  };
}

/**
 * Min, mean (two decimals), max and sum of `values`; all 0 for none.
 *
 * @example spread([1, 2, 6]) // { min: 1, avg: 3, max: 6, total: 9 }
 */
export function spread(values: readonly number[]): Spread {
  if (values.length === 0) return { min: 0, avg: 0, max: 0, total: 0 };
  let min = Infinity;
  let max = -Infinity;
  let total = 0;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
    total += v;
  }
  return { min, avg: Math.round((total / values.length) * 100) / 100, max, total };
}
