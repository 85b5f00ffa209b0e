/**
 * Nodes → hosts, as plain data: which host a Kubernetes Node should be in romanad, and what to
 * do about the host romanad holds now. No I/O; `node-sync.ts` acts on the answers.
 */
import type { V1Node } from '@kubernetes/client-node';
import { Addr, IPV4_ONLY, IPV6_ONLY } from '../net/addr.ts';

/** The value romanad's `managed_by` holds for the hosts this listener created. */
export const MANAGED_BY = 'romana-listener';

/** A romanad host as the listener reads it (`GET /hosts`). */
export interface HostRecord {
  name: string;
  ip: string;
  ip6?: string;
  tags: Record<string, string>;
  k8s_info?: Record<string, unknown> | null;
  managed_by?: string;
}

/** What a node asks of romanad. */
export interface DesiredHost {
  name: string;
  ip: string;
  /** The node's IPv6 address of the first listed type that has one (dual-stack nodes). */
  ip6?: string;
  tags: Record<string, string>;
  k8s_info: Record<string, unknown>;
}

export interface NodeHostOptions {
  /** Node address types, in order of preference (default InternalIP, then ExternalIP). */
  addressTypes: readonly string[];
  /** Node label → host tag: e.g. `topology.kubernetes.io/zone` → `zone`. */
  labelTags: Readonly<Record<string, string>>;
  /** Also copy every node label under its own name (mapped labels win on a clash). */
  copyLabels: boolean;
  /** Dotted paths into the Node object whose values go to `k8s_info` (e.g. `spec.unschedulable`). */
  infoPaths: readonly string[];
}

export const DEFAULT_NODE_HOST_OPTIONS: NodeHostOptions = {
  addressTypes: ['InternalIP', 'ExternalIP'],
  labelTags: {
    'topology.kubernetes.io/zone': 'zone',
    'topology.kubernetes.io/region': 'region',
    'romana.io/rack': 'rack',
  },
  copyLabels: false,
  infoPaths: ['spec.unschedulable'],
};

/** romanad takes at most this many tags per host. */
export const MAX_TAGS = 64;

/**
 * The host a node should be, or why it cannot be one (no name, no address of an accepted type).
 *
 * @example
 * hostOfNode({ metadata: { name: 'n1', labels: { 'topology.kubernetes.io/zone': 'a' } },
 *   status: { addresses: [{ type: 'InternalIP', address: '192.168.0.11' }] } }, DEFAULT_NODE_HOST_OPTIONS)
 * // { host: { name: 'n1', ip: '192.168.0.11', tags: { zone: 'a' }, k8s_info: {} } }
 */
export function hostOfNode(
  node: V1Node,
  opts: NodeHostOptions,
): { host: DesiredHost } | { problem: string } {
  const name = node.metadata?.name;
  if (!name) return { problem: 'the node has no name' };
  const ip = nodeIp(node, opts.addressTypes);
  if (ip === undefined) {
    const have = (node.status?.addresses ?? []).map((a) => `${a.type}=${a.address}`).join(', ');
    return {
      problem: `node ${name} has no IPv4 address of type ${opts.addressTypes.join(' or ')} (it has: ${have || 'none'})`,
    };
  }
  const ip6 = nodeIp(node, opts.addressTypes, 6);
  return {
    host: {
      name,
      ip,
      ...(ip6 === undefined ? {} : { ip6 }),
      tags: tagsOfLabels(node.metadata?.labels ?? {}, opts),
      k8s_info: info(node, opts.infoPaths),
    },
  };
}

/** The node's address of the first listed type that holds a valid address of `family`. */
export function nodeIp(
  node: V1Node,
  types: readonly string[],
  family: 4 | 6 = 4,
): string | undefined {
  const addresses = node.status?.addresses ?? [];
  const families = family === 4 ? IPV4_ONLY : IPV6_ONLY;
  for (const type of types) {
    for (const a of addresses) {
      if (a.type === type && Addr.tryParse(a.address, families) !== undefined) return a.address;
    }
  }
  return undefined;
}

