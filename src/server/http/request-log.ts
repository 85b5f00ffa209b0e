/**
 * romanad's request log: one line per request when it completes, with method, URL, status and
 * time. A write (any method but GET, HEAD, OPTIONS) is also an audit record: the same line
 * carries `audit` with who made it (the token's name and role, or `anonymous` without
 * authentication), what it touched (route and object) and the result (status, error code).
 *
 * One line per request, not two (fastify's "incoming request" line is at debug): allocation is
 * the hot path, and this is all it pays. A route adds what the line should also say (the address
 * an allocation answered) with `logDetail`, rather than a line of its own.
 */
import {
  LogController,
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import { destination, type Bindings, type ChildLoggerOptions, type DestinationStream } from 'pino';
import { jsonString } from '../../json-text.ts';
import { toHttpFailure } from './routes/errors.ts';
import type { TypedApp } from './routes/types.ts';

const READS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

const LEVELS: Readonly<Record<string, number>> = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  fatal: 60,
  silent: Infinity,
};

function enabled(log: FastifyBaseLogger, level: 'debug' | 'info'): boolean {
  return (LEVELS[log.level] ?? LEVELS['info']!) <= LEVELS[level]!;
}

/** Body fields that name the object a write creates, in the order they are tried. */
const OBJECT_FIELDS = ['name', 'cidr', 'id'] as const;

/**
 * The audit part of a write's log line.
 *
 * @example
 * { who: 'ops', role: 'admin', route: '/hosts/:name', object: 'node-1', status: 404, code: 'NotFound' }
 */
export interface AuditRecord {
  who: string;
  role?: string;
  route: string;
  object?: string;
  status: number;
  code?: string;
}

/**
 * Writes the request-completed line itself, in pino's format, instead of through the request's
 * logger: `{"level":30,"time":…,<base>,"reqId":…,<fields>,"msg":"request completed"}`. One
 * `JSON.stringify` of the line costs a fraction of pino's key-by-key serialization, and the
 * request's child logger is then never made (see `lazyChildLogger`). Only for a pino logger with
 * its default level, time and message formats, whose `base` bindings are `base`.
 *
 * @example
 * const dest = logDestination();
 * const log = pino({ base: { program: 'romanad' } }, dest);
 * buildApp(service, { loggerInstance: log, requestLine: { base: { program: 'romanad' }, write: (l) => dest.write(l) } });
 */
export interface RequestLineWriter {
  /** The logger's `base` bindings. */
  base: Readonly<Record<string, unknown>>;
  /** Takes one line, newline included. */
  write(line: string): void;
}

/** pino's number for `info`. */
const INFO = 30;

/** `base` as JSON members after the line's first two, each with a comma before it. */
function baseFields(base: Readonly<Record<string, unknown>>): string {
  const json = JSON.stringify(base);
  return json === '{}' ? '' : `,${json.slice(1, -1)}`;
}

/**
 * fastify's per-request log lines, ours: `incoming request` at debug, `request completed` with
 * method and URL (and `audit` for writes). Pass as `logController` to fastify, and call
 * `installRequestLog` on the app.
 *
 * @example Fastify({ logController: new RequestLog() })
 */
export class RequestLog extends LogController {
  readonly #writer: RequestLineWriter | undefined;
  /** The writer's `base` as JSON members, each after a comma. */
  readonly #base: string;

  /** `writer`: where the completed lines go, bypassing the request's logger (see its type). */
  constructor(writer?: RequestLineWriter) {
    // Silences fastify's other per-request lines (the 404 line, the default error handler's).
    super({ disableRequestLogging: true });
    this.#writer = writer;
    this.#base = writer === undefined ? '' : baseFields(writer.base);
  }

  override incomingRequest(req: FastifyRequest): void {
    if (enabled(req.log, 'debug')) {
      req.log.debug({ method: req.method, url: req.url }, 'incoming request');
    }
  }

