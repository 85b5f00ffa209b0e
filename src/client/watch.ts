/**
 * Following romanad's watch stream (docs/api.md#watch-stream) without ever missing a change:
 * newline-delimited JSON events; reconnect with backoff after any failure and resume from the
 * last event's revision + 1; a stream silent for longer than three heartbeats counts as dead;
 * when romanad says the resume point is compacted, start over from the current state (the
 * consumer is told with `onReset` so that it replaces, rather than patches, its copy).
 */
import http from 'node:http';
import https from 'node:https';
import { ERROR_CATALOGUE } from '../errors.ts';
import type { TransportOptions } from './http.ts';

/** One change, as romanad sends it. */
export interface WatchEvent {
  revision: number;
  kind: 'blocks' | 'hosts' | 'policies' | 'vips' | 'topology' | 'addresses' | 'namespaces';
  type: 'put' | 'delete';
  id: string;
  value: unknown;
}

export interface WatchOptions extends TransportOptions {
  baseUrl: string;
  kinds: WatchEvent['kind'][];
  /** Called for every event, in order. */
  onEvent(e: WatchEvent): void;
  /** The stream starts over: the current state follows as `put` events. */
  onReset?(): void;
  /** A connection failed (it is retried); for logs and metrics. */
  onError?(err: Error): void;
  /** The stream is (again) connected. */
  onConnect?(): void;
  /** romanad's heartbeat interval; the stream is dead after 3 of them without a line. */
  heartbeatMs?: number;
  /** Upper bound of the pause between reconnects (ms, default 5,000). */
  maxBackoffMs?: number;
  /**
   * Start at this revision (e.g. the `/readyz` revision before listing, + 1) instead of with the
   * current state; a compacted one starts over from the current state as usual.
   */
  fromRevision?: number;
}

export interface Watcher {
  close(): void;
  /** Revision of the last event received (0 before the first). */
  readonly revision: number;
}

/**
 * Follows romanad's changes until `close`.
 *
 * @example
 * const w = watchRomanad({ baseUrl: 'http://127.0.0.1:9600', kinds: ['blocks', 'hosts'],
 *   onEvent: (e) => apply(e), onReset: () => clear() });
 */
export function watchRomanad(opts: WatchOptions): Watcher {
  let revision = Math.max(0, (opts.fromRevision ?? 1) - 1);
  let closed = false;
  let failures = 0;
  let req: http.ClientRequest | undefined;
  let retry: NodeJS.Timeout | undefined;
  let deadline: NodeJS.Timeout | undefined;
  const silence = 3 * (opts.heartbeatMs ?? 15_000);

  const fail = (err: Error): void => {
    clearTimeout(deadline);
    req?.destroy();
    req = undefined;
    if (closed) return;
    opts.onError?.(err);
    const pause = Math.min(opts.maxBackoffMs ?? 5000, 100 * 2 ** failures++);
    retry = setTimeout(connect, pause * (0.5 + Math.random() / 2));
  };

  const alive = (): void => {
    clearTimeout(deadline);
    deadline = setTimeout(
      () => fail(new Error(`no data from ${opts.baseUrl} for ${silence} ms`)),
      silence,
    );
  };

  /** The next connection starts from the current state (and tells the consumer so). */
  const startOver = (): void => {
    revision = 0;
  };

  function connect(): void {
    if (closed) return;
    const url = new URL(`${opts.baseUrl.replace(/\/+$/, '')}/watch`);
    url.searchParams.set('kinds', opts.kinds.join(','));
    if (revision > 0) url.searchParams.set('revision', String(revision + 1));
    else opts.onReset?.();
    const tls = url.protocol === 'https:';
    const headers: Record<string, string> = { accept: 'application/x-ndjson' };
    if (opts.token) headers['authorization'] = `Bearer ${opts.token}`;
    req = (tls ? https : http).get(
      url,
      { headers, ...(tls && opts.ca ? { ca: opts.ca } : {}) },
      (res) => {
        // On /watch only a compacted resume point answers 409 (code `Compacted`).
        if (res.statusCode === ERROR_CATALOGUE.Compacted.status) {
          res.resume();
          startOver();
          return fail(new Error('resume point compacted; starting over'));
        }
        if (res.statusCode !== 200) {
          res.resume();
          return fail(new Error(`GET ${url.pathname} answered ${res.statusCode}`));
        }
        failures = 0;
        opts.onConnect?.();
        alive();
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          alive();
          buf += chunk;
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (line !== '') handleLine(line);
          }
        });
        res.on('end', () => fail(new Error('the watch stream ended')));
        res.on('error', fail);
      },
    );
    req.on('error', fail);
  }

  function handleLine(line: string): void {
    let msg: {
      heartbeat?: boolean;
      error?: { code?: string; details?: string };
    } & Partial<WatchEvent>;
    try {
      msg = JSON.parse(line) as typeof msg;
    } catch {
      return fail(new Error(`unreadable line on the watch stream: ${line.slice(0, 80)}`));
    }
    if (msg.heartbeat) return;
    if (msg.error !== undefined) {
      if (isCompacted(msg.error)) startOver();
      return fail(new Error(`watch stream error: ${msg.error.details ?? msg.error.code}`));
    }
    if (typeof msg.revision === 'number') revision = Math.max(revision, msg.revision);
    opts.onEvent(msg as WatchEvent);
  }

  connect();
  return {
    close: () => {
      closed = true;
      clearTimeout(retry);
      clearTimeout(deadline);
      req?.destroy();
    },
    get revision() {
      return revision;
    },
  };
}

/**
 * Whether a watch stream's error line says the resume point is gone: code `Compacted`, or, from
 * a romanad older than that code, a `Conflict` whose details say "compacted".
 *
 * @example isCompacted({ code: 'Compacted' }) // true
 */
export function isCompacted(error: { code?: string; details?: string }): boolean {
  if (error.code === 'Compacted') return true;
  return error.code === 'Conflict' && /compacted/.test(error.details ?? '');
}
