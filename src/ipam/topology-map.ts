/**
 * The maps of a topology document: their groups and hosts checked field by field into normal
 * form, and the hosts' addresses (`ip` IPv4, `ip6` IPv6) checked against the networks.
 */
import { hostIpProblem, LABEL_MAX, nameProblem, textProblem } from '../names.ts';
import { Addr, IPV4_ONLY, IPV6_ONLY, type Cidr, type Family } from './addr.ts';
import {
  isObject,
  refuseUnknownKeys,
  type GroupOrHost,
  type ParsedNetwork,
  type Problems,
  type TopologyDefinition,
} from './topology.ts';

const GROUP_KEYS = ['name', 'ip', 'ip6', 'cidr', 'routing', 'dummy', 'assignment', 'groups'];

/** Checks field types in a map and returns it in normal form (known keys only). */
export function normalizeMap(list: unknown[], path: string, p: Problems): GroupOrHost[] {
  const out: GroupOrHost[] = [];
  list.forEach((raw, i) => {
    const at = `${path}[${i}]`;
    if (!isObject(raw)) {
      p.add(at, 'must be an object (a group, or a host with "ip")');
      return;
    }
    const e: GroupOrHost = {};
    refuseUnknownKeys(raw, GROUP_KEYS, at, p);
    const name = raw['name'] ?? '';
    if (typeof name !== 'string') p.add(`${at}.name`, 'must be a string');
    else {
      e.name = name;
      const bad = name === '' ? undefined : nameProblem(name);
      if (bad !== undefined) p.add(`${at}.name`, bad);
    }
    if (raw['ip'] !== undefined && raw['ip'] !== '') {
      if (typeof raw['ip'] !== 'string') p.add(`${at}.ip`, 'must be a string');
      else {
        e.ip = raw['ip'];
        if (Addr.tryParse(raw['ip'], IPV4_ONLY) === undefined) {
          p.add('', addrProblem(raw['ip'], `${at}.ip`, IPV4_ONLY, 'is not a valid IPv4 address'));
        } else if (e.name === '') {
          p.add(at, `Both name and IP are required for hosts: ${JSON.stringify(raw)}`);
        }
      }
    }
    if (raw['ip6'] !== undefined && raw['ip6'] !== '') {
      if (typeof raw['ip6'] !== 'string') p.add(`${at}.ip6`, 'must be a string');
      else if (e.ip === undefined) {
        p.add(`${at}.ip6`, 'only a host (an entry with "ip") takes an ip6');
      } else {
        e.ip6 = raw['ip6'];
        if (Addr.tryParse(raw['ip6'], IPV6_ONLY) === undefined) {
          p.add('', addrProblem(raw['ip6'], `${at}.ip6`, IPV6_ONLY, 'is not a valid IPv6 address'));
        }
      }
    }
    const assignment = raw['assignment'];
    if (assignment !== undefined && assignment !== null) {
      if (!isObject(assignment) || Object.values(assignment).some((v) => typeof v !== 'string')) {
        p.add(`${at}.assignment`, 'must be an object of string labels to string values');
      } else {
        checkLabels(assignment as Record<string, string>, `${at}.assignment`, p);
        if (Object.keys(assignment).length > 0) {
          e.assignment = { ...(assignment as Record<string, string>) };
        }
      }
    }
    if (raw['routing'] !== undefined && raw['routing'] !== '') {
      const bad = textProblem(raw['routing'], 64);
      if (bad !== undefined) p.add(`${at}.routing`, bad);
      else e.routing = raw['routing'] as string;
    }
    if (raw['dummy'] !== undefined && raw['dummy'] !== false) {
      if (raw['dummy'] !== true) p.add(`${at}.dummy`, 'must be true or false');
      else e.dummy = true;
    }
    const groups = raw['groups'];
    if (groups !== undefined && groups !== null) {
      if (!Array.isArray(groups)) p.add(`${at}.groups`, 'must be a list of groups or hosts');
      else if (groups.length > 0) e.groups = normalizeMap(groups, `${at}.groups`, p);
    }
    out.push(e);
  });
  return out;
}

/** Label keys and values: no control characters, no lone surrogates, bounded length. */
function checkLabels(labels: Record<string, string>, path: string, p: Problems): void {
  for (const [k, v] of Object.entries(labels)) {
    const badKey = k === '' ? 'must not be empty' : textProblem(k, LABEL_MAX);
    if (badKey !== undefined) p.add(`${path}: key ${JSON.stringify(k)}`, badKey);
    const badValue = textProblem(v, LABEL_MAX);
    if (badValue !== undefined) p.add(`${path}.${k}`, badValue);
  }
}

/**
 * Hosts listed in a map: their IPs must be unicast addresses outside every network of the
 * document (those addresses belong to pods).
 */
export function checkHostIps(
  topologies: TopologyDefinition[],
  networks: ParsedNetwork[],
  p: Problems,
  vipCidr?: Cidr,
): void {
  const visit = (list: GroupOrHost[], path: string): void => {
    list.forEach((g, i) => {
      const at = `${path}[${i}]`;
      for (const [field, text] of [
        ['ip', g.ip],
        ['ip6', g.ip6],
      ] as const) {
        const addr = text === undefined ? undefined : Addr.tryParse(text);
        if (addr === undefined) continue;
        const special = hostIpProblem(addr);
        if (special !== undefined) p.add(`${at}.${field}`, special);
        const inside = networks.find((n) => n.valid && n.spec.cidr.containsAddr(addr));
        if (inside !== undefined) {
          p.add(
            `${at}.${field}`,
            `'${text}' lies inside network ${inside.spec.name} (${inside.spec.cidr.toString()}), whose addresses go to pods`,
          );
        }
        if (vipCidr?.containsAddr(addr) === true) {
          p.add(`${at}.${field}`, `'${text}' lies inside vip_cidr ${vipCidr.toString()}`);
        }
      }
      if (g.groups !== undefined) visit(g.groups, `${at}.groups`);
    });
  };
  topologies.forEach((t, i) => visit(t.map, `topologies[${i}].map`));
}

/** The parser's own message for address text it refuses, else `fallback`. */
function addrProblem(
  text: string,
  field: string,
  families: readonly Family[],
  fallback: string,
): string {
  try {
    Addr.parse(text, field, families);
  } catch (err) {
    return (err as Error).message;
  }
  return `${field}: '${text}' ${fallback}`;
}