  override requestCompleted(
    err: Error | null | undefined,
    req: FastifyRequest,
    reply: FastifyReply,
  ): void {
    const write = !READS.has(req.method);
    const info = enabled(req.log, 'info');
    if (!err && !info) return;
    const writer = err ? undefined : this.#writer;
    if (writer !== undefined) {
      writer.write(this.#line(req, reply, write));
      return;
    }
    const line: Record<string, unknown> = {
      method: req.method,
      url: req.url,
      statusCode: reply.statusCode,
      responseTime: Math.round(reply.elapsedTime * 1000) / 1000,
    };
    const detail = req.logDetail;
    if (detail !== undefined) Object.assign(line, JSON.parse(`{${detail}}`));
    if (write) line['audit'] = auditOf(req, reply.statusCode);
    if (!err) req.log.info(line, 'request completed');
    else req.log.error({ ...line, err }, 'request completed with an error in a hook');
  }

  /**
   * The line pino would write for `req.log.info({ method, url, … }, 'request completed')`, as
   * text at once: the fixed parts as they are, only the values through `JSON.stringify`.
   */
  #line(req: FastifyRequest, reply: FastifyReply, write: boolean): string {
    const id = typeof req.id === 'string' ? jsonString(req.id) : JSON.stringify(req.id);
    let text =
      `{"level":${INFO},"time":${Date.now()}${this.#base},"reqId":${id}` +
      `,"method":${jsonString(req.method)},"url":${jsonString(req.url)}` +
      `,"statusCode":${reply.statusCode}` +
      `,"responseTime":${Math.round(reply.elapsedTime * 1000) / 1000}`;
    const detail = req.logDetail;
    if (detail !== undefined) text += `,${detail}`;
    if (write) text += `,"audit":${auditJson(auditOf(req, reply.statusCode))}`;
    return `${text},"msg":"request completed"}\n`;
  }
}

/**
 * fastify's `childLoggerFactory`: each request's logger is made the first time it is used.
 * With `RequestLog`'s writer most requests never use it, and pino's child costs an object, its
 * bindings' JSON and a copy of the level methods per request.
 *
 * @example Fastify({ childLoggerFactory: lazyChildLogger })
 */
export function lazyChildLogger(
  parent: FastifyBaseLogger,
  bindings: Bindings,
  opts: ChildLoggerOptions,
): FastifyBaseLogger {
  return new LazyLogger(parent, bindings, opts) as unknown as FastifyBaseLogger;
}

type Log = (...args: unknown[]) => void;

class LazyLogger {
  readonly #parent: FastifyBaseLogger;
  readonly #bindings: Bindings;
  readonly #opts: ChildLoggerOptions;
  #made: FastifyBaseLogger | undefined;

  constructor(parent: FastifyBaseLogger, bindings: Bindings, opts: ChildLoggerOptions) {
    this.#parent = parent;
    this.#bindings = bindings;
    this.#opts = opts;
  }

  get level(): string {
    return this.#made?.level ?? this.#opts.level ?? this.#parent.level;
  }

  set level(level: string) {
    this.#real().level = level;
  }

  fatal(...args: unknown[]): void {
    this.#log('fatal', args);
  }
  error(...args: unknown[]): void {
    this.#log('error', args);
  }
  warn(...args: unknown[]): void {
    this.#log('warn', args);
  }
  info(...args: unknown[]): void {
    this.#log('info', args);
  }
  debug(...args: unknown[]): void {
    this.#log('debug', args);
  }
  trace(...args: unknown[]): void {
    this.#log('trace', args);
  }
  silent(): void {}
  child(bindings: Bindings, opts?: ChildLoggerOptions): FastifyBaseLogger {
    return this.#real().child(bindings, opts);
  }

  /** A line below the level makes no logger (a debug line on every request, say). */
  #log(level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace', args: unknown[]): void {
    if ((LEVELS[this.level] ?? LEVELS['info']!) > LEVELS[level]!) return;
    (this.#real()[level] as Log)(...args);
  }

  #real(): FastifyBaseLogger {
    return (this.#made ??= this.#parent.child(this.#bindings, this.#opts));
  }
}

/**
 * Remembers each failed request's error code for its audit record (an `onError` hook, which
 * runs before the error handler).
 *
 * @example installRequestLog(app);
 */
export function installRequestLog(app: TypedApp): void {
  app.decorateRequest('failureCode', undefined);
  app.decorateRequest('logDetail', undefined);
  app.decorateRequest('routeOptionsRead', undefined);
  app.addHook('onError', (req, _reply, err, done) => {
    req.failureCode = toHttpFailure(err as FastifyError, String(req.id)).body.code;
    done();
  });
}

