/**
 * A Kubernetes NetworkPolicy (`networking.k8s.io/v1`) as a Romana policy in Kubernetes form:
 * id `kube.<namespace>.<name>`, the spec's selectors, peers and ports as they are. Pure; the
 * listener calls it for every ADDED and MODIFIED object and deletes `kube.<ns>.<name>` on
 * DELETED. The result is validated like any policy posted to romanad, so a NetworkPolicy
 * Romana cannot enforce is refused here with every problem named, and never reaches the nodes.
 */
import type { V1NetworkPolicy } from '@kubernetes/client-node';
import { validatePolicy, type KubePolicy } from '../policy/index.ts';

/**
 * The prefix of the ids of policies that come from NetworkPolicies; a resync removes the
 * policies with this prefix that no NetworkPolicy has.
 *
 * @example KUBE_POLICY_PREFIX // 'kube.'
 */
export const KUBE_POLICY_PREFIX = 'kube.';

/**
 * The Romana policy id of a NetworkPolicy.
 *
 * @example kubePolicyId('x', 'allow-web') // 'kube.x.allow-web'
 */
export function kubePolicyId(namespace: string, name: string): string {
  return `${KUBE_POLICY_PREFIX}${namespace}.${name}`;
}

/**
 * What converting a NetworkPolicy gives: the policy in normal form, or every problem.
 *
 * @example const r: NetworkPolicyConversion = fromNetworkPolicy(obj);
 */
export type NetworkPolicyConversion =
  { ok: true; policy: KubePolicy } | { ok: false; id: string; problems: string[] };

/** Drops nulls (the API's "absent") at every depth, so validation sees absent fields. */
function withoutNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutNulls);
  if (typeof v !== 'object' || v === null) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v))
    if (x !== null && x !== undefined) out[k] = withoutNulls(x);
  return out;
}

/**
 * The client library's models call an ingress rule's `from` `_from` (a reserved word in its
 * generator); objects straight from the wire say `from`. Both are read.
 */
function wireNames(rule: unknown): unknown {
  if (typeof rule !== 'object' || rule === null || !('_from' in rule)) return rule;
  const { _from, ...rest } = rule as Record<string, unknown>;
  return { from: _from, ...rest };
}

/**
 * Converts one NetworkPolicy (as the client library's model or as JSON from the wire). `spec.podSelector` absent counts as `{}` (the API requires it, and
 * an empty selector is what clients mean by leaving it out).
 *
 * @example
 * fromNetworkPolicy({ metadata: { namespace: 'x', name: 'deny' }, spec: { podSelector: {} } })
 * // { ok: true, policy: { id: 'kube.x.deny', namespace: 'x', podSelector: {},
 * //   policyTypes: ['Ingress'], ingress: [], egress: [] } }
 */
export function fromNetworkPolicy(np: V1NetworkPolicy): NetworkPolicyConversion {
  const namespace = np.metadata?.namespace ?? 'default';
  const name = np.metadata?.name ?? '';
  const id = kubePolicyId(namespace, name);
  if (name === '') return { ok: false, id, problems: ['metadata.name: is required'] };
  const spec = (withoutNulls(np.spec ?? {}) ?? {}) as Record<string, unknown>;
  if (Array.isArray(spec['ingress'])) spec['ingress'] = spec['ingress'].map(wireNames);
  const input: Record<string, unknown> = {
    id,
    namespace,
    ...spec,
    podSelector: spec['podSelector'] ?? {},
  };
  const v = validatePolicy(input);
  if (!v.ok) return { ok: false, id, problems: v.problems.map((p) => `spec.${p}`) };
  return { ok: true, policy: v.policy as KubePolicy };
}
