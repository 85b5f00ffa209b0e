/**
 * Operations that take several transactions (a topology update, a host removal) must never be
 * left half done. Each one writes its *intent* (`ops/<id>`, a `StoredOperation`) in the same
 * transaction as its fence, guards every later step by the intent's revision, and deletes the
 * intent in the same transaction as its last step. So at any moment the store says whether an
 * operation is in progress, how far it got, and who is doing it.
 *
 * Who is doing it: the intent names its `owner`, a token of the process that runs it. An
 * operation whose owner is gone is *abandoned*, and any replica takes it over by rewriting the
 * intent with its own token (a compare on the revision it saw), then finishes or undoes it (see
 * `recovery.ts`). A step of the old owner, should it still be running after all, then fails its
 * compare: there is never more than one writer of an operation.
 *
 * When is an owner gone:
 * - on an exclusive store (`Store.exclusive`: the embedded store's directory lock, or memory),
 *   every writer lives in this process, so an owner not running here is gone: at once;
 * - on a shared store (etcd) the owner rewrites its beat key (`beats/<owner>`) every
 *   `heartbeatMs`, apart from its steps (a slow step does not hold the beat back); an intent
 *   whose revision and whose owner's beat have not moved for `staleMs`, measured by the
 *   observer's own clock (no two clocks are compared), is abandoned. A live owner is never
 *   preempted while it beats; one that stopped beating and is taken over finds every later
 *   step refused by the intent's compare.
 */
import { randomUUID } from 'node:crypto';
import { RomanaError } from '../../errors.ts';
import type { Compare, KeyValue, Op, Store } from '../../store/store.ts';
import { beatKey, operationKey, OPERATIONS, type StoredOperation } from './keys.ts';
import { decodeOperation } from './decode.ts';

/** Heartbeat and staleness of operations on shared stores (ms). */
export interface OperationTiming {
  heartbeatMs: number;
  staleMs: number;
}

export const DEFAULT_TIMING: OperationTiming = { heartbeatMs: 1000, staleMs: 10_000 };

/** Commits a transaction; `null` when a compare failed (`ServiceCore.commit`). */
export type Commit = (compares: Compare[], ops: Op[]) => Promise<number | null>;

/** Owner tokens of the operations running in this process. */
const running = new Set<string>();

/** True when the operation's owner runs in this process. */
export function runsHere(op: StoredOperation): boolean {
  return running.has(op.owner);
}

export function newOperationId(): string {
  return randomUUID();
}

/**
 * Test hook: `ROMANAD_TEST_CRASH_AFTER=<kind>:<n>` makes the process kill itself (SIGKILL)
 * right after the n-th committed transaction of an operation of that kind, counting the one
 * that writes its intent. Crash tests use it to stop romanad at every step.
 */
const CRASH_AFTER = process.env['ROMANAD_TEST_CRASH_AFTER'];

function crashPoint(kind: string, step: number): void {
  if (CRASH_AFTER !== undefined && CRASH_AFTER === `${kind}:${step}`) {
    process.kill(process.pid, 'SIGKILL');
  }
}

/**
 * One operation held by this process.
 *
 * @example
 * const op = await Operation.begin({ store, commit, timing }, id, intent, [fenceCompare], [fencePut]);
 * try { await op.step([], chunk); await op.finish([], lastOps); } finally { op.release(); }
 */
export class Operation {
  readonly id: string;
  readonly key: string;
  #value: StoredOperation;
  #rev: number;
  readonly #store: Store;
  readonly #commit: Commit;
  #chain: Promise<unknown> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #steps = 0;
  #done = false;

  private constructor(
    ctx: { store: Store; commit: Commit },
    id: string,
    value: StoredOperation,
    rev: number,
  ) {
    this.id = id;
    this.key = operationKey(id);
    this.#value = value;
    this.#rev = rev;
    this.#store = ctx.store;
    this.#commit = ctx.commit;
  }

