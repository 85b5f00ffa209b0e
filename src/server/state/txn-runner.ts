/**
 * The one write path of a replica. Every write kind (allocate, release, host add and patch,
 * blackouts, VIPs, policies) is a small *decide* function: it runs the engine synchronously
 * and returns a `Decision`: the keys the decision read with the revisions it depended on
 * (compared by the transaction), the keys it writes, how to undo it in memory, and what to do
 * once committed. The runner alone then
 *
 * 1. commits one transaction guarded by the read set (several decisions can share one);
 * 2. on a failed compare, undoes the uncommitted change (local undo, then reads the keys back
 *    and applies the store's truth), asks the decision whether the conflict is definitive
 *    (a name now taken) and otherwise retries with the one backoff policy (`WRITE_RETRY`);
 * 3. on a store failure, undoes the same way; when the keys cannot be read back the replica is
 *    tainted (`ServiceCore.markTainted`): no write builds on a state the store never confirmed;
 * 4. on success, records the revisions and publishes the watch events.
 *
 * Multi-transaction operations (topology updates, host removals) commit each of their steps
 * through `commit` too, guarded by their intent (`operations.ts`).
 */
import { isRomanaError, RomanaError } from '../../errors.ts';
import { blockStateJson, type BlockChange, type BlockView } from '../../ipam/index.ts';
import { conflict, isRetryable, withRetry, WRITE_RETRY } from '../../store/retry.ts';
import type { Compare, Op } from '../../store/store.ts';
import type { ServiceCore } from './core.ts';
import { blockKey, TOPOLOGY_KEY } from './keys.ts';
import type { WatchEvent } from './service.ts';

/** A watch event before it is published (which stamps the revision when it has none). */
export type ViewEvent = Omit<WatchEvent, 'revision'> & { revision?: number };

/**
 * What a write read (each key once, with the revision it depended on; 0: absent) and what it
 * writes (each key once: a later write of a key replaces the earlier one in its place). Plain
 * arrays, in first-seen order: every allocation builds one, and a batch merges two dozen.
 */
export class TxnSet {
  readonly #compares: Compare[] = [];
  readonly #ops: Op[] = [];
  /** Position of each key in `#compares` / `#ops`, built once a set outgrows a short scan. */
  #readAt: Map<string, number> | undefined;
  #writeAt: Map<string, number> | undefined;