/**
 * romanad's log destination: pino's own (sonic-boom) on `fd`, written synchronously once per
 * event-loop turn with the lines of that turn joined. Handed line by line, sonic-boom measures
 * all the text it holds unwritten at each line (`Buffer.byteLength`), and an asynchronous write
 * per batch wakes a thread-pool thread each time (and is lost when the process exits before
 * that thread ran); one synchronous write per turn costs one system call. At exit, the lines of
 * the last turn are written too.
 *
 * @example pino({ level: 'info' }, logDestination())
 */
export function logDestination(fd = 1): DestinationStream {
  const sonic = destination({ dest: fd, sync: true });
  let lines: string[] = [];
  const flush = () => {
    if (lines.length === 0) return;
    const text = lines.length === 1 ? lines[0]! : lines.join('');
    lines = [];
    sonic.write(text);
  };
  process.on('exit', flush);
  return {
    write(line: string) {
      if (lines.push(line) === 1) setImmediate(flush);
    },
  };
}

/** A request's route options, read once: fastify builds a new object at each read. */
export function routeOptionsOf(req: FastifyRequest): FastifyRequest['routeOptions'] {
  return (req.routeOptionsRead ??= req.routeOptions);
}

/** The route pattern a request matched (`/hosts/:name`), or `unmatched`. */
export function routePattern(req: FastifyRequest): string {
  return req.is404 ? 'unmatched' : (routeOptionsOf(req).url ?? 'unmatched');
}

/** Who wrote what, and how it ended. */
export function auditOf(req: FastifyRequest, status: number): AuditRecord {
  const p = req.principal;
  const rec: AuditRecord = {
    who: p?.name ?? 'anonymous',
    route: routePattern(req),
    status,
  };
  if (p !== undefined) rec.role = p.role;
  const object = objectOf(req);
  if (object !== undefined) rec.object = object;
  if (status >= 400) rec.code = req.failureCode ?? (status === 404 ? 'NotFound' : 'InvalidInput');
  return rec;
}

/** `JSON.stringify(rec)` for an audit record, built from its fields (in `auditOf`'s order). */
export function auditJson(rec: AuditRecord): string {
  let text = `{"who":${jsonString(rec.who)},"route":${jsonString(rec.route)},"status":${rec.status}`;
  if (rec.role !== undefined) text += `,"role":${jsonString(rec.role)}`;
  if (rec.object !== undefined) text += `,"object":${jsonString(rec.object)}`;
  if (rec.code !== undefined) text += `,"code":${jsonString(rec.code)}`;
  return `${text}}`;
}

/**
 * A member of a request's log line, for `req.logDetail`: `name` and the value's JSON text.
 *
 * @example req.logDetail = logField('address', addressViewJson(view)) // '"address":{…}'
 */
export function logField(name: string, json: string): string {
  return `${jsonString(name)}:${json}`;
}

/**
 * The object a write is about: the route's parameters (`/hosts/:name`), else the name the body
 * gives it (`POST /hosts`), else the query (`DELETE /address?addressName=…`).
 */
function objectOf(req: FastifyRequest): string | undefined {
  const params = req.params as Record<string, string> | undefined;
  if (typeof params === 'object' && params !== null) {
    let out: string | undefined;
    for (const k in params) out = out === undefined ? params[k] : `${out}/${params[k]}`;
    if (out !== undefined) return out;
  }
  const body = req.body as Record<string, unknown> | undefined;
  if (typeof body === 'object' && body !== null) {
    for (const f of OBJECT_FIELDS) if (typeof body[f] === 'string') return body[f];
  }
  const query = req.query as Record<string, unknown> | undefined;
  if (typeof query === 'object' && query !== null) {
    for (const k in query) if (typeof query[k] === 'string') return `${k}=${query[k]}`;
  }
  return undefined;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The error code a failed request answered with (for the audit record). */
    failureCode: string | undefined;
    /**
     * Members the route adds to the request's line, as JSON text (`logField`), e.g.
     * `"address":{…}` (set it, do not log).
     */
    logDetail: string | undefined;
    /** `routeOptionsOf`'s copy of `routeOptions`. */
    routeOptionsRead: FastifyRequest['routeOptions'] | undefined;
  }
}
