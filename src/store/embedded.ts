/**
 * The default backend: a durable store in one data directory, no server, no native code.
 *
 * Files: `snapshot` (whole state at some revision), `log` (every transaction since, one
 * checksummed frame each, see `wal.ts`) and `LOCK` (one process per directory).
 *
 * Group commit: a transaction is decided at once against the "head" view (the durable state plus
 * an overlay of decided-but-not-yet-durable writes), gets the next revision, and its log frame
 * is queued. One writer appends everything queued in one write + fdatasync; while that is in
 * flight, new transactions queue for the next batch. When a batch is durable its transactions
 * are applied to the durable state, watches see them, and their promises resolve. Reads, watches
 * and `revision()` only ever see durable state, so nothing a client saw can vanish in a crash.
 *
 * Log compaction: when the log has grown by `compactLogBytes` since the last snapshot, the
 * durable state at that revision is written to `snapshot.tmp`, fsynced and renamed, in the
 * background: batches go on being appended to the log meanwhile (encoding yields between
 * chunks). Then the log's bytes from the oldest record kept on (the recent history, for watch
 * resume, and every record after the snapshot) are copied as written to `log.tmp`, still beside
 * the writer; the writer, between two batches, copies what it appended since and renames the
 * copy in place. Every crash point leaves either the old snapshot with the full log, or the new
 * snapshot with the old or the new log; log records at or below the snapshot's revision are only
 * used as history on open.
 *
 * Write failures (a full disk, a file made immutable): every queued and later write is refused
 * with `Unavailable` and `health()` says why; a retry (every 50 ms to 2 s) cuts what the failed
 * write left past the log's durable end and proves the log takes writes, then writes resume.
 * Damage found on open is refused, a torn tail dropped (`wal-scan.ts`).
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { RomanaError } from '../errors.ts';
import { lockDir, type DirLock } from './dir-lock.ts';
import {
  KvState,
  comparesHold,
  effectiveChanges,
  nextValue,
  validateTxn,
  type Change,
  type DecidedChange,
} from './kv-state.ts';
import type {
  Compactable,
  Compare,
  KeyValue,
  Op,
  Store,
  StoreHealth,
  TxnResult,
  Watch,
  WatchEvent,
} from './store.ts';
import { encodeRecord, LOG_MAGIC } from './wal.ts';
import {
  appendNow,
  finishLogRewrite,
  loadFiles,
  logWriteFailed,
  reclaimLog,
  RecordOffsets,
  startLogRewrite,
  writeSnapshot,
  type LogRewrite,
} from './embedded-files.ts';

/** Longest pause between two attempts to make a failed log writable again (ms). */
const MAX_RETRY_MS = 2000;

/**
 * Options of `EmbeddedStore.open`.
 *
 * @example await EmbeddedStore.open(dir, { compactLogBytes: 16 << 20, onWarning: (m) => log.warn(m) })
 */
export interface EmbeddedStoreOptions {
  /** How many recent revisions a watch can resume from (also kept across restarts). Default 10,000. */
  historyRevisions?: number;
  /** Log growth since the last snapshot that triggers a snapshot + log rewrite. Default 64 MiB. */
  compactLogBytes?: number;
  /** Receives notable recoveries (a torn log tail dropped, a stale lock taken over). */
  onWarning?: (message: string) => void;
}

interface Pending {
  revision: number;
  changes: Change[];
  /** Each change's value replaced and result, as decided (`KvState.apply`). */
  decided: OverlayEntry[];
  frame: Buffer;
  resolve: (r: TxnResult) => void;
  reject: (err: Error) => void;
}

/** A batch appended to the log, its fdatasync under way. */
interface InWrite {
  batch: Pending[];
  bytes: Buffer;
  synced: Promise<void>;
}

interface OverlayEntry extends DecidedChange {
  revision: number;
}

/**
 * A durable `Store` in a local directory.
 *
 * @example
 * const store = await EmbeddedStore.open('/var/lib/romana');
 * await store.txn([{ key: 'k', modRevision: 0 }], [{ type: 'put', key: 'k', value: 'v' }]);
 * await store.close();
 */
