/**
 * Services → VIPs, as plain data: reading a Service's VIP annotation, choosing the node that
 * holds the VIP, and taking an address from the VIP pool. No I/O; `vip-sync.ts` acts.
 */
import type { V1EndpointSlice, V1Node } from '@kubernetes/client-node';
import { Addr, Cidr } from '../net/addr.ts';

/** Annotation keys, in order of precedence: ours, the 2.x code's, the 2.x docs'. */
export const VIP_ANNOTATIONS = ['romana.io/vip', 'romanavip', 'romanaip'] as const;

/** The `loadBalancerClass` whose Services get the VIP in `status.loadBalancer.ingress`. */
export const LB_CLASS = 'romana.io/vip';

export type VipRequest =
  | { kind: 'none' }
  | { kind: 'fixed'; ip: string; key: string }
  | { kind: 'auto'; key: string }
  | { kind: 'invalid'; key: string; problem: string };

/**
 * Reads a Service's VIP annotation: `{"ip": "192.168.99.101"}` or `{"auto": true}` (2.x wrote
 * `{"auto": false, "ip": …}`: accepted). Anything else is `invalid`, with the reason.
 *
 * @example parseVipAnnotation({ 'romana.io/vip': '{"auto":true}' }) // { kind: 'auto', key: 'romana.io/vip' }
 */
export function parseVipAnnotation(
  annotations: Readonly<Record<string, string>> | undefined,
): VipRequest {
  const key = VIP_ANNOTATIONS.find((k) => annotations?.[k] !== undefined);
  if (key === undefined) return { kind: 'none' };
  const text = annotations![key]!;
  const bad = (problem: string): VipRequest => ({
    kind: 'invalid',
    key,
    problem: `annotation ${key}: ${problem}, got ${JSON.stringify(text.slice(0, 200))}`,
  });
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return bad('not JSON (expected {"ip":"a.b.c.d"} or {"auto":true})');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return bad('not a JSON object');
  const o = v as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => k !== 'ip' && k !== 'auto');
  if (unknown.length > 0) return bad(`unknown field ${unknown[0]}`);
  if (o['auto'] !== undefined && typeof o['auto'] !== 'boolean')
    return bad('auto must be true or false');
  if (o['auto'] === true) {
    if (o['ip'] !== undefined) return bad('give either "auto": true or "ip", not both');
    return { kind: 'auto', key };
  }
  if (typeof o['ip'] !== 'string') return bad('"ip" (an IPv4 address) or "auto": true is required');
  if (Addr.tryParse(o['ip']) === undefined)
    return bad(`ip ${JSON.stringify(o['ip'])} is not an IPv4 address`);
  return { kind: 'fixed', ip: o['ip'], key };
}

/** Whether a node's `Ready` condition is `True`. */
export function nodeReady(node: V1Node): boolean {
  return (node.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

/**
 * The nodes that may hold a Service's VIP: those with a ready endpoint of the Service (an
 * endpoint whose `ready` condition is not false) that are Ready and known to romanad. Sorted.
 */
export function vipCandidates(
  slices: readonly V1EndpointSlice[],
  readyNodes: ReadonlySet<string>,
  hosts: ReadonlySet<string>,
): string[] {
  const out = new Set<string>();
  for (const s of slices) {
    for (const e of s.endpoints ?? []) {
      const node = e.nodeName;
      if (node === undefined || e.conditions?.ready === false) continue;
      if (readyNodes.has(node) && hosts.has(node)) out.add(node);
    }
  }
  return [...out].sort();
}

/**
 * Where a VIP goes: where it is while that node stays a candidate (a VIP never moves for no
 * reason), else a candidate chosen by the VIP's name (so that VIPs spread over the nodes and
 * the choice does not depend on event order); undefined when there is none.
 *
 * @example placeVip('web.default', 'n2', ['n1', 'n2']) // 'n2'
 */
export function placeVip(
  name: string,
  current: string | undefined,
  candidates: readonly string[],
): string | undefined {
  if (candidates.length === 0) return undefined;
  if (current !== undefined && candidates.includes(current)) return current;
  const sorted = [...candidates].sort();
  return sorted[hash(name) % sorted.length];
}

/**
 * An address of the pool for an `auto` VIP: the one it holds if that is still in the pool and
 * no other VIP has it, else the lowest free address (a pool wider than /31 skips its network
 * and broadcast addresses). Undefined when the pool is full.
 *
 * @example pickPoolIp(Cidr.parse('192.168.99.0/30'), new Set(['192.168.99.1'])) // '192.168.99.2'
 */
export function pickPoolIp(
  pool: Cidr,
  usedByOthers: ReadonlySet<string>,
  current?: string,
): string | undefined {
  if (current !== undefined && !usedByOthers.has(current)) {
    const a = Addr.tryParse(current);
    if (a !== undefined && pool.containsAddr(a)) return current;
  }
  const edge = pool.prefix < pool.addr.bits - 1 ? 1n : 0n;
  const limit = 1n << 20n; // never scan more than this many addresses
  for (let i = edge; i < pool.size - edge && i < limit; i++) {
    const ip = pool.addr.add(i).toString();
    if (!usedByOthers.has(ip)) return ip;
  }
  return undefined;
}

/**
 * The pool `{"auto": true}` VIPs come from: `--vip-cidr` when given (it wins), else the
 * topology's `vip_cidr`, else none.
 *
 * @example vipPool(undefined, '192.168.99.0/24')?.toString() // '192.168.99.0/24'
 */
export function vipPool(flag: Cidr | undefined, topology: string | undefined): Cidr | undefined {
  if (flag !== undefined) return flag;
  return topology === undefined ? undefined : Cidr.parse(topology, 'vip_cidr');
}

/** The VIP name of a Service in romanad: `<service>.<namespace>`. */
export function vipName(namespace: string, service: string): string {
  return `${service}.${namespace}`;
}

/** FNV-1a, 32 bits. */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}
