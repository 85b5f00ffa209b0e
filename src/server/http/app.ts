/**
 * romanad's HTTP layer: the fastify app over a `RomanaService`. Routes live in ./routes, one
 * module per family; this file wires what applies to all of them: body parsing and limits,
 * authentication, the error body, 404/405, request ids, metrics.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyHttpsOptions,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
} from 'fastify';
import { RomanaError } from '../../errors.ts';
import { allows, TokenAuth, type TokenEntry } from './auth.ts';
import { installLazyValidation } from './lazy-validation.ts';
import { RomanadMetrics } from './metrics.ts';
import {
  installRequestLog,
  lazyChildLogger,
  RequestLog,
  routeOptionsOf,
  routePattern,
  type RequestLineWriter,
} from './request-log.ts';

export { logDestination } from './request-log.ts';
import { toHttpFailure, errorBody } from './routes/errors.ts';
import {
  clientErrorHandler,
  frameworkErrors,
  jsonDepthProblem,
  MAX_PARAM_LENGTH,
  registerFormats,
} from './routes/framework.ts';
import { advisorRoutes } from './routes/advisor.ts';
import { healthRoutes } from './routes/health.ts';
import { hostRoutes } from './routes/hosts.ts';
import { ipamRoutes } from './routes/ipam.ts';
import { k8sRoutes } from './routes/k8s.ts';
import { policyRoutes } from './routes/policies.ts';
import { vipRoutes } from './routes/vips.ts';
import type { RouteContext, TypedApp } from './routes/types.ts';
import { uiRoutes } from './routes/ui.ts';
import { watchRoutes } from './routes/watch.ts';
import type { RomanaService } from '../state/service.ts';

export const MiB = 1024 * 1024;

/** Media types whose bodies are JSON: 2.x's list (the vendor types) plus any charset. */
export const JSON_MEDIA_TYPES = [
  'application/json',
  'application/vnd.romana.v1+json',
  'application/vnd.romana+json',
];

export interface AppOptions {
  /** Bearer tokens; none (or empty) means no authentication (then listen on loopback only). */
  tokens?: readonly TokenEntry[];
  /** A token checker to use instead of `tokens` (romanad replaces its tokens on SIGHUP). */
  auth?: TokenAuth;
  /** Serve HTTPS with this certificate chain and key (PEM). */
  https?: { cert: string | Buffer; key: string | Buffer };
  /** Fastify's logger option (pino options, `true`, or `false`); default: no logging. */
  logger?: FastifyServerOptions['logger'];
  /** A ready-made pino logger; wins over `logger`. */
  loggerInstance?: FastifyBaseLogger;
  /** Where the request-completed lines go, bypassing the request's logger (`RequestLineWriter`). */
  requestLine?: RequestLineWriter;
  /** Largest request body in bytes (default 1 MiB); `POST /topology` has its own. */
  bodyLimit?: number;
  /** Largest topology document in bytes (default 8 MiB). */
  topologyBodyLimit?: number;
  /** Heartbeat interval of watch streams in ms (default 15,000). */
  watchHeartbeatMs?: number;
  /** Unsent bytes after which a slow watch client is cut (default 16 MiB). */
  watchMaxBufferBytes?: number;
  /** Metrics to record into; default: a fresh registry fed by `service`. */
  metrics?: RomanadMetrics;
  /** The dashboard's files (default: dist/ui beside the bundle or in the checkout). */
  uiDir?: string;
}

const REQUEST_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Request ids romanad makes: a random prefix drawn once per process, then a counter in base 36
 * (`5f0c2a9e1b7d-2s1`). Unique within the process and, with 48 random bits, across its
 * restarts; a third of the cost of a random UUID per request, which the allocation path pays.
 */
export function requestIds(): () => string {
  const prefix = `${randomBytes(6).toString('hex')}-`;
  let n = 0;
  return () => prefix + (++n).toString(36);
}

/**
 * Builds the app. The caller listens (`app.listen({ host, port })`) and closes it; closing ends
 * open watch streams but does not close the service.
 *
 * @example
 * const app = buildApp(service, { tokens: loadTokenFile('tokens.yaml'), logger: { level: 'info' } });
 * await app.listen({ host: '0.0.0.0', port: 9600 });
 */
