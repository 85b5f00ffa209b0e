/**
 * A resumable etcd watch on a raw gRPC watch stream (not the `etcd3` WatchManager, whose
 * reconnect can skip events: it moves its resume point to the header revision of the creation
 * response, before the history it asked for has arrived).
 *
 * The watch owns its cursor `next`: the lowest revision not yet delivered. Every (re)connection
 * creates the server-side watch at `next`; events below `next` are dropped as duplicates, so a
 * reconnect can neither lose nor repeat a revision. Disconnects are retried forever with capped,
 * jittered backoff (the caller only hears about the one error it must act on: compaction).
 *
 * A member cut off from its cluster keeps the stream open and answers keepalives, but sees no
 * new writes: the watch would fall silent. So every `probeMs` the watch reads the cluster's
 * revision (a linearizable read, which any member with a quorum answers) and asks its own
 * member for a progress report; a member still behind that revision a `probeMs` later is left,
 * and the watch reconnects (the client picks members at random) from its cursor.
 */
import { RomanaError } from '../errors.ts';
import type { EtcdClient, WatchStream } from './etcd.ts';
import type { WatchResponse, WireEvent } from './etcd-wire.ts';
import { compactedError } from './kv-state.ts';
import type { Watch, WatchEvent } from './store.ts';

/**
 * What an `EtcdWatch` needs from its store.
 *
 * @example const t: EtcdWatchTarget = { client, key, rangeEnd: prefixEnd(key), unprefix, endpoints: '127.0.0.1:2379' };
 */
export interface EtcdWatchTarget {
  client: EtcdClient;
  /** Full etcd key range of the watched prefix. */
  key: Buffer;
  rangeEnd: Buffer;
  /** Maps a full etcd key back to the store key. */
  unprefix: (key: Buffer) => string;
  /** For error messages. */
  endpoints: string;
  /** See `EtcdStoreOptions.watchProbeMs`; 0 or absent: no probe. */
  probeMs?: number;
}

const MIN_BACKOFF_MS = 50;
const MAX_BACKOFF_MS = 3000;

/**
 * One `Store.watch` on etcd. Starts connecting at construction.
 *
 * @example
 * const w = new EtcdWatch(target, 42, (events, rev) => apply(events), (err) => relist(err));
 * w.close();
 */
export class EtcdWatch implements Watch {
  readonly #t: EtcdWatchTarget;
  readonly #onEvents: (events: WatchEvent[], revision: number) => void;
  readonly #onError: (err: Error) => void;
  /** Lowest revision not delivered yet; 0 = "from now", fixed by the first creation response. */
  #next: number;
  #stream: WatchStream | undefined;
  #closed = false;
  #backoff = MIN_BACKOFF_MS;
  #timer: NodeJS.Timeout | undefined;
  /** Highest revision the current stream's member has reported (response headers). */
  #memberRevision = 0;
  #probe: NodeJS.Timeout | undefined;
  #probing = false;

