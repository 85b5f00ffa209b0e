/**
 * Writing a topology update to the store without ever exposing half of it:
 *
 * 1. fence: mark the `topology` key as updating (every allocation compares that key, so
 *    writes in flight anywhere fail and retry, and see the fence);
 * 2. rebuild the engine from the store and apply the new document to it;
 * 3. write the next generation's placements, blocks and blackouts beside the current ones;
 * 4. switch the `topology` key to the next generation in one transaction;
 * 5. delete the old generation.
 *
 * A crash before step 4 leaves the current generation intact; the fence is lifted by the next
 * romanad that finds it stale (`recoverStaleUpdate`).
 */
import { invalidTopology, RomanaError } from '../errors.ts';
import { parseIPv4 } from '../ipam/addr.ts';
import {
  parseTopology,
  type Ipam,
  type IpamSnapshot,
  type TopologyUpdateResult,
} from '../ipam/index.ts';
import type { Compare, Op, Store } from '../store/store.ts';
import {
  blockKey,
  generationPrefix,
  GENERATIONS,
  hostIpKey,
  hostKey,
  networkKey,
  placementKey,
  TOPOLOGY_KEY,
  type BlockState,
  type StoredHost,
  type TopologyRecord,
} from './keys.ts';

/** A fence older than this is taken to be left by a crashed romanad. */
export const STALE_UPDATE_MS = 60_000;
const CHUNK = 100;

export interface TopologyWrite {
  store: Store;
  current: TopologyRecord | null;
  currentRevision: number;
  doc: unknown;
  /** Reloads the engine from the store (after the fence) and returns it. */
  buildFrom(): Promise<Ipam>;
  now?: () => number;
}

export async function writeTopologyUpdate(w: TopologyWrite): Promise<TopologyUpdateResult> {
  const parsed = parseTopology(w.doc);
  if (!parsed.ok) throw invalidTopology(parsed.problems.join('\n'), { resourceId: 'topology' });
  const from = w.current?.generation ?? 0;
  const to = from + 1;
  const base: TopologyRecord = w.current ?? {
    doc: { networks: [], topologies: [] },
    generation: 0,
  };
  const fenced: TopologyRecord = { ...base, updating: { to, since: (w.now ?? Date.now)() } };
  const fence = await w.store.txn(
    [{ key: TOPOLOGY_KEY, modRevision: w.currentRevision }],
    [{ type: 'put', key: TOPOLOGY_KEY, value: JSON.stringify(fenced) }],
  );
  if (!fence.succeeded) {
    throw new RomanaError('Conflict', 'the topology changed while updating it; retry', {
      resourceType: 'topology',
    });
  }
  const guard: Compare = { key: TOPOLOGY_KEY, modRevision: fence.revision };
  let result: TopologyUpdateResult;
  let snap: IpamSnapshot;
  let oldHosts: string[];
  try {
    const ipam = await w.buildFrom();
    oldHosts = ipam.listHosts().hosts.map((h) => h.name);
    result = ipam.updateTopology(w.doc);
    snap = ipam.toSnapshot();
    await writeChunks(w.store, guard, generationOps(snap, to, oldHosts));
  } catch (err) {
    await rollBack(w.store, fence.revision, base, to);
    throw err;
  }
  const flip = await w.store.txn(
    [guard],
    [
      {
        type: 'put',
        key: TOPOLOGY_KEY,
        value: JSON.stringify({ doc: snap.topology, generation: to } satisfies TopologyRecord),
      },
    ],
  );
  if (!flip.succeeded) {
    throw new RomanaError('Conflict', 'the topology update was interrupted by another writer', {
      resourceType: 'topology',
    });
  }
  await deleteGenerationsExcept(w.store, to);
  return result;
}

/** Every key of generation `g` for a snapshot, plus new and dropped hosts. */
function generationOps(snap: IpamSnapshot, g: number, oldHosts: string[]): Op[] {
  const ops: Op[] = [];
  for (const n of snap.networks) {
    ops.push({
      type: 'put',
      key: networkKey(g, n.name),
      value: JSON.stringify({ blackouts: n.blackouts }),
    });
  }
  const known = new Set(oldHosts);
  for (const h of snap.hosts) {
    ops.push({
      type: 'put',
      key: placementKey(g, h.name),
      value: JSON.stringify({ groups: h.groups }),
    });
    if (!known.has(h.name)) {
      const { groups: _g, ...stored } = h;
      ops.push({
        type: 'put',
        key: hostKey(h.name),
        value: JSON.stringify(stored satisfies StoredHost),
      });
      ops.push({ type: 'put', key: hostIpKey(h.ip), value: h.name });
    }
  }
  const kept = new Set(snap.hosts.map((h) => h.name));
  for (const name of oldHosts) {
    if (!kept.has(name)) ops.push({ type: 'delete', key: hostKey(name) });
  }
  for (const [key, st] of blockStates(snap, g)) {
    ops.push({ type: 'put', key, value: JSON.stringify(st) });
  }
  return ops;
}

