/**
 * The datastore seam of romanad: a small revisioned key-value interface with optimistic
 * concurrency, implemented by the embedded file store (default), an in-memory store and etcd v3.
 *
 * Model (the etcd v3 model, kept small):
 * - every committed change gets a store-wide revision; one successful transaction is exactly one
 *   revision, whatever the number of keys it touches;
 * - every value carries the revision that last modified it (`modRevision`) and the one that
 *   created it (`createRevision`);
 * - a transaction compares `modRevision`s of some keys (0 means "must not exist") and, when all
 *   hold, applies puts and deletes atomically; otherwise it applies nothing;
 * - a watch delivers the changes under a prefix in revision order, one call per revision,
 *   and can start from a past revision as long as that history has not been compacted.
 *
 * Keys are plain strings compared by UTF-16 code units (the same as byte order for ASCII keys,
 * which is what Romana uses). Backends may add their own key prefix (etcd does); callers never
 * see it.
 */

/**
 * A stored value with its revisions.
 *
 * @example
 * const kv: KeyValue = { key: 'hosts/h1', value: '{"ip":"10.0.0.1"}', modRevision: 7, createRevision: 3 };
 */
export interface KeyValue {
  key: string;
  value: string;
  /** Revision of the transaction that last wrote this key. */
  modRevision: number;
  /** Revision of the transaction that created this key (since its last deletion). */
  createRevision: number;
}

/**
 * A transaction guard: the key's current `modRevision` must equal `modRevision`.
 * `modRevision: 0` means the key must not exist.
 *
 * @example
 * const absent: Compare = { key: 'blocks/10.0.0.0-29', modRevision: 0 };
 * const unchanged: Compare = { key: 'hosts/h1', modRevision: kv.modRevision };
 */
export interface Compare {
  key: string;
  modRevision: number;
}

/**
 * A write applied by a successful transaction. Deleting a missing key is allowed and does
 * nothing.
 *
 * @example
 * const ops: Op[] = [
 *   { type: 'put', key: 'addresses/pod-a', value: '10.0.0.5' },
 *   { type: 'delete', key: 'addresses/pod-b' },
 * ];
 */
export type Op = { type: 'put'; key: string; value: string } | { type: 'delete'; key: string };

/**
 * Outcome of `Store.txn`.
 *
 * @example
 * const r: TxnResult = await store.txn([{ key: 'k', modRevision: 0 }], [{ type: 'put', key: 'k', value: 'v' }]);
 * if (!r.succeeded) throw new RomanaError('Conflict', 'k changed under us');
 */
export interface TxnResult {
  /** True when every compare held and the ops were applied. */
  succeeded: boolean;
  /**
   * The store revision after the commit; when not succeeded (or when the ops changed nothing),
   * the current store revision.
   */
  revision: number;
}

/**
 * One change seen by a watch. `value` is `null` for deletes.
 *
 * @example
 * const ev: WatchEvent = { type: 'delete', key: 'addresses/pod-b', value: null, modRevision: 12 };
 */
export interface WatchEvent {
  type: 'put' | 'delete';
  key: string;
  value: string | null;
  /** Revision of the transaction that made the change (for deletes: the deleting revision). */
  modRevision: number;
}

/**
 * A running watch. `close` is idempotent; no callback runs after it returns.
 *
 * @example
 * const w: Watch = store.watch('hosts/', rev + 1, onEvents, onError);
 * w.close();
 */
export interface Watch {
  close(): void;
}

/**
 * Whether a backend can take writes now (`Store.health`).
 *
 * @example
 * const h: StoreHealth = { writable: false, problem: 'embedded store /data: cannot write /data/log (ENOSPC)' };
 */
export interface StoreHealth {
  writable: boolean;
  /** Why writes cannot succeed, when `writable` is false; names the file or endpoint. */
  problem?: string;
}

/**
 * The datastore interface used by romanad. See the module comment for the model.
 *
 * @example
 * // Create-if-absent, then read back.
 * const r = await store.txn(
 *   [{ key: 'hosts/h1', modRevision: 0 }],
 *   [{ type: 'put', key: 'hosts/h1', value: '{"ip":"192.168.0.1"}' }],
 * );
 * const kv = await store.get('hosts/h1'); // kv.modRevision === r.revision
 *
 * // List then follow a prefix without missing anything.
 * const { kvs, revision } = await store.range('hosts/');
 * const w = store.watch('hosts/', revision + 1, (events) => apply(events), (err) => relist(err));
 */
