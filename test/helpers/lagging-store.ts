/**
 * A replica whose store watch falls behind, for tests of what a replica does with changes
 * another one wrote that it has not seen yet (over one memory store, in milliseconds).
 */
import type { MemoryStore } from '../../src/store/memory.ts';
import type { Store, WatchEvent } from '../../src/store/store.ts';

/**
 * The memory store as a replica whose watch falls behind: while `lagging`, the changes it
 * watches are held until it reads a key itself (as catching up does), then all delivered.
 * `lagAfter` starts the lag once a delivered change matches it.
 *
 * @example
 * const view = laggingView(mem);
 * const b = await createRomanaService({ store: view.store });
 * view.lagging = true; // b sees nothing more until it reads a key
 */
export function laggingView(mem: MemoryStore) {
  const held: Array<() => void> = [];
  const view = {
    lagging: false,
    lagAfter: (_e: WatchEvent): boolean => false,
    /** False: behind for good, whatever it reads. */
    flushOnGet: true,
    store: undefined as unknown as Store,
    /** Delivers what was held, and stops lagging. */
    flush(): void {
      view.lagging = false;
      for (const deliver of held.splice(0)) deliver();
    },
  };
  const flush = () => view.flush();
  view.store = new Proxy(mem, {
    get(target, p) {
      if (p === 'get') {
        return (key: string) => {
          if (view.flushOnGet) flush();
          return target.get(key);
        };
      }
      if (p === 'watch') {
        return (
          prefix: string,
          from: number,
          onEvents: (e: WatchEvent[], rev: number) => void,
          onError: (err: Error) => void,
        ) =>
          target.watch(
            prefix,
            from,
            (events, rev) => {
              if (view.lagging) held.push(() => onEvents(events, rev));
              else {
                onEvents(events, rev);
                if (events.some(view.lagAfter)) view.lagging = true;
              }
            },
            onError,
          );
      }
      const v = Reflect.get(target, p, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return view;
}
