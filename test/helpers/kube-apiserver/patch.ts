/**
 * The three PATCH flavours the real server accepts:
 * - JSON merge patch (RFC 7386): maps merge, `null` deletes, lists are replaced;
 * - strategic merge patch: like merge, but lists of containers, ports, env, conditions… merge
 *   by their key, primitive lists like finalizers merge as sets, and the `$patch`,
 *   `$retainKeys`, `$setElementOrder/…` and `$deleteFromPrimitiveList/…` directives that
 *   kubectl sends are understood;
 * - JSON patch (RFC 6902): add, remove, replace, move, copy, test.
 */
import { isDeepStrictEqual } from 'node:util';
import { ApiError, badRequest } from './status.ts';

type Json = unknown;
type JsonObject = Record<string, Json>;

/** Sets an own property, even one named `__proto__` (JSON.parse makes those). */
function put(o: JsonObject, key: string, value: Json): void {
  Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
}

function isObject(v: Json): v is JsonObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export const PATCH_TYPES = [
  'application/merge-patch+json',
  'application/strategic-merge-patch+json',
  'application/json-patch+json',
] as const;
export type PatchType = (typeof PATCH_TYPES)[number];

/** RFC 7386 merge patch. */
export function mergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return structuredClone(patch);
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else put(out, k, mergePatch(out[k], v));
  }
  return out;
}

/** List fields that merge by a key in strategic merge patch; the first key present wins. */
const MERGE_KEYS: Record<string, string[]> = {
  containers: ['name'],
  initContainers: ['name'],
  ephemeralContainers: ['name'],
  ports: ['containerPort', 'port'],
  env: ['name'],
  volumes: ['name'],
  volumeMounts: ['mountPath'],
  volumeDevices: ['devicePath'],
  conditions: ['type'],
  addresses: ['type'],
  imagePullSecrets: ['name'],
  ownerReferences: ['uid'],
  taints: ['key'],
  hostAliases: ['ip'],
  topologySpreadConstraints: ['topologyKey'],
  containerStatuses: ['name'],
  initContainerStatuses: ['name'],
  podIPs: ['ip'],
  hostIPs: ['ip'],
  resourceClaims: ['name'],
};

/** Primitive lists that merge as sets. */
const SET_LISTS = new Set(['finalizers']);

function mergeKeyFor(field: string, items: Json[]): string | undefined {
  const keys = MERGE_KEYS[field];
  if (keys === undefined) return undefined;
  const objs = items.filter(isObject);
  if (objs.length === 0 || objs.length !== items.length) return undefined;
  return keys.find((k) => objs.every((o) => k in o));
}

function mergeKeyedList(target: Json[], patch: Json[], key: string): Json[] {
  const out = target.map((x) => structuredClone(x));
  for (const item of patch) {
    if (!isObject(item)) continue;
    const idx = out.findIndex((o) => isObject(o) && isDeepStrictEqual(o[key], item[key]));
    if (item['$patch'] === 'delete') {
      if (idx >= 0) out.splice(idx, 1);
      continue;
    }
    if (item['$patch'] === 'replace') {
      const { $patch: _p, ...rest } = item;
      if (idx >= 0) out[idx] = rest;
      else out.push(rest);
      continue;
    }
    if (idx >= 0) out[idx] = strategicMerge(out[idx], item);
    else out.push(strategicMerge({}, item));
  }
  return out;
}

function mergeList(field: string, target: Json, patch: Json[]): Json[] {
  const tlist = Array.isArray(target) ? target : [];
  const replace = patch.find((x) => isObject(x) && x['$patch'] === 'replace');
  if (replace !== undefined) return patch.filter((x) => x !== replace).map(stripDirectives);
  if (SET_LISTS.has(field)) {
    const out = [...tlist];
    for (const x of patch) if (!out.some((y) => isDeepStrictEqual(x, y))) out.push(x);
    return out;
  }
  const key = mergeKeyFor(
    field,
    [...tlist, ...patch].filter((x) => !isPatchOnly(x)),
  );
  if (key === undefined) return patch.map(stripDirectives);
  return mergeKeyedList(tlist, patch, key);
}

function isPatchOnly(x: Json): boolean {
  return isObject(x) && Object.keys(x).every((k) => k.startsWith('$'));
}

function stripDirectives(x: Json): Json {
  if (Array.isArray(x)) return x.map(stripDirectives);
  if (!isObject(x)) return x;
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(x)) {
    if (k.startsWith('$')) continue;
    put(out, k, stripDirectives(v));
  }
  return out;
}

