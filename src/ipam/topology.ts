/**
 * The topology document (`TopologyUpdateRequest`, reference §1): its wire types, and its
 * validation into specs the engine builds from. Validation collects every problem, in the
 * order the original checks them, each prefixed with the path of the offending field.
 */
import { nameProblem } from '../names.ts';
import { Addr, BOTH_FAMILIES, Cidr, specialUse, type Family } from './addr.ts';
import { carveNetwork, type GroupSpec } from './carve.ts';
import { checkHostIps, normalizeMap } from './topology-map.ts';

/** One network of the document. */
export interface NetworkDefinition {
  name: string;
  cidr: string;
  /**
   * Prefix length of the per-host blocks; 0 or absent means the default (29 for IPv4, 120 for
   * IPv6).
   */
  block_mask?: number;
  /** Tenants that may use the network; absent or empty means every tenant. */
  tenants?: string[];
}

/** A group (no `ip`) or a host (with `ip`, and `ip6` when it has one) in a topology map. */
export interface GroupOrHost {
  name?: string;
  ip?: string;
  ip6?: string;
  groups?: GroupOrHost[];
  assignment?: Record<string, string>;
  routing?: string;
  /** Output only: the CIDR carved for the group. Ignored on input. */
  cidr?: string;
  dummy?: boolean;
}

export interface TopologyDefinition {
  networks: string[];
  map: GroupOrHost[];
  /**
   * Every host of a group announces the group's whole prefix over BGP (ECMP at the ToR), read
   * by romana-route-publisher. Absent means false.
   */
  ecmp?: boolean;
}

/** The document accepted by `POST /topology` and returned by `GET /topology`. */
export interface TopologyUpdateRequest {
  networks: NetworkDefinition[];
  topologies: TopologyDefinition[];
  /**
   * The pool (one CIDR, IPv4 or IPv6) that romana-listener takes `{"auto": true}` Service VIPs
   * from when it runs without `--vip-cidr`. Outside every network and every host address.
   */
  vip_cidr?: string;
}

/** A validated network. */
export interface NetworkSpec {
  name: string;
  cidr: Cidr;
  blockMask: number;
  /** `null` when every tenant may use the network. */
  tenants: string[] | null;
}

/** A validated document: networks in definition order, each with its carved group tree. */
export interface TopologySpec {
  networks: NetworkSpec[];
  trees: Map<string, GroupSpec>;
  /** The document in normal form (resolved block masks, unknown keys dropped). */
  request: TopologyUpdateRequest;
}

export const DEFAULT_BLOCK_MASK = 29;

/** The default block of an IPv6 network: a /120 (256 addresses). */
export const DEFAULT_BLOCK_MASK_V6 = 120;

/** The largest IPv6 block: a /64 (one host's blocks hold at most one /64 each). */
export const MIN_BLOCK_MASK_V6 = 64;

/** The default block mask of a family. */
export function defaultBlockMask(f: Family): number {
  return f === 4 ? DEFAULT_BLOCK_MASK : DEFAULT_BLOCK_MASK_V6;
}

const ROOT_KEYS = ['networks', 'topologies', 'vip_cidr'];
const NETWORK_KEYS = ['name', 'cidr', 'block_mask', 'tenants'];
const TOPOLOGY_KEYS = ['networks', 'map', 'ecmp'];