  /**
   * Writes the intent together with the operation's fence (`compares`, `ops`). Returns `null`
   * when a compare failed (nothing was written).
   */
  static async begin(
    ctx: { store: Store; commit: Commit; timing: OperationTiming },
    id: string,
    value: StoredOperation,
    compares: Compare[],
    ops: Op[],
  ): Promise<Operation | null> {
    const key = operationKey(id);
    const op = new Operation(ctx, id, value, 0);
    const beat: Op[] = op.#beats ? [{ type: 'put', key: beatKey(value.owner), value: '0' }] : [];
    return op.#start(ctx.timing, [
      [...compares, { key, modRevision: 0 }],
      [...ops, ...beat, { type: 'put', key, value: JSON.stringify(value) }],
    ]);
  }

  /**
   * Takes over an abandoned operation (its intent as read in `kv`). Returns `null` when the
   * intent moved meanwhile (its owner is alive after all, or another replica was faster).
   */
  static async takeOver(
    ctx: { store: Store; commit: Commit; timing: OperationTiming },
    kv: KeyValue,
  ): Promise<Operation | null> {
    const id = decodeURIComponent(kv.key.slice(OPERATIONS.length));
    const was = decodeOperation(kv.key, kv.value);
    const op = new Operation(ctx, id, { ...was, owner: randomUUID() }, kv.modRevision);
    const beat: Op[] = op.#beats
      ? [
          { type: 'delete', key: beatKey(was.owner) },
          { type: 'put', key: beatKey(op.#value.owner), value: '0' },
        ]
      : [];
    return op.#start(ctx.timing, [[], beat]);
  }

  async #start(
    timing: OperationTiming,
    [compares, ops]: [Compare[], Op[]],
  ): Promise<Operation | null> {
    running.add(this.#value.owner);
    let started: number | null;
    try {
      started = await this.#run(compares, ops);
      if (started === null) {
        running.delete(this.#value.owner);
        return null;
      }
    } catch (err) {
      running.delete(this.#value.owner);
      throw err;
    }
    if (this.#beats) this.#startBeating(timing, started);
    crashPoint(this.#value.kind, 1);
    return this;
  }

  get value(): StoredOperation {
    return this.#value;
  }

  /**
   * One step: commits `ops` (and `patch` into the intent) only while this process still holds
   * the operation. Returns the revision, or `null` when one of `compares` failed; throws
   * `Unavailable` when the operation was taken over.
   */
  step(
    compares: Compare[],
    ops: Op[],
    patch: Partial<StoredOperation> = {},
  ): Promise<number | null> {
    return this.#serial(async () => {
      const rev = await this.#run(compares, ops, patch);
      if (rev !== null) crashPoint(this.#value.kind, ++this.#steps + 1);
      return rev;
    });
  }

  /** The last step: commits `ops` and deletes the intent (and the beat) in one transaction. */
  async finish(compares: Compare[], ops: Op[]): Promise<number | null> {
    const beat: Op[] = this.#beats ? [{ type: 'delete', key: beatKey(this.#value.owner) }] : [];
    const rev = await this.#serial(() => this.#run(compares, [...ops, ...beat], undefined, true));
    if (rev !== null) {
      this.#done = true;
      this.release();
      crashPoint(this.#value.kind, ++this.#steps + 1);
    }
    return rev;
  }

  /** Stops the heartbeat; an intent still in the store is then left for recovery. */
  release(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    running.delete(this.#value.owner);
  }

  get finished(): boolean {
    return this.#done;
  }

  /** Beats are needed only where other processes must tell whether this one lives. */
  get #beats(): boolean {
    return this.#store.exclusive !== true;
  }

  /**
   * Rewrites the beat key every `heartbeatMs`, guarded by its own last revision: once the
   * operation finished or was taken over (both delete the key), a late beat cannot recreate it.
   */
  #startBeating(timing: OperationTiming, rev: number): void {
    const key = beatKey(this.#value.owner);
    let n = 0;
    let busy = false;
    this.#timer = setInterval(() => {
      if (busy) return;
      busy = true;
      this.#store
        .txn([{ key, modRevision: rev }], [{ type: 'put', key, value: String(++n) }])
        .then(
          (r) => {
            if (r.succeeded) rev = r.revision;
            else clearInterval(this.#timer);
          },
          () => undefined,
        )
        .finally(() => (busy = false));
    }, timing.heartbeatMs);
    this.#timer.unref();
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#chain.then(fn, fn);
    this.#chain = next.catch(() => undefined);
    return next;
  }

  /**
   * Commits with the intent's compare and rewrite (or delete). A transaction whose outcome is
   * unknown (the store failed) is settled by reading the intent back: it moved to a version
   * this process wrote exactly when the transaction was applied.
   */
  async #run(
    compares: Compare[],
    ops: Op[],
    patch?: Partial<StoredOperation>,
    remove = false,
  ): Promise<number | null> {
    const value = { ...this.#value, ...patch } as StoredOperation;
    const text = JSON.stringify(value);
    const all: Compare[] =
      this.#rev === 0 ? compares : [...compares, { key: this.key, modRevision: this.#rev }];
    const mine: Op = remove
      ? { type: 'delete', key: this.key }
      : { type: 'put', key: this.key, value: text };
    const writes = this.#rev === 0 ? ops : [...ops, mine];
    let rev: number | null;
    try {
      rev = await this.#commit(all, writes);
    } catch (err) {
      const kv = await this.#store.get(this.key).catch(() => {
        throw err;
      });
      const applied = remove
        ? kv === undefined
        : kv?.value === text && kv.modRevision !== this.#rev;
      if (!applied) throw err;
      rev = remove ? await this.#store.revision() : kv!.modRevision;
    }
    if (rev === null) {
      if (this.#rev === 0) return null;
      const kv = await this.#store.get(this.key);
      if (kv?.modRevision !== this.#rev) {
        this.release();
        throw new RomanaError(
          'Unavailable',
          `operation ${this.id} (${this.#value.kind}) was taken over by another replica`,
          { resourceType: 'operation', resourceId: this.id },
        );
      }
      return null;
    }
    this.#value = value;
    this.#rev = rev;
    return rev;
  }
}

/**
 * Tells abandoned intents from live ones (module comment). One per replica: it remembers
 * since when (on this replica's clock) each intent it saw has kept its revision and its
 * owner's beat.
 */
export class AbandonWatch {
  readonly #seen = new Map<string, { mark: string; at: number }>();

  /**
   * True when the operation written in `kv` has no live owner. `beatRevision`: the revision
   * of its owner's beat key (0: absent).
   */
  abandoned(
    kv: KeyValue,
    beatRevision: number,
    exclusive: boolean,
    timing: OperationTiming,
    now = Date.now(),
  ): boolean {
    const op = decodeOperation(kv.key, kv.value);
    if (runsHere(op)) return false;
    return this.still(kv.key, `${kv.modRevision}/${beatRevision}`, exclusive, timing, now);
  }

  /** True when `mark` (what shows life of `key`) has not changed for `staleMs`. */
  still(
    key: string,
    mark: string,
    exclusive: boolean,
    timing: OperationTiming,
    now = Date.now(),
  ): boolean {
    if (exclusive) return true;
    const seen = this.#seen.get(key);
    if (seen === undefined || seen.mark !== mark) {
      this.#seen.set(key, { mark, at: now });
      return false;
    }
    return now - seen.at >= timing.staleMs;
  }

  /** Forgets keys no longer in the store. */
  keep(keys: Set<string>): void {
    for (const k of this.#seen.keys()) if (!keys.has(k)) this.#seen.delete(k);
  }
}