  /** Depends on `key` as this replica holds it (`ServiceCore.cmp`). */
  read(core: ServiceCore, key: string): this {
    if (this.#readIndex(key) < 0) this.#addRead(core.cmp(key));
    return this;
  }

  /** Depends on `key` being absent (a unique name or address). */
  readAbsent(key: string): this {
    const at = this.#readIndex(key);
    if (at < 0) this.#addRead({ key, modRevision: 0 });
    else this.#compares[at] = { key, modRevision: 0 };
    return this;
  }

  put(key: string, value: unknown): this {
    const text = typeof value === 'string' ? value : JSON.stringify(value);
    return this.#write({ type: 'put', key, value: text });
  }

  delete(key: string): this {
    return this.#write({ type: 'delete', key });
  }

  /** The compares of the read set (the caller must not change them). */
  compares(): Compare[] {
    return this.#compares;
  }

  /** The writes (the caller must not change them). */
  ops(): Op[] {
    return this.#ops;
  }

  /** The keys read. */
  readKeys(): string[] {
    return this.#compares.map((c) => c.key);
  }

  /** Adds another set's reads (the first revision seen wins) and writes (the last wins). */
  merge(other: TxnSet): void {
    for (const c of other.#compares) if (this.#readIndex(c.key) < 0) this.#addRead(c);
    for (const op of other.#ops) this.#write(op);
  }

  #addRead(c: Compare): void {
    this.#readAt?.set(c.key, this.#compares.length);
    this.#compares.push(c);
  }

  #write(op: Op): this {
    const at = this.#writeIndex(op.key);
    if (at >= 0) this.#ops[at] = op;
    else {
      this.#writeAt?.set(op.key, this.#ops.length);
      this.#ops.push(op);
    }
    return this;
  }

  #readIndex(key: string): number {
    if (this.#readAt === undefined && this.#compares.length > SCAN) {
      this.#readAt = new Map(this.#compares.map((c, i) => [c.key, i]));
    }
    if (this.#readAt !== undefined) return this.#readAt.get(key) ?? -1;
    return this.#compares.findIndex((c) => c.key === key);
  }

  #writeIndex(key: string): number {
    if (this.#writeAt === undefined && this.#ops.length > SCAN) {
      this.#writeAt = new Map(this.#ops.map((op, i) => [op.key, i]));
    }
    if (this.#writeAt !== undefined) return this.#writeAt.get(key) ?? -1;
    return this.#ops.findIndex((op) => op.key === key);
  }
}

/** Up to this many keys, a set looks a key up by scanning rather than through a map. */
const SCAN = 8;

/** The outcome of one decide function, handed to the runner. */
export interface Decision<T> {
  txn: TxnSet;
  /** Undoes the engine's uncommitted change in memory (before the keys are read back). */
  undo?(): void;
  /** Keys whose stored truth undoes this decision on a conflict (default: the read set). */
  readBack?: string[];
  /** Read-back keys also applied when held at the same revision (the engine changed them). */
  forceReadBack?: boolean;
  /** After a conflict was undone: throws a definitive error when retrying cannot succeed. */
  explain?(): Promise<void>;
  /** The commit landed at `rev`: update the replica's state; returns the answer and events. */
  committed(rev: number): { value: T; events?: ViewEvent[] };
}

/** A decision that needs no transaction (nothing changed). */
export interface Unchanged<T> {
  unchanged: T;
}

/** The outcome of one job of a batch. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown; retry: boolean };

export class TxnRunner {
  readonly core: ServiceCore;

  constructor(core: ServiceCore) {
    this.core = core;
  }

  /**
   * Commits; `null` when a compare failed. Store failures become `Unavailable`.
   *
   * `own`: the caller publishes what the transaction changed (a decision's `committed`). Its
   * writes are then listed in `core.inFlight` while it is in flight: the store's watch may
   * deliver them before `txn` resolves (the embedded store wakes its watches first, and on
   * etcd the two answers travel apart), and the watch must see them as this replica's own,
   * not apply them to the engine a second time and publish them twice. Without `own` (fences
   * and steps of multi-transaction operations, which leave publishing to the watch) the watch
   * applies them as it always has.
   */
  async commit(compares: Compare[], ops: Op[], own = false): Promise<number | null> {
    const inFlight = this.core.inFlight;
    if (own) for (const op of ops) inFlight.set(op.key, op.type === 'put' ? op.value : null);
    let r;
    try {
      r = await this.core.store.txn(compares, ops);
    } catch (err) {
      if (isRomanaError(err)) throw err;
      throw new RomanaError('Unavailable', `the datastore failed: ${(err as Error).message}`, {
        cause: err,
      });
    } finally {
      if (own) for (const op of ops) inFlight.delete(op.key);
    }
    if (!r.succeeded) return null;
    for (const op of ops) this.core.revs.set(op.key, op.type === 'put' ? r.revision : -r.revision);
    this.core.revision = Math.max(this.core.revision, r.revision);
    return r.revision;
  }

  /**
   * Runs `decide` and commits its decision, retrying on conflicts with the one backoff
   * policy; `what` names the write in the error of a conflict. The replica must be writable
   * at each attempt.
   */
  run<T>(
    what: string,
    decide: () => Decision<T> | Unchanged<T> | Promise<Decision<T> | Unchanged<T>>,
  ): Promise<T> {
    return withRetry(async () => {
      this.core.checkWritable();
      const d = await decide();
      if ('unchanged' in d) return d.unchanged;
      const [out] = await this.#commitDecisions([d], undefined, what);
      if (out!.ok) return out!.value;
      throw out!.error;
    }, WRITE_RETRY);
  }