export interface Store {
  /**
   * True when no other process can write this store while this object is open (the embedded
   * store holds an exclusive lock on its directory; the memory store lives in this process):
   * every writer is then in this process, so an operation whose writer is not running here is
   * known to be abandoned. False or absent for shared stores (etcd).
   *
   * @example if (store.exclusive) recoverAtOnce();
   */
  readonly exclusive?: boolean;

  /**
   * The value of one key, or `undefined` when absent.
   *
   * @example const kv = await store.get('topology');
   */
  get(key: string): Promise<KeyValue | undefined>;

  /**
   * All keys starting with `prefix` (`''` = everything), sorted by key, read as one consistent
   * snapshot at `revision`.
   *
   * @example const { kvs, revision } = await store.range('blocks/h1/');
   */
  range(prefix: string): Promise<{ kvs: KeyValue[]; revision: number }>;

  /**
   * Atomic compare-and-write: when every compare holds, applies all ops as one revision;
   * otherwise applies nothing and returns `succeeded: false`. A key may appear in at most one
   * op. Resolves only once the outcome is durable (for durable backends).
   *
   * @example
   * await store.txn([{ key: 'a', modRevision: 0 }, { key: 'b', modRevision: 0 }],
   *                 [{ type: 'put', key: 'a', value: '1' }, { type: 'put', key: 'b', value: '2' }]);
   */
  txn(compares: Compare[], ops: Op[]): Promise<TxnResult>;

  /**
   * Follows changes under `prefix`: every event with `modRevision >= fromRevision` (a value
   * `<= 0` means "from now on"), in revision order, one `onEvents` call per revision. Survives
   * backend reconnects without loss or duplicates. When history before `fromRevision` has been
   * compacted, calls `onError` with a `RomanaError` of code `Compacted` and stops:
   * the caller must re-list with `range` and watch again. Other fatal errors also go to
   * `onError` and stop the watch.
   *
   * @example
   * const w = store.watch('hosts/', 1, (events, revision) => log(revision, events), console.error);
   */
  watch(
    prefix: string,
    fromRevision: number,
    onEvents: (events: WatchEvent[], revision: number) => void,
    onError: (err: Error) => void,
  ): Watch;

  /**
   * The store-wide revision: the revision of the last committed transaction (0 when empty).
   * Only grows.
   *
   * @example const rev = await store.revision();
   */
  revision(): Promise<number>;

  /**
   * Whether writes can succeed now, as far as the backend knows without asking anyone (no I/O):
   * the embedded store is not writable while its log cannot be written (a full disk, a file
   * made read-only) and until a retry has written to it again. romanad's `/readyz` fails
   * meanwhile. A closed store is not writable. Optional, so that test wrappers need not
   * forward it: absent means writable (see `storeHealth`).
   *
   * @example if (!store.health?.().writable) log.warn(store.health?.().problem);
   */
  health?(): StoreHealth;

  /**
   * Releases the backend (files, locks, connections) and stops every watch. Idempotent.
   *
   * @example await store.close();
   */
  close(): Promise<void>;
}

/**
 * Optional capability of a backend: drop watch history before `revision`, so that watches
 * starting earlier fail with a `Compacted` error. romanad uses it to bound etcd's
 * history; tests use it to exercise the compacted path.
 *
 * @example
 * if (isCompactable(store)) await store.compact(await store.revision());
 */
export interface Compactable {
  compact(revision: number): Promise<void>;
}

/**
 * True when the store implements `Compactable`.
 *
 * @example if (isCompactable(store)) await store.compact(rev);
 */
export function isCompactable(store: Store): store is Store & Compactable {
  return typeof (store as Partial<Compactable>).compact === 'function';
}

/**
 * `store.health()`, or writable for a store without the method.
 *
 * @example const { writable, problem } = storeHealth(store);
 */
export function storeHealth(store: Store): StoreHealth {
  return store.health?.() ?? { writable: true };
}
