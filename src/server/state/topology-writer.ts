/**
 * Writing a topology update to the store without ever exposing half of it:
 *
 * 0. validate the document and compute the update on a copy of the engine: a refused update
 *    writes nothing at all (no revision, no reload);
 * 1. fence: mark the `topology` key as updating and write the update's intent (`ops/<id>`) in
 *    the same transaction (every allocation compares `topology`, so writes in flight anywhere
 *    fail, re-read it and see the fence);
 * 2. reload the engine from the store and compute the update again on exactly the stored state;
 * 3. write the next generation's placements, blocks, blackouts and new hosts beside the current
 *    ones, each chunk guarded by the intent;
 * 4. switch the `topology` key to the next generation in one transaction (the commit point:
 *    the intent's phase becomes `switched` in the same transaction);
 * 5. delete the old generation and the hosts the new topology dropped, then the intent.
 *
 * An update abandoned before step 4 is undone (`undoTopology`), after it finished
 * (`finishTopology`): see `recovery.ts` and docs/design/romanad-state.md for why.
 */
import { invalidTopology, RomanaError } from '../../errors.ts';
import { Addr, BOTH_FAMILIES, Cidr, type Family } from '../../net/addr.ts';
import {
  Ipam,
  parseTopology,
  type IpamSnapshot,
  type TopologyUpdateResult,
} from '../../ipam/index.ts';
import type { Op, Store } from '../../store/store.ts';
import type { ServiceCore } from './core.ts';
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
  type HostRef,
  type StoredHost,
  type StoredOperation,
  type TopologyRecord,
} from './keys.ts';
import { newOperationId, Operation } from './operations.ts';
import { decodeTopologyRecord } from './decode.ts';

const CHUNK = 100;

type TopologyOp = Extract<StoredOperation, { kind: 'topology' }>;

/**
 * Applies a topology document. The caller holds the write lock and has checked VIPs.
 * Throws `InvalidInput` (nothing written) for a document the engine refuses.
 */
export async function writeTopologyUpdate(
  core: ServiceCore,
  doc: unknown,
): Promise<TopologyUpdateResult> {
  const parsed = parseTopology(doc);
  if (!parsed.ok) throw invalidTopology(parsed.problems.join('\n'), { resourceId: 'topology' });
  new Ipam(core.ipam.toSnapshot()).updateTopology(doc);
  if (core.state.topology?.updating !== undefined) {
    throw new RomanaError('Unavailable', 'a topology update is in progress; retry in a moment', {
      resourceType: 'topology',
    });
  }
  const current = core.state.topology;
  const from = current?.generation ?? 0;
  const to = from + 1;
  const id = newOperationId();
  const intent: TopologyOp = {
    kind: 'topology',
    owner: newOperationId(),
    since: Date.now(),
    phase: 'writing',
    from,
    to,
    base: current,
    added: [],
    dropped: [],
  };
  const fenced: TopologyRecord = {
    ...(current ?? { doc: { networks: [], topologies: [] }, generation: 0 }),
    updating: { to, since: intent.since, op: id },
  };
  const op = await Operation.begin(
    core.opContext(),
    id,
    intent,
    [core.cmp(TOPOLOGY_KEY)],
    [{ type: 'put', key: TOPOLOGY_KEY, value: JSON.stringify(fenced) }],
  );
  if (op === null) {
    throw new RomanaError('Conflict', 'the topology changed while updating it; retry', {
      resourceType: 'topology',
    });
  }
  try {
    let result: TopologyUpdateResult;
    try {
      result = await writeAndSwitch(core, op, doc);
    } catch (err) {
      // The fence went in and came out again (or the store failed halfway): this replica's own
      // writes are not echoed back by the watch, so it reads the store again rather than keep
      // the fence it holds (it would refuse every write, with no recovery to lift it).
      await core.reload().catch(() => core.scheduleReload());
      throw err;
    }
    if (op.finished) return result;
    await finishTopology(core.store, op).catch((err: unknown) =>
      core.log('warn', 'topology update committed; its clean-up is left for recovery', {
        err: String(err),
      }),
    );
    return result;
  } finally {
    op.release();
  }
}