  /**
   * Decides jobs (each synchronously, in order) while `fits` says one more fits in the
   * transaction (asked before each job but the first, with what the jobs decided so far write),
   * then commits all the decisions in one transaction together with `engineWrites()` (the blocks
   * the engine changed meanwhile). Returns one outcome per job taken: the jobs past the first
   * that did not fit get none, and are the caller's to run later. A job whose decide throws
   * fails alone. When the combined commit fails on a conflict, every decision is undone and each
   * job's outcome says whether to retry it (alone, by the caller: one job's conflict must not
   * keep failing the others).
   */
  async batch<T>(
    decides: Array<() => Decision<T>>,
    engineWrites: () => Decision<void>,
    what = 'a combined write',
    fits: (sofar: TxnSet) => boolean = () => true,
  ): Promise<Outcome<T>[]> {
    const outcomes: Array<Outcome<T> | undefined> = [];
    const decided: Array<{ i: number; d: Decision<T> }> = [];
    const txn = new TxnSet();
    for (let i = 0; i < decides.length && (i === 0 || fits(txn)); i++) {
      try {
        const d = decides[i]!();
        txn.merge(d.txn);
        decided.push({ i, d });
        outcomes.push(undefined);
      } catch (error) {
        outcomes.push({ ok: false, error, retry: false });
      }
    }
    const engine = engineWrites();
    if (decided.length > 0) {
      const results = await this.#commitDecisions(
        decided.map((x) => x.d),
        engine,
        what,
        txn,
      );
      decided.forEach(({ i }, j) => (outcomes[i] = results[j]));
    }
    return outcomes as Outcome<T>[];
  }

  /**
   * One transaction for `ds` (and the engine's writes); one outcome per decision. `merged`:
   * the decisions' sets already merged, in order.
   */
  async #commitDecisions<T>(
    ds: Array<Decision<T>>,
    engine: Decision<void> | undefined,
    what: string,
    merged?: TxnSet,
  ): Promise<Outcome<T>[]> {
    const all: Array<Decision<unknown>> = engine === undefined ? [...ds] : [...ds, engine];
    let txn = merged;
    if (txn === undefined) {
      txn = new TxnSet();
      for (const d of ds) txn.merge(d.txn);
    }
    if (engine !== undefined) txn.merge(engine.txn);
    let rev: number | null;
    try {
      rev = await this.commit(txn.compares(), txn.ops(), true);
    } catch (error) {
      // Outcome unknown: undo from the store's truth, or stop writing until a reload.
      await this.#undo(all).catch(() => this.core.markTainted());
      return ds.map(() => ({ ok: false, error, retry: false }));
    }
    if (rev !== null) {
      const outcomes: Outcome<T>[] = [];
      const events: ViewEvent[] = [];
      for (const d of ds) {
        const { value, events: evs } = d.committed(rev);
        outcomes.push({ ok: true, value });
        if (evs !== undefined) events.push(...evs);
      }
      if (engine !== undefined) events.unshift(...(engine.committed(rev).events ?? []));
      if (events.length > 0) this.core.publish(rev, events);
      return outcomes;
    }
    await this.#undo(all);
    const outcomes: Outcome<T>[] = [];
    for (const d of ds.slice().reverse()) {
      try {
        await d.explain?.();
        outcomes.unshift({
          ok: false,
          error: conflict(`${what} raced another writer`),
          retry: true,
        });
      } catch (error) {
        outcomes.unshift({ ok: false, error, retry: isRetryable(error) });
      }
    }
    return outcomes;
  }

  /** Undoes uncommitted decisions: local undo (last first), then the store's truth. */
  async #undo(ds: Array<Decision<unknown>>): Promise<void> {
    for (const d of ds.slice().reverse()) d.undo?.();
    const plain = new Set<string>();
    const forced = new Set<string>();
    for (const d of ds) {
      for (const k of d.readBack ?? d.txn.readKeys()) (d.forceReadBack ? forced : plain).add(k);
    }
    for (const k of forced) plain.delete(k);
    if (forced.size > 0) await this.core.refreshKeys([...forced], true);
    if (plain.size > 0) await this.core.refreshKeys([...plain]);
  }
}

/**
 * The blocks the engine changed since the last call (`Ipam.takeTouchedBlocks`) as a decision:
 * each block compared at the revision held and rewritten, the topology fence compared; on a
 * conflict the store's version of each is applied back (that is what undoes the engine).
 */
export function engineBlockWrites(core: ServiceCore): Decision<void> {
  const g = core.generation();
  const { changes, handles } = core.ipam.takeTouchedBlockHandles();
  const txn = new TxnSet().read(core, TOPOLOGY_KEY);
  const keys: string[] = [];
  for (const c of changes) {
    const key = blockKey(g, c.network, c.cidr);
    keys.push(key);
    txn.read(core, key).put(key, blockStateJson(c.state));
  }
  keys.push(TOPOLOGY_KEY);
  return {
    txn,
    readBack: keys,
    forceReadBack: true,
    committed: (rev) => ({
      value: undefined,
      events: blockEvents(core, changes, core.ipam.commitBlocks(handles, rev), rev),
    }),
  };
}

/** Records the revision of committed blocks; the view events to publish. */
export function blocksCommitted(
  core: ServiceCore,
  changes: BlockChange[],
  rev: number,
): ViewEvent[] {
  const views = changes.map((c) => {
    core.ipam.setBlockRevision(c.network, c.cidr, rev);
    return core.ipam.getBlock(c.network, c.cidr);
  });
  return blockEvents(core, changes, views, rev);
}

/** The events of blocks committed at `rev` (`views[i]`: the view of `changes[i]`'s block). */
function blockEvents(
  core: ServiceCore,
  changes: BlockChange[],
  views: BlockView[],
  rev: number,
): ViewEvent[] {
  const events: ViewEvent[] = [];
  changes.forEach((c, i) => {
    core.networkRevisions.set(c.network, rev);
    events.push({ revision: rev, kind: 'blocks', type: 'put', id: c.cidr, value: views[i]! });
  });
  core.blocksRevision = Math.max(core.blocksRevision, rev);
  return events;
}
