/**
 * Finishing or undoing operations whose writer is gone (see `operations.ts` for how a replica
 * tells). Each kind has one rule, chosen for what its client was promised:
 *
 * - a topology update whose switch was not committed is undone: its client got no answer, and
 *   until the switch nothing it wrote was visible, so undoing restores exactly what every reader
 *   saw; one whose switch was committed is finished (only clean-up is left);
 * - a host removal is finished: the operator asked for it, its fence already refuses new
 *   addresses on the host, and some of its blocks may already be free.
 */
import { RomanaError } from '../../errors.ts';
import type { KeyValue } from '../../store/store.ts';
import type { ServiceCore } from './core.ts';
import { resumeHostRemoval } from './host-ops.ts';
import { decodeOperation, decodeTopologyRecord } from './decode.ts';
import { beatKey, operationKey, OPERATIONS, TOPOLOGY_KEY } from './keys.ts';
import { Operation } from './operations.ts';
import { finishTopology, liftBareFence, undoTopology } from './topology-writer.ts';

/** What a look at the store found abandoned. */
export interface Abandoned {
  operations: KeyValue[];
  /** A topology fence without an intent (written before intents existed). */
  bareFence: KeyValue | undefined;
}

/** Reads the store's intents and tells which are abandoned. Takes no lock. */
export async function findAbandoned(core: ServiceCore): Promise<Abandoned> {
  const exclusive = core.store.exclusive === true;
  const { kvs } = await core.store.range(OPERATIONS);
  const watched = new Set(kvs.map((kv) => kv.key));
  const operations: KeyValue[] = [];
  for (const kv of kvs) {
    const owner = decodeOperation(kv.key, kv.value).owner;
    const beat = exclusive ? undefined : await core.store.get(beatKey(owner));
    if (core.abandon.abandoned(kv, beat?.modRevision ?? 0, exclusive, core.timing)) {
      operations.push(kv);
    }
  }
  let bareFence: KeyValue | undefined;
  // A replica that has loaded its state knows of any fence through its watch.
  const known = (core.state as typeof core.state | undefined)?.topology;
  if (known !== undefined && known?.updating === undefined) {
    core.abandon.keep(watched);
    return { operations, bareFence };
  }
  const topo = await core.store.get(TOPOLOGY_KEY);
  const updating = topo && decodeTopologyRecord(topo.key, topo.value).updating;
  if (topo !== undefined && updating !== undefined) {
    const intent = updating.op === undefined ? undefined : operationKey(updating.op);
    // The fence and its intent are written and removed together: a fence whose intent is
    // missing at the fence's revision is bare.
    if (
      intent === undefined ||
      (!watched.has(intent) && (await core.store.get(intent)) === undefined)
    ) {
      const again = await core.store.get(TOPOLOGY_KEY);
      if (again?.modRevision === topo.modRevision) {
        watched.add(TOPOLOGY_KEY);
        if (core.abandon.still(TOPOLOGY_KEY, String(topo.modRevision), exclusive, core.timing)) {
          bareFence = topo;
        }
      }
    }
  }
  core.abandon.keep(watched);
  return { operations, bareFence };
}

/**
 * Takes over and finishes or undoes what `found` lists. The caller holds the write lock.
 * Returns how many it settled.
 */
export async function settleAbandoned(core: ServiceCore, found: Abandoned): Promise<number> {
  let settled = 0;
  for (const kv of found.operations) {
    const op = await Operation.takeOver(core.opContext(), kv);
    if (op === null) continue;
    try {
      await core.reload();
      const v = op.value;
      core.log('warn', `taking over an abandoned operation: ${describe(kv.key, v)}`, { op: op.id });
      if (v.kind === 'topology') {
        if (v.phase === 'writing') await undoTopology(core.store, op);
        else await finishTopology(core.store, op);
      } else {
        await resumeHostRemoval(core, op);
      }
      settled++;
    } finally {
      op.release();
    }
  }
  if (found.bareFence !== undefined && (await liftBareFence(core.store, found.bareFence))) {
    core.log('warn', 'lifted the fence of a topology update that never finished');
    settled++;
  }
  if (settled > 0) await core.reload();
  return settled;
}

function describe(key: string, v: Operation['value']): string {
  if (v.kind === 'topology') {
    const what = v.phase === 'writing' ? 'undoing' : 'finishing';
    return `${what} the topology update to generation ${v.to} (${key})`;
  }
  if (v.kind === 'remove-host') return `finishing the removal of host ${v.host} (${key})`;
  throw new RomanaError('Internal', `unknown operation in ${key}`);
}
