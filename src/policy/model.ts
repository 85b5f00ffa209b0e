/**
 * The Romana 2.x policy (reference §10.1) and the classification of its endpoints into the
 * target and peer types that decide how a policy is enforced (reference §6.3).
 *
 * Despite its name, `ingress` carries the peers and rules of egress policies too.
 */
import type { KubePolicy } from './kube-model.ts';

/**
 * Which way the traffic a policy governs flows, seen from the `applied_to` targets.
 *
 * @example const d: Direction = 'egress';
 */
export type Direction = 'ingress' | 'egress';

/**
 * Every direction, in a stable order.
 *
 * @example DIRECTIONS.includes('egress') // true
 */
export const DIRECTIONS: readonly Direction[] = ['ingress', 'egress'];

/**
 * One end of a policy: a target in `applied_to` or a peer in `ingress[].peers`.
 * Exactly one of `peer`, `cidr`, `dest`, `tenant_id` is meant to be set (`segment_id` only with
 * `tenant_id`); classification looks at them in a fixed order (see `targetTypeOf`, `peerTypeOf`).
 *
 * @example
 * const backend: Endpoint = { tenant_id: 'tenant-a', segment_id: 'backend' };
 */
export interface Endpoint {
  /** `any`, `local` or `host`; meaningful for peers only. */
  peer?: string;
  /** An aligned IPv4 network such as `10.1.0.0/16`; meaningful for peers only. */
  cidr?: string;
  /** `local` or `host`; meaningful for targets only. */
  dest?: string;
  /** The tenant's name (in Kubernetes: the namespace name). */
  tenant_id?: string;
  /** The segment's name inside the tenant. */
  segment_id?: string;
}

/**
 * A `[low, high]` port range, both ends inclusive.
 *
 * @example const alt: PortRange = [8000, 8080];
 */
export type PortRange = [number, number];

/**
 * What traffic an ingress entry lets through (or, for egress policies, blocks).
 *
 * @example
 * const web: Rule = { protocol: 'tcp', ports: [80, 443], port_ranges: [[8000, 8080]] };
 */
export interface Rule {
  /** `tcp`, `udp`, `icmp` or `any` (lower case after validation). */
  protocol: string;
  ports?: number[];
  port_ranges?: PortRange[];
  icmp_type?: number;
  icmp_code?: number;
  /** Accepted and stored, never used by enforcement. */
  is_stateful?: boolean;
}

/**
 * Peers and the rules that apply to traffic between them and the targets.
 *
 * @example
 * const entry: IngressEntry = { peers: [{ peer: 'any' }], rules: [{ protocol: 'tcp', ports: [80] }] };
 */
export interface IngressEntry {
  peers: Endpoint[];
  rules: Rule[];
}

/**
 * A Romana 2.x policy. `id` is the storage key and the only handle.
 *
 * @example
 * const policy: Policy = {
 *   id: 'allow-frontend',
 *   direction: 'ingress',
 *   applied_to: [{ tenant_id: 'tenant-a', segment_id: 'backend' }],
 *   ingress: [{ peers: [{ tenant_id: 'tenant-a', segment_id: 'frontend' }], rules: [{ protocol: 'tcp', ports: [80] }] }],
 * };
 */
export interface RomanaPolicy {
  id: string;
  direction: Direction;
  description?: string;
  applied_to: Endpoint[];
  ingress: IngressEntry[];
}

/**
 * What an `applied_to` endpoint designates.
 *
 * @example const t: TargetType = targetTypeOf({ dest: 'host' }); // 'host'
 */
export type TargetType = 'local' | 'host' | 'tenant' | 'tenant-segment' | 'unknown';

/**
 * What a peer endpoint designates.
 *
 * @example const p: PeerType = peerTypeOf({ cidr: '10.0.0.0/8' }); // 'cidr'
 */
export type PeerType = 'local' | 'host' | 'any' | 'cidr' | 'tenant' | 'tenant-segment' | 'unknown';

/**
 * Classifies a target as the original enforcer does: `dest` first (`local`, `host`), then
 * `tenant_id` (with `segment_id`: `tenant-segment`), otherwise `unknown`. Empty strings count as
 * absent, as they did in the original (Go `omitempty`). `peer` and `cidr` are not looked at.
 *
 * @example targetTypeOf({ tenant_id: 'tenant-a' }) // 'tenant'
 * @example targetTypeOf({ cidr: '10.0.0.0/8' }) // 'unknown'
 */
