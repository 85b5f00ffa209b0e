/**
 * Reads untrusted JSON into a policy in normal form, recording a problem (with its field path)
 * for every value of the wrong type. Reading never stops at the first problem: what can be read
 * is kept, so that the semantic checks in validate.ts can still run on it.
 *
 * Go compatibility: the original decoded with `encoding/json`, so `null` behaves like an absent
 * field and empty strings behave like absent strings (`omitempty`); both are dropped here.
 */
import { parsePolicyCidr } from './cidr.ts';
import { nameProblem, textProblem } from '../names.ts';
import type {
  Direction,
  Endpoint,
  IngressEntry,
  RomanaPolicy as Policy,
  PortRange,
  Rule,
} from './model.ts';

/** A problem found in the input; `path` is like `ingress[0].rules[1].ports[2]` ('' = the root). */
export interface Problem {
  path: string;
  message: string;
}

/** A policy as read, plus what the semantic checks need to know about the parts that failed. */
export interface Draft {
  policy: Policy;
  /** False when `direction` was present but not a valid direction. */
  directionOk: boolean;
  /** Endpoints with a problem of their own; they are not checked against the combination table. */
  brokenEndpoints: Set<Endpoint>;
  /** Rules whose protocol could not be read; the §10.3 rule checks skip them. */
  brokenRules: Set<Rule>;
  /** Where each endpoint and rule was in the input (items that could not be read are dropped). */
  paths: Map<Endpoint | Rule, string>;
}

/**
 * Longest id accepted: a DNS-name-sized key, the same bound Kubernetes puts on object names.
 *
 * @example validatePolicy({ ...p, id: 'x'.repeat(MAX_ID_LENGTH + 1) }).ok // false
 */
export const MAX_ID_LENGTH = 253;

const POLICY_KEYS = ['id', 'direction', 'description', 'applied_to', 'ingress'];
const ENDPOINT_KEYS = ['peer', 'cidr', 'dest', 'tenant_id', 'segment_id'] as const;
const INGRESS_KEYS = ['peers', 'rules'];
const RULE_KEYS = ['protocol', 'ports', 'port_ranges', 'icmp_type', 'icmp_code', 'is_stateful'];

type Json = Record<string, unknown>;

/**
 * §10.3 rule 1. The original reported one message for the whole policy ("policy <json> has
 * .Ingress .AppliedTo .Peers or .Rules field empty"); here each empty field is named.
 */
const EMPTY = {
  applied_to: 'field empty; a policy needs at least one target',
  ingress: 'field empty; a policy needs at least one ingress entry',
  peers: 'field empty; an ingress entry needs at least one peer',
  rules: 'field empty; an ingress entry needs at least one rule',
};

