/**
 * The state a romanad replica shares between its operations: the engine, what it knows of the
 * store (the revision of every key), the change log behind watch streams, and the mechanics
 * every operation uses: compares, commits, reading keys back, reloading everything.
 * Internal to the server: `StoreBackedService` is the public face.
 */
import { RomanaError } from '../../errors.ts';
import { Ipam, type BlockChange, type HostView } from '../../ipam/index.ts';
import { ShardedMap } from '../../sharded-map.ts';
import type {
  Compare,
  KeyValue,
  Op,
  Store,
  Watch,
  WatchEvent as StoreEvent,
} from '../../store/store.ts';
import { applyEvents } from './apply-events.ts';
import { EventLog } from './events.ts';
import { KeyedMutex, RwLock } from './locks.ts';
import { loadState, type LoadedState } from './load.ts';
import type { ManagedHostView, WatchEvent, WatchKind } from './service.ts';
import { AbandonWatch, DEFAULT_TIMING, type Commit, type OperationTiming } from './operations.ts';
import { addressOf } from './pods.ts';
import { findAbandoned, settleAbandoned } from './recovery.ts';
import { blocksCommitted, TxnRunner, type ViewEvent } from './txn-runner.ts';

export type LogFn = (
  level: 'info' | 'warn' | 'error',
  msg: string,
  extra?: Record<string, unknown>,
) => void;

/** What a reload compares before and after, to tell watchers what changed meanwhile. */
const RELOADED_KINDS: readonly WatchKind[] = [
  'topology',
  'hosts',
  'blocks',
  'policies',
  'vips',
  'addresses',
  'namespaces',
];

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function unavailable(message: string, cause?: unknown): RomanaError {
  return new RomanaError('Unavailable', message, { cause });
}

export class ServiceCore {
  readonly store: Store;
  readonly log: LogFn;
  ipam = new Ipam();
  state!: LoadedState;
  events!: EventLog;
  watch: Watch | null = null;
  closed = false;
  reloading: Promise<void> | null = null;
  reloadScheduled = false;
  /** The store moved to another generation; events are ignored until the reload. */
  stale = false;
  /** See `markTainted`. */
  tainted = false;
  /** Last revision seen per key; negative: deleted at that revision. */
  revs = new ShardedMap<number>();
  /**
   * Writes of transactions in flight (value, or null for a delete), by key: their watch events
   * are this replica's own (see `TxnRunner.commit`).
   */
  readonly inFlight = new Map<string, string | null>();
  revision = 0;
  blocksRevision = 0;
  hostsRevision = 0;
  networkRevisions = new Map<string, number>();
  /** Readers: operations; writer: reloads, topology updates, host removals. */
  readonly rw = new RwLock();
  readonly hostLocks = new KeyedMutex();
  readonly eventCapacity: number;
  /** Heartbeat and staleness of multi-transaction operations (`operations.ts`). */
  readonly timing: OperationTiming;
  readonly abandon = new AbandonWatch();
  /** The one write path: every transaction of this replica goes through it. */
  readonly runner: TxnRunner = new TxnRunner(this);

  constructor(
    store: Store,
    log: LogFn,
    eventCapacity: number,
    timing: Partial<OperationTiming> = {},
  ) {
    this.store = store;
    this.log = log;
    this.eventCapacity = eventCapacity;
    this.timing = { ...DEFAULT_TIMING, ...timing };
  }

  /** What an `Operation` needs: the store, this replica's commit, the timing. */
  opContext(): { store: Store; commit: Commit; timing: OperationTiming } {
    return { store: this.store, commit: (c, o) => this.commit(c, o), timing: this.timing };
  }

  generation(): number {
    return this.state.topology?.generation ?? 0;
  }

  #recovering: Promise<number> | null = null;
  #sweepTimer: NodeJS.Timeout | undefined;
  #sweepFailing = false;
  #lastLook = 0;
  #reloadFailures = 0;

