/**
 * URL → what is asked: a discovery document, or a resource request with its RBAC verb.
 *
 *   /api/v1[/namespaces/NS]/RESOURCE[/NAME[/SUBRESOURCE]]
 *   /apis/GROUP/VERSION[/namespaces/NS]/RESOURCE[/NAME[/SUBRESOURCE]]
 */
import { findResource, type ResourceInfo } from './resources.ts';

export type Verb =
  'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'deletecollection';

/** One line of the request log: the shape of an RBAC rule check. */
export interface RequestRecord {
  verb: Verb | string;
  group?: string;
  version?: string;
  resource?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  /** For requests that are not for a resource (discovery, /version, /openapi). */
  nonResourceURL?: string;
}

export interface ResourceRoute {
  info: ResourceInfo;
  namespace: string | undefined;
  name: string | undefined;
  subresource: string | undefined;
}

function nsRoute(
  group: string,
  version: string,
  rest: string[],
): ResourceRoute | 'unknown' | undefined {
  // rest = ['namespaces', NS, RESOURCE, NAME?, SUB?]
  const [, namespace, resource, name, sub, extra] = rest;
  if (namespace === undefined || resource === undefined || extra !== undefined) return 'unknown';
  const info = findResource(group, version, resource);
  if (info === undefined || !info.namespaced) return undefined;
  return { info, namespace, name, subresource: sub };
}

/**
 * The resource a path names; undefined when the path is not under a group/version this server
 * serves; 'unknown' when it is but names nothing served.
 */
export function resourceRoute(path: string): ResourceRoute | 'unknown' | undefined {
  const segs = path
    .split('/')
    .filter((s) => s !== '')
    .map(decodeURIComponent);
  let group: string;
  let version: string;
  let rest: string[];
  if (segs[0] === 'api' && segs.length >= 3) {
    group = '';
    version = segs[1] ?? '';
    rest = segs.slice(2);
  } else if (segs[0] === 'apis' && segs.length >= 4) {
    group = segs[1] ?? '';
    version = segs[2] ?? '';
    rest = segs.slice(3);
  } else return undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    const r = nsRoute(group, version, rest);
    if (r !== undefined) return r;
  }
  const [resource, name, sub, extra] = rest;
  const info = resource === undefined ? undefined : findResource(group, version, resource);
  if (info === undefined || extra !== undefined) return 'unknown';
  return { info, namespace: undefined, name, subresource: sub };
}

/** The RBAC verb of an HTTP method on a route. */
export function verbOf(method: string, route: ResourceRoute, watch: boolean): Verb | undefined {
  const named = route.name !== undefined;
  switch (method) {
    case 'GET':
      if (watch) return 'watch';
      return named ? 'get' : 'list';
    case 'POST':
      return named ? undefined : 'create';
    case 'PUT':
      return named ? 'update' : undefined;
    case 'PATCH':
      return named ? 'patch' : undefined;
    case 'DELETE':
      return named ? 'delete' : 'deletecollection';
    default:
      return undefined;
  }
}

/** The log record of a resource request. */
export function recordOf(verb: Verb, route: ResourceRoute): RequestRecord {
  const r: RequestRecord = {
    verb,
    group: route.info.group,
    version: route.info.version,
    resource: route.info.resource,
  };
  if (route.subresource !== undefined) r.subresource = route.subresource;
  if (route.namespace !== undefined) r.namespace = route.namespace;
  if (route.name !== undefined) r.name = route.name;
  return r;
}