/** Steps 2 to 4; undoes what it wrote when it cannot switch. */
async function writeAndSwitch(
  core: ServiceCore,
  op: Operation,
  doc: unknown,
): Promise<TopologyUpdateResult> {
  const { to } = op.value as TopologyOp;
  let result: TopologyUpdateResult;
  let snap: IpamSnapshot;
  try {
    await core.reload();
    const ipam = new Ipam(core.ipam.toSnapshot());
    const before = ipam.listHosts().hosts.map((h) => h.name);
    result = ipam.updateTopology(doc);
    snap = ipam.toSnapshot();
    const kept = new Set(snap.hosts.map((h) => h.name));
    const added: HostRef[] = snap.hosts
      .filter((h) => !core.state.hosts.has(h.name))
      .map((h) => ({ name: h.name, ip: h.ip }));
    const dropped: HostRef[] = before
      .filter((n) => !kept.has(n))
      .map((n) => ({ name: n, ip: core.state.hosts.get(n)?.ip ?? '' }));
    const ops = generationOps(snap, to, new Set(added.map((h) => h.name)));
    ops.push(...ip6Rewrites(snap, core.state.hosts));
    await writeChunks(op, ops, { added, dropped });
  } catch (err) {
    if (op.finished === false) {
      await undoTopology(core.store, op).catch((e: unknown) =>
        core.log('warn', 'could not undo a failed topology update; left for recovery', {
          err: String(e),
        }),
      );
    }
    throw err;
  }
  const record: TopologyRecord = { doc: snap.topology, generation: to };
  const flipOp: Op = { type: 'put', key: TOPOLOGY_KEY, value: JSON.stringify(record) };
  const v = op.value as TopologyOp;
  // With nothing to clean up (the first topology), the switch is also the last step.
  const nothingLeft =
    v.dropped.length === 0 &&
    (await core.store.range(GENERATIONS)).kvs.every((kv) =>
      kv.key.startsWith(generationPrefix(to)),
    );
  const flip = nothingLeft
    ? await op.finish([], [flipOp])
    : await op.step([], [flipOp], { phase: 'switched' });
  if (flip === null) throw new RomanaError('Internal', 'the topology switch found no fence');
  return result;
}

/**
 * The host keys of hosts registered before whose `ip6` the document gives anew: a host key
 * is not per generation, and the reloaded engine reads `ip6` from it.
 */
function ip6Rewrites(snap: IpamSnapshot, stored: ReadonlyMap<string, StoredHost>): Op[] {
  const ops: Op[] = [];
  for (const h of snap.hosts) {
    const before = stored.get(h.name);
    if (before === undefined || before.ip6 === h.ip6) continue;
    const { ip6: _old, ...rest } = before;
    const next: StoredHost = h.ip6 === undefined ? rest : { ...rest, ip6: h.ip6 };
    ops.push({ type: 'put', key: hostKey(h.name), value: JSON.stringify(next) });
  }
  return ops;
}

/** Every key of generation `g` for a snapshot, plus the keys of the hosts it adds. */
function generationOps(snap: IpamSnapshot, g: number, added: Set<string>): Op[] {
  const ops: Op[] = [];
  for (const n of snap.networks) {
    ops.push({
      type: 'put',
      key: networkKey(g, n.name),
      value: JSON.stringify({ blackouts: n.blackouts }),
    });
  }
  for (const h of snap.hosts) {
    ops.push({
      type: 'put',
      key: placementKey(g, h.name),
      value: JSON.stringify({ groups: h.groups }),
    });
    if (added.has(h.name)) {
      const { groups: _g, ...stored } = h;
      ops.push({
        type: 'put',
        key: hostKey(h.name),
        value: JSON.stringify(stored satisfies StoredHost),
      });
      ops.push({ type: 'put', key: hostIpKey(h.ip), value: h.name });
    }
  }
  for (const [key, st] of blockStates(snap, g)) {
    ops.push({ type: 'put', key, value: JSON.stringify(st) });
  }
  return ops;
}