export class EmbeddedStore implements Store, Compactable {
  /** Only this process writes it (see `Store.exclusive`). */
  readonly exclusive = true;
  #snapshots = 0;
  readonly dir: string;
  #state: KvState;
  #lock: DirLock;
  #log: fs.FileHandle;
  #logSize: number;
  /** Where the log held its end when it was opened or last snapshotted. */
  #logBase: number;
  /** Where the recent records start in the log. */
  #offsets: RecordOffsets;
  readonly #options: Required<Omit<EmbeddedStoreOptions, 'onWarning'>> & EmbeddedStoreOptions;
  /** Decided but not yet durable writes, by key. */
  #overlay = new Map<string, OverlayEntry>();
  #head: number;
  #queue: Pending[] = [];
  #writing: Promise<void> | undefined;
  /** The background snapshot being written, if any. */
  #snapshotting: Promise<void> | undefined;
  /** The new log after a durable snapshot, copied up to some point: the writer ends it. */
  #rewrite: LogRewrite | undefined;
  #durableWaiters: Array<{ revision: number; resolve: () => void }> = [];
  #broken: Error | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #retryDelay = 0;
  #recovering: Promise<void> | undefined;
  #closed = false;

  private constructor(
    dir: string,
    state: KvState,
    lock: DirLock,
    log: fs.FileHandle,
    logSize: number,
    offsets: RecordOffsets,
    options: EmbeddedStoreOptions,
  ) {
    this.dir = dir;
    this.#state = state;
    this.#lock = lock;
    this.#log = log;
    this.#logSize = logSize;
    this.#logBase = logSize;
    this.#offsets = offsets;
    this.#head = state.revision;
    this.#options = {
      historyRevisions: 10_000,
      compactLogBytes: 64 * 1024 * 1024,
      ...options,
    };
  }

  /**
   * Opens (creating if needed) the store in `dir`, recovering from any crash. Fails with
   * `Unavailable` when another process holds the directory.
   *
   * @example const store = await EmbeddedStore.open('./romana-data', { onWarning: (m) => log.warn(m) });
   */
  static async open(dir: string, options: EmbeddedStoreOptions = {}): Promise<EmbeddedStore> {
    const abs = path.resolve(dir);
    await fs.mkdir(abs, { recursive: true });
    const lock = await lockDir(abs);
    try {
      const { state, log, size, offsets } = await loadFiles(abs, options);
      return new EmbeddedStore(abs, state, lock, log, size, offsets, options);
    } catch (err) {
      await lock.release();
      if (err instanceof RomanaError) throw err;
      const msg = `cannot open embedded store ${abs}: ${(err as Error).message}`;
      throw new RomanaError('Unavailable', msg, {
        resourceType: 'store',
        resourceId: abs,
        cause: err,
      });
    }
  }

  /** Snapshots written since it opened. */
  get snapshots(): number {
    return this.#snapshots;
  }

  async get(key: string): Promise<KeyValue | undefined> {
    this.#checkOpen();
    return this.#state.get(key);
  }

  async range(prefix: string): Promise<{ kvs: KeyValue[]; revision: number }> {
    this.#checkOpen();
    return this.#state.range(prefix);
  }

  async revision(): Promise<number> {
    this.#checkOpen();
    return this.#state.revision;
  }

  txn(compares: Compare[], ops: Op[]): Promise<TxnResult> {
    try {
      this.#checkWritable();
      validateTxn(compares, ops);
    } catch (err) {
      return Promise.reject(err);
    }
    // Each key once: a combined transaction compares most of the keys it then writes, and each
    // lookup in the state's map of every key costs a cache miss or more.
    const seen = new Map<string, KeyValue | undefined>();
    const lookup = (key: string): KeyValue | undefined => {
      if (seen.has(key)) return seen.get(key);
      const o = this.#overlay.get(key);
      const kv = o !== undefined ? o.kv : this.#state.peek(key);
      seen.set(key, kv);
      return kv;
    };
    const current = this.#head;
    if (!comparesHold(lookup, compares)) {
      // Resolve once what made the compare fail is durable, so a re-read sees it.
      return this.#whenDurable(current).then(() => ({ succeeded: false, revision: current }));
    }
    const changes = effectiveChanges(lookup, ops);
    if (changes.length === 0) {
      return this.#whenDurable(current).then(() => ({ succeeded: true, revision: current }));
    }
    const revision = ++this.#head;
    const decided: OverlayEntry[] = [];
    for (const ch of changes) {
      const held = lookup(ch.key);
      const entry = { held, kv: nextValue(held, ch, revision), revision };
      this.#overlay.set(ch.key, entry);
      decided.push(entry);
    }
    const frame = encodeRecord({ revision, changes });
    return new Promise<TxnResult>((resolve, reject) => {
      this.#queue.push({ revision, changes, decided, frame, resolve, reject });
      this.#kick();
    });
  }

  watch(
    prefix: string,
    fromRevision: number,
    onEvents: (events: WatchEvent[], revision: number) => void,
    onError: (err: Error) => void,
  ): Watch {
    this.#checkOpen();
    return this.#state.watch(prefix, fromRevision, onEvents, onError);
  }

  async compact(revision: number): Promise<void> {
    this.#checkOpen();
    this.#state.compact(revision);
  }

  health(): StoreHealth {
    if (this.#closed) return { writable: false, problem: `embedded store ${this.dir} is closed` };
    if (this.#broken !== undefined) return { writable: false, problem: this.#broken.message };
    return { writable: true };
  }

  /** Waits for queued transactions to be durable, then releases files and the lock. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    await this.#recovering;
    await this.#snapshotting;
    while (this.#writing !== undefined) await this.#writing;
    await this.#dropRewrite();
    this.#state.closeWatches();
    await this.#log.close();
    await this.#lock.release();
  }

  /** Starts the writer unless it is running (it re-checks the queue when it stops). */
  #kick(): void {
    const work = this.#queue.length > 0 || this.#rewrite !== undefined;
    if (this.#writing !== undefined || !work || this.#broken !== undefined) return;
    this.#writing = this.#writeLoop().finally(() => {
      this.#writing = undefined;
      this.#kick();
    });
  }

  /**
   * Appends queued frames batch by batch until the queue is empty, and rewrites the log after a
   * snapshot between two batches; never throws.
   *
   * The next batch goes to the disk before the one just made durable is acknowledged: its
   * fdatasync runs in the thread pool while the acknowledged callers carry on, instead of the
   * disk waiting for them (under load the next batch was queued at 99 % of fdatasync ends).
   */
  async #writeLoop(): Promise<void> {
    let w: InWrite | undefined;
    for (;;) {
      if (w === undefined) {
        if (this.#broken !== undefined) return;
        if (this.#rewrite !== undefined) await this.#rewriteLog(this.#rewrite);
        if (this.#queue.length === 0 || this.#broken !== undefined) return;
        w = this.#append();
      }
      try {
        await w.synced;
      } catch (err) {
        this.#fail(err, w.batch);
        return;
      }
      this.#logSize += w.bytes.length;
      const done = w.batch;
      // No batch after a failure, nor before the log rewrite a snapshot is owed.
      const next = this.#broken === undefined && this.#rewrite === undefined;
      w = next && this.#queue.length > 0 ? this.#append() : undefined;
      this.#commit(done);
      // One snapshot at a time, and not before the log rewrite the last one is owed. Growth
      // since the last snapshot, not size: a log rewritten to more than `compactLogBytes` of
      // history was otherwise snapshotted and rewritten again at once, over and over (at
      // 9,000 allocations/s: a rewrite every 2.5 s, each stopping commits for 1.3 s).
      const idle = this.#snapshotting === undefined && this.#rewrite === undefined;
      if (this.#logSize - this.#logBase >= this.#options.compactLogBytes && idle) {
        // The snapshot holds what is durable now: the log from here on follows it.
        const after = this.#logSize;
        this.#snapshotting = this.#snapshot(after).finally(() => {
          this.#snapshotting = undefined;
        });
      }
      // Let the callers just acknowledged submit their next transactions into this batch.
      if (w === undefined) await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** Appends the queued frames after the durable end of the log and starts their fdatasync. */
  #append(): InWrite {
    const batch = this.#queue;
    this.#queue = [];
    const bytes = batch.length === 1 ? batch[0]!.frame : Buffer.concat(batch.map((p) => p.frame));
    let synced: Promise<void>;
    try {
      appendNow(this.#log, bytes, this.#logSize);
      synced = this.#log.datasync();
      let at = this.#logSize;
      for (const p of batch) {
        this.#offsets.add(p.revision, at);
        at += p.frame.length;
      }
    } catch (err) {
      synced = Promise.reject(err);
    }
    return { batch, bytes, synced };
  }

  /** A durable batch: apply to the durable state, drop its overlay entries, acknowledge. */
  #commit(batch: Pending[]): void {
    for (const p of batch) {
      // Every revision before this one is applied: each change's key holds what it was decided
      // against (a failure in between refuses this one too).
      this.#state.apply(p.revision, p.changes, p.decided);
      for (let i = 0; i < p.changes.length; i++) {
        const key = p.changes[i]!.key;
        if (this.#overlay.get(key) === p.decided[i]) this.#overlay.delete(key);
      }
    }
    for (const p of batch) p.resolve({ succeeded: true, revision: p.revision });
    const durable = this.#state.revision;
    let n = 0;
    while (n < this.#durableWaiters.length && this.#durableWaiters[n]!.revision <= durable) {
      this.#durableWaiters[n]!.resolve();
      n++;
    }
    if (n > 0) this.#durableWaiters.splice(0, n);
  }

  #whenDurable(revision: number): Promise<void> {
    if (revision <= this.#state.revision) return Promise.resolve();
    return new Promise((resolve) => this.#durableWaiters.push({ revision, resolve }));
  }

  /**
   * A failed write leaves the log in an unknown state past its durable end and the head view
   * ahead of the disk: refuse every queued and future write, and retry until the log takes
   * writes again (`#recover`). Reads keep serving the durable state.
   */
  #fail(err: unknown, batch: Pending[], file: 'log' | 'snapshot' = 'log'): void {
    this.#broken = logWriteFailed(this.dir, file, err, MAX_RETRY_MS);
    for (const p of [...batch, ...this.#queue]) p.reject(this.#broken);
    this.#queue = [];
    this.#overlay.clear();
    for (const w of this.#durableWaiters) w.resolve();
    this.#durableWaiters = [];
    this.#options.onWarning?.(this.#broken.message);
    this.#scheduleRecovery();
  }

  #scheduleRecovery(): void {
    if (this.#closed || this.#retryTimer !== undefined) return;
    this.#retryDelay = Math.min(MAX_RETRY_MS, Math.max(50, this.#retryDelay * 2));
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#recovering = this.#recover().finally(() => (this.#recovering = undefined));
    }, this.#retryDelay);
    this.#retryTimer.unref();
  }

  /**
   * Once nothing is being written, cuts what the failed write left in the log and proves the
   * log takes writes again; then accepts writes anew. Nothing acknowledged is touched: the
   * durable state and the log up to its durable end are as they were.
   */
  async #recover(): Promise<void> {
    if (this.#closed || this.#broken === undefined) return;
    if (this.#writing !== undefined || this.#snapshotting !== undefined) {
      this.#scheduleRecovery();
      return;
    }
    try {
      const { log, size } = await reclaimLog(this.dir, this.#log, this.#logSize);
      if (log !== this.#log) {
        const old = this.#log;
        this.#log = log;
        await old.close().catch(() => undefined);
      }
      this.#logSize = size;
    } catch (err) {
      this.#broken = logWriteFailed(this.dir, 'log', err, MAX_RETRY_MS);
      this.#scheduleRecovery();
      return;
    }
    this.#head = this.#state.revision;
    this.#overlay.clear();
    await this.#dropRewrite();
    this.#logBase = this.#logSize;
    // The log may be another file now (a rewrite that failed once renamed): places unknown.
    this.#offsets.clear();
    this.#broken = undefined;
    this.#retryDelay = 0;
    this.#options.onWarning?.(`embedded store ${this.dir}: the log takes writes again`);
    this.#kick();
  }

  /**
   * Writes the durable state as the new snapshot, yielding to the writer between chunks, then
   * copies the log worth keeping beside the writer (`after`: where the log held the first record
   * past the snapshot when it was taken).
   */
  async #snapshot(after: number): Promise<void> {
    try {
      await writeSnapshot(this.dir, this.#state);
      this.#snapshots++;
      if (this.#closed || this.#broken !== undefined) return;
      // The recent history (for watch resume) and everything after the snapshot.
      const oldest = this.#state.revision - this.#options.historyRevisions + 1;
      const from = Math.min(after, this.#offsets.from(oldest) ?? after);
      const rw = await startLogRewrite(this.dir, this.#log, { from, after, to: this.#logSize });
      if (this.#closed || this.#broken !== undefined) {
        await rw.fh.close().catch(() => undefined);
        return;
      }
      this.#rewrite = rw;
      this.#kick();
    } catch (err) {
      this.#fail(err, [], 'snapshot');
    }
  }

  /**
   * Ends the log rewrite: copies what was appended since it started and puts the new log in
   * place; runs in the writer, so no batch is being written meanwhile.
   */
  async #rewriteLog(rw: LogRewrite): Promise<void> {
    this.#rewrite = undefined;
    try {
      const old = this.#log;
      const { log, size } = await finishLogRewrite(this.dir, old, rw, this.#logSize);
      this.#log = log;
      this.#offsets.moved(rw.from, LOG_MAGIC.length);
      this.#logSize = size;
      // What was appended while the snapshot was written is not in it: it counts as growth.
      this.#logBase = LOG_MAGIC.length + (rw.after - rw.from);
      await old.close();
    } catch (err) {
      this.#fail(err, []);
    }
  }

  /** Abandons a log rewrite not ended (its `log.tmp` is removed on recovery or open). */
  async #dropRewrite(): Promise<void> {
    const rw = this.#rewrite;
    this.#rewrite = undefined;
    await rw?.fh.close().catch(() => undefined);
  }

  #checkOpen(): void {
    if (this.#closed) throw new RomanaError('Unavailable', `embedded store ${this.dir} is closed`);
  }

  #checkWritable(): void {
    this.#checkOpen();
    if (this.#broken !== undefined) throw this.#broken;
  }
}