  /**
   * Finishes or undoes the operations whose writer is gone (`recovery.ts`). Looks without a
   * lock; takes the write lock only when something is abandoned. Returns how many it settled.
   */
  recoverOperations(): Promise<number> {
    if (this.#recovering !== null) return this.#recovering;
    this.#recovering = (async () => {
      const found = await findAbandoned(this);
      if (found.operations.length === 0 && found.bareFence === undefined) return 0;
      return this.rw.write(() => settleAbandoned(this, found));
    })().finally(() => {
      this.#recovering = null;
    });
    return this.#recovering;
  }

  /** Looks for abandoned operations every `heartbeatMs` until the service closes. */
  startSweeper(): void {
    if (this.#sweepTimer !== undefined) return;
    this.#sweepTimer = setInterval(() => {
      if (this.closed) {
        clearInterval(this.#sweepTimer);
        return;
      }
      this.recoverOperations().then(
        () => (this.#sweepFailing = false),
        (err: unknown) => {
          if (!this.#sweepFailing && !this.closed) {
            this.log('warn', 'could not settle abandoned operations; retrying', {
              err: String(err),
            });
          }
          this.#sweepFailing = true;
        },
      );
    }, this.timing.heartbeatMs);
    this.#sweepTimer.unref();
  }

  stopSweeper(): void {
    clearInterval(this.#sweepTimer);
  }

  /**
   * The engine may hold a change the store never got (a commit failed and the state could
   * not be read back): no write may build on it until a reload from the store.
   */
  markTainted(): void {
    this.tainted = true;
    this.scheduleReload();
  }

  checkWritable(): void {
    if (this.closed) throw unavailable('romanad is shutting down');
    if (this.tainted) {
      throw unavailable('romanad is re-reading its state after a datastore failure; retry');
    }
    const updating = this.state.topology?.updating;
    if (updating !== undefined) {
      // Abandoned? The sweeper looks too; looking now lifts it sooner on an exclusive store.
      if (Date.now() - this.#lastLook > 250) {
        this.#lastLook = Date.now();
        void this.recoverOperations().catch(() => undefined);
      }
      throw new RomanaError('Unavailable', 'a topology update is in progress; retry in a moment', {
        resourceType: 'topology',
      });
    }
  }

  cmp(key: string): Compare {
    const r = this.revs.get(key) ?? 0;
    return { key, modRevision: r > 0 ? r : 0 };
  }

  /** Commits through the runner; `null` when a compare failed (`TxnRunner.commit`). */
  commit(compares: Compare[], ops: Op[]): Promise<number | null> {
    return this.runner.commit(compares, ops);
  }

  /** Splits a long list of ops into transactions of at most 100 (etcd allows 128). */
  async commitChunked(compares: Compare[], ops: Op[]): Promise<number | null> {
    let rev = await this.commit(compares, ops.slice(0, 100));
    for (let i = 100; rev !== null && i < ops.length; i += 100) {
      rev = await this.commit([], ops.slice(i, i + 100));
    }
    return rev;
  }

  /**
   * Reads keys back from the store and applies them: newer versions, and deletions of keys it
   * holds (`force`: also versions at the revision it holds).
   */
  async refreshKeys(keys: string[], force = false): Promise<void> {
    const kvs = await Promise.all(keys.map((k) => this.store.get(k)));
    const events: StoreEvent[] = [];
    keys.forEach((key, i) => {
      const kv: KeyValue | undefined = kvs[i];
      const known = Math.abs(this.revs.get(key) ?? 0);
      const rev = kv?.modRevision ?? known;
      // A key this replica holds that the store no longer has was deleted (at a revision the
      // store cannot tell any more): apply the delete now; the watch's copy comes later.
      const gone = kv === undefined && (this.revs.get(key) ?? 0) > 0;
      if (!gone && (rev < known || (rev === known && !force))) return;
      events.push(
        kv === undefined
          ? { type: 'delete', key, value: null, modRevision: rev }
          : { type: 'put', key, value: kv.value, modRevision: rev },
      );
    });
    this.applyStoreEvents(events, true);
  }

  blocksCommitted(changes: BlockChange[], rev: number): void {
    this.publish(rev, blocksCommitted(this, changes, rev));
  }

  hostsCommitted(names: string[], rev: number, deleted = false): void {
    this.publish(rev, this.hostEvents(names, rev, deleted));
  }

  /** Records that hosts were committed at `rev`; their view events, to publish. */
  hostEvents(names: string[], rev: number, deleted = false): ViewEvent[] {
    this.hostsRevision = Math.max(this.hostsRevision, rev);
    return names.map((name) =>
      deleted
        ? { kind: 'hosts', type: 'delete', id: name, value: null }
        : {
            kind: 'hosts',
            type: 'put',
            id: name,
            value: this.hostViewOf(name),
          },
    );
  }

  /** A host's view as the API shows it (with `managed_by` when set); null if not placed. */
  hostViewOf(name: string): ManagedHostView | null {
    const v = this.ipam.hostView(name);
    return v === undefined ? null : this.managed(v);
  }

  /** Adds who manages the host to an engine view of it. */
  managed<H extends HostView>(view: H): ManagedHostView<H> {
    const by = this.state.hosts.get(view.name)?.managed_by;
    return by === undefined ? view : { ...view, managed_by: by };
  }

  /** Publishes events of revision `rev` (those that carry it already are not copied). */
  publish(rev: number, events: ViewEvent[]): void {
    this.revision = Math.max(this.revision, rev);
    this.events.publish(
      events.map((e) => (e.revision === rev ? (e as WatchEvent) : { ...e, revision: rev })),
    );
  }

  /**
   * Loads everything from the store and follows it from there. The caller holds the write
   * lock (or nothing else runs yet).
   */
  async reload(): Promise<void> {
    if (this.reloading !== null) return this.reloading;
    this.reloading = (async () => {
      this.watch?.close();
      this.watch = null;
      this.stale = false;
      const loaded = await loadState(this.store);
      this.tainted = false;
      this.#reloadFailures = 0;
      const previous = this.events;
      const before =
        previous === undefined ? [] : this.currentState(RELOADED_KINDS, loaded.revision);
      this.state = loaded;
      this.ipam = loaded.ipam;
      this.revs = loaded.revs;
      this.revision = loaded.revision;
      this.blocksRevision = loaded.revision;
      this.hostsRevision = loaded.revision;
      this.networkRevisions = new Map(this.ipam.listNetworks().map((n) => [n.id, loaded.revision]));
      if (previous === undefined) this.events = new EventLog(loaded.revision, this.eventCapacity);
      else {
        // Watchers get the new state, and deletes for what is gone (blocks of a carving
        // that a topology update replaced, hosts, policies or VIPs removed meanwhile).
        const now = this.currentState(RELOADED_KINDS, loaded.revision);
        const key = (e: WatchEvent) => `${e.kind}\n${e.id}`;
        const was = new Map(before.map((e) => [key(e), JSON.stringify(e.value)]));
        const still = new Set(now.map(key));
        const gone = before
          .filter((e) => !still.has(key(e)))
          .map((e): WatchEvent => ({ ...e, type: 'delete', value: null }));
        const changed = now.filter((e) => was.get(key(e)) !== JSON.stringify(e.value));
        this.events.publish([...gone, ...changed]);
      }
      if (!this.closed) {
        this.watch = this.store.watch(
          '',
          loaded.revision + 1,
          (events) => this.applyStoreEvents(events, false),
          (err) => {
            this.log('warn', 'store watch failed; reloading', { err: err.message });
            this.scheduleReload();
          },
        );
      }
    })().finally(() => {
      this.reloading = null;
    });
    return this.reloading;
  }

  /**
   * Reloads once every operation in flight has finished (a reload under an operation that
   * commits afterwards would miss that commit), retrying while the store is unreachable.
   */
  scheduleReload(): void {
    if (this.closed || this.reloadScheduled) return;
    this.reloadScheduled = true;
    this.rw
      .write(() => {
        this.reloadScheduled = false;
        return this.reload();
      })
      .catch((err: unknown) => {
        this.log('error', 'reload from the store failed; retrying', { err: String(err) });
        this.#reloadFailures++;
        const delay = Math.min(1000, 50 * 2 ** this.#reloadFailures);
        setTimeout(() => this.scheduleReload(), delay).unref();
      });
  }

  /**
   * Waits (at most `timeoutMs`) until this replica has applied the stored version of `key`,
   * when the store holds a newer one than the replica had seen when the caller failed
   * (`seenBefore`; the replica may have caught up meanwhile). Returns true when it has.
   */
  async catchUp(key: string, seenBefore: number, timeoutMs = 2000): Promise<boolean> {
    const kv = await this.store.get(key).catch(() => undefined);
    if (kv === undefined || kv.modRevision <= seenBefore) return false;
    const end = Date.now() + timeoutMs;
    while (this.seenRevision(key) < kv.modRevision && Date.now() < end) await sleep(5);
    return this.seenRevision(key) >= kv.modRevision;
  }

  /** The store revision of the version of `key` this replica holds (0: never seen). */
  seenRevision(key: string): number {
    return Math.abs(this.revs.get(key) ?? 0);
  }

  /** Applies changes written by others (or read back after a failed transaction). */
  applyStoreEvents(events: StoreEvent[], refreshing: boolean): void {
    if ((this.reloading !== null || this.stale) && !refreshing) return;
    try {
      const out = applyEvents(this, events, refreshing);
      // A read-back can find a key older than what was published since (or, for one the store
      // never held, at revision 0): its view goes out as of now, never back in time.
      for (const [rev, list] of out)
        this.publish(refreshing ? Math.max(rev, this.revision) : rev, list);
    } catch (err) {
      this.log('warn', 'could not apply a store change; reloading', { err: String(err) });
      this.scheduleReload();
    }
  }

  currentState(kinds: readonly WatchKind[], revision: number): WatchEvent[] {
    const out: WatchEvent[] = [];
    const want = new Set(kinds);
    // Generation 0 is only the placeholder a first update fences: there is no topology yet.
    if (want.has('topology') && (this.state.topology?.generation ?? 0) > 0) {
      out.push({
        revision,
        kind: 'topology',
        type: 'put',
        id: 'topology',
        value: this.ipam.getTopology(),
      });
    }
    if (want.has('hosts')) {
      for (const h of this.ipam.listHosts().hosts) {
        out.push({ revision, kind: 'hosts', type: 'put', id: h.name, value: this.managed(h) });
      }
    }
    if (want.has('blocks')) {
      for (const b of this.ipam.listAllBlocks().blocks) {
        out.push({ revision, kind: 'blocks', type: 'put', id: b.cidr, value: b });
      }
    }
    if (want.has('policies')) {
      for (const p of this.state.policies.values()) {
        out.push({ revision, kind: 'policies', type: 'put', id: p.id, value: p });
      }
    }
    if (want.has('vips')) {
      for (const v of this.state.vips.values()) {
        out.push({ revision, kind: 'vips', type: 'put', id: v.name, value: v });
      }
    }
    if (want.has('addresses')) {
      for (const a of this.ipam.listAddresses()) {
        const value = addressOf(this, a);
        out.push({ revision, kind: 'addresses', type: 'put', id: a.name, value });
      }
    }
    if (want.has('namespaces')) {
      for (const ns of this.state.namespaces.values()) {
        out.push({ revision, kind: 'namespaces', type: 'put', id: ns.name, value: ns });
      }
    }
    return out;
  }
}