export function buildApp(service: RomanaService, opts: AppOptions = {}): FastifyInstance {
  const nextId = requestIds();
  const common: FastifyServerOptions = {
    bodyLimit: opts.bodyLimit ?? MiB,
    requestIdHeader: false,
    logController: new RequestLog(opts.requestLine), // one line per request, writes audited
    genReqId: (req: IncomingMessage) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID_RE.test(given) ? given : nextId();
    },
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: MAX_PARAM_LENGTH },
    // Framework-level refusals answer our error body (./routes/framework.ts).
    frameworkErrors,
    clientErrorHandler,
    ajv: {
      customOptions: {
        coerceTypes: false,
        removeAdditional: false,
        allErrors: false,
        verbose: true,
        // Our schemas are fixed and typed (typebox): checking them against the JSON Schema
        // meta-schema compiled that meta-schema at each start (most of the validation left there).
        validateSchema: false,
      },
      plugins: [registerFormats],
    },
  };
  if (opts.loggerInstance !== undefined) common.loggerInstance = opts.loggerInstance;
  else common.logger = opts.logger ?? false;
  if (opts.loggerInstance !== undefined || (common.logger ?? false) !== false) {
    common.childLoggerFactory = lazyChildLogger;
  }
  // With TLS the server is an https.Server; the app's API is the same.
  const base: FastifyInstance =
    opts.https === undefined
      ? Fastify(common)
      : (Fastify({
          ...common,
          https: opts.https,
        } as FastifyHttpsOptions<HttpsServer>) as unknown as FastifyInstance);
  const app = base.withTypeProvider<TypeBoxTypeProvider>() as unknown as TypedApp;

  const ctx: RouteContext = {
    service,
    metrics: opts.metrics ?? new RomanadMetrics(service),
    bodyLimit: opts.bodyLimit ?? MiB,
    topologyBodyLimit: opts.topologyBodyLimit ?? 8 * MiB,
    watchHeartbeatMs: opts.watchHeartbeatMs ?? 15_000,
    watchMaxBufferBytes: opts.watchMaxBufferBytes ?? 16 * MiB,
    watchStreams: new Set(),
  };

  const routes = new RouteTable();
  app.addHook('onRoute', (r) => routes.add(r.method, r.url));
  installLazyValidation(app);
  installBodyParsers(app);
  const auth = opts.auth ?? new TokenAuth(opts.tokens ?? []);
  installAuth(app, auth);
  installRequestLog(app);
  installErrors(app, routes);
  installMetrics(app, ctx.metrics);
  app.addHook('preClose', (done) => {
    for (const end of [...ctx.watchStreams]) end();
    done();
  });

  healthRoutes(app, ctx);
  ipamRoutes(app, ctx);
  hostRoutes(app, ctx);
  policyRoutes(app, ctx);
  vipRoutes(app, ctx);
  k8sRoutes(app, ctx);
  watchRoutes(app, ctx);
  advisorRoutes(app, ctx);
  uiRoutes(app, { dir: opts.uiDir, tokens: auth.size > 0 });
  app.decorate('romanadMetrics', ctx.metrics);
  return base;
}

/** JSON for the JSON media types (an empty body is "no body", as in 2.x); 415 for the rest. */
function installBodyParsers(app: TypedApp): void {
  app.removeAllContentTypeParsers();
  const strict = app.getDefaultJsonParser('error', 'error');
  const parse = (
    req: FastifyRequest,
    body: string,
    done: (err: Error | null, v?: unknown) => void,
  ) => {
    const unread = encodingProblem(req.headers);
    if (unread !== undefined) {
      return done(
        Object.assign(new Error(unread), {
          code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE',
          statusCode: 415,
        }),
      );
    }
    if (body.trim() === '') return done(null, undefined);
    const deep = jsonDepthProblem(body);
    if (deep !== undefined) {
      return done(new RomanaError('InvalidInput', deep, { resourceType: 'request' }));
    }
    // The prototype-poisoning guard is fastify's; plain JSON.parse gives a better message.
    if (body.includes('__proto__') || body.includes('constructor')) {
      return strict(req, body, (err, value) => {
        if (err === null) return done(null, value);
        const e = new RomanaError(
          'InvalidInput',
          'body: a "__proto__" key or a "constructor" key holding "prototype" is refused',
          { resourceType: 'request' },
        );
        // Not JSON at all: say so, as for any other body.
        try {
          JSON.parse(body);
        } catch (parseErr) {
          return done(notJson(parseErr));
        }
        return done(e);
      });
    }
    try {
      done(null, JSON.parse(body));
    } catch (err) {
      done(notJson(err));
    }
  };
  app.addContentTypeParser(JSON_MEDIA_TYPES, { parseAs: 'string' }, parse);
  // No Content-Type at all is JSON, as in 2.x; anything else is refused.
  app.addContentTypeParser('*', { parseAs: 'string' }, (req, body, done) => {
    const type = req.headers['content-type'];
    if (type === undefined || type.trim() === '') return parse(req, body as string, done);
    const err = Object.assign(
      new Error(
        `content-type: '${type}' is not supported; send JSON (${JSON_MEDIA_TYPES.join(', ')})`,
      ),
      { code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE', statusCode: 415 },
    );
    done(err);
  });
}

/**
 * Why a body cannot be read as the UTF-8 text it is parsed as: a content coding (gzip, …) or a
 * charset other than UTF-8 (or its subset US-ASCII). `undefined` when it can.
 */
function encodingProblem(headers: IncomingMessage['headers']): string | undefined {
  const coding = headers['content-encoding']?.trim();
  if (coding !== undefined && coding !== '' && coding.toLowerCase() !== 'identity') {
    return `content-encoding: '${coding}' is not supported; send the body uncompressed`;
  }
  const charset = /;\s*charset\s*=\s*"?([^";\s]*)/i.exec(headers['content-type'] ?? '')?.[1];
  if (charset !== undefined && !['utf-8', 'utf8', 'us-ascii'].includes(charset.toLowerCase())) {
    return `content-type: charset '${charset}' is not supported; send UTF-8 JSON`;
  }
  return undefined;
}

