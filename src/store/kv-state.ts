/**
 * The in-memory core shared by the memory and embedded backends: the current key-value map
 * with a sorted key index, a bounded history of recent revisions, and watch fan-out.
 *
 * Watches are pull-based: each has a cursor (`next` revision) and, whenever something may be
 * new, a microtask delivers every retained revision from the cursor on. Replaying history and
 * following live changes are therefore the same code path, and delivery is in revision order
 * with no duplicates by construction. A watch whose cursor falls behind the retained history
 * gets the `Conflict` ("compacted") error.
 */
import { RomanaError, compacted, invalidInput } from '../errors.ts';
import { ShardedMap } from '../sharded-map.ts';
import { SortedKeys } from './sorted-keys.ts';
import type { Compare, KeyValue, Op, Watch, WatchEvent } from './store.ts';

/**
 * One effective key change of a committed revision; `value: null` deletes the key.
 *
 * @example const ch: Change = { key: 'hosts/h1', value: null };
 */
export interface Change {
  key: string;
  value: string | null;
}

/**
 * Looks a key up in whatever view the caller decides against.
 *
 * @example const lookup: Lookup = (k) => state.peek(k);
 */
export type Lookup = (key: string) => KeyValue | undefined;

interface HistoryEntry {
  revision: number;
  events: WatchEvent[];
}

interface Watcher {
  prefix: string;
  next: number;
  onEvents: (events: WatchEvent[], revision: number) => void;
  onError: (err: Error) => void;
  closed: boolean;
  scheduled: boolean;
}

/**
 * Checks keys and ops of a transaction (non-empty string keys, string values, one op per key).
 *
 * @example validateTxn([{ key: 'a', modRevision: 0 }], [{ type: 'put', key: 'a', value: '1' }]);
 */
export function validateTxn(compares: Compare[], ops: Op[]): void {
  for (const c of compares) {
    checkKey(c.key, 'compare');
    if (!Number.isSafeInteger(c.modRevision) || c.modRevision < 0) {
      throw invalidInput(`txn: compare on '${c.key}' has invalid modRevision ${c.modRevision}`);
    }
  }
  const seen = new Set<string>();
  for (const op of ops) {
    checkKey(op.key, op.type);
    if (op.type === 'put' && typeof op.value !== 'string') {
      throw invalidInput(`txn: put of '${op.key}' has a non-string value`);
    }
    if (op.type !== 'put' && op.type !== 'delete') {
      throw invalidInput(`txn: unknown op type '${String((op as { type: unknown }).type)}'`);
    }
    if (seen.has(op.key)) throw invalidInput(`txn: key '${op.key}' appears in more than one op`);
    seen.add(op.key);
  }
}

function checkKey(key: unknown, what: string): void {
  if (typeof key !== 'string' || key.length === 0) {
    throw invalidInput(`txn: ${what} needs a non-empty string key, got ${JSON.stringify(key)}`);
  }
}

/**
 * True when every compare holds against `lookup`.
 *
 * @example comparesHold((k) => state.get(k), [{ key: 'a', modRevision: 0 }])
 */
export function comparesHold(lookup: Lookup, compares: Compare[]): boolean {
  return compares.every((c) => (lookup(c.key)?.modRevision ?? 0) === c.modRevision);
}

/**
 * The changes `ops` would make against `lookup` (deletes of missing keys dropped).
 *
 * @example effectiveChanges((k) => state.get(k), ops) // [] when nothing would change
 */
export function effectiveChanges(lookup: Lookup, ops: Op[]): Change[] {
  const changes: Change[] = [];
  for (const op of ops) {
    if (op.type === 'put') changes.push({ key: op.key, value: op.value });
    else if (lookup(op.key) !== undefined) changes.push({ key: op.key, value: null });
  }
  return changes;
}

/**
 * The resulting value of one change at `revision`, given the key's previous value.
 *
 * @example nextValue(undefined, { key: 'a', value: '1' }, 5) // { key: 'a', value: '1', modRevision: 5, createRevision: 5 }
 */
export function nextValue(
  prev: KeyValue | undefined,
  change: Change,
  revision: number,
): KeyValue | undefined {
  if (change.value === null) return undefined;
  return {
    key: change.key,
    value: change.value,
    modRevision: revision,
    createRevision: prev?.createRevision ?? revision,
  };
}

/** A change decided against the state before its revision: the value it replaces, and its result. */
export interface DecidedChange {
  held: KeyValue | undefined;
  kv: KeyValue | undefined;
}

/** A point-in-time read of every value (`KvState.snapshotView`). */
export interface SnapshotView {
  /** The revision the values are at. */
  revision: number;
  /** How many values. */
  count: number;
  /** The values at positions `from` (included) to `to` (excluded), in key order. */
  slice(from: number, to: number): KeyValue[];
  /** Stops keeping replaced values; the view must not be read after. */
  close(): void;
}

