/**
 * The Kubernetes form of a Romana policy: one `networking.k8s.io/v1` NetworkPolicy spec, in
 * the API's own field names, plus the policy's `id`, its `namespace` and an optional
 * `description`. A policy is in this form when it has a `podSelector` (the API requires one);
 * anything else is a 2.x policy (model.ts). Meaning: docs/policy.md, "Kubernetes mode".
 */

/**
 * The operators of a selector requirement.
 *
 * @example const op: SelectorOperator = 'NotIn';
 */
export type SelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

/**
 * One requirement of a label selector (`values` only with `In` and `NotIn`).
 *
 * @example const r: LabelRequirement = { key: 'env', operator: 'In', values: ['prod'] };
 */
export interface LabelRequirement {
  key: string;
  operator: SelectorOperator;
  values?: string[];
}

/**
 * A label selector: every label of `matchLabels` and every requirement must hold; an empty
 * selector selects everything.
 *
 * @example const s: LabelSelector = { matchLabels: { app: 'web' } };
 */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelRequirement[];
}

/**
 * A CIDR and the parts of it that are excluded.
 *
 * @example const b: IpBlock = { cidr: '10.0.0.0/16', except: ['10.0.5.0/24'] };
 */
export interface IpBlock {
  cidr: string;
  except?: string[];
}

/**
 * One peer of a rule: pods (by namespace and/or pod labels) or an address block, never both.
 *
 * @example const p: KubePeer = { namespaceSelector: {}, podSelector: { matchLabels: { app: 'db' } } };
 */
export interface KubePeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: IpBlock;
}

/**
 * The transport protocols of a NetworkPolicy port.
 *
 * @example const p: KubeProtocol = 'SCTP';
 */
export type KubeProtocol = 'TCP' | 'UDP' | 'SCTP';

/**
 * A port of a rule: a number (with `endPort`, a range) or a name resolved on the destination
 * pod; no `port` means every port of the protocol.
 *
 * @example const p: KubePort = { protocol: 'TCP', port: 8000, endPort: 8080 };
 */
export interface KubePort {
  protocol: KubeProtocol;
  port?: number | string;
  endPort?: number;
}

/**
 * An ingress rule: traffic from any of `from` (empty: from anywhere) to any of `ports` (empty:
 * every port).
 *
 * @example const r: KubeIngressRule = { from: [], ports: [{ protocol: 'TCP', port: 80 }] };
 */
export interface KubeIngressRule {
  from: KubePeer[];
  ports: KubePort[];
}

/**
 * An egress rule: traffic to any of `to` (empty: anywhere) on any of `ports` (empty: every port).
 *
 * @example const r: KubeEgressRule = { to: [{ ipBlock: { cidr: '10.0.0.0/8' } }], ports: [] };
 */
export interface KubeEgressRule {
  to: KubePeer[];
  ports: KubePort[];
}

/**
 * The policy types a NetworkPolicy isolates for.
 *
 * @example const t: PolicyType = 'Egress';
 */
export type PolicyType = 'Ingress' | 'Egress';

/**
 * A policy in Kubernetes form. After validation `policyTypes`, `ingress` and `egress` are always
 * present (`policyTypes` defaulted as the API does).
 *
 * @example
 * const p: KubePolicy = { id: 'kube.x.deny', namespace: 'x', podSelector: {},
 *   policyTypes: ['Ingress'], ingress: [], egress: [] };
 */
export interface KubePolicy {
  id: string;
  description?: string;
  namespace: string;
  podSelector: LabelSelector;
  policyTypes?: PolicyType[];
  ingress?: KubeIngressRule[];
  egress?: KubeEgressRule[];
}

/**
 * True when `p` is in Kubernetes form (has a `podSelector`).
 *
 * @example isKubePolicy({ id: 'p', namespace: 'x', podSelector: {} }) // true
 */
export function isKubePolicy(p: unknown): p is KubePolicy {
  return typeof p === 'object' && p !== null && 'podSelector' in p;
}

/**
 * A pod as policy enforcement sees it: where it is, its labels, its named container ports.
 *
 * @example
 * const pod: KubePod = { namespace: 'x', name: 'a', ip: '10.0.0.5', labels: { pod: 'a' },
 *   ports: [{ name: 'serve-80-tcp', port: 80, protocol: 'TCP' }] };
 */
export interface KubePod {
  namespace: string;
  name: string;
  /** The pod's first address (IPv4 when it has one). */
  ip: string;
  /** Every address of a dual-stack pod, `ip` among them; absent: `ip` alone. */
  ips?: string[];
  labels: Record<string, string>;
  ports: { name?: string; port: number; protocol: string }[];
}

/**
 * Every address of a pod, of both families.
 *
 * @example podIps({ namespace: 'x', name: 'a', ip: '10.0.0.5', ips: ['10.0.0.5', 'fd00::5'], labels: {}, ports: [] })
 * // ['10.0.0.5', 'fd00::5']
 */
export function podIps(pod: KubePod): readonly string[] {
  return pod.ips ?? [pod.ip];
}

/**
 * A namespace's labels. `kubernetes.io/metadata.name` is always taken to be the namespace's
 * name, as the API server sets it.
 *
 * @example const ns: KubeNamespace = { name: 'x', labels: { team: 'red' } };
 */
export interface KubeNamespace {
  name: string;
  labels: Record<string, string>;
}

/**
 * The label the API server puts on every namespace, valued with its name.
 *
 * @example NAMESPACE_NAME_LABEL // 'kubernetes.io/metadata.name'
 */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';