function notJson(err: unknown): RomanaError {
  return new RomanaError('InvalidInput', `body: not valid JSON (${(err as Error).message})`, {
    resourceType: 'request',
  });
}

function installAuth(app: TypedApp, auth: TokenAuth): void {
  // Callback hooks, not async ones: every request runs them, and a promise each is not free.
  app.addHook('onRequest', (req, reply, done) => {
    void reply.header('x-request-id', req.id);
    done();
  });
  if (auth.size === 0) return;
  app.addHook('onRequest', async (req) => {
    // Unknown paths need a valid token too, so that the route table is not public.
    const access = req.is404 ? 'read-only' : (routeOptionsOf(req).config.access ?? 'admin');
    if (access === 'public') return;
    req.principal = auth.authenticate(req.headers.authorization);
    req.log.debug({ principal: req.principal }, 'authenticated');
    if (!allows(req.principal.role, access)) {
      throw new RomanaError(
        'Forbidden',
        `Token '${req.principal.name}' has role '${req.principal.role}'; ${req.method} ${routeOptionsOf(req).url ?? req.url} needs '${access}'`,
        { resourceType: 'URI', resourceId: req.url },
      );
    }
  });
}

function installErrors(app: TypedApp, routes: RouteTable): void {
  app.setErrorHandler((err, req, reply) => {
    const failure = toHttpFailure(err, String(req.id));
    if (failure.internal) req.log.error({ err }, 'internal error');
    else if (failure.status >= 500) req.log.warn({ error: failure.body }, 'request failed');
    else req.log.info({ error: failure.body }, 'request refused');
    if (failure.status === 401) {
      const invalid = req.headers.authorization === undefined ? '' : ', error="invalid_token"';
      void reply.header('www-authenticate', `Bearer realm="romanad"${invalid}`);
    }
    return reply.status(failure.status).type('application/json; charset=utf-8').send(failure.body);
  });

  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0] ?? req.url;
    const allowed = routes.methodsFor(path);
    if (allowed.length > 0) {
      const e = new RomanaError(
        'InvalidInput',
        `Method ${req.method} is not allowed on ${path}; allowed: ${allowed.join(', ')}`,
        { resourceType: 'URI', resourceId: req.url },
      );
      return reply
        .status(405)
        .header('allow', allowed.join(', '))
        .type('application/json; charset=utf-8')
        .send(errorBody(e, 405));
    }
    const e = new RomanaError('NotFound', `No route ${req.method} ${path}`, {
      resourceType: 'URI',
      resourceId: req.url,
    });
    return reply.status(404).type('application/json; charset=utf-8').send(errorBody(e));
  });
}

function installMetrics(app: TypedApp, metrics: RomanadMetrics): void {
  app.addHook('onResponse', (req: FastifyRequest, reply: FastifyReply, done) => {
    metrics.http.record(routePattern(req), req.method, reply.statusCode, reply.elapsedTime / 1000);
    done();
  });
}

/** Which methods each route pattern answers, to tell 405 from 404. */
class RouteTable {
  readonly #routes: Array<{ re: RegExp; methods: Set<string> }> = [];
  readonly #byUrl = new Map<string, Set<string>>();

  add(method: string | string[], url: string): void {
    let methods = this.#byUrl.get(url);
    if (methods === undefined) {
      methods = new Set();
      this.#byUrl.set(url, methods);
      const pattern = url
        .replace(/\/+$/, '')
        .split('/')
        .map((seg) => (seg.startsWith(':') ? '[^/]+' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
        .join('/');
      this.#routes.push({ re: new RegExp(`^${pattern}/?$`), methods });
    }
    for (const m of Array.isArray(method) ? method : [method]) methods.add(m);
  }

  methodsFor(path: string): string[] {
    const out = new Set<string>();
    for (const r of this.#routes) if (r.re.test(path)) for (const m of r.methods) out.add(m);
    return [...out].sort();
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The app's metrics (to feed gauges or add collectors). */
    romanadMetrics: RomanadMetrics;
  }
}