/** A JSON object (not null, not an array). */
export function isJsonObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `a` + `b` → `a.b`; the root path is ''. */
export function joinPath(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

/** Lower case without `_` and `-`, so that `appliedTo`, `Applied-To` all match `applied_to`. */
function squash(key: string): string {
  return key.toLowerCase().replace(/[_-]/g, '');
}

/**
 * Keys that look like a misspelt known key are problems: they would silently lose data
 * (`"Direction": "egress"` read as an ingress policy). With `strict` (every 2.x policy), any
 * other unknown key is a problem too: a rule's `"port": [22]` dropped would store a rule for
 * every port.
 */
export function checkKeys(
  obj: Json,
  known: readonly string[],
  path: string,
  out: Problem[],
  strict = false,
): void {
  for (const key of Object.keys(obj)) {
    if (known.includes(key)) continue;
    const near = known.find((k) => squash(k) === squash(key));
    if (near !== undefined) {
      out.push({ path: joinPath(path, key), message: `unknown field; did you mean '${near}'?` });
    } else if (strict) {
      out.push({
        path: joinPath(path, key),
        message: `unknown field (known: ${known.join(', ')})`,
      });
    }
  }
}

class Reader {
  readonly problems: Problem[] = [];
  readonly draft: Omit<Draft, 'policy'> = {
    directionOk: true,
    brokenEndpoints: new Set(),
    brokenRules: new Set(),
    paths: new Map(),
  };

  problem(path: string, message: string): void {
    this.problems.push({ path, message });
  }

  /** A string field; `undefined` when absent, null, empty or of the wrong type (reported). */
  string(obj: Json, key: string, path: string): string | undefined {
    const v = obj[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') {
      this.problem(joinPath(path, key), `must be a string, got ${describe(v)}`);
      return undefined;
    }
    return v === '' ? undefined : v;
  }

  /** Reports a tenant or segment name that breaks the name rule (src/names.ts). */
  name(v: string, path: string, kind: 'tenant' | 'name'): void {
    const problem = nameProblem(v, kind);
    if (problem !== undefined) this.problem(path, problem);
  }

  /** A non-negative integer (Go `uint`) at `path`; `undefined` when wrong (reported). */
  uint(v: unknown, path: string): number | undefined {
    if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
    this.problem(path, `must be a non-negative integer, got ${describe(v)}`);
    return undefined;
  }

  optionalUint(obj: Json, key: string, path: string): number | undefined {
    const v = obj[key];
    return v === undefined || v === null ? undefined : this.uint(v, joinPath(path, key));
  }

  /** An array field; absent or null reads as `[]`, a non-array as `undefined` (reported). */
  array(obj: Json, key: string, path: string): unknown[] | undefined {
    const v = obj[key];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) {
      this.problem(joinPath(path, key), `must be an array, got ${describe(v)}`);
      return undefined;
    }
    return v;
  }

  object(v: unknown, path: string): Json | undefined {
    if (isJsonObject(v)) return v;
    this.problem(path, `must be an object, got ${describe(v)}`);
    return undefined;
  }

  policy(input: unknown): Policy | undefined {
    const obj = this.object(input, '');
    if (obj === undefined) return undefined;
    checkKeys(obj, [...POLICY_KEYS, 'peers', 'rules'], '', this.problems, true);
    for (const key of ['peers', 'rules']) {
      if (obj[key] === undefined) continue;
      this.problem(
        key,
        'is a 1.x field: put peers and rules in an ingress entry, or send the 1.x form {"securitypolicies": [...]}',
      );
    }
    const policy: Policy = {
      id: this.id(obj),
      direction: this.direction(obj),
      applied_to: this.list(obj, 'applied_to', '', (v, p) => this.endpoint(v, p), EMPTY.applied_to),
      ingress: this.list(obj, 'ingress', '', (v, p) => this.ingress(v, p), EMPTY.ingress),
    };
    const description = this.string(obj, 'description', '');
    if (description !== undefined) {
      const problem = textProblem(description);
      if (problem !== undefined) this.problem('description', problem);
      policy.description = description;
    }
    return policy;
  }

  /**
   * Reads an array of items, dropping the unreadable ones (reported). With `whenEmpty`, an absent
   * or empty array is itself a problem (§10.3 rule 1); a malformed one is reported once, as such.
   */
  list<T>(
    obj: Json,
    key: string,
    path: string,
    item: (v: unknown, p: string) => T | undefined,
    whenEmpty?: string,
  ): T[] {
    const raw = this.array(obj, key, path);
    if (raw === undefined) return [];
    if (raw.length === 0 && whenEmpty !== undefined) this.problem(joinPath(path, key), whenEmpty);
    const out: T[] = [];
    raw.forEach((v, i) => {
      const t = item(v, `${joinPath(path, key)}[${i}]`);
      if (t !== undefined) out.push(t);
    });
    return out;
  }

  id(obj: Json): string {
    const v = obj['id'];
    if (v === undefined || v === null) {
      this.problem('id', 'is required');
      return '';
    }
    if (typeof v !== 'string') {
      this.problem('id', `must be a string, got ${describe(v)}`);
      return '';
    }
    const problem = nameProblem(v, 'name');
    if (problem !== undefined) this.problem('id', problem);
    return v;
  }

  /**
   * DECISION: an absent (or empty, or null) direction means `ingress`. In the original an absent
   * direction decoded to "", matched no blueprint, and the policy could never be enforced (its
   * validation failed on every target/peer pair). The 1.x format only knew ingress and every
   * documented example is ingress, so ingress is the only reading a user can have meant.
   * The normal form always carries the direction explicitly. Other values, including other
   * letter cases, are rejected: the original compared the exact strings.
   */
  direction(obj: Json): Direction {
    const v = this.string(obj, 'direction', '');
    if (v === undefined) return 'ingress';
    if (v === 'ingress' || v === 'egress') return v;
    this.draft.directionOk = false;
    this.problem('direction', `must be 'ingress' or 'egress', got '${v}'`);
    return 'ingress';
  }

  ingress(v: unknown, path: string): IngressEntry | undefined {
    const obj = this.object(v, path);
    if (obj === undefined) return undefined;
    checkKeys(obj, INGRESS_KEYS, path, this.problems, true);
    return {
      peers: this.list(obj, 'peers', path, (e, p) => this.endpoint(e, p), EMPTY.peers),
      rules: this.list(obj, 'rules', path, (r, p) => this.rule(r, p), EMPTY.rules),
    };
  }

  /**
   * An endpoint. Values that are strings but wrong (`peer: "all"`, a CIDR with host bits) are
   * reported and kept, so the endpoint is still classified as written; endpoints with fields of
   * the wrong type, misspelt keys or no single meaning are not checked against the combination
   * table, as their own problem already says what is wrong.
   */
  endpoint(v: unknown, path: string): Endpoint | undefined {
    const obj = this.object(v, path);
    if (obj === undefined) return undefined;
    const before = this.problems.length;
    checkKeys(obj, ENDPOINT_KEYS, path, this.problems, true);
    const e: Endpoint = {};
    for (const key of ENDPOINT_KEYS) {
      const value = this.string(obj, key, path);
      if (value !== undefined) e[key] = value;
    }
    if (e.tenant_id !== undefined) this.name(e.tenant_id, joinPath(path, 'tenant_id'), 'tenant');
    if (e.segment_id !== undefined) this.name(e.segment_id, joinPath(path, 'segment_id'), 'name');
    this.endpointMeaning(e, path);
    if (this.problems.length > before) this.draft.brokenEndpoints.add(e);
    if (e.peer !== undefined && e.peer !== 'any' && e.peer !== 'local' && e.peer !== 'host') {
      this.problem(joinPath(path, 'peer'), `must be 'any', 'local' or 'host', got '${e.peer}'`);
    }
    if (e.dest !== undefined && e.dest !== 'local' && e.dest !== 'host') {
      this.problem(joinPath(path, 'dest'), `must be 'local' or 'host', got '${e.dest}'`);
    }
    if (e.cidr !== undefined) {
      const field = joinPath(path, 'cidr');
      try {
        e.cidr = parsePolicyCidr(e.cidr, field).toString();
      } catch (err) {
        const text = err instanceof Error ? err.message : String(err);
        this.problem(field, text.startsWith(`${field}: `) ? text.slice(field.length + 2) : text);
      }
    }
    this.draft.paths.set(e, path);
    return e;
  }

  /** One endpoint must say one thing; the original silently used the first field it knew. */
  endpointMeaning(e: Endpoint, path: string): void {
    const given = (['peer', 'cidr', 'dest', 'tenant_id'] as const).filter(
      (k) => e[k] !== undefined,
    );
    if (given.length > 1) {
      this.problem(
        path,
        `ambiguous endpoint: give only one of peer, cidr, dest or tenant_id, got ${given.join(' and ')}`,
      );
    } else if (given.length === 0 && e.segment_id === undefined) {
      this.problem(path, 'empty endpoint: give one of peer, cidr, dest or tenant_id');
    }
    if (e.segment_id !== undefined && e.tenant_id === undefined) {
      this.problem(joinPath(path, 'segment_id'), 'needs tenant_id (a segment belongs to a tenant)');
    }
  }

  rule(v: unknown, path: string): Rule | undefined {
    const obj = this.object(v, path);
    if (obj === undefined) return undefined;
    checkKeys(obj, RULE_KEYS, path, this.problems, true);
    const rawProtocol = obj['protocol'];
    const protocolOk =
      rawProtocol === undefined || rawProtocol === null || typeof rawProtocol === 'string';
    // The §10.3 normalisation: trimmed and lower-cased.
    const r: Rule = { protocol: (this.string(obj, 'protocol', path) ?? '').trim().toLowerCase() };
    const ports = this.list(obj, 'ports', path, (p, at) => this.uint(p, at));
    if (ports.length > 0) r.ports = ports;
    const ranges = this.list(obj, 'port_ranges', path, (p, at) => this.range(p, at));
    if (ranges.length > 0) r.port_ranges = ranges;
    const icmpType = this.optionalUint(obj, 'icmp_type', path);
    if (icmpType !== undefined) r.icmp_type = icmpType;
    const icmpCode = this.optionalUint(obj, 'icmp_code', path);
    if (icmpCode !== undefined) r.icmp_code = icmpCode;
    const stateful = obj['is_stateful'];
    if (typeof stateful === 'boolean') r.is_stateful = stateful;
    else if (stateful !== undefined && stateful !== null) {
      this.problem(
        joinPath(path, 'is_stateful'),
        `must be true or false, got ${describe(stateful)}`,
      );
    }
    if (!protocolOk) this.draft.brokenRules.add(r);
    this.draft.paths.set(r, path);
    return r;
  }

  range(v: unknown, path: string): PortRange | undefined {
    if (!Array.isArray(v) || v.length !== 2) {
      this.problem(path, `must be a pair [low, high] of port numbers, got ${describe(v)}`);
      return undefined;
    }
    const lo = this.uint(v[0], `${path}[0]`);
    const hi = this.uint(v[1], `${path}[1]`);
    return lo === undefined || hi === undefined ? undefined : [lo, hi];
  }
}

/** A short rendering of a JSON value for messages. */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array (${truncate(JSON.stringify(v))})`;
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return `the string '${truncate(v)}'`;
  return `${typeof v} ${String(v)}`;
}

function truncate(s: string): string {
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

/** Reads one policy; `draft` is undefined only when the input is not an object at all. */
export function readPolicy(input: unknown): { draft: Draft | undefined; problems: Problem[] } {
  const reader = new Reader();
  const policy = reader.policy(input);
  return {
    draft: policy === undefined ? undefined : { policy, ...reader.draft },
    problems: reader.problems,
  };
}
