/**
 * Names derived from policies and tenants, bit-for-bit as the original agent derived them, so
 * that chains and ipsets keep their names across a migration (reference §6.3).
 */
import { createHash } from 'node:crypto';
import type { Endpoint, RomanaPolicy as Policy, PortRange, Rule } from './model.ts';

function sha1Hex16(data: string): string {
  return createHash('sha1').update(data, 'utf8').digest('hex').slice(0, 16);
}

/** `peer + cidr + dest + tenant_id + segment_id`, absent fields as empty strings. */
function endpointString(e: Endpoint): string {
  return `${e.peer ?? ''}${e.cidr ?? ''}${e.dest ?? ''}${e.tenant_id ?? ''}${e.segment_id ?? ''}`;
}

/** Go compares strings by their UTF-8 bytes; JavaScript's `<` compares UTF-16 units. */
function byUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

const UINT64 = (1n << 64n) - 1n;

/**
 * The original sorted ranges by `lo - hi` computed in Go's 64-bit `uint`, which wraps: ranges
 * with lo = hi come first (difference 0), then inverted ranges (small positive differences),
 * then proper ranges from the widest to the narrowest. Ties keep their input order; Go's sort
 * did too for fewer than 12 ranges (insertion sort), but may not for longer lists.
 */
function rangeKey([lo, hi]: PortRange): bigint {
  return (BigInt(lo) - BigInt(hi)) & UINT64;
}

function sortedRanges(ranges: readonly PortRange[]): PortRange[] {
  return [...ranges].sort((a, b) => {
    const ka = rangeKey(a);
    const kb = rangeKey(b);
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
}

function ruleString(r: Rule): string {
  let s = `.${r.protocol}${r.icmp_type ?? 0}${r.icmp_code ?? 0}${r.is_stateful ?? false}`;
  for (const p of [...(r.ports ?? [])].sort((a, b) => a - b)) s += `${p}`;
  for (const [lo, hi] of sortedRanges(r.port_ranges ?? [])) s += `${lo}${hi}`;
  return s;
}

function sortedEndpointStrings(endpoints: readonly Endpoint[]): string[] {
  return endpoints.map(endpointString).sort(byUtf8);
}

/**
 * The canonical string the policy hash is computed from: `<direction>.<description>.<id>`, then
 * `.<endpoint>` for each target (sorted), then per ingress entry (in order) `.<endpoint>` for each
 * peer (sorted) and per rule (in order) `.<protocol><icmp_type><icmp_code><is_stateful>` followed
 * by the ports (ascending) and the ranges as `<lo><hi>` (in the original's odd order), with no
 * separators. Fields are used as given: hash the normal form returned by validation.
 *
 * @example
 * policyCanonicalString({ id: 'p', direction: 'ingress', applied_to: [{ tenant_id: 't' }],
 *   ingress: [{ peers: [{ peer: 'any' }], rules: [{ protocol: 'tcp', ports: [443, 80] }] }] })
 * // 'ingress..p.t.any.tcp00false80443'
 */
export function policyCanonicalString(policy: Policy): string {
  let s = `${policy.direction}.${policy.description ?? ''}.${policy.id}`;
  for (const e of sortedEndpointStrings(policy.applied_to)) s += `.${e}`;
  for (const entry of policy.ingress) {
    for (const e of sortedEndpointStrings(entry.peers)) s += `.${e}`;
    for (const rule of entry.rules) s += ruleString(rule);
  }
  return s;
}

/**
 * First 16 hex characters of the SHA-1 of `policyCanonicalString(policy)`: the `<h16>` in the
 * policy's chain names (`ROMANA-P-<h16>`, `_X`, `_R`) and ipset names (`_s`, `_d`).
 *
 * @example
 * policyHash({ id: 'kube.tenant-a.pol1.d3122af3-a4cc-11e7-a1ea-068bf013416e', direction: 'ingress',
 *   applied_to: [{ tenant_id: 'tenant-a', segment_id: 'backend' }],
 *   ingress: [{ peers: [{ peer: 'any' }], rules: [{ protocol: 'tcp', ports: [80] }] }] })
 * // '702122ee51ef3cb5'
 */
export function policyHash(policy: Policy): string {
  return sha1Hex16(policyCanonicalString(policy));
}

/**
 * The name of the policy's top chain, `ROMANA-P-<policyHash>`.
 *
 * @example policyChainName(policy) // 'ROMANA-P-702122ee51ef3cb5' for the example of `policyHash`
 */
export function policyChainName(policy: Policy): string {
  return `ROMANA-P-${policyHash(policy)}`;
}

/**
 * The ipset holding a tenant's blocks (a `list:set` of its segment sets when `segment` is
 * absent or empty) or one segment's blocks: `ROMANA-` + 16 hex characters of the SHA-1 of
 * `tenant_<tenant>` (+ `_segment_<segment>`).
 *
 * @example tenantSetName('tenant-a', 'backend') // 'ROMANA-446f0022c0a89d93'
 * @example tenantSetName('tenant-a') // 'ROMANA-bc42e93f0aa666e1'
 */
export function tenantSetName(tenant: string, segment?: string): string {
  const key = segment ? `tenant_${tenant}_segment_${segment}` : `tenant_${tenant}`;
  return `ROMANA-${sha1Hex16(key)}`;
}
