/**
 * Keeping an engine in step with a shared store: the per-object states a store persists, and
 * applying states written by someone else (another romanad replica, or the store's truth after
 * a failed transaction) to the live objects.
 */
import { RomanaError } from '../errors.ts';
import { jsonString, jsonStringOrNull } from '../json-text.ts';
import { Addr, BOTH_FAMILIES, Cidr, IPV4_ONLY, IPV6_ONLY } from './addr.ts';
import { byStart } from './blackouts.ts';
import type { Block, Group, Network } from './model.ts';
import type { HostRecord } from './snapshot.ts';
import type { State } from './state.ts';

/** What a store keeps for one block: its owner and the names of its addresses by offset. */
export interface BlockState {
  owner: string | null;
  host: string | null;
  acquired: number;
  released: number;
  /** `[offset inside the block, address name]`, ascending. */
  names: Array<[number, string]>;
}

/** A block, identified for storage. */
export interface BlockChange {
  network: string;
  cidr: string;
  state: BlockState;
}

/** A block of the engine, opaque outside it (`Ipam.takeTouchedBlockHandles`). */
export type BlockHandle = Pick<Block, 'cidr'>;

export function blockState(b: Block): BlockState {
  return {
    owner: b.owner,
    host: b.placement?.host.name ?? null,
    acquired: b.acquired,
    released: b.released,
    names: b.named(),
  };
}

/** `JSON.stringify(state)` for a block's stored state, built from its fields. */
export function blockStateJson(s: BlockState): string {
  let names = '';
  for (const [offset, name] of s.names) {
    names += `${names === '' ? '' : ','}[${offset},${jsonString(name)}]`;
  }
  return (
    `{"owner":${jsonStringOrNull(s.owner)},"host":${jsonStringOrNull(s.host)}` +
    `,"acquired":${s.acquired},"released":${s.released},"names":[${names}]}`
  );
}

function inconsistent(what: string): RomanaError {
  return new RomanaError('Internal', `replicated IPAM state is inconsistent: ${what}`);
}

export function findBlock(s: State, network: string, cidr: string): Block {
  const net = s.byName.get(network);
  if (net === undefined) throw inconsistent(`block ${cidr} of unknown network ${network}`);
  const start = Cidr.parse(cidr, 'cidr', BOTH_FAMILIES);
  const exact = start.prefix === net.blockMask && net.cidr.contains(start);
  const b = exact ? s.blockAt(net, start.start) : undefined;
  if (b === undefined) throw inconsistent(`${cidr} is not a block of network ${network}`);
  return b;
}

/** Detaches a block from its owner list or the reuse list and empties it. */
function detach(s: State, b: Block): void {
  const p = b.placement;
  if (p !== null) {
    const list = p.owned.get(b.owner!)!;
    list.splice(list.indexOf(b), 1);
    if (list.length === 0) p.owned.delete(b.owner!);
  } else {
    const k = b.group.reusable.indexOf(b);
    if (k >= 0) b.group.reusable.splice(k, 1);
  }
  const map = s.names(b.network.family);
  for (const [, n] of b.named()) if (map.get(n) === b) map.delete(n);
  b.clearNames();
  b.pool.clear();
  b.owner = null;
  b.placement = null;
}

function insertBy(list: Block[], b: Block, key: (x: Block) => number): void {
  let i = list.length;
  while (i > 0 && key(list[i - 1]!) > key(b)) i--;
  list.splice(i, 0, b);
}

/**
 * Makes a block exactly `st` (or free, for `null`: a block the store does not hold).
 * Names it lists move to it; names it held and no longer lists are forgotten.
 */
export function applyBlock(s: State, network: string, cidr: string, st: BlockState | null): void {
  const b = findBlock(s, network, cidr);
  detach(s, b);
  if (st === null || st.owner === null || st.host === null) {
    b.released = st?.released ?? 0;
    insertBy(b.group.reusable, b, (x) => x.released);
  } else {
    const p = s.hosts.get(st.host)?.placementIn(b.network);
    if (p === undefined) throw inconsistent(`block ${cidr} is held by unknown host ${st.host}`);
    b.owner = st.owner;
    b.placement = p;
    b.acquired = st.acquired;
    const list = p.owned.get(st.owner);
    if (list === undefined) p.owned.set(st.owner, [b]);
    else insertBy(list, b, (x) => x.acquired);
    const map = s.names(b.network.family);
    for (const [i, name] of st.names) {
      const other = map.get(name);
      if (other !== undefined && other !== b) {
        const j = other.indexOf(name);
        other.setName(j, undefined);
        other.pool.release(j);
      }
      b.pool.take(i);
      b.setName(i, name);
      map.set(name, b);
    }
  }
  s.seq = Math.max(s.seq, b.acquired, b.released);
  s.touched.delete(b);
}

/** Sets or removes a host as another replica stored it. */
export function applyHost(s: State, name: string, rec: HostRecord | null): void {
  const host = s.hosts.get(name);
  if (rec === null) {
    if (host === undefined) return;
    for (const p of host.placements) {
      for (const b of [...p.owned.values()].flat()) applyBlock(s, b.network.name, b.cidr, null);
      p.group.hosts.splice(p.group.hosts.indexOf(host), 1);
    }
    s.hosts.delete(name);
    s.hostsByIp.delete(host.ipText);
    if (host.ip6 !== null) s.hostsByIp.delete(host.ip6.toString());
    return;
  }
  if (
    host !== undefined &&
    host.ipText === rec.ip &&
    host.ip6?.toString() === rec.ip6 &&
    samePlaces(host.placements, rec)
  ) {
    host.tags = rec.tags;
    host.k8sInfo = rec.k8s_info;
    host.agentPort = rec.agent_port;
    return;
  }
  if (host !== undefined) applyHost(s, name, null);
  s.seq = Math.max(s.seq, rec.seq - 1);
  const added = s.addHost(
    {
      name,
      ip: Addr.parse(rec.ip, 'ip', IPV4_ONLY),
      ip6: rec.ip6 === undefined ? null : Addr.parse(rec.ip6, 'ip6', IPV6_ONLY),
      agentPort: rec.agent_port,
      tags: rec.tags,
      k8sInfo: rec.k8s_info,
    },
    (net) => groupAt(net, rec.groups[net.name]),
  );
  if (added === undefined) throw inconsistent(`host ${name} has no group`);
}

function samePlaces(placements: Array<{ group: Group }>, rec: HostRecord): boolean {
  const keys = Object.keys(rec.groups);
  return (
    placements.length === keys.length &&
    placements.every((p) => rec.groups[p.group.network.name] === p.group.path)
  );
}

/** The group at a path ('' = root, '1.0' = first child of the second child). */
export function groupAt(net: Network, path: string | undefined): Group | undefined {
  if (path === undefined) return undefined;
  let g = net.root;
  for (const step of path === '' ? [] : path.split('.').map(Number)) {
    const c = g.children?.[step];
    if (c === undefined) throw inconsistent(`no group ${path} in network ${net.name}`);
    g = c;
  }
  return g;
}

/** Replaces a network's blackouts. */
export function applyBlackouts(s: State, network: string, cidrs: string[]): void {
  const net = s.byName.get(network);
  if (net === undefined) throw inconsistent(`blackouts of unknown network ${network}`);
  net.blackouts = cidrs
    .map((text) => {
      const cidr = Cidr.parse(text, 'cidr', BOTH_FAMILIES);
      return { cidr, start: cidr.start, end: cidr.end };
    })
    .sort(byStart);
}