/** Strategic merge patch for the fields this server's users send (see MERGE_KEYS). */
export function strategicMerge(target: Json, patch: Json): Json {
  if (!isObject(patch)) return structuredClone(patch);
  if (patch['$patch'] === 'replace') return stripDirectives(patch);
  if (patch['$patch'] === 'delete') return undefined;
  let out: JsonObject = isObject(target) ? { ...target } : {};
  const retain = patch['$retainKeys'];
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$patch' || k === '$retainKeys' || k.startsWith('$setElementOrder/')) continue;
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const field = k.slice('$deleteFromPrimitiveList/'.length);
      const cur = out[field];
      if (Array.isArray(cur) && Array.isArray(v)) {
        put(
          out,
          field,
          cur.filter((x) => !v.some((y) => isDeepStrictEqual(x, y))),
        );
      }
      continue;
    }
    if (v === null) delete out[k];
    else if (Array.isArray(v)) put(out, k, mergeList(k, out[k], v));
    else if (isObject(v)) {
      const merged = strategicMerge(out[k], v);
      if (merged === undefined) delete out[k];
      else put(out, k, merged);
    } else put(out, k, v);
  }
  if (Array.isArray(retain)) {
    const keep = new Set(retain.map(String));
    out = Object.fromEntries(Object.entries(out).filter(([k]) => keep.has(k)));
  }
  return out;
}

function unescape(token: string): string {
  return token.replace(/~1/g, '/').replace(/~0/g, '~');
}

function parsePointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw badRequest(`invalid JSON pointer "${path}"`);
  return path.slice(1).split('/').map(unescape);
}

function parentOf(doc: Json, tokens: string[], path: string): [Json, string] {
  let cur = doc;
  for (const t of tokens.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[Number(t)];
    else if (isObject(cur)) cur = cur[t];
    else cur = undefined;
    if (cur === undefined) throw unprocessable(`doc is missing path: "${path}"`);
  }
  return [cur, tokens[tokens.length - 1] ?? ''];
}

function unprocessable(message: string): ApiError {
  return new ApiError('Invalid', message);
}

function getAt(doc: Json, path: string): Json {
  const tokens = parsePointer(path);
  if (tokens.length === 0) return doc;
  const [parent, last] = parentOf(doc, tokens, path);
  const v = Array.isArray(parent)
    ? parent[Number(last)]
    : isObject(parent)
      ? parent[last]
      : undefined;
  if (v === undefined) throw unprocessable(`doc is missing path: "${path}"`);
  return v;
}

function removeAt(doc: Json, path: string): Json {
  const [parent, last] = parentOf(doc, parsePointer(path), path);
  if (Array.isArray(parent)) {
    const i = Number(last);
    if (!(i >= 0 && i < parent.length)) throw unprocessable(`doc is missing path: "${path}"`);
    return parent.splice(i, 1)[0];
  }
  if (!isObject(parent) || !Object.hasOwn(parent, last)) {
    throw unprocessable(`doc is missing path: "${path}"`);
  }
  const v = parent[last];
  delete parent[last];
  return v;
}

function addAt(doc: Json, path: string, value: Json, replace: boolean): Json {
  const tokens = parsePointer(path);
  if (tokens.length === 0) return structuredClone(value);
  const [parent, last] = parentOf(doc, tokens, path);
  if (Array.isArray(parent)) {
    const i = last === '-' ? parent.length : Number(last);
    if (!(i >= 0 && i <= parent.length)) throw unprocessable(`index out of range: "${path}"`);
    if (replace) parent[i] = structuredClone(value);
    else parent.splice(i, 0, structuredClone(value));
  } else if (isObject(parent)) {
    if (replace && !Object.hasOwn(parent, last)) {
      throw unprocessable(`doc is missing path: "${path}"`);
    }
    put(parent, last, structuredClone(value));
  } else throw unprocessable(`doc is missing path: "${path}"`);
  return doc;
}

/** RFC 6902 JSON patch. */
export function jsonPatch(target: Json, ops: Json): Json {
  if (!Array.isArray(ops)) throw badRequest('json patch must be a list of operations');
  let doc = structuredClone(target);
  for (const op of ops) {
    if (!isObject(op) || typeof op['path'] !== 'string') {
      throw badRequest(`invalid json patch operation ${JSON.stringify(op)}`);
    }
    const path = op['path'];
    switch (op['op']) {
      case 'add':
        doc = addAt(doc, path, op['value'], false);
        break;
      case 'replace':
        doc = addAt(doc, path, op['value'], true);
        break;
      case 'remove':
        removeAt(doc, path);
        break;
      case 'move':
      case 'copy': {
        const from = String(op['from'] ?? '');
        const v = op['op'] === 'move' ? removeAt(doc, from) : structuredClone(getAt(doc, from));
        doc = addAt(doc, path, v, false);
        break;
      }
      case 'test':
        if (!isDeepStrictEqual(getAt(doc, path), op['value'])) {
          throw unprocessable(`testing value ${path} failed`);
        }
        break;
      default:
        throw badRequest(`Unexpected kind: ${String(op['op'])}`);
    }
  }
  return doc;
}

/** Applies a patch body of the given content type to a copy of `target`. */
export function applyPatch(type: string, target: Json, patch: Json): Json {
  switch (type) {
    case 'application/merge-patch+json':
      return mergePatch(target, patch);
    case 'application/strategic-merge-patch+json':
      return strategicMerge(target, patch);
    case 'application/json-patch+json':
      return jsonPatch(target, patch);
    default:
      throw new ApiError(
        'UnsupportedMediaType',
        `the body of the request was in an unknown format - accepted media types include: ${PATCH_TYPES.join(', ')}, application/apply-patch+yaml`,
      );
  }
}
