/**
 * What a topology update would do to the live state, from the engine before and after it
 * (`RomanaService.previewTopology`): groups carved anew, hosts moved, whether every address
 * keeps its IP, blocks and routes per tier before and after.
 */
import type { Ipam, TopologyUpdateResult } from '../ipam/index.ts';
import { Fabric, type Placement } from './fabric.ts';
import { routeReport } from './routes.ts';
import type { RouteReport } from './types.ts';

export interface GroupChange {
  network: string;
  /** Names from the network down, e.g. `zone-a/rack-a1` (an unnamed group shows its CIDR). */
  group: string;
  before: string | null;
  after: string | null;
}

export interface TopologyPreview {
  dry_run: true;
  /** Groups whose CIDR changes, appears (`before: null`) or goes (`after: null`). */
  groups: { unchanged: number; changed: GroupChange[] };
  hosts: {
    moved: Array<{ host: string; network: string; before: string; after: string }>;
    added: string[];
    /** Registered hosts that would fit no group (they hold no address). */
    dropped: string[];
  };
  addresses: {
    total: number;
    /** True when every address keeps its IP (the engine refuses an update that cannot). */
    all_kept: boolean;
    moved: Array<{ name: string; before: string; after: string | null }>;
  };
  blocks: { before: number; after: number };
  dropped_blackouts: string[];
  routes: { before: RouteReport; after: RouteReport };
}

/**
 * Compares the engine before and after an update.
 *
 * @example topologyPreview(before, after, result).addresses.all_kept // true
 */
export function topologyPreview(
  before: Ipam,
  after: Ipam,
  result: TopologyUpdateResult,
): TopologyPreview {
  const fb = new Fabric(before.getTopology());
  const fa = new Fabric(after.getTopology());
  const ipsAfter = new Map(after.listAddresses().map((a) => [a.name, a.ip]));
  const moved = before
    .listAddresses()
    .filter((a) => ipsAfter.get(a.name) !== a.ip)
    .map((a) => ({ name: a.name, before: a.ip, after: ipsAfter.get(a.name) ?? null }));
  const hostsBefore = new Set(before.listHosts().hosts.map((h) => h.name));
  const blocksBefore = before.listAllBlocks().blocks;
  const blocksAfter = after.listAllBlocks().blocks;
  return {
    dry_run: true,
    groups: groupChanges(before, after),
    hosts: {
      moved: movedHosts(fb, fa),
      added: after
        .listHosts()
        .hosts.map((h) => h.name)
        .filter((n) => !hostsBefore.has(n)),
      dropped: [...result.droppedHosts],
    },
    addresses: { total: ipsAfter.size, all_kept: moved.length === 0, moved },
    blocks: { before: blocksBefore.length, after: blocksAfter.length },
    dropped_blackouts: [...result.droppedBlackouts],
    routes: { before: routeReport(fb, blocksBefore), after: routeReport(fa, blocksAfter) },
  };
}

function pathName(p: Placement): string {
  return p.path
    .slice(1)
    .map((g) => g.name)
    .join('/');
}

function movedHosts(fb: Fabric, fa: Fabric): TopologyPreview['hosts']['moved'] {
  const out: TopologyPreview['hosts']['moved'] = [];
  for (const p of fb.placements) {
    const q = fa.placementOf(p.network, p.host);
    if (q === undefined) continue;
    const was = pathName(p);
    const now = pathName(q);
    const cidrChanged = !p.path.at(-1)!.cidr.equals(q.path.at(-1)!.cidr);
    if (was !== now || cidrChanged) {
      out.push({
        host: p.host,
        network: p.network,
        before: `${was} (${p.path.at(-1)!.cidr})`,
        after: `${now} (${q.path.at(-1)!.cidr})`,
      });
    }
  }
  return out;
}

/** Every group of every network by its name path, with its CIDR. */
function groupCidrs(ipam: Ipam): Map<string, { network: string; group: string; cidr: string }> {
  const out = new Map<string, { network: string; group: string; cidr: string }>();
  const doc = ipam.getTopology();
  for (const t of doc.topologies) {
    const network = t.networks[0] ?? '';
    const walk = (entries: typeof t.map, prefix: string): void => {
      for (const e of entries) {
        if (e.ip !== undefined) continue;
        const group = `${prefix}${e.name || e.cidr}`;
        out.set(`${network}|${group}`, { network, group, cidr: e.cidr ?? '' });
        walk(e.groups ?? [], `${group}/`);
      }
    };
    walk(t.map, '');
  }
  return out;
}

function groupChanges(before: Ipam, after: Ipam): TopologyPreview['groups'] {
  const b = groupCidrs(before);
  const a = groupCidrs(after);
  const changed: GroupChange[] = [];
  let unchanged = 0;
  for (const [k, g] of b) {
    const now = a.get(k);
    if (now?.cidr === g.cidr) unchanged++;
    else
      changed.push({
        network: g.network,
        group: g.group,
        before: g.cidr,
        after: now?.cidr ?? null,
      });
  }
  for (const [k, g] of a) {
    if (!b.has(k))
      changed.push({ network: g.network, group: g.group, before: null, after: g.cidr });
  }
  return { unchanged, changed };
}
