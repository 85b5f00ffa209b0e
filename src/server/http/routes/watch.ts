/**
 * `GET /watch`: a newline-delimited JSON stream of `WatchEvent`s, with heartbeat lines so that
 * clients notice a dead connection, resumable from a revision (wire format in docs/api.md).
 */
import type { ServerResponse } from 'node:http';
import { invalidInput } from '../../../errors.ts';
import { WATCH_KINDS, type WatchEvent, type WatchKind } from '../../state/service.ts';
import { toHttpFailure } from './errors.ts';
import { WatchQuery } from './schemas.ts';
import type { RouteContext, TypedApp } from './types.ts';

export const NDJSON = 'application/x-ndjson';

/** Parses `?kinds=blocks,hosts`; absent or empty means every kind. */
export function parseKinds(raw: string | undefined): WatchKind[] {
  if (raw === undefined || raw.trim() === '') return [...WATCH_KINDS];
  const out: WatchKind[] = [];
  for (const part of raw.split(',')) {
    const k = part.trim();
    if (!(WATCH_KINDS as readonly string[]).includes(k)) {
      throw invalidInput(`querystring.kinds: '${k}' is not one of ${WATCH_KINDS.join(', ')}`);
    }
    if (!out.includes(k as WatchKind)) out.push(k as WatchKind);
  }
  return out;
}

export function watchRoutes(app: TypedApp, ctx: RouteContext): void {
  const { service, metrics } = ctx;
  app.get(
    '/watch',
    {
      config: { access: 'read-only' },
      exposeHeadRoute: false,
      schema: { querystring: WatchQuery },
    },
    async (req, reply) => {
      const kinds = parseKinds(req.query.kinds);
      const from = req.query.revision === undefined ? undefined : Number(req.query.revision);
      // Events and errors are held until the stream is known to have started: a watch that
      // fails at once (a compacted revision) is answered with a plain error status instead.
      const held: string[] = [];
      let early: Error | undefined;
      const open: { stream?: Stream } = {};
      const handle = service.watch(
        kinds,
        from,
        (e: WatchEvent) =>
          open.stream === undefined ? held.push(line(e)) : open.stream.write(line(e)),
        (err: Error) => (open.stream === undefined ? (early ??= err) : open.stream.fail(err)),
      );
      await new Promise((resolve) => setImmediate(resolve));
      if (early !== undefined) {
        handle.close();
        throw early;
      }
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': NDJSON,
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
        'x-request-id': String(req.id),
      });
      res.flushHeaders();
      metrics.watchStreams.inc();
      const stream = new Stream(res, ctx, () => handle.close(), req.log, String(req.id));
      open.stream = stream;
      req.log.info({ kinds, revision: from }, 'watch stream opened');
      // A client that left while the watch was starting never fires 'close' again.
      if (res.socket === null || res.socket.destroyed) stream.close('client gone');
      for (const l of held) stream.write(l);
    },
  );
}

function line(value: unknown): string {
  return `${JSON.stringify(value)}\n`;
}

interface Log {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** One open stream: heartbeats, backpressure limit, and a single idempotent teardown. */
class Stream {
  #open = true;
  readonly #timer: NodeJS.Timeout;
  readonly #end: () => void;

  constructor(
    readonly res: ServerResponse,
    readonly ctx: RouteContext,
    readonly closeWatch: () => void,
    readonly log: Log,
    readonly requestId: string,
  ) {
    this.#timer = setInterval(
      () => this.write(line({ heartbeat: true, revision: ctx.service.revision() })),
      ctx.watchHeartbeatMs,
    );
    this.#timer.unref();
    this.#end = () => this.close('server closing');
    ctx.watchStreams.add(this.#end);
    res.on('close', () => this.close('client closed'));
  }

  write(text: string): void {
    if (!this.#open) return;
    if (this.res.writableLength > this.ctx.watchMaxBufferBytes) {
      this.log.warn(
        { buffered: this.res.writableLength },
        'watch client too slow; cutting the stream',
      );
      this.close('client too slow');
      this.res.destroy();
      return;
    }
    this.res.write(text);
  }

  /** Reports the error as a last line and ends the stream. */
  fail(err: Error): void {
    if (!this.#open) return;
    const failure = toHttpFailure(err, this.requestId);
    if (failure.internal) this.log.error({ err }, 'watch failed');
    else this.log.info({ error: failure.body }, 'watch ended with an error');
    this.write(line({ error: failure.body }));
    this.close('error');
  }

  close(reason: string): void {
    if (!this.#open) return;
    this.#open = false;
    clearInterval(this.#timer);
    this.ctx.watchStreams.delete(this.#end);
    this.ctx.metrics.watchStreams.dec();
    this.closeWatch();
    if (!this.res.writableEnded) this.res.end();
    this.log.info({ reason }, 'watch stream closed');
  }
}