  constructor(
    target: EtcdWatchTarget,
    fromRevision: number,
    onEvents: (events: WatchEvent[], revision: number) => void,
    onError: (err: Error) => void,
  ) {
    this.#t = target;
    this.#next = Math.max(0, fromRevision);
    this.#onEvents = onEvents;
    this.#onError = onError;
    void this.#connect();
    const every = target.probeMs ?? 0;
    if (every > 0) {
      this.#probe = setInterval(() => void this.#checkMember(every), every);
      this.#probe.unref();
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    clearInterval(this.#probe);
    this.#drop();
  }

  /** Leaves the stream's member when it stays behind the cluster's revision (module comment). */
  async #checkMember(waitMs: number): Promise<void> {
    const stream = this.#stream;
    if (this.#closed || this.#probing || stream === undefined) return;
    this.#probing = true;
    try {
      // Bounded by one period: a read that lands on a cut-off member fails fast, and the
      // next probe asks again (the client picks members at random).
      const r = await this.#t.client.kv.range(
        { key: this.#t.key, limit: 1, keys_only: true },
        { deadline: Date.now() + waitMs },
      );
      const cluster = Number(r.header.revision);
      if (this.#memberRevision >= cluster || this.#stream !== stream) return;
      stream.write({ progress: true });
      await new Promise((resolve) => setTimeout(resolve, waitMs));
      if (this.#stream === stream && this.#memberRevision < cluster) {
        this.#retry(
          new Error(`watch member at revision ${this.#memberRevision}, cluster at ${cluster}`),
        );
      }
    } catch {
      // No quorum reachable for the read: nothing to compare with; the next probe tries again.
    } finally {
      this.#probing = false;
    }
  }

  async #connect(): Promise<void> {
    let stream: WatchStream;
    try {
      stream = await this.#t.client.watchStream();
    } catch (err) {
      this.#retry(err);
      return;
    }
    if (this.#closed) {
      stream.on('error', () => {});
      stream.cancel();
      return;
    }
    this.#stream = stream;
    this.#memberRevision = 0;
    stream.on('data', (res: WatchResponse) => {
      if (this.#stream === stream) this.#onResponse(res);
    });
    stream.on('error', (err: Error) => {
      if (this.#stream === stream) this.#retry(err);
    });
    stream.on('end', () => {
      if (this.#stream === stream) this.#retry(new Error('watch stream ended'));
    });
    stream.write({
      create: {
        key: this.#t.key,
        rangeEnd: this.#t.rangeEnd,
        ...(this.#next > 0 ? { startRevision: this.#next } : {}),
      },
    });
  }

  #onResponse(res: WatchResponse): void {
    if (this.#closed) return;
    const at = res.revision;
    if (at > this.#memberRevision) this.#memberRevision = at;
    const compactRevision = res.compactRevision;
    if (compactRevision > 0) {
      this.#fail(compactedError(this.#next, compactRevision));
      return;
    }
    if (res.canceled) {
      const reason = res.cancelReason || 'no reason given';
      this.#fail(
        new RomanaError(
          'Unavailable',
          `etcd at ${this.#t.endpoints} cancelled the watch: ${reason}`,
        ),
      );
      return;
    }
    if (res.created) {
      this.#backoff = MIN_BACKOFF_MS;
      if (this.#next === 0) this.#next = res.revision + 1;
    }
    this.#deliver(res.events);
  }

  /** Delivers events one revision at a time, skipping revisions already delivered. */
  #deliver(events: WireEvent[]): void {
    let group: WatchEvent[] = [];
    let groupRev = 0;
    const flush = (): boolean => {
      if (group.length === 0) return true;
      const evs = group;
      group = [];
      this.#next = groupRev + 1;
      try {
        this.#onEvents(evs, groupRev);
      } catch (err) {
        this.#fail(err instanceof Error ? err : new Error(String(err)));
        return false;
      }
      return !this.#closed;
    };
    for (const ev of events) {
      const rev = ev.modRevision;
      if (rev < this.#next) continue; // already delivered before a reconnect
      if (rev !== groupRev && !flush()) return;
      groupRev = rev;
      group.push({
        type: ev.put ? 'put' : 'delete',
        key: this.#t.unprefix(ev.key),
        value: ev.put ? ev.value.toString('utf8') : null,
        modRevision: rev,
      });
    }
    flush();
  }

  #retry(_err: unknown): void {
    if (this.#closed) return;
    this.#drop();
    const delay = this.#backoff * (0.5 + Math.random() / 2);
    this.#backoff = Math.min(MAX_BACKOFF_MS, this.#backoff * 2);
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#connect(), delay);
  }

  #fail(err: Error): void {
    if (this.#closed) return;
    this.close();
    this.#onError(err);
  }

  #drop(): void {
    const s = this.#stream;
    this.#stream = undefined;
    if (s !== undefined) {
      s.on('error', () => {});
      s.cancel();
    }
  }
}