/** Collects problems; each is `path: message`. */
export class Problems {
  readonly list: string[] = [];
  add(path: string, message: string): void {
    this.list.push(path ? `${path}: ${message}` : message);
  }
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Every key not in `known` is a problem: a misspelt `asignment` must not be dropped. */
export function refuseUnknownKeys(
  obj: Record<string, unknown>,
  known: readonly string[],
  path: string,
  p: Problems,
): void {
  for (const key of Object.keys(obj)) {
    if (!known.includes(key)) {
      p.add(path ? `${path}.${key}` : key, `unknown field (known: ${known.join(', ')})`);
    }
  }
}

/**
 * Validates a topology document. Returns the spec, or the full list of problems.
 *
 * @example
 * const r = parseTopology({ networks: [{ name: 'n', cidr: '10.0.0.0/16' }],
 *   topologies: [{ networks: ['n'], map: [{ name: 'rack-1' }, { name: 'rack-2' }] }] });
 * if (r.ok) r.spec.trees.get('n')?.children?.length // 2
 */
export function parseTopology(
  input: unknown,
): { ok: true; spec: TopologySpec } | { ok: false; problems: string[] } {
  const p = new Problems();
  if (!isObject(input)) {
    p.add('', 'the topology must be a JSON object with "networks" and "topologies"');
    return { ok: false, problems: p.list };
  }
  refuseUnknownKeys(input, ROOT_KEYS, '', p);
  const networks = parseNetworks(input['networks'], p);
  checkOverlaps(networks, p);
  const { trees, topologies, used } = parseTopologies(input['topologies'], networks, p);
  const vipCidr = parseVipCidr(input['vip_cidr'], networks, p);
  if (p.list.length === 0) checkHostIps(topologies, networks, p, vipCidr);
  for (const n of networks) {
    // A network whose map has problems is used all the same: only those problems are reported.
    if (!used.has(n.spec.name) && n.valid) {
      p.add(
        `networks[${n.index}]`,
        `Network ${n.spec.name} is not used by any topology; list it in a topology's "networks" or remove it`,
      );
    }
  }
  if (p.list.length > 0) return { ok: false, problems: p.list };
  const specs = networks.map((n) => n.spec);
  const request: TopologyUpdateRequest = {
    networks: specs.map(networkDefinitionOf),
    topologies,
  };
  if (vipCidr !== undefined) request.vip_cidr = vipCidr.toString();
  return { ok: true, spec: { networks: specs, trees, request } };
}

export function networkDefinitionOf(n: NetworkSpec): NetworkDefinition {
  const def: NetworkDefinition = { name: n.name, cidr: n.cidr.toString(), block_mask: n.blockMask };
  if (n.tenants !== null) def.tenants = [...n.tenants];
  return def;
}

export interface ParsedNetwork {
  index: number;
  spec: NetworkSpec;
  /** False when the entry had errors; it is then left out of later checks. */
  valid: boolean;
}

function parseNetworks(raw: unknown, p: Problems): ParsedNetwork[] {
  if (!Array.isArray(raw)) {
    p.add('networks', 'required, a list of networks');
    return [];
  }
  const out: ParsedNetwork[] = [];
  const seen = new Set<string>();
  raw.forEach((entry: unknown, index) => {
    const path = `networks[${index}]`;
    if (!isObject(entry)) {
      p.add(path, 'must be an object with "name" and "cidr"');
      return;
    }
    const before = p.list.length;
    refuseUnknownKeys(entry, NETWORK_KEYS, path, p);
    const name = entry['name'];
    if (typeof name !== 'string' || name === '') {
      p.add(`${path}.name`, 'required, a non-empty string');
      return;
    }
    const nameBad = nameProblem(name);
    if (nameBad !== undefined) p.add(`${path}.name`, nameBad);
    if (seen.has(name)) p.add(`${path}.name`, `Network with name ${name} already defined`);
    seen.add(name);
    let cidr: Cidr | undefined;
    if (typeof entry['cidr'] !== 'string') {
      p.add(`${path}.cidr`, 'required, a string a.b.c.d/n or an IPv6 address/n');
    } else {
      try {
        cidr = Cidr.parse(entry['cidr'], `${path}.cidr`, BOTH_FAMILIES);
      } catch (err) {
        p.add('', (err as Error).message);
      }
    }
    const blockMask = parseBlockMask(entry['block_mask'], name, cidr, `${path}.block_mask`, p);
    const tenants = parseTenants(entry['tenants'], `${path}.tenants`, p);
    const spec: NetworkSpec = {
      name,
      cidr: cidr ?? Cidr.parse('0.0.0.0/32'),
      blockMask,
      tenants,
    };
    out.push({ index, spec, valid: p.list.length === before && cidr !== undefined });
  });
  return out;
}

function parseBlockMask(
  raw: unknown,
  name: string,
  cidr: Cidr | undefined,
  path: string,
  p: Problems,
): number {
  const bits = cidr?.addr.bits ?? 32;
  const prefix = cidr?.prefix ?? 0;
  const fallback = defaultBlockMask(cidr?.family ?? 4);
  if (raw === undefined || raw === null || raw === 0) {
    return Math.max(fallback, prefix);
  }
  if (typeof raw !== 'number' || !Number.isInteger(raw)) {
    p.add(path, `must be an integer prefix length, got ${JSON.stringify(raw)}`);
    return fallback;
  }
  if (cidr !== undefined && (raw < prefix || raw > bits)) {
    p.add(
      path,
      `invalid blockmask(${raw}) for network(${name}), must be ${prefix} <= blockmask <= ${bits}`,
    );
  } else if (cidr?.family === 6 && raw < MIN_BLOCK_MASK_V6) {
    p.add(
      path,
      `${raw} is too large a block for IPv6 network ${name}: an IPv6 block is a /${MIN_BLOCK_MASK_V6} or longer (e.g. /120, /112, /64)`,
    );
  }
  return raw;
}

function parseTenants(raw: unknown, path: string, p: Problems): string[] | null {
  if (raw === undefined || raw === null) return null;
  if (!Array.isArray(raw)) {
    p.add(path, 'must be a list of tenant names');
    return null;
  }
  const out: string[] = [];
  let wildcard = raw.length === 0;
  raw.forEach((t: unknown, i) => {
    const bad = t === '*' ? undefined : nameProblem(t, 'tenant');
    if (t === '*') wildcard = true;
    else if (bad !== undefined) p.add(`${path}[${i}]`, `Bad tenant name: ${bad}`);
    else if (!out.includes(t as string)) out.push(t as string);
  });
  // "*" (as the original's GET /topology printed it) means every tenant.
  return wildcard ? null : out;
}

function checkOverlaps(networks: ParsedNetwork[], p: Problems): void {
  const valid = networks.filter((n) => n.valid);
  for (let i = 0; i < valid.length; i++) {
    for (let j = i + 1; j < valid.length; j++) {
      const a = valid[i]!.spec;
      const b = valid[j]!.spec;
      if (a.cidr.overlaps(b.cidr)) {
        const [inner, outer] = b.cidr.contains(a.cidr) ? [a, b] : [b, a];
        p.add(
          `networks[${valid[j]!.index}].cidr`,
          `CIDR ${inner.cidr} of network ${inner.name} already is contained in CIDR ${outer.cidr} of network ${outer.name}`,
        );
      }
    }
  }
}

/**
 * The optional VIP pool: a CIDR of either family, clear of every network (its addresses go to
 * pods). Host addresses are checked with the map's (`checkHostIps`).
 */
function parseVipCidr(raw: unknown, networks: ParsedNetwork[], p: Problems): Cidr | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'string') {
    p.add(
      'vip_cidr',
      `must be a CIDR string (a.b.c.d/n or an IPv6 address/n), got ${JSON.stringify(raw)}`,
    );
    return undefined;
  }
  let cidr: Cidr;
  try {
    cidr = Cidr.parse(raw, 'vip_cidr', BOTH_FAMILIES);
  } catch (err) {
    p.add('', (err as Error).message);
    return undefined;
  }
  // Special ranges are aligned CIDRs at the ends of their parents: checking both ends suffices.
  const special = specialUse(cidr.addr) ?? specialUse(Addr.fromBigInt(cidr.family, cidr.end));
  if (special !== undefined) {
    p.add('vip_cidr', `'${raw}' holds ${special.kind} addresses, which cannot be VIPs`);
  }
  for (const n of networks) {
    if (n.valid && n.spec.cidr.overlaps(cidr)) {
      p.add(
        'vip_cidr',
        `'${raw}' overlaps network ${n.spec.name} (${n.spec.cidr.toString()}), whose addresses go to pods`,
      );
    }
  }
  return cidr;
}