function blockStates(snap: IpamSnapshot, g: number): Map<string, BlockState> {
  // Per family: an IPv4 and an IPv6 block may start at the same number.
  const byStart = new Map<string, { key: string; st: BlockState; size: bigint }>();
  const starts: Record<Family, bigint[]> = { 4: [], 6: [] };
  const out = new Map<string, BlockState>();
  for (const b of snap.blocks) {
    const st: BlockState = {
      owner: b.owner,
      host: b.host,
      acquired: b.acquired,
      released: b.released,
      names: [],
    };
    const key = blockKey(g, b.network, b.cidr);
    const cidr = Cidr.parse(b.cidr, 'cidr', BOTH_FAMILIES);
    byStart.set(`${cidr.family}/${cidr.start}`, { key, st, size: cidr.size });
    starts[cidr.family].push(cidr.start);
    out.set(key, st);
  }
  for (const list of Object.values(starts)) list.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (const a of snap.addresses) {
    const addr = Addr.parse(a.ip, 'ip', BOTH_FAMILIES);
    const ip = addr.value;
    const list = starts[addr.family];
    let lo = 0;
    let hi = list.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (list[mid]! <= ip) lo = mid;
      else hi = mid - 1;
    }
    const b = byStart.get(`${addr.family}/${list[lo]}`);
    if (b === undefined || ip >= list[lo]! + b.size) {
      throw new RomanaError('Internal', `address ${a.name} (${a.ip}) is in no block`);
    }
    b.st.names.push([Number(ip - list[lo]!), a.name]);
  }
  for (const st of out.values()) st.names.sort((x, y) => x[0] - y[0]);
  return out;
}

/** Writes `ops` in chunks guarded by the intent; the first one records `patch` in it. */
async function writeChunks(op: Operation, ops: Op[], patch: Partial<TopologyOp>): Promise<void> {
  for (let i = 0; i === 0 || i < ops.length; i += CHUNK) {
    const r = await op.step([], ops.slice(i, i + CHUNK), i === 0 ? patch : {});
    if (r === null) throw new RomanaError('Internal', 'a topology chunk failed its compares');
  }
}

/** Deletes `keys` in chunks guarded by the intent. */
async function deleteKeys(op: Operation, keys: string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += CHUNK) {
    await op.step(
      [],
      keys.slice(i, i + CHUNK).map((key): Op => ({ type: 'delete', key })),
    );
  }
}

/**
 * Undoes an update whose switch was not committed: drops what it wrote of its generation and
 * the hosts it added, then restores the `topology` record and deletes the intent together.
 */
export async function undoTopology(store: Store, op: Operation): Promise<void> {
  const v = op.value as TopologyOp;
  const written = (await store.range(generationPrefix(v.to))).kvs.map((kv) => kv.key);
  const hostKeys = v.added.flatMap((h) => [hostKey(h.name), hostIpKey(h.ip)]);
  await deleteKeys(op, [...written, ...hostKeys]);
  const base: Op =
    v.base === null
      ? { type: 'delete', key: TOPOLOGY_KEY }
      : { type: 'put', key: TOPOLOGY_KEY, value: JSON.stringify(v.base) };
  await op.finish([], [base]);
}

/**
 * Finishes an update whose switch was committed: deletes every other generation and the
 * hosts the new topology dropped, then the intent.
 */
export async function finishTopology(store: Store, op: Operation): Promise<void> {
  const v = op.value as TopologyOp;
  const { kvs } = await store.range(GENERATIONS);
  const stale = kvs.filter((kv) => !kv.key.startsWith(generationPrefix(v.to))).map((kv) => kv.key);
  const hostKeys: string[] = [];
  for (const h of v.dropped) {
    hostKeys.push(hostKey(h.name));
    // The IP key is the dropped host's unless a host added since holds it.
    if ((await store.get(hostIpKey(h.ip)))?.value === h.name) hostKeys.push(hostIpKey(h.ip));
  }
  await deleteKeys(op, [...stale, ...hostKeys]);
  await op.finish([], []);
}

/**
 * A fence without an intent (left by a romanad older than intents): lifts it and drops what
 * was written of its generation. Returns true when it did.
 */
export async function liftBareFence(
  store: Store,
  fence: { key: string; value: string; modRevision: number },
): Promise<boolean> {
  const rec = decodeTopologyRecord(fence.key, fence.value);
  if (rec.updating === undefined) return false;
  const { updating, ...base } = rec;
  const { kvs } = await store.range(generationPrefix(updating.to));
  for (let i = 0; i < kvs.length; i += CHUNK) {
    await store.txn(
      [{ key: TOPOLOGY_KEY, modRevision: fence.modRevision }],
      kvs.slice(i, i + CHUNK).map((kv) => ({ type: 'delete', key: kv.key })),
    );
  }
  const empty = base.generation === 0 && base.doc.networks.length === 0;
  const r = await store.txn(
    [{ key: TOPOLOGY_KEY, modRevision: fence.modRevision }],
    [
      empty
        ? { type: 'delete', key: TOPOLOGY_KEY }
        : { type: 'put', key: TOPOLOGY_KEY, value: JSON.stringify(base) },
    ],
  );
  return r.succeeded;
}
