/**
 * One watch request: a chunked stream of `{"type": …, "object": …}` lines.
 *
 * - No resourceVersion (or "0"): ADDED for every current object, then live changes.
 * - resourceVersion N: the retained changes after N, then live changes; N older than the
 *   retained history is `410 Gone` with an Expired Status body (or, with `tooOldWatch:
 *   'event'`, a 200 stream holding one ERROR event with that Status, as watch caches do).
 * - Selectors: an object that stops matching is sent as DELETED, one that starts as ADDED.
 * - allowWatchBookmarks: a BOOKMARK every `bookmarkMs`; sendInitialEvents: the initial ADDED
 *   events end with a bookmark annotated `k8s.io/initial-events-end`.
 * - timeoutSeconds ends the stream; `compact({expireWatches})` ends it with ERROR 410.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { groupVersion, type ResourceInfo } from './resources.ts';
import type { Predicate } from './selectors.ts';
import { ApiError, badRequest, expired } from './status.ts';
import type { Change, KubeObject, Store, Watcher } from './store.ts';

export interface WatchRequest {
  store: Store;
  info: ResourceInfo;
  /** Only this namespace (namespaced resources), undefined for all. */
  namespace: string | undefined;
  match: Predicate;
  query: URLSearchParams;
  bookmarkMs: number;
  tooOldWatch: 'status' | 'event';
  /** Every live watch registers its closer here, so the server can end them all. */
  live: Set<() => void>;
}

type EventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

function inScope(w: WatchRequest, c: Change): boolean {
  if (c.info !== w.info) return false;
  return w.namespace === undefined || c.object.metadata.namespace === w.namespace;
}

/** What a watch with a selector sees of a change: maybe a different type, maybe nothing. */
function translate(w: WatchRequest, c: Change): EventType | undefined {
  const now = w.match(c.object);
  if (c.type === 'ADDED') return now ? 'ADDED' : undefined;
  if (c.type === 'DELETED') return now ? 'DELETED' : undefined;
  const before = c.previous !== undefined && w.match(c.previous);
  if (before && now) return 'MODIFIED';
  if (now) return 'ADDED';
  if (before) return 'DELETED';
  return undefined;
}

function parseRevision(q: URLSearchParams): number | undefined {
  const raw = q.get('resourceVersion');
  if (raw === null || raw === '' || raw === '0') return undefined;
  if (!/^\d+$/.test(raw)) throw badRequest(`invalid resource version: ${raw}`);
  return Number(raw);
}

function isTrue(q: URLSearchParams, key: string): boolean {
  const v = q.get(key);
  return v === 'true' || v === '1';
}

/** Serves the watch; returns once the stream is set up (it ends on its own later). */
export function serveWatch(w: WatchRequest, req: IncomingMessage, res: ServerResponse): void {
  const since = parseRevision(w.query);
  let replay: Change[] = [];
  if (since !== undefined) {
    try {
      replay = w.store.changesSince(w.info, since);
    } catch (err) {
      if (!(err instanceof ApiError) || w.tooOldWatch === 'status') throw err;
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ type: 'ERROR', object: err.status() }) + '\n');
      return;
    }
  }
  res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
  res.flushHeaders();
  const send = (type: EventType, object: unknown): void => {
    if (!res.writableEnded) res.write(JSON.stringify({ type, object }) + '\n');
  };
  const bookmark = (annotations?: Record<string, string>): void => {
    const metadata: Record<string, unknown> = { resourceVersion: String(w.store.revision) };
    if (annotations !== undefined) metadata['annotations'] = annotations;
    send('BOOKMARK', { kind: w.info.kind, apiVersion: groupVersion(w.info), metadata });
  };
  const bookmarks = isTrue(w.query, 'allowWatchBookmarks');
  if (since === undefined) {
    for (const o of w.store.view(w.info, w.namespace)) if (w.match(o)) send('ADDED', o);
    if (bookmarks && isTrue(w.query, 'sendInitialEvents')) {
      bookmark({ 'k8s.io/initial-events-end': 'true' });
    }
  }
  for (const c of replay) deliver(w, c, send);

  const timers: NodeJS.Timeout[] = [];
  let unsubscribe = (): void => {};
  const finish = (): void => {
    for (const t of timers) clearInterval(t);
    unsubscribe();
    w.live.delete(finish);
    if (!res.writableEnded) res.end();
  };
  const watcher: Watcher = {
    deliver: (c) => deliver(w, c, send),
    compacted: (revision, force) => {
      if (!force) return;
      send('ERROR', expired(`too old resource version: ${revision}`).status());
      finish();
    },
  };
  unsubscribe = w.store.subscribe(watcher);
  w.live.add(finish);
  if (bookmarks) timers.push(setInterval(() => bookmark(), w.bookmarkMs));
  const timeout = Number(w.query.get('timeoutSeconds') ?? '0');
  if (timeout > 0) timers.push(setTimeout(finish, timeout * 1000));
  req.on('close', finish);
  res.on('close', finish);
}

function deliver(
  w: WatchRequest,
  c: Change,
  send: (type: EventType, object: KubeObject) => void,
): void {
  if (!inScope(w, c)) return;
  const type = translate(w, c);
  if (type !== undefined) send(type, c.object);
}
