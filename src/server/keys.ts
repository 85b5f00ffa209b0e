/**
 * Where romanad keeps each object in the store (one key per object, never one document).
 * Keys that depend on the carving of the topology live under a *generation* `g/<n>/`: a
 * topology update writes the next generation beside the current one, then switches the
 * `topology` key to it in one transaction, so no reader ever sees half of an update.
 *
 * | key | value |
 * |---|---|
 * | `topology` | `TopologyRecord`: the document, its generation, an update in progress |
 * | `hosts/<name>` | `StoredHost`: ip, tags, agent port, Kubernetes info |
 * | `hostips/<ip>` | the host name (keeps IPs unique) |
 * | `addresses/<name>` | `StoredAddress` (keeps names unique; lookups go through blocks) |
 * | `policies/<id>` | the policy |
 * | `vips/<name>` | `Vip`: address, holding host, namespace |
 * | `vipips/<ip>` | the VIP name (keeps VIP addresses unique) |
 * | `g/<n>/placements/<host>` | `{ groups }`: the host's group path per network |
 * | `g/<n>/blocks/<network>/<a.b.c.d_len>` | `BlockState`: owner, host, names by offset |
 * | `g/<n>/networks/<network>` | `{ blackouts }` |
 */
import type { BlockState, HostRecord, TopologyUpdateRequest } from '../ipam/index.ts';

export interface TopologyRecord {
  doc: TopologyUpdateRequest;
  generation: number;
  /** Set while an update writes generation `to`; `since` is a Unix time in ms. */
  updating?: { to: number; since: number };
}

/** A host as stored: its record without the generation-dependent group paths. */
export interface StoredHost extends Omit<HostRecord, 'groups'> {
  /** Set while the host is being removed: no new address may be allocated on it. */
  removing?: boolean;
}

export interface StoredPlacement {
  groups: Record<string, string>;
}

export interface StoredAddress {
  ip: string;
  host: string;
  network: string;
}

export interface StoredNetwork {
  blackouts: string[];
}

export const TOPOLOGY_KEY = 'topology';
export const HOSTS = 'hosts/';
export const HOST_IPS = 'hostips/';
export const ADDRESSES = 'addresses/';
export const POLICIES = 'policies/';
export const VIPS = 'vips/';
export const VIP_IPS = 'vipips/';
export const GENERATIONS = 'g/';

/** Names may hold any character; keys keep one segment per name. */
const seg = (s: string) => encodeURIComponent(s);
const unseg = (s: string) => decodeURIComponent(s);

export const hostKey = (name: string) => `${HOSTS}${seg(name)}`;
export const hostIpKey = (ip: string) => `${HOST_IPS}${ip}`;
export const addressKey = (name: string) => `${ADDRESSES}${seg(name)}`;
export const policyKey = (id: string) => `${POLICIES}${seg(id)}`;
export const vipKey = (name: string) => `${VIPS}${seg(name)}`;
export const vipIpKey = (ip: string) => `${VIP_IPS}${ip}`;
export const generationPrefix = (g: number) => `${GENERATIONS}${g}/`;
export const placementKey = (g: number, host: string) =>
  `${generationPrefix(g)}placements/${seg(host)}`;
export const blockKey = (g: number, network: string, cidr: string) =>
  `${generationPrefix(g)}blocks/${seg(network)}/${cidr.replace('/', '_')}`;
export const networkKey = (g: number, network: string) =>
  `${generationPrefix(g)}networks/${seg(network)}`;

/** What a key is, for keys of generation `g` and the generation-free ones. */
export type ParsedKey =
  | { kind: 'topology' }
  | { kind: 'host'; name: string }
  | { kind: 'hostip' }
  | { kind: 'address'; name: string }
  | { kind: 'policy'; id: string }
  | { kind: 'vip'; name: string }
  | { kind: 'vipip' }
  | { kind: 'placement'; generation: number; host: string }
  | { kind: 'block'; generation: number; network: string; cidr: string }
  | { kind: 'network'; generation: number; network: string }
  | { kind: 'other' };

export function parseKey(key: string): ParsedKey {
  if (key === TOPOLOGY_KEY) return { kind: 'topology' };
  if (key.startsWith(HOSTS)) return { kind: 'host', name: unseg(key.slice(HOSTS.length)) };
  if (key.startsWith(HOST_IPS)) return { kind: 'hostip' };
  if (key.startsWith(ADDRESSES))
    return { kind: 'address', name: unseg(key.slice(ADDRESSES.length)) };
  if (key.startsWith(POLICIES)) return { kind: 'policy', id: unseg(key.slice(POLICIES.length)) };
  if (key.startsWith(VIPS)) return { kind: 'vip', name: unseg(key.slice(VIPS.length)) };
  if (key.startsWith(VIP_IPS)) return { kind: 'vipip' };
  if (key.startsWith(GENERATIONS)) {
    const [g, type, a, b] = key.slice(GENERATIONS.length).split('/');
    const generation = Number(g);
    if (type === 'placements' && a !== undefined) {
      return { kind: 'placement', generation, host: unseg(a) };
    }
    if (type === 'blocks' && a !== undefined && b !== undefined) {
      return { kind: 'block', generation, network: unseg(a), cidr: b.replace('_', '/') };
    }
    if (type === 'networks' && a !== undefined) {
      return { kind: 'network', generation, network: unseg(a) };
    }
  }
  return { kind: 'other' };
}

export type { BlockState };
