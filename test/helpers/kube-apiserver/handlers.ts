/**
 * Resource requests: get, list, watch, create, update, patch, delete, deletecollection, on the
 * main resource or its /status subresource. Each throws an ApiError for the server to answer.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { applyPatch } from './patch.ts';
import { groupVersion, type ResourceInfo } from './resources.ts';
import type { ResourceRoute, Verb } from './routes.ts';
import { fieldPredicate, labelPredicate, type Predicate } from './selectors.ts';
import { ApiError, badRequest, expired, notFound, pathNotFound } from './status.ts';
import {
  asKubeObject,
  clone,
  type DeleteOptions,
  type KubeObject,
  type Store,
  type UpdateScope,
} from './store.ts';
import { acceptsTable, toTable } from './table.ts';
import { serveWatch } from './watch.ts';

export interface HandlerContext {
  store: Store;
  bookmarkMs: number;
  tooOldWatch: 'status' | 'event';
  live: Set<() => void>;
}

export interface Reply {
  code: number;
  body: unknown;
}

interface Call {
  ctx: HandlerContext;
  route: ResourceRoute;
  query: URLSearchParams;
  req: IncomingMessage;
  body: unknown;
}

function scopeOf(route: ResourceRoute): UpdateScope {
  if (route.subresource === undefined) return 'main';
  if (route.subresource === 'status' && route.info.status) return 'status';
  throw pathNotFound();
}

function ns(route: ResourceRoute): string {
  return route.namespace ?? '';
}

function isDryRun(q: URLSearchParams): boolean {
  return q.getAll('dryRun').includes('All');
}

function predicate(route: ResourceRoute, q: URLSearchParams): Predicate {
  const labels = labelPredicate(q.get('labelSelector') ?? undefined);
  const fields = fieldPredicate(q.get('fieldSelector') ?? undefined, route.info);
  const name = route.name;
  return (o) => labels(o) && fields(o) && (name === undefined || o.metadata.name === name);
}

/** Items of a List: the real server leaves out their kind and apiVersion. */
function listItem(o: KubeObject): KubeObject {
  const { apiVersion: _a, kind: _k, ...rest } = o;
  return rest as KubeObject;
}

interface ContinueToken {
  rv: number;
  start: string;
}

function decodeContinue(raw: string, store: Store): ContinueToken {
  let tok: ContinueToken;
  try {
    tok = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as ContinueToken;
  } catch {
    throw badRequest(`invalid continue token: ${raw}`);
  }
  if (typeof tok.rv !== 'number' || typeof tok.start !== 'string') {
    throw badRequest(`invalid continue token: ${raw}`);
  }
  if (tok.rv < store.compactedRevision) {
    throw expired(
      'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.',
    );
  }
  return tok;
}

function keyOf(o: KubeObject): string {
  return `${o.metadata.namespace ?? ''}/${o.metadata.name ?? ''}`;
}

function list(call: Call): Reply {
  const { ctx, route, query } = call;
  const match = predicate(route, query);
  let items = ctx.store.view(route.info, route.namespace).filter(match);
  let rv = ctx.store.revision;
  const cont = query.get('continue');
  if (cont !== null && cont !== '') {
    const tok = decodeContinue(cont, ctx.store);
    rv = tok.rv;
    items = items.filter((o) => keyOf(o) >= tok.start);
  }
  const metadata: Record<string, unknown> = { resourceVersion: String(rv) };
  const limit = Number(query.get('limit') ?? '0');
  if (Number.isInteger(limit) && limit > 0 && items.length > limit) {
    const next = items[limit];
    if (next !== undefined) {
      const tok: ContinueToken = { rv, start: keyOf(next) };
      metadata['continue'] = Buffer.from(JSON.stringify(tok)).toString('base64url');
      metadata['remainingItemCount'] = items.length - limit;
    }
    items = items.slice(0, limit);
  }
  if (acceptsTable(call.req)) return { code: 200, body: toTable(route.info, items, metadata) };
  return {
    code: 200,
    body: {
      kind: `${route.info.kind}List`,
      apiVersion: groupVersion(route.info),
      metadata,
      items: items.map(listItem),
    },
  };
}

function get(call: Call): Reply {
  const { ctx, route } = call;
  scopeOf(route);
  const o = ctx.store.get(route.info, ns(route), route.name ?? '');
  if (o === undefined) throw notFound(route.info, route.name ?? '');
  if (acceptsTable(call.req) && route.subresource === undefined) {
    return {
      code: 200,
      body: toTable(route.info, [o], { resourceVersion: o.metadata.resourceVersion }),
    };
  }
  return { code: 200, body: o };
}