/**
 * Host tags from node labels: mapped labels under their tag name, then (with `copyLabels`) the
 * other labels sorted by name, up to `MAX_TAGS` in all.
 */
export function tagsOfLabels(
  labels: Readonly<Record<string, string>>,
  opts: Pick<NodeHostOptions, 'labelTags' | 'copyLabels'>,
): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const [label, tag] of Object.entries(opts.labelTags)) {
    const v = labels[label];
    if (v !== undefined && v !== '') tags[tag] = v;
  }
  if (opts.copyLabels) {
    for (const label of Object.keys(labels).sort()) {
      if (Object.keys(tags).length >= MAX_TAGS) break;
      if (!(label in tags) && !(label in opts.labelTags)) tags[label] = labels[label]!;
    }
  }
  return tags;
}

/** `k8s_info`: each configured path's value, where the node has one. */
function info(node: V1Node, paths: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const p of paths) {
    let v: unknown = node;
    for (const part of p.split('.')) {
      v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[part] : undefined;
    }
    if (v !== undefined) out[p] = v instanceof Date ? v.toISOString() : v;
  }
  return out;
}

/** What to do with romanad's host for a node that exists. */
export type HostAction =
  | { kind: 'add'; host: DesiredHost }
  | { kind: 'patch'; tags?: Record<string, string>; k8s_info?: Record<string, unknown> }
  | { kind: 'none' }
  /** A host of that name exists that the listener did not create: left as it is. */
  | { kind: 'foreign' }
  /** The node's address changed: a host's IP cannot change, so the host is re-created. */
  | { kind: 'ip-changed'; from: string; to: string };

/**
 * Compares the wanted host with romanad's. `refusedTags`: tags romanad already refused (422) for
 * this host, not sent again until the labels change once more.
 */
export function hostAction(
  want: DesiredHost,
  have: HostRecord | undefined,
  refusedTags?: Record<string, string>,
): HostAction {
  if (have === undefined) return { kind: 'add', host: want };
  if (have.managed_by !== MANAGED_BY) return { kind: 'foreign' };
  if (have.ip !== want.ip) return { kind: 'ip-changed', from: have.ip, to: want.ip };
  const tagsDiffer = !sameJson(have.tags ?? {}, want.tags) && !sameJson(refusedTags, want.tags);
  const infoDiffers = !sameJson(have.k8s_info ?? {}, want.k8s_info);
  if (!tagsDiffer && !infoDiffers) return { kind: 'none' };
  return {
    kind: 'patch',
    ...(tagsDiffer ? { tags: want.tags } : {}),
    ...(infoDiffers ? { k8s_info: want.k8s_info } : {}),
  };
}

/** What to do with a host whose node is gone. */
export type GoneNodeAction =
  | { kind: 'keep'; why: string }
  | { kind: 'remove' }
  | { kind: 'wait'; ms: number }
  | { kind: 'force-remove'; addresses: number };

/**
 * A host whose node was deleted: removed once none of its addresses remain, or, after
 * `graceMs` since the node was seen gone, removed with its addresses released. A host the
 * listener did not create is never removed.
 */
export function goneNodeAction(
  host: HostRecord,
  addressCount: number,
  goneSinceMs: number,
  nowMs: number,
  graceMs: number,
): GoneNodeAction {
  if (host.managed_by !== MANAGED_BY) return { kind: 'keep', why: 'not created by the listener' };
  if (addressCount === 0) return { kind: 'remove' };
  const left = goneSinceMs + graceMs - nowMs;
  if (left > 0) return { kind: 'wait', ms: left };
  return { kind: 'force-remove', addresses: addressCount };
}

/** Deep equality of JSON values, object keys in any order. */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  const bo = b as Record<string, unknown>;
  return ka.every((k) => k in bo && sameJson((a as Record<string, unknown>)[k], bo[k]));
}
