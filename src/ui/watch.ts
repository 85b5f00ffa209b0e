/**
 * Following `GET /watch` from the page (docs/api.md, "Resume rules"): the ndjson stream is read
 * through fetch (so that it carries the Authorization header, which EventSource cannot), and
 * after any break the page reconnects from the revision of the last event it applied. That
 * revision is asked for again, whole: a break may fall between the events of one revision,
 * and events are full states, so applying one twice is harmless. When romanad says the resume
 * point is compacted, the page reads the lists again and follows on from their revision.
 */
import type { Api } from './api.ts';
import type { WatchEvent } from './model.ts';

export interface WatchHandlers {
  /** The events of one read, in order. */
  onEvents(events: WatchEvent[]): void;
  /** The copy is too old to catch up: read everything again; resolves with the lists' revision. */
  reload(): Promise<number>;
  /** For the status line. */
  onStatus(status: 'live' | 'reconnecting', detail?: string): void;
}

export interface WatchOptions {
  /** A stream silent for this long is dead (romanad sends a heartbeat every 15 s). */
  silenceMs?: number;
  maxBackoffMs?: number;
}

interface ErrorLine {
  error: { code?: string; details?: string };
}

/** The kinds of objects the page shows. */
const KINDS = 'blocks,hosts,policies,vips,topology';

/** Thrown inside the loop when romanad says the resume point is gone. */
class Compacted extends Error {}

/**
 * Follows changes from revision `from` until `close()`.
 *
 * @example const w = followWatch(api, lists.revision + 1, { onEvents, reload, onStatus });
 */
export function followWatch(
  api: Api,
  from: number,
  h: WatchHandlers,
  opts: WatchOptions = {},
): { close(): void } {
  const silenceMs = opts.silenceMs ?? 45_000;
  const maxBackoff = opts.maxBackoffMs ?? 5_000;
  let closed = false;
  let current: AbortController | undefined;
  let next = from;
  let backoff = 250;

  const connect = async (): Promise<void> => {
    const ctrl = new AbortController();
    current = ctrl;
    let timer = setTimeout(() => ctrl.abort(), silenceMs);
    const alive = () => {
      clearTimeout(timer);
      timer = setTimeout(() => ctrl.abort(), silenceMs);
    };
    try {
      const res = await api.fetch(`/watch?kinds=${KINDS}&revision=${next}`, {
        signal: ctrl.signal,
      });
      if (!res.ok) {
        const body = (await res.json().catch(() => ({}))) as { code?: string; details?: string };
        if (body.code === 'Compacted') throw new Compacted();
        throw new Error(`GET /watch: ${res.status} ${body.details ?? ''}`);
      }
      h.onStatus('live');
      backoff = 250;
      await readLines(res, (lines) => {
        alive();
        const events: WatchEvent[] = [];
        for (const line of lines) {
          const v = JSON.parse(line) as WatchEvent | ErrorLine | { heartbeat: true };
          if ('heartbeat' in v) continue;
          if ('error' in v) {
            if (v.error.code === 'Compacted') throw new Compacted();
            throw new Error(`watch ended: ${v.error.details ?? v.error.code ?? 'error'}`);
          }
          events.push(v);
          next = v.revision;
        }
        if (events.length > 0) h.onEvents(events);
      });
      throw new Error('watch stream ended');
    } finally {
      clearTimeout(timer);
    }
  };

  const loop = async (): Promise<void> => {
    while (!closed) {
      try {
        await connect();
      } catch (thrown) {
        let err = thrown;
        if (closed) return;
        if (err instanceof Compacted) {
          h.onStatus('reconnecting', 'history compacted: reading everything again');
          try {
            next = (await h.reload()) + 1;
            continue;
          } catch (reloadErr) {
            err = reloadErr;
          }
        }
        h.onStatus('reconnecting', err instanceof Error ? err.message : String(err));
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, maxBackoff);
      }
    }
  };
  void loop();
  return {
    close() {
      closed = true;
      current?.abort();
    },
  };
}

/** Calls `onLines` with the complete lines of each chunk read. */
async function readLines(res: Response, onLines: (lines: string[]) => void): Promise<void> {
  if (res.body === null) return;
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let rest = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    rest += value;
    const cut = rest.lastIndexOf('\n');
    if (cut < 0) continue;
    const lines = rest
      .slice(0, cut)
      .split('\n')
      .filter((l) => l !== '');
    rest = rest.slice(cut + 1);
    onLines(lines);
  }
}
