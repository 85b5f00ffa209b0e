/**
 * The change log behind watch streams: view-level events (a block's new view, a host's,
 * a policy's) stamped with the store revision that made them, kept for a bounded window so
 * that a client can resume after a reconnect, and fanned out to live subscribers.
 */
import { compacted } from '../../errors.ts';
import type { WatchEvent, WatchHandle, WatchKind } from './service.ts';

interface Subscriber {
  kinds: ReadonlySet<WatchKind>;
  onEvent: (e: WatchEvent) => void;
}

export class EventLog {
  readonly #capacity: number;
  #events: WatchEvent[] = [];
  /** Events with a revision above this are all retained. */
  #floor: number;
  #subscribers = new Set<Subscriber>();
  /** Last published revision per object: a change seen twice (committed here, then echoed
   * by the store watch) is published once. */
  #last = new Map<string, number>();

  /** `start`: the revision of the state the log starts from (events after it are kept). */
  constructor(start: number, capacity = 100_000) {
    this.#floor = start;
    this.#capacity = capacity;
  }

  /** Records events (all of one revision, in order) and hands them to subscribers. */
  publish(events: WatchEvent[]): void {
    events.forEach((e, i) => {
      const id = `${e.kind}\n${e.id}`;
      const last = this.#last.get(id) ?? -1;
      // An echo of what was published is dropped; an object changed twice in one transaction
      // has both events, in order.
      if (last > e.revision || (last === e.revision && !sameIdBefore(events, i))) return;
      this.#last.set(id, e.revision);
      this.#events.push(e);
      for (const s of this.#subscribers) if (s.kinds.has(e.kind)) s.onEvent(e);
    });
    const excess = this.#events.length - this.#capacity;
    if (excess > 0) {
      // Drop whole revisions only, so a resume never sees half of one.
      let cut = excess;
      const last = this.#events[cut - 1]!.revision;
      while (cut < this.#events.length && this.#events[cut]!.revision === last) cut++;
      this.#floor = last;
      this.#events = this.#events.slice(cut);
      if (this.#last.size > 2 * this.#capacity) this.#forgetBefore(this.#floor);
    }
  }

  /**
   * Forgets the last revision of objects not changed since `revision` (names of addresses come
   * and go without end). An echo that old could only come from a store watch more than the
   * whole log behind.
   */
  #forgetBefore(revision: number): void {
    for (const [id, rev] of this.#last) if (rev <= revision) this.#last.delete(id);
  }

  /** Forgets everything before `revision` (after a full reload). */
  reset(revision: number): void {
    this.#events = [];
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
    for (const e of this.#events) if (e.revision >= from && sub.kinds.has(e.kind)) onEvent(e);
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