export function targetTypeOf(target: Endpoint): TargetType {
  if (target.dest === 'local') return 'local';
  if (target.dest === 'host') return 'host';
  if (target.tenant_id) return target.segment_id ? 'tenant-segment' : 'tenant';
  return 'unknown';
}

/**
 * Classifies a peer as the original enforcer does: `peer` first (`local`, `host`, `any`), then a
 * non-empty `cidr`, then `tenant_id` (with `segment_id`: `tenant-segment`), otherwise `unknown`.
 * `dest` is not looked at.
 *
 * @example peerTypeOf({ peer: 'any' }) // 'any'
 * @example peerTypeOf({ tenant_id: 'tenant-a', segment_id: 'frontend' }) // 'tenant-segment'
 */
export function peerTypeOf(peer: Endpoint): PeerType {
  if (peer.peer === 'local') return 'local';
  if (peer.peer === 'host') return 'host';
  if (peer.peer === 'any') return 'any';
  if (peer.cidr) return 'cidr';
  if (peer.tenant_id) return peer.segment_id ? 'tenant-segment' : 'tenant';
  return 'unknown';
}

/**
 * One translatable (direction, target type, peer type) combination.
 *
 * @example const c: Combination = { direction: 'ingress', target: 'host', peer: 'local' };
 */
export interface Combination {
  readonly direction: Direction;
  readonly target: TargetType;
  readonly peer: PeerType;
}

/**
 * Every combination the enforcer can translate into iptables rules (the default "policyOnTop"
 * scheme of the original). Anything else — cidr or empty targets, `host` peers, `local` targets,
 * egress from the host — is untranslatable, and validation rejects it.
 *
 * @example VALID_COMBINATIONS.length // 19
 */
export const VALID_COMBINATIONS: readonly Combination[] = [
  { direction: 'ingress', target: 'tenant', peer: 'any' },
  { direction: 'ingress', target: 'tenant', peer: 'cidr' },
  { direction: 'ingress', target: 'tenant', peer: 'tenant' },
  { direction: 'ingress', target: 'tenant', peer: 'tenant-segment' },
  { direction: 'ingress', target: 'tenant-segment', peer: 'any' },
  { direction: 'ingress', target: 'tenant-segment', peer: 'cidr' },
  { direction: 'ingress', target: 'tenant-segment', peer: 'tenant' },
  { direction: 'ingress', target: 'tenant-segment', peer: 'tenant-segment' },
  { direction: 'ingress', target: 'host', peer: 'tenant' },
  { direction: 'ingress', target: 'host', peer: 'tenant-segment' },
  { direction: 'ingress', target: 'host', peer: 'local' },
  { direction: 'egress', target: 'tenant', peer: 'any' },
  { direction: 'egress', target: 'tenant', peer: 'cidr' },
  { direction: 'egress', target: 'tenant', peer: 'tenant' },
  { direction: 'egress', target: 'tenant', peer: 'tenant-segment' },
  { direction: 'egress', target: 'tenant-segment', peer: 'any' },
  { direction: 'egress', target: 'tenant-segment', peer: 'cidr' },
  { direction: 'egress', target: 'tenant-segment', peer: 'tenant' },
  { direction: 'egress', target: 'tenant-segment', peer: 'tenant-segment' },
];

const VALID_KEYS = new Set(VALID_COMBINATIONS.map((c) => `${c.direction}/${c.target}/${c.peer}`));

/**
 * True when the enforcer can translate this combination (see `VALID_COMBINATIONS`).
 *
 * @example isValidCombination('ingress', 'host', 'local') // true
 * @example isValidCombination('egress', 'host', 'local') // false
 */
export function isValidCombination(
  direction: Direction,
  target: TargetType,
  peer: PeerType,
): boolean {
  return VALID_KEYS.has(`${direction}/${target}/${peer}`);
}

/**
 * Any policy romanad stores: the 2.x form or the Kubernetes form (kube-model.ts), told apart by
 * `isKubePolicy` (a Kubernetes-form policy has a `podSelector`).
 *
 * @example const p: Policy = { id: 'kube.x.deny', namespace: 'x', podSelector: {} };
 */
export type Policy = RomanaPolicy | KubePolicy;