/** Checks the body's kind, apiVersion, namespace (and name) against the URL. */
function bodyObject(route: ResourceRoute, body: unknown): KubeObject {
  const obj = asKubeObject(body);
  const info = route.info;
  if (obj.kind !== undefined && obj.kind !== info.kind) {
    throw badRequest(`the kind of the provided object (${obj.kind}) does not match ${info.kind}`);
  }
  if (obj.apiVersion !== undefined && obj.apiVersion !== groupVersion(info)) {
    throw badRequest(
      `the API version in the data (${obj.apiVersion}) does not match the expected API version (${groupVersion(info)})`,
    );
  }
  const bodyNs = obj.metadata.namespace;
  if (info.namespaced && bodyNs !== undefined && bodyNs !== '' && bodyNs !== route.namespace) {
    throw badRequest(
      'the namespace of the provided object does not match the namespace sent on the request',
    );
  }
  if (route.name !== undefined && obj.metadata.name !== route.name) {
    throw badRequest(
      `the name of the object (${obj.metadata.name ?? ''}) does not match the name on the URL (${route.name})`,
    );
  }
  return obj;
}

function create(call: Call): Reply {
  const { ctx, route } = call;
  if (route.info.namespaced && route.namespace === undefined) {
    throw new ApiError(
      'MethodNotAllowed',
      'the server does not allow this method on the requested resource',
    );
  }
  const obj = bodyObject(route, call.body);
  return { code: 201, body: ctx.store.create(route.info, ns(route), obj, isDryRun(call.query)) };
}

function update(call: Call): Reply {
  const { ctx, route } = call;
  const scope = scopeOf(route);
  const obj = bodyObject(route, call.body);
  return {
    code: 200,
    body: ctx.store.update(route.info, ns(route), obj, scope, isDryRun(call.query)),
  };
}

function patch(call: Call): Reply {
  const { ctx, route, req } = call;
  const scope = scopeOf(route);
  const name = route.name ?? '';
  const current = ctx.store.get(route.info, ns(route), name);
  if (current === undefined) throw notFound(route.info, name);
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim() ?? '';
  const patched = asKubeObject(applyPatch(type, clone(current), call.body));
  if (patched.metadata.name !== name) {
    throw badRequest(`the name of the object cannot be changed by a patch`);
  }
  return {
    code: 200,
    body: ctx.store.update(route.info, ns(route), patched, scope, isDryRun(call.query)),
  };
}

/** Preconditions and grace period from a DeleteOptions body and the query. */
function deleteOptions(body: unknown, query: URLSearchParams): DeleteOptions {
  const out: DeleteOptions = { dryRun: isDryRun(query) };
  const b = body !== null && typeof body === 'object' ? (body as Record<string, unknown>) : {};
  const grace = b['gracePeriodSeconds'] ?? query.get('gracePeriodSeconds') ?? undefined;
  if (grace !== undefined && grace !== null) {
    const n = Number(grace);
    if (!Number.isInteger(n) || n < 0)
      throw badRequest(`invalid gracePeriodSeconds: ${String(grace)}`);
    out.gracePeriodSeconds = n;
  }
  const pre = b['preconditions'];
  if (pre === null || typeof pre !== 'object') return out;
  const p = pre as Record<string, unknown>;
  if (typeof p['uid'] === 'string') out.uid = p['uid'];
  if (typeof p['resourceVersion'] === 'string') out.resourceVersion = p['resourceVersion'];
  return out;
}

function remove(call: Call): Reply {
  const { ctx, route } = call;
  if (route.subresource !== undefined) throw pathNotFound();
  const opts = deleteOptions(call.body, call.query);
  return { code: 200, body: ctx.store.delete(route.info, ns(route), route.name ?? '', opts) };
}

function removeCollection(call: Call): Reply {
  const { ctx, route, query } = call;
  const match = predicate(route, query);
  const opts = deleteOptions(call.body, query);
  const items = ctx.store
    .list(route.info, route.namespace)
    .filter(match)
    .map((o) =>
      ctx.store.delete(route.info, o.metadata.namespace ?? '', o.metadata.name ?? '', opts),
    );
  return {
    code: 200,
    body: {
      kind: `${route.info.kind}List`,
      apiVersion: groupVersion(route.info),
      metadata: { resourceVersion: String(ctx.store.revision) },
      items: items.map(listItem),
    },
  };
}

/**
 * Runs one resource request. Returns the reply, or undefined when the handler answered
 * itself (a watch stream).
 */
export function handleResource(
  ctx: HandlerContext,
  verb: Verb,
  route: ResourceRoute,
  query: URLSearchParams,
  req: IncomingMessage,
  res: ServerResponse,
  body: unknown,
): Reply | undefined {
  const call: Call = { ctx, route, query, req, body };
  switch (verb) {
    case 'watch':
      serveWatch(
        {
          store: ctx.store,
          info: route.info,
          namespace: route.namespace,
          match: predicate(route, query),
          query,
          bookmarkMs: ctx.bookmarkMs,
          tooOldWatch: ctx.tooOldWatch,
          live: ctx.live,
        },
        req,
        res,
      );
      return undefined;
    case 'list':
      return list(call);
    case 'get':
      return get(call);
    case 'create':
      return create(call);
    case 'update':
      return update(call);
    case 'patch':
      return patch(call);
    case 'delete':
      return remove(call);
    case 'deletecollection':
      return removeCollection(call);
  }
}

export type { ResourceInfo };
