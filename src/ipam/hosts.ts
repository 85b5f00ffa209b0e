/**
 * Host operations (reference §2.3, §2.8): add with the smallest-eligible-leaf rule, remove
 * (releasing its blocks and every address name in them), update tags and Kubernetes info.
 */
import { invalidInput, RomanaError } from '../errors.ts';
import { Addr, BOTH_FAMILIES, Cidr, IPV4_ONLY, IPV6_ONLY } from './addr.ts';
import type { Host } from './model.ts';
import { State, type HostInput } from './state.ts';
import { formatTags, isObject } from './topology.ts';

/** Host fields as the API receives them. */
export interface HostRequest {
  name?: unknown;
  ip?: unknown;
  ip6?: unknown;
  tags?: unknown;
  agent_port?: unknown;
  k8s_info?: unknown;
}

export interface HostRef {
  name?: string;
  ip?: string;
}

export interface RemovedHost {
  name: string;
  ip: string;
  /** Names of the addresses that were released with the host's blocks. */
  releasedAddresses: string[];
  /** CIDRs of the blocks that went back to their groups. */
  releasedBlocks: string[];
}

const HOST_NAME_RE = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,251}[A-Za-z0-9])?$/;

/** Validates host fields from the API into a `HostInput`. */
export function parseHostRequest(r: HostRequest): HostInput {
  if (r.name === undefined || r.name === null || r.name === '') {
    throw invalidInput('Host name is required.');
  }
  if (typeof r.name !== 'string' || !HOST_NAME_RE.test(r.name)) {
    throw invalidInput(
      `name: '${String(r.name)}' is not a valid host name (letters, digits, '.', '_' and '-', at most 253)`,
    );
  }
  if (r.ip === undefined || r.ip === null || r.ip === '')
    throw invalidInput('Host IP is required.');
  if (typeof r.ip !== 'string') throw invalidInput(`ip: must be a string`);
  const input: HostInput = { name: r.name, ip: Addr.parse(r.ip, 'ip', IPV4_ONLY) };
  if (r.ip6 !== undefined && r.ip6 !== null && r.ip6 !== '') {
    if (typeof r.ip6 !== 'string') throw invalidInput(`ip6: must be a string`);
    input.ip6 = Addr.parse(r.ip6, 'ip6', IPV6_ONLY);
  }
  if (r.tags !== undefined && r.tags !== null) input.tags = parseTags(r.tags);
  if (r.agent_port !== undefined && r.agent_port !== null && r.agent_port !== 0) {
    const port = r.agent_port;
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw invalidInput(`agent_port: ${JSON.stringify(port)} is not a port number (1-65535)`);
    }
    input.agentPort = port;
  }
  if (r.k8s_info !== undefined && r.k8s_info !== null) input.k8sInfo = parseK8sInfo(r.k8s_info);
  return input;
}

export function parseTags(raw: unknown): Record<string, string> {
  if (!isObject(raw)) throw invalidInput('tags: must be an object of string labels');
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== 'string') {
      throw invalidInput(`tags.${k}: must be a string, got ${JSON.stringify(v)}`);
    }
  }
  return { ...(raw as Record<string, string>) };
}

function parseK8sInfo(raw: unknown): Record<string, unknown> {
  if (!isObject(raw)) throw invalidInput('k8s_info: must be an object');
  return structuredClone(raw);
}

/** Adds a host to every network whose topology has an eligible group for it. */
export function addHost(s: State, r: HostRequest): Host {
  const input = parseHostRequest(r);
  checkOutsideVipPool(s, input);
  const host = s.addHost(input);
  if (host === undefined) throw State.noSuitableGroup(input);
  s.revisions.topology++;
  return host;
}

/** A host's addresses lie outside the topology's VIP pool (`vip_cidr`). */
function checkOutsideVipPool(s: State, input: HostInput): void {
  const pool = s.request.vip_cidr;
  if (pool !== undefined) {
    const cidr = Cidr.parse(pool, 'vip_cidr', BOTH_FAMILIES);
    for (const [field, a] of [
      ['ip', input.ip],
      ['ip6', input.ip6],
    ] as const) {
      if (a !== undefined && a !== null && cidr.containsAddr(a)) {
        throw invalidInput(
          `${field}: '${a.toString()}' lies inside the topology's vip_cidr ${pool}, whose addresses go to VIPs`,
          { resourceType: 'host', semantic: true },
        );
      }
    }
  }
}

/** Removes a host; its blocks go back to their groups, their address names are dropped. */
export function removeHost(s: State, ref: HostRef): RemovedHost {
  if (!ref.name && !ref.ip) {
    throw invalidInput('At least one of IP, Name must be specified to delete a host');
  }
  const host = s.findHost(ref);
  const out: RemovedHost = {
    name: host.name,
    ip: host.ipText,
    releasedAddresses: [],
    releasedBlocks: [],
  };
  const released = new Set<string>();
  for (const p of host.placements) {
    const blocks = [...p.owned.values()].flat();
    for (const b of blocks) {
      // A dual-stack name is in two blocks: listed once.
      for (const n of s.reclaimBlock(b)) if (!released.has(n)) released.add(n);
      out.releasedBlocks.push(b.cidr);
    }
    p.group.hosts.splice(p.group.hosts.indexOf(host), 1);
  }
  out.releasedAddresses.push(...released);
  s.hosts.delete(host.name);
  s.hostsByIp.delete(host.ipText);
  if (host.ip6 !== null) s.hostsByIp.delete(host.ip6.toString());
  s.revisions.topology++;
  if (out.releasedBlocks.length > 0) s.revisions.allocation++;
  return out;
}

/** Total addresses a host holds. */
export function addressCount(host: Host): number {
  let n = 0;
  for (const p of host.placements) {
    for (const list of p.owned.values()) for (const b of list) n += b.pool.allocatedCount;
  }
  return n;
}

/**
 * Replaces a host's tags (null clears them). Hosts never move: the new tags must keep the
 * host eligible for every group on the path to its current groups.
 */
export function updateHostTags(s: State, ref: HostRef, rawTags: unknown): boolean {
  if (!ref.name && !ref.ip) {
    throw invalidInput('At least one of IP, Name must be specified to update a host');
  }
  const host = s.findHost(ref);
  const tags = rawTags === null || rawTags === undefined ? null : parseTags(rawTags);
  if (sameTags(host.tags, tags)) return false;
  for (const p of host.placements) {
    for (const g of p.group.pathFromRoot()) {
      if (!g.accepts(tags)) {
        throw new RomanaError(
          'InvalidInput',
          `Host ${host.name} cannot take ${formatTags(tags)}: its group ${g.label} needs ${formatTags(g.spec.assignment)}`,
          { semantic: true, resourceType: 'host', resourceId: host.name },
        );
      }
    }
  }
  host.tags = tags;
  s.revisions.topology++;
  return true;
}

/** Replaces a host's Kubernetes info (null clears it). */
export function updateHostK8sInfo(s: State, ref: HostRef, raw: unknown): boolean {
  const host = s.findHost(ref);
  const info = raw === null || raw === undefined ? null : parseK8sInfo(raw);
  if (JSON.stringify(info) === JSON.stringify(host.k8sInfo)) return false;
  host.k8sInfo = info;
  s.revisions.topology++;
  return true;
}

function sameTags(a: Record<string, string> | null, b: Record<string, string> | null): boolean {
  const ka = Object.keys(a ?? {});
  const kb = Object.keys(b ?? {});
  return ka.length === kb.length && ka.every((k) => a![k] === b?.[k]);
}
