/**
 * The change log behind watch streams: view-level events (a block's new view, a host's,
 * a policy's) stamped with the store revision that made them, kept for a bounded window so
 * that a client can resume after a reconnect, and fanned out to live subscribers.
 *
 * Every allocation publishes events, so publishing costs O(1) per event however full the log
 * is: dropping the oldest events moves a start index, and the array is compacted only once the
 * dropped part outgrows the kept part (each event is copied at most about twice in its life).
 */
import { compacted } from '../../errors.ts';
import { ShardedMap } from '../../sharded-map.ts';
import type { WatchEvent, WatchHandle, WatchKind } from './service.ts';

/** Entries of `#last` a publish sweeps, at most. */
const SWEEP_STEP = 512;

/** Where a sweep of the last revisions is: the map being swept, the maps left. */
interface Sweep {
  revision: number;
  map: ShardedMap<number>;
  entries: Iterator<[string, number]>;
  maps: Array<ShardedMap<number>>;
}

interface Subscriber {
  kinds: ReadonlySet<WatchKind>;
  onEvent: (e: WatchEvent) => void;
}

export class EventLog {
  readonly #capacity: number;
  /** The retained events are `#events[#head]` onwards, oldest first. */
  #events: WatchEvent[] = [];
  #head = 0;
  /** Events with a revision above this are all retained. */
  #floor: number;
  #subscribers = new Set<Subscriber>();
  /**
   * Last published revision per object, by kind then id: a change seen twice (committed here,
   * then echoed by the store watch) is published once.
   */
  #last = new Map<WatchKind, ShardedMap<number>>();
  /** The highest revision published: an event above it cannot be an echo. */
  #top = 0;
  /** A sweep of `#last` in progress (`#sweepStep`). */
  #sweep: Sweep | undefined;

  /** `start`: the revision of the state the log starts from (events after it are kept). */
  constructor(start: number, capacity = 100_000) {
    this.#floor = start;
    this.#capacity = capacity;
  }

  /** Records events (all of one revision, in order) and hands them to subscribers. */
  publish(events: WatchEvent[]): void {
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      let ids = this.#last.get(e.kind);
      if (ids === undefined) this.#last.set(e.kind, (ids = new ShardedMap()));
      // An echo of what was published is dropped; an object changed twice in one transaction
      // has both events, in order. Above every revision published, no event is an echo: the
      // common case, which then skips looking the id up.
      if (e.revision <= this.#top) {
        const last = ids.get(e.id);
        if (last !== undefined) {
          if (last > e.revision || (last === e.revision && !sameIdBefore(events, i))) continue;
        }
      }
      ids.set(e.id, e.revision);
      this.#events.push(e);
      for (const s of this.#subscribers) if (s.kinds.has(e.kind)) s.onEvent(e);
    }
    const lastRev = events[events.length - 1]?.revision ?? 0;
    if (lastRev > this.#top) this.#top = lastRev;
    this.#trim();
    if (this.#sweep !== undefined) this.#sweepStep(this.#sweep);
  }

  /** Drops the oldest whole revisions while more than `capacity` events are retained. */
  #trim(): void {
    const events = this.#events;
    const excess = events.length - this.#head - this.#capacity;
    if (excess <= 0) return;
    // Drop whole revisions only, so a resume never sees half of one.
    let cut = this.#head + excess;
    const last = events[cut - 1]!.revision;
    while (cut < events.length && events[cut]!.revision === last) cut++;
    this.#floor = last;
    this.#head = cut;
    if (2 * cut > events.length) {
      this.#events = events.slice(cut);
      this.#head = 0;
    }
    if (this.#sweep === undefined && this.#lastSize() > 2 * this.#capacity) {
      const maps = [...this.#last.values()];
      const first = maps.pop()!;
      this.#sweep = { revision: this.#floor, maps, map: first, entries: first.entries() };
    }
  }

  /** Entries in all of `#last`. */
  #lastSize(): number {
    let n = 0;
    for (const ids of this.#last.values()) n += ids.size;
    return n;
  }

  /**
   * Forgets the last revision of objects not changed since the sweep's revision (names of
   * addresses come and go without end), `SWEEP_STEP` entries per publish. An echo that old
   * could only come from a store watch more than the whole log behind. Swept all at once, the
   * 200,000 entries took 90 ms, and every request waited.
   */
  #sweepStep(s: Sweep): void {
    for (let budget = SWEEP_STEP; budget > 0; budget--) {
      const next = s.entries.next();
      if (next.done === true) {
        const map = s.maps.pop();
        if (map === undefined) {
          this.#sweep = undefined;
          return;
        }
        s.map = map;
        s.entries = map.entries();
        continue;
      }
      const [id, rev] = next.value;
      if (rev <= s.revision) s.map.delete(id);
    }
  }

  /** Forgets everything before `revision` (after a full reload). */
  reset(revision: number): void {
    this.#events = [];
    this.#head = 0;
    this.#floor = revision;
  }

  /**
   * Replays retained events with revision >= `from`, then follows live ones.
   * Fails with a `Compacted` error when events between `from` and now were not kept.
   */
  subscribe(
    kinds: readonly WatchKind[],
    from: number,
    onEvent: (e: WatchEvent) => void,
  ): WatchHandle {
    if (from <= this.#floor) {
      throw compacted(from, this.#floor + 1);
    }
    const sub: Subscriber = { kinds: new Set(kinds), onEvent };
    const events = this.#events;
    for (let i = this.#head; i < events.length; i++) {
      const e = events[i]!;
      if (e.revision >= from && sub.kinds.has(e.kind)) onEvent(e);
    }
    this.#subscribers.add(sub);
    return { close: () => void this.#subscribers.delete(sub) };
  }
}

/** Whether an event before `i` in `events` is about the same object as `events[i]`. */
function sameIdBefore(events: WatchEvent[], i: number): boolean {
  const e = events[i]!;
  for (let j = 0; j < i; j++) if (events[j]!.kind === e.kind && events[j]!.id === e.id) return true;
  return false;
}