/**
 * Revisioned map + history + watches. Not a `Store` by itself: the backends decide when a
 * revision is committed and call `apply`.
 *
 * @example
 * const s = new KvState({ historyRevisions: 1000 });
 * s.apply(1, [{ key: 'a', value: '1' }]);
 * s.get('a')?.modRevision // 1
 */
export class KvState {
  #kvs = new ShardedMap<KeyValue>();
  #index = new SortedKeys();
  #revision = 0;
  #history: HistoryEntry[] = [];
  #historyHead = 0;
  /** Every revision <= this one is no longer in `#history`. */
  #compacted = 0;
  readonly #historyLimit: number;
  #watchers = new Set<Watcher>();
  /** While a snapshot view is open: the value each key had when it opened, kept at its first change. */
  #frozen: Map<string, KeyValue | undefined> | undefined;

  constructor(options: { historyRevisions?: number } = {}) {
    this.#historyLimit = Math.max(1, options.historyRevisions ?? 10_000);
  }

  get revision(): number {
    return this.#revision;
  }

  /** How many recent revisions the history keeps. */
  get historyLimit(): number {
    return this.#historyLimit;
  }

  /** Oldest revision a watch can still start from. */
  get oldestWatchable(): number {
    return this.#compacted + 1;
  }

  get size(): number {
    return this.#kvs.size;
  }

  /** The stored object; callers must not mutate it (copy before handing it out). */
  peek(key: string): KeyValue | undefined {
    return this.#kvs.get(key);
  }

  get(key: string): KeyValue | undefined {
    const kv = this.#kvs.get(key);
    return kv === undefined ? undefined : { ...kv };
  }