function parseTopologies(
  raw: unknown,
  networks: ParsedNetwork[],
  p: Problems,
): { trees: Map<string, GroupSpec>; topologies: TopologyDefinition[]; used: Set<string> } {
  const trees = new Map<string, GroupSpec>();
  const topologies: TopologyDefinition[] = [];
  const used = new Set<string>();
  if (!Array.isArray(raw)) {
    p.add('topologies', 'required, a list of topologies');
    return { trees, topologies, used };
  }
  const byName = new Map(networks.map((n) => [n.spec.name, n]));
  raw.forEach((entry: unknown, ti) => {
    const path = `topologies[${ti}]`;
    if (!isObject(entry)) {
      p.add(path, 'must be an object with "networks" and "map"');
      return;
    }
    refuseUnknownKeys(entry, TOPOLOGY_KEYS, path, p);
    const names = entry['networks'];
    const map = entry['map'] ?? [];
    if (!Array.isArray(names)) {
      p.add(`${path}.networks`, 'required, a list of network names');
      return;
    }
    if (!Array.isArray(map)) {
      p.add(`${path}.map`, 'must be a list of groups or hosts');
      return;
    }
    const normal = normalizeMap(map, `${path}.map`, p);
    const def: TopologyDefinition = {
      networks: names.filter((n) => typeof n === 'string'),
      map: normal,
    };
    const ecmp = entry['ecmp'];
    if (ecmp !== undefined && ecmp !== null && typeof ecmp !== 'boolean') {
      p.add(`${path}.ecmp`, `must be true or false, got ${JSON.stringify(ecmp)}`);
    } else if (ecmp === true) def.ecmp = true;
    topologies.push(def);
    names.forEach((name: unknown, ni) => {
      const npath = `${path}.networks[${ni}]`;
      if (typeof name !== 'string') return p.add(npath, 'must be a network name');
      if (used.has(name)) return p.add(npath, `Network ${name} appears more than once.`);
      used.add(name);
      const net = byName.get(name);
      if (net === undefined) return p.add(npath, `Network with name ${name} not defined`);
      if (!net.valid) return;
      const tree = carveNetwork(net.spec, normal, `${path}.map`, p);
      if (tree !== undefined) trees.set(name, tree);
    });
  });
  return { trees, topologies, used };
}

/**
 * Tags for a message: `tags rack=r1, zone=a` (keys sorted), or `no tags`.
 *
 * @example formatTags({ zone: 'a', rack: 'r1' }) // 'tags rack=r1, zone=a'
 */
export function formatTags(tags: Record<string, string> | null | undefined): string {
  const keys = Object.keys(tags ?? {}).sort();
  if (keys.length === 0) return 'no tags';
  return `tags ${keys.map((k) => `${k}=${tags![k]}`).join(', ')}`;
}
