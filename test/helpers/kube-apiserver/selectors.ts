/**
 * Label selectors (`a=b,c!=d,e in (x,y),f notin (z),g,!h`) and field selectors
 * (`metadata.name=x,spec.nodeName!=y`), parsed once per request into a predicate.
 * Bad syntax, or a field the resource does not index, is a 400 as on the real server.
 */
import type { ResourceInfo } from './resources.ts';
import { badRequest } from './status.ts';
import type { KubeObject } from './store.ts';

export type Predicate = (obj: KubeObject) => boolean;

type Requirement =
  | { op: 'eq' | 'ne'; key: string; value: string }
  | { op: 'in' | 'notin'; key: string; values: string[] }
  | { op: 'exists' | 'notexists'; key: string };

/** Splits at commas that are not inside parentheses. */
function splitTop(s: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  parts.push(cur);
  return parts.map((p) => p.trim()).filter((p) => p !== '');
}

const KEY = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

function checkKey(key: string, all: string): string {
  if (!KEY.test(key) || key.length > 316) {
    throw badRequest(`unable to parse requirement: invalid label key "${key}" in "${all}"`);
  }
  return key;
}

function checkValue(v: string, all: string): string {
  if (!VALUE.test(v) || v.length > 63) {
    throw badRequest(`unable to parse requirement: invalid label value "${v}" in "${all}"`);
  }
  return v;
}

function parseRequirement(part: string, all: string): Requirement {
  const set = /^(\S+)\s+(in|notin)\s*\((.*)\)$/.exec(part);
  if (set !== null) {
    const values = (set[3] ?? '')
      .split(',')
      .map((v) => v.trim())
      .map((v) => checkValue(v, all));
    return { op: set[2] === 'in' ? 'in' : 'notin', key: checkKey(set[1] ?? '', all), values };
  }
  const cmp = /^([^=!\s]+)\s*(==|=|!=)\s*(.*)$/.exec(part);
  if (cmp !== null) {
    const op = cmp[2] === '!=' ? 'ne' : 'eq';
    return { op, key: checkKey(cmp[1] ?? '', all), value: checkValue(cmp[3] ?? '', all) };
  }
  if (part.startsWith('!')) return { op: 'notexists', key: checkKey(part.slice(1).trim(), all) };
  return { op: 'exists', key: checkKey(part, all) };
}

function test(req: Requirement, get: (key: string) => string | undefined): boolean {
  const v = get(req.key);
  switch (req.op) {
    case 'eq':
      return v === req.value;
    case 'ne':
      return v !== req.value;
    case 'in':
      return v !== undefined && req.values.includes(v);
    case 'notin':
      return v === undefined || !req.values.includes(v);
    case 'exists':
      return v !== undefined;
    case 'notexists':
      return v === undefined;
  }
}

/** A predicate for a label selector; undefined or '' matches everything. */
export function labelPredicate(selector: string | undefined): Predicate {
  if (selector === undefined || selector.trim() === '') return () => true;
  const reqs = splitTop(selector).map((p) => parseRequirement(p, selector));
  return (obj) => {
    const labels = obj.metadata.labels ?? {};
    return reqs.every((req) => test(req, (k) => labels[k]));
  };
}

/** Reads a dotted field path from an object as the string a field selector compares. */
export function fieldValue(obj: KubeObject, path: string): string {
  let cur: unknown = obj;
  for (const part of path.split('.')) {
    cur =
      cur !== null && typeof cur === 'object' ? (cur as Record<string, unknown>)[part] : undefined;
  }
  if (cur === undefined || cur === null) {
    // The real server indexes a missing boolean as "false" and a missing string as "".
    return path === 'spec.unschedulable' || path === 'spec.hostNetwork' ? 'false' : '';
  }
  if (typeof cur === 'object') return '';
  return String(cur);
}

/** A predicate for a field selector, limited to the fields this resource indexes. */
export function fieldPredicate(selector: string | undefined, info: ResourceInfo): Predicate {
  if (selector === undefined || selector.trim() === '') return () => true;
  const allowed = new Set(['metadata.name', 'metadata.namespace', ...info.fields]);
  const reqs: Requirement[] = [];
  for (const part of splitTop(selector)) {
    const m = /^([^=!]+?)\s*(==|=|!=)\s*(.*)$/.exec(part);
    if (m === null) {
      throw badRequest(`invalid selector: '${selector}'; can't understand '${part}'`);
    }
    const key = m[1] ?? '';
    if (!allowed.has(key)) {
      throw badRequest(
        `"${key}" is not a known field selector: only "${[...allowed].join('", "')}"`,
      );
    }
    reqs.push({ op: m[2] === '!=' ? 'ne' : 'eq', key, value: m[3] ?? '' });
  }
  return (obj) => reqs.every((req) => test(req, (k) => fieldValue(obj, k)));
}