function blockStates(snap: IpamSnapshot, g: number): Map<string, BlockState> {
  const byStart = new Map<number, { key: string; st: BlockState; size: number }>();
  const out = new Map<string, BlockState>();
  const sizes = new Map(
    snap.topology.networks.map((n) => [n.name, 2 ** (32 - (n.block_mask ?? 29))]),
  );
  for (const b of snap.blocks) {
    const st: BlockState = {
      owner: b.owner,
      host: b.host,
      acquired: b.acquired,
      released: b.released,
      names: [],
    };
    const key = blockKey(g, b.network, b.cidr);
    byStart.set(parseIPv4(b.cidr.split('/')[0]!)!, { key, st, size: sizes.get(b.network)! });
    out.set(key, st);
  }
  const starts = [...byStart.keys()].sort((a, b) => a - b);
  for (const a of snap.addresses) {
    const ip = parseIPv4(a.ip)!;
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= ip) lo = mid;
      else hi = mid - 1;
    }
    const b = byStart.get(starts[lo]!);
    if (b === undefined || ip >= starts[lo]! + b.size) {
      throw new RomanaError('Internal', `address ${a.name} (${a.ip}) is in no block`);
    }
    b.st.names.push([ip - starts[lo]!, a.name]);
  }
  for (const st of out.values()) st.names.sort((x, y) => x[0] - y[0]);
  return out;
}

async function writeChunks(store: Store, guard: Compare, ops: Op[]): Promise<void> {
  for (let i = 0; i < ops.length; i += CHUNK) {
    const r = await store.txn([guard], ops.slice(i, i + CHUNK));
    if (!r.succeeded) {
      throw new RomanaError('Conflict', 'the topology update was interrupted by another writer', {
        resourceType: 'topology',
      });
    }
  }
}

/** Lifts a fence and drops what was written of generation `to`. */
async function rollBack(
  store: Store,
  fenceRevision: number,
  base: TopologyRecord,
  to: number,
): Promise<void> {
  await deleteGeneration(store, to);
  const value =
    base.generation === 0 && base.doc.networks.length === 0 ? null : JSON.stringify(base);
  await store.txn(
    [{ key: TOPOLOGY_KEY, modRevision: fenceRevision }],
    [
      value === null
        ? { type: 'delete', key: TOPOLOGY_KEY }
        : { type: 'put', key: TOPOLOGY_KEY, value },
    ],
  );
}

async function deleteGeneration(store: Store, g: number): Promise<void> {
  const { kvs } = await store.range(generationPrefix(g));
  for (let i = 0; i < kvs.length; i += CHUNK) {
    await store.txn(
      [],
      kvs.slice(i, i + CHUNK).map((kv) => ({ type: 'delete', key: kv.key })),
    );
  }
}

async function deleteGenerationsExcept(store: Store, keep: number): Promise<void> {
  const { kvs } = await store.range(GENERATIONS);
  const stale = kvs.filter((kv) => !kv.key.startsWith(generationPrefix(keep)));
  for (let i = 0; i < stale.length; i += CHUNK) {
    await store.txn(
      [],
      stale.slice(i, i + CHUNK).map((kv) => ({ type: 'delete', key: kv.key })),
    );
  }
}

/**
 * Lifts a fence left by a romanad that crashed mid-update (older than `STALE_UPDATE_MS`),
 * dropping what it wrote of the next generation. Returns true when it did.
 */
export async function recoverStaleUpdate(store: Store, now = Date.now()): Promise<boolean> {
  const kv = await store.get(TOPOLOGY_KEY);
  if (kv === undefined) return false;
  const rec = JSON.parse(kv.value) as TopologyRecord;
  if (rec.updating === undefined || now - rec.updating.since < STALE_UPDATE_MS) return false;
  const { updating, ...base } = rec;
  await rollBack(store, kv.modRevision, base, updating.to);
  return true;
}