  range(prefix: string): { kvs: KeyValue[]; revision: number } {
    const kvs: KeyValue[] = [];
    for (const key of this.#index.withPrefix(prefix)) kvs.push({ ...this.#kvs.get(key)! });
    return { kvs, revision: this.#revision };
  }

  /** Every current value, in key order. */
  *entries(): Generator<KeyValue> {
    for (const key of this.#index.withPrefix('')) yield this.#kvs.get(key)!;
  }

  /**
   * Every value as of now, in key order, read a slice at a time while the state goes on
   * changing: a change made while the view is open first keeps the value it replaces. Opening
   * copies the key list only; reading 250,000 values at once took 150-200 ms here, which a
   * snapshot taken under load must not stop the process for. One view at a time: close it.
   */
  snapshotView(): SnapshotView {
    if (this.#frozen !== undefined) {
      throw new RomanaError('Internal', 'store: a snapshot view is already open');
    }
    const frozen = new Map<string, KeyValue | undefined>();
    this.#frozen = frozen;
    const keys = this.#index.toArray();
    const valueOf = (key: string): KeyValue =>
      (frozen.has(key) ? frozen.get(key) : this.#kvs.get(key))!;
    return {
      revision: this.#revision,
      count: keys.length,
      slice: (from, to) => keys.slice(from, to).map(valueOf),
      close: () => {
        if (this.#frozen === frozen) this.#frozen = undefined;
      },
    };
  }

  /** Loads a value from a snapshot (no history, no events). */
  load(kv: KeyValue, revision: number): void {
    if (!this.#kvs.has(kv.key)) this.#index.add(kv.key);
    this.#kvs.set(kv.key, { ...kv });
    this.#revision = Math.max(this.#revision, revision);
    this.#compacted = this.#revision;
  }

  /** Sets the revision of an empty or freshly loaded state. */
  setRevision(revision: number): void {
    this.#revision = Math.max(this.#revision, revision);
    if (this.#history.length === this.#historyHead) this.#compacted = this.#revision;
  }

  /**
   * Commits `changes` as `revision` (which must be the next one), records them in the history
   * and wakes the watches. `decided[i]`, when given, is what the caller found and computed for
   * `changes[i]` against the state just before this revision (`nextValue`): the keys are then
   * not looked up again.
   */
  apply(revision: number, changes: Change[], decided?: readonly DecidedChange[]): void {
    if (revision !== this.#revision + 1) {
      throw new RomanaError(
        'Internal',
        `store: revision ${revision} applied after ${this.#revision}`,
      );
    }
    const events: WatchEvent[] = [];
    const frozen = this.#frozen;
    for (let i = 0; i < changes.length; i++) {
      const ch = changes[i]!;
      const d = decided?.[i];
      const held = d === undefined ? this.#kvs.get(ch.key) : d.held;
      if (frozen !== undefined && !frozen.has(ch.key)) frozen.set(ch.key, held);
      const kv = d === undefined ? nextValue(held, ch, revision) : d.kv;
      if (kv === undefined) {
        this.#kvs.delete(ch.key);
        this.#index.delete(ch.key);
        events.push({ type: 'delete', key: ch.key, value: null, modRevision: revision });
      } else {
        if (held === undefined) this.#index.add(ch.key);
        this.#kvs.set(ch.key, kv);
        events.push({ type: 'put', key: ch.key, value: kv.value, modRevision: revision });
      }
    }
    this.#revision = revision;
    this.#remember({ revision, events });
    for (const w of this.#watchers) this.#schedule(w);
  }

  /**
   * Adds an already-applied revision to the history only (log records older than the
   * snapshot). Revisions must be contiguous; a gap restarts the history.
   */
  rememberOnly(revision: number, changes: Change[]): void {
    const events: WatchEvent[] = changes.map((ch) =>
      ch.value === null
        ? { type: 'delete', key: ch.key, value: null, modRevision: revision }
        : { type: 'put', key: ch.key, value: ch.value, modRevision: revision },
    );
    this.#remember({ revision, events });
  }

  /** After loading: forgets a history that does not end at the current revision. */
  sealHistory(): void {
    const last = this.#history[this.#history.length - 1];
    if (this.#history.length > this.#historyHead && last?.revision === this.#revision) return;
    this.#history = [];
    this.#historyHead = 0;
    this.#compacted = this.#revision;
  }

  /** Drops history before `revision` (watches from earlier get "compacted"). */
  compact(revision: number): void {
    while (this.#historyHead < this.#history.length) {
      const e = this.#history[this.#historyHead]!;
      if (e.revision >= revision) break;
      this.#compacted = e.revision;
      this.#historyHead++;
    }
    this.#compacted = Math.max(this.#compacted, Math.min(revision - 1, this.#revision));
    this.#trimArray();
    for (const w of this.#watchers) this.#schedule(w);
  }

  /** The last `n` retained history entries as changes (what a watch from that far back replays). */
  recentHistory(n: number): Array<{ revision: number; changes: Change[] }> {
    const from = Math.max(this.#historyHead, this.#history.length - n);
    return this.#history.slice(from).map((e) => ({
      revision: e.revision,
      changes: e.events.map((ev) => ({ key: ev.key, value: ev.value })),
    }));
  }

  watch(
    prefix: string,
    fromRevision: number,
    onEvents: (events: WatchEvent[], revision: number) => void,
    onError: (err: Error) => void,
  ): Watch {
    const w: Watcher = {
      prefix,
      next: fromRevision > 0 ? fromRevision : this.#revision + 1,
      onEvents,
      onError,
      closed: false,
      scheduled: false,
    };
    this.#watchers.add(w);
    this.#schedule(w);
    return {
      close: () => {
        w.closed = true;
        this.#watchers.delete(w);
      },
    };
  }

  /** Stops every watch without calling it again. */
  closeWatches(): void {
    for (const w of this.#watchers) w.closed = true;
    this.#watchers.clear();
  }

  #remember(entry: HistoryEntry): void {
    // Events are shared by every watch that receives them: make sharing safe.
    for (const ev of entry.events) Object.freeze(ev);
    const last = this.#history[this.#history.length - 1];
    if (this.#history.length === this.#historyHead || last?.revision !== entry.revision - 1) {
      // Empty or not contiguous: the history restarts here.
      this.#history = [];
      this.#historyHead = 0;
      this.#compacted = entry.revision - 1;
    }
    this.#history.push(entry);
    if (this.#history.length - this.#historyHead > this.#historyLimit) {
      this.#compacted = this.#history[this.#historyHead]!.revision;
      this.#historyHead++;
      this.#trimArray();
    }
  }

  /** Drops consumed slots now and then, so that trimming stays amortised O(1). */
  #trimArray(): void {
    if (this.#historyHead > 1024 && this.#historyHead * 2 > this.#history.length) {
      this.#history = this.#history.slice(this.#historyHead);
      this.#historyHead = 0;
    }
  }

  #schedule(w: Watcher): void {
    if (w.scheduled || w.closed) return;
    w.scheduled = true;
    queueMicrotask(() => {
      w.scheduled = false;
      this.#pump(w);
    });
  }

  #pump(w: Watcher): void {
    if (w.closed || w.next > this.#revision) return;
    if (w.next <= this.#compacted) {
      this.#fail(w, compactedError(w.next, this.#compacted + 1));
      return;
    }
    const first = this.#history[this.#historyHead]?.revision ?? this.#revision + 1;
    for (let i = this.#historyHead + Math.max(0, w.next - first); i < this.#history.length; i++) {
      const entry = this.#history[i]!;
      w.next = entry.revision + 1;
      const events = entry.events.filter((ev) => ev.key.startsWith(w.prefix));
      if (events.length === 0) continue;
      try {
        w.onEvents(events, entry.revision);
      } catch (err) {
        this.#fail(w, err instanceof Error ? err : new Error(String(err)));
        return;
      }
      if (w.closed) return;
    }
  }

  #fail(w: Watcher, err: Error): void {
    w.closed = true;
    this.#watchers.delete(w);
    w.onError(err);
  }
}

/**
 * The error a watch gets when its start revision is no longer in the history: code `Compacted`
 * (the catalogue's builder in src/errors.ts).
 *
 * @example compactedError(5, 120).code // 'Compacted'
 */
export function compactedError(from: number, oldest: number, cause?: unknown): RomanaError {
  return compacted(from, oldest, cause);
}
