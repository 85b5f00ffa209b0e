/**
 * The HTTP side of the test API server: discovery documents, /version, health, resource
 * requests (see handlers.ts) and the request log. Plain HTTP on loopback.
 */
import { appendFileSync } from 'node:fs';
import * as http from 'node:http';
import type { Socket } from 'node:net';
import { handleResource, type HandlerContext } from './handlers.ts';
import { openapiV3 } from './openapi.ts';
import { decodeProtobuf } from './protobuf.ts';
import { apiGroups, resourceList } from './resources.ts';
import { recordOf, resourceRoute, verbOf, type RequestRecord } from './routes.ts';
import { ApiError, badRequest, pathNotFound } from './status.ts';

export interface ServerContext extends HandlerContext {
  requests: RequestRecord[];
  requestLog: string | undefined;
  /** Answer 401 to requests without `Authorization: Bearer <token>` when set. */
  token: string | undefined;
  sockets: Set<Socket>;
}

const VERSION = {
  major: '1',
  minor: '32',
  gitVersion: 'v1.32.0-romana-test',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2026-01-01T00:00:00Z',
  goVersion: 'go1.23.0',
  compiler: 'gc',
  platform: 'linux/amd64',
};

function groupDoc(group: string, version: string): Record<string, unknown> {
  const gv = { groupVersion: `${group}/${version}`, version };
  return { kind: 'APIGroup', apiVersion: 'v1', name: group, versions: [gv], preferredVersion: gv };
}

/** The discovery and other non-resource documents; undefined when the path is not one. */
function nonResource(path: string, host: string): unknown {
  if (path === '/version' || path === '/version/') return VERSION;
  if (path === '/api' || path === '/api/') {
    return {
      kind: 'APIVersions',
      versions: ['v1'],
      serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: host }],
    };
  }
  if (path === '/api/v1') return resourceList('', 'v1');
  if (path.startsWith('/openapi/v3')) return openapiV3(path);
  if (path === '/apis' || path === '/apis/') {
    const groups = apiGroups().map(({ group, version }) => {
      const { kind: _k, apiVersion: _a, ...g } = groupDoc(group, version);
      return g;
    });
    return { kind: 'APIGroupList', apiVersion: 'v1', groups };
  }
  const m = /^\/apis\/([^/]+)(?:\/([^/]+))?\/?$/.exec(path);
  if (m !== null) {
    const g = apiGroups().find((x) => x.group === m[1]);
    if (g === undefined) return undefined;
    if (m[2] === undefined) return groupDoc(g.group, g.version);
    if (m[2] === g.version) return resourceList(g.group, g.version);
  }
  return undefined;
}

function send(res: http.ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-cache, private',
  });
  res.end(text);
}

function rawBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', reject);
    req.on('end', () => resolve(Buffer.concat(chunks)));
  });
}

function unsupported(): ApiError {
  return new ApiError(
    'UnsupportedMediaType',
    'the body of the request was in an unknown format - accepted media types include: application/json (this test server reads protobuf only for Namespace, ServiceAccount, ConfigMap and Secret: use kubectl create -f or apply -f)',
  );
}

/**
 * The request body as JSON. Bodies are JSON, except the protobuf kubectl's generators send
 * (`kubectl create ns x`), read for a few kinds (protobuf.ts); other protobuf is 415.
 */
async function readBody(req: http.IncomingMessage, verb: string): Promise<unknown> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim() ?? '';
  const raw = await rawBody(req);
  if (type === 'application/vnd.kubernetes.protobuf' && verb !== 'patch') {
    const decoded = decodeProtobuf(raw);
    if (decoded === undefined) throw unsupported();
    return decoded;
  }
  if (verb !== 'patch' && type !== '' && type !== 'application/json') throw unsupported();
  const text = raw.toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw badRequest(`the body of the request is not valid JSON: ${text.slice(0, 80)}`);
  }
}

function log(ctx: ServerContext, rec: RequestRecord): void {
  ctx.requests.push(rec);
  if (ctx.requestLog !== undefined) appendFileSync(ctx.requestLog, JSON.stringify(rec) + '\n');
}

function authorized(ctx: ServerContext, req: http.IncomingMessage): boolean {
  return ctx.token === undefined || req.headers.authorization === `Bearer ${ctx.token}`;
}

async function serve(
  ctx: ServerContext,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const method = req.method ?? 'GET';
  if (!authorized(ctx, req)) {
    const status = new ApiError('BadRequest', 'Unauthorized').status();
    return send(res, 401, { ...status, reason: 'Unauthorized', code: 401 });
  }
  if (['/healthz', '/livez', '/readyz'].includes(url.pathname)) {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    return void res.end('ok');
  }
  const route = resourceRoute(url.pathname);
  if (route === undefined || route === 'unknown') {
    log(ctx, { verb: method.toLowerCase(), nonResourceURL: url.pathname });
    const doc = method === 'GET' ? nonResource(url.pathname, req.headers.host ?? '') : undefined;
    if (doc === undefined) throw pathNotFound();
    return send(res, 200, doc);
  }
  const watch = ['1', 'true'].includes(url.searchParams.get('watch') ?? '');
  const verb = verbOf(method, route, watch);
  if (verb === undefined) {
    throw new ApiError(
      'MethodNotAllowed',
      'the server does not allow this method on the requested resource',
    );
  }
  log(ctx, recordOf(verb, route));
  const body = method === 'GET' ? undefined : await readBody(req, verb);
  const reply = handleResource(ctx, verb, route, url.searchParams, req, res, body);
  if (reply !== undefined) send(res, reply.code, reply.body);
}

/** A node:http server answering like kube-apiserver from `ctx`. */
export function createHttpServer(ctx: ServerContext): http.Server {
  const server = http.createServer((req, res) => {
    serve(ctx, req, res).catch((err: unknown) => {
      const e =
        err instanceof ApiError
          ? err
          : new ApiError('InternalError', `Internal error occurred: ${String(err)}`);
      if (res.headersSent) return void res.end();
      send(res, e.code, e.status());
    });
  });
  server.on('connection', (s) => {
    ctx.sockets.add(s);
    s.on('close', () => ctx.sockets.delete(s));
  });
  return server;
}
