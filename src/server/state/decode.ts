/**
 * Values read from the store, checked when they are read: one small decoder per kind of key
 * (see the table in `keys.ts`). Another writer, an older romanad or a hand edit with
 * `etcdctl` may have put anything under a key; a value that is not what romanad writes there
 * is refused with an error naming the key and what is wrong, instead of being cast and
 * failing later, far from its cause.
 *
 * @example decodeVip('vips/web', '{"name":"web","ip":"192.0.2.10","host":"h1"}')
 * // { name: 'web', ip: '192.0.2.10', host: 'h1' }
 */
import { RomanaError } from '../../errors.ts';
import { validatePolicy } from '../../policy/index.ts';
import type {
  BlockState,
  StoredAddress,
  StoredHost,
  StoredNetwork,
  StoredOperation,
  StoredPlacement,
  TopologyRecord,
} from './keys.ts';
import type { Namespace, PodLink, Policy, Vip } from './service.ts';

/** A value that is not what romanad stores under its key. */
export function badValue(key: string, problem: string): RomanaError {
  return new RomanaError('Internal', `the store holds a bad value under ${key}: ${problem}`, {
    resourceType: 'store',
    resourceId: key,
  });
}

type Obj = Record<string, unknown>;

/** Parses JSON; the value must be an object. */
function object(key: string, raw: string, what: string): Obj {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch (err) {
    throw badValue(key, `not JSON (${(err as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw badValue(key, `expected ${what} (an object), got ${JSON.stringify(v)}`);
  }
  return v as Obj;
}

/** Checks of one object's fields; each failure names the key and the field. */
class Fields {
  constructor(
    readonly key: string,
    readonly o: Obj,
  ) {}

  fail(field: string, want: string): never {
    throw badValue(this.key, `${field}: expected ${want}, got ${JSON.stringify(this.o[field])}`);
  }
  string(f: string): string {
    const v = this.o[f];
    return typeof v === 'string' ? v : this.fail(f, 'a string');
  }
  int(f: string): number {
    const v = this.o[f];
    return Number.isSafeInteger(v) && (v as number) >= 0 ? (v as number) : this.fail(f, 'a count');
  }
  stringOrNull(f: string): string | null {
    const v = this.o[f];
    return v === null || typeof v === 'string' ? v : this.fail(f, 'a string or null');
  }
  optional(f: string, check: (v: unknown) => boolean, want: string): void {
    if (this.o[f] !== undefined && !check(this.o[f])) this.fail(f, want);
  }
  check(f: string, ok: (v: unknown) => boolean, want: string): void {
    if (!ok(this.o[f])) this.fail(f, want);
  }
}

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStringMap = (v: unknown): boolean =>
  isObj(v) && Object.values(v).every((x) => typeof x === 'string');
const isStringArray = (v: unknown): boolean =>
  Array.isArray(v) && v.every((x) => typeof x === 'string');

/** `topology`: the document, its generation, an update in progress. */
export function decodeTopologyRecord(key: string, raw: string): TopologyRecord {
  const f = new Fields(key, object(key, raw, 'a topology record'));
  f.int('generation');
  f.check(
    'doc',
    (d) => isObj(d) && Array.isArray(d['networks']) && Array.isArray(d['topologies']),
    'a topology document with networks and topologies',
  );
  f.optional(
    'updating',
    (u) =>
      isObj(u) &&
      Number.isSafeInteger(u['to']) &&
      typeof u['since'] === 'number' &&
      (u['op'] === undefined || typeof u['op'] === 'string'),
    'an update in progress { to, since, op? }',
  );
  return f.o as unknown as TopologyRecord;
}

/** `hosts/<name>`. */
export function decodeHost(key: string, raw: string): StoredHost {
  const f = new Fields(key, object(key, raw, 'a host'));
  f.string('name');
  f.string('ip');
  f.optional('ip6', (v) => typeof v === 'string', 'a string');
  f.int('seq');
  f.int('agent_port');
  f.check('tags', (v) => v === null || isStringMap(v), 'an object of strings or null');
  f.check('k8s_info', (v) => v === null || isObj(v), 'an object or null');
  f.optional('removing', (v) => typeof v === 'boolean', 'a boolean');
  f.optional('managed_by', (v) => typeof v === 'string', 'a string');
  return f.o as unknown as StoredHost;
}

/** `g/<n>/placements/<host>`. */
export function decodePlacement(key: string, raw: string): StoredPlacement {
  const f = new Fields(key, object(key, raw, 'a placement'));
  f.check('groups', isStringMap, 'an object of group paths');
  return f.o as unknown as StoredPlacement;
}

/** `g/<n>/blocks/<network>/<cidr>`: owner, host, names by offset (ascending). */
export function decodeBlock(key: string, raw: string): BlockState {
  const f = new Fields(key, object(key, raw, 'a block'));
  f.stringOrNull('owner');
  f.stringOrNull('host');
  f.int('acquired');
  f.int('released');
  f.check(
    'names',
    (v) =>
      Array.isArray(v) &&
      v.every(
        (e, i) =>
          Array.isArray(e) &&
          e.length === 2 &&
          Number.isSafeInteger(e[0]) &&
          e[0] >= 0 &&
          typeof e[1] === 'string' &&
          (i === 0 || (v[i - 1] as [number])[0] < e[0]),
      ),
    '[offset, name] pairs in ascending order',
  );
  return f.o as unknown as BlockState;
}

/** `g/<n>/networks/<network>`. */
export function decodeNetwork(key: string, raw: string): StoredNetwork {
  const f = new Fields(key, object(key, raw, 'a network'));
  f.check('blackouts', isStringArray, 'a list of CIDRs');
  return f.o as unknown as StoredNetwork;
}

/** `addresses/<name>`. */
export function decodeAddress(key: string, raw: string): StoredAddress {
  const f = new Fields(key, object(key, raw, 'an address'));
  f.string('ip');
  f.string('host');
  f.string('network');
  f.optional(
    'ips',
    (v) =>
      Array.isArray(v) &&
      v.every((e) => isObj(e) && typeof e['ip'] === 'string' && typeof e['network'] === 'string'),
    'a list of { ip, network }',
  );
  return f.o as unknown as StoredAddress;
}

const isPort = (p: unknown): boolean =>
  isObj(p) &&
  Number.isSafeInteger(p['port']) &&
  (p['port'] as number) >= 1 &&
  (p['port'] as number) <= 65535 &&
  (p['protocol'] === 'TCP' || p['protocol'] === 'UDP' || p['protocol'] === 'SCTP') &&
  (p['name'] === undefined || typeof p['name'] === 'string');

/** `pods/<address name>`: the pod an address belongs to. */
export function decodePod(key: string, raw: string): PodLink {
  const f = new Fields(key, object(key, raw, 'a pod link'));
  f.string('namespace');
  f.string('name');
  f.optional('uid', (v) => typeof v === 'string', 'a string');
  f.check('labels', isStringMap, 'an object of strings');
  f.check(
    'ports',
    (v) => Array.isArray(v) && v.every(isPort),
    'a list of { name?, port, protocol }',
  );
  return f.o as unknown as PodLink;
}

/** `namespaces/<name>`. */
export function decodeNamespace(key: string, raw: string): Namespace {
  const f = new Fields(key, object(key, raw, 'a namespace'));
  f.string('name');
  f.check('labels', isStringMap, 'an object of strings');
  return f.o as unknown as Namespace;
}

/** `vips/<name>`. */
export function decodeVip(key: string, raw: string): Vip {
  const f = new Fields(key, object(key, raw, 'a VIP'));
  f.string('name');
  f.string('ip');
  f.string('host');
  f.optional('namespace', (v) => typeof v === 'string', 'a string');
  return f.o as unknown as Vip;
}

/** `policies/<id>`: checked by the policy validator, as when it was written. */
export function decodePolicy(key: string, raw: string): Policy {
  const r = validatePolicy(object(key, raw, 'a policy'));
  if (!r.ok) throw badValue(key, r.problems.join('; '));
  return r.policy;
}

/** `ops/<id>`: the intent of a multi-transaction operation. */
export function decodeOperation(key: string, raw: string): StoredOperation {
  const f = new Fields(key, object(key, raw, 'an operation intent'));
  f.string('owner');
  f.check('since', (v) => typeof v === 'number', 'a Unix time in ms');
  const kind = f.string('kind');
  if (kind === 'remove-host') {
    f.string('host');
    f.string('ip');
  } else if (kind === 'topology') {
    f.check('phase', (v) => v === 'writing' || v === 'switched', "'writing' or 'switched'");
    f.int('from');
    f.int('to');
    const refs = (v: unknown) =>
      Array.isArray(v) &&
      v.every((r) => isObj(r) && typeof r['name'] === 'string' && typeof r['ip'] === 'string');
    f.check('added', refs, 'a list of { name, ip }');
    f.check('dropped', refs, 'a list of { name, ip }');
    f.check('base', (v) => v === null || isObj(v), 'a topology record or null');
  } else {
    f.fail('kind', "'topology' or 'remove-host'");
  }
  return f.o as unknown as StoredOperation;
}
