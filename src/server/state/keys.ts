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
 * | `pods/<address name>` | `PodLink`: the pod an address belongs to, its labels and ports |
 * | `namespaces/<name>` | `Namespace`: a Kubernetes namespace and its labels |
 * | `policies/<id>` | the policy |
 * | `vips/<name>` | `Vip`: address, holding host, namespace |
 * | `vipips/<ip>` | the VIP name (keeps VIP addresses unique) |
 * | `g/<n>/placements/<host>` | `{ groups }`: the host's group path per network |
 * | `g/<n>/blocks/<network>/<a.b.c.d_len>` | `BlockState`: owner, host, names by offset |
 * | `g/<n>/networks/<network>` | `{ blackouts }` |
 * | `ops/<id>` | `StoredOperation`: the intent of a multi-transaction operation in progress |
 * | `beats/<owner>` | a counter the owner of an operation rewrites while it lives (etcd only) |
 */
import type {
  AddressView,
  BlockState,
  HostRecord,
  TopologyUpdateRequest,
} from '../../ipam/index.ts';
import { jsonString } from '../../json-text.ts';

export interface TopologyRecord {
  doc: TopologyUpdateRequest;
  generation: number;
  /**
   * Set while an update writes generation `to`; `since` is a Unix time in ms; `op` names the
   * update's intent (`ops/<op>`), absent in fences written before intents existed.
   */
  updating?: { to: number; since: number; op?: string };
}

/** A host as stored: its record without the generation-dependent group paths. */
export interface StoredHost extends Omit<HostRecord, 'groups'> {
  /** Set while the host is being removed: no new address may be allocated on it. */
  removing?: boolean;
  /** Who registered the host and may remove it (e.g. `romana-listener`); set once. */
  managed_by?: string;
}

/** A host's two unique keys, as an operation records them to undo or finish them. */
export interface HostRef {
  name: string;
  ip: string;
}

/**
 * The intent of an operation that takes several transactions, written in the same
 * transaction as its fence and deleted in the same transaction as its last step. Whoever
 * holds it (`owner`) is the only writer of the operation's keys; a replica that finds it
 * abandoned takes it over (see `operations.ts`) and finishes or undoes it.
 */
export type StoredOperation =
  | {
      kind: 'topology';
      owner: string;
      /** Unix ms when it began (for logs only: staleness never trusts another's clock). */
      since: number;
      /** `writing`: the switch is not committed (undo); `switched`: it is (finish). */
      phase: 'writing' | 'switched';
      from: number;
      to: number;
      /** The `topology` record before the fence; `null`: there was none. */
      base: TopologyRecord | null;
      /** Hosts whose keys the update creates (deleted when undone). */
      added: HostRef[];
      /** Hosts the new topology drops (their keys deleted when finished). */
      dropped: HostRef[];
    }
  | { kind: 'remove-host'; owner: string; since: number; host: string; ip: string };

export interface StoredPlacement {
  groups: Record<string, string>;
}

/**
 * An address name: `ip` and `network` are its first family's (IPv4 when it has one), as every
 * version wrote them; a dual-stack name lists every family's in `ips` too (absent for one
 * family, so a single-family address is stored exactly as before).
 */
export interface StoredAddress {
  ip: string;
  host: string;
  network: string;
  ips?: Array<{ ip: string; network: string }>;
}

/**
 * The address key's value (`StoredAddress`) as JSON: as before for one family; every family's
 * in `ips` for several.
 */
export function storedAddressJson(view: AddressView): string {
  const one =
    `{"ip":${jsonString(view.ip)},"host":${jsonString(view.host)}` +
    `,"network":${jsonString(view.network)}`;
  if (view.ips.length <= 1) return `${one}}`;
  let ips = '';
  for (const a of view.ips) {
    ips += `${ips === '' ? '' : ','}{"ip":${jsonString(a.ip)},"network":${jsonString(a.network)}}`;
  }
  return `${one},"ips":[${ips}]}`;
}

export interface StoredNetwork {
  blackouts: string[];
}

export const TOPOLOGY_KEY = 'topology';
export const HOSTS = 'hosts/';
export const HOST_IPS = 'hostips/';
export const ADDRESSES = 'addresses/';
export const PODS = 'pods/';
export const NAMESPACES = 'namespaces/';
export const POLICIES = 'policies/';
export const VIPS = 'vips/';
export const VIP_IPS = 'vipips/';
export const GENERATIONS = 'g/';
export const OPERATIONS = 'ops/';
export const BEATS = 'beats/';

/** Names may hold any character; keys keep one segment per name. */
const seg = (s: string) => encodeURIComponent(s);
const unseg = (s: string) => decodeURIComponent(s);

export const hostKey = (name: string) => `${HOSTS}${seg(name)}`;
export const hostIpKey = (ip: string) => `${HOST_IPS}${ip}`;
export const addressKey = (name: string) => `${ADDRESSES}${seg(name)}`;
export const podKey = (address: string) => `${PODS}${seg(address)}`;
export const namespaceKey = (name: string) => `${NAMESPACES}${seg(name)}`;
export const policyKey = (id: string) => `${POLICIES}${seg(id)}`;
export const vipKey = (name: string) => `${VIPS}${seg(name)}`;
export const vipIpKey = (ip: string) => `${VIP_IPS}${ip}`;
export const operationKey = (id: string) => `${OPERATIONS}${seg(id)}`;
export const beatKey = (owner: string) => `${BEATS}${seg(owner)}`;
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
  | { kind: 'pod'; address: string }
  | { kind: 'namespace'; name: string }
  | { kind: 'policy'; id: string }
  | { kind: 'vip'; name: string }
  | { kind: 'vipip' }
  | { kind: 'placement'; generation: number; host: string }
  | { kind: 'block'; generation: number; network: string; cidr: string }
  | { kind: 'network'; generation: number; network: string }
  | { kind: 'operation'; id: string }
  | { kind: 'other' };

export function parseKey(key: string): ParsedKey {
  if (key === TOPOLOGY_KEY) return { kind: 'topology' };
  if (key.startsWith(HOSTS)) return { kind: 'host', name: unseg(key.slice(HOSTS.length)) };
  if (key.startsWith(HOST_IPS)) return { kind: 'hostip' };
  if (key.startsWith(ADDRESSES))
    return { kind: 'address', name: unseg(key.slice(ADDRESSES.length)) };
  if (key.startsWith(PODS)) return { kind: 'pod', address: unseg(key.slice(PODS.length)) };
  if (key.startsWith(NAMESPACES))
    return { kind: 'namespace', name: unseg(key.slice(NAMESPACES.length)) };
  if (key.startsWith(POLICIES)) return { kind: 'policy', id: unseg(key.slice(POLICIES.length)) };
  if (key.startsWith(VIPS)) return { kind: 'vip', name: unseg(key.slice(VIPS.length)) };
  if (key.startsWith(VIP_IPS)) return { kind: 'vipip' };
  if (key.startsWith(OPERATIONS))
    return { kind: 'operation', id: unseg(key.slice(OPERATIONS.length)) };
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
