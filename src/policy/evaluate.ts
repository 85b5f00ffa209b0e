/**
 * What the Kubernetes NetworkPolicy API says about one connection, computed directly from the
 * policies, pods and namespaces: the oracle the traffic tests compare the kernel with. It
 * shares no code with the renderer (kube-render.ts) on purpose: it reads policies as the API
 * reference words them, not as chains and sets.
 *
 * The rules (API reference, NetworkPolicy v1):
 * - a pod is isolated for ingress (egress) when some policy of its namespace selects it and
 *   lists `Ingress` (`Egress`) in `policyTypes`; when `policyTypes` is absent, `Ingress` is
 *   always meant and `Egress` when the policy has egress rules;
 * - a connection is allowed when the source's egress allows it and the destination's ingress
 *   allows it; a side that is not a pod, or a pod not isolated that way, allows everything;
 * - an isolated side allows what any rule of any policy selecting it allows (a union);
 * - a rule with no peers matches every peer, with no ports every port;
 * - `ipBlock` matches addresses, pod or not, never labels; a pod selector peer without a
 *   namespace selector means pods of the policy's namespace; an empty namespace selector means
 *   every namespace;
 * - a named port is looked up among the destination pod's container ports.
 */
import { Addr, BOTH_FAMILIES, Cidr } from '../net/addr.ts';
import {
  NAMESPACE_NAME_LABEL,
  type KubeNamespace,
  type KubePeer,
  type KubePod,
  type KubePolicy,
  type KubePort,
  type LabelSelector,
  type PolicyType,
} from './kube-model.ts';

/**
 * One end of a connection: a pod, or an address outside the pods.
 *
 * @example const outside: Party = { ip: '192.0.2.1' };
 */
export type Party = KubePod | { ip: string };

function isPod(p: Party): p is KubePod {
  return 'namespace' in p;
}

/**
 * True when `labels` satisfy `selector` (an empty selector matches everything).
 *
 * @example selects({ matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['prod'] }] }, {}) // true
 */
export function selects(selector: LabelSelector, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) {
    if (labels[k] !== v) return false;
  }
  for (const r of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, r.key);
    const inValues = has && (r.values ?? []).includes(labels[r.key]!);
    const ok =
      r.operator === 'In'
        ? inValues
        : r.operator === 'NotIn'
          ? !inValues
          : r.operator === 'Exists'
            ? has
            : !has;
    if (!ok) return false;
  }
  return true;
}

/** The types a policy isolates for, defaulted as the API server defaults them. */
function typesOf(p: KubePolicy): PolicyType[] {
  if (p.policyTypes !== undefined && p.policyTypes.length > 0) return p.policyTypes;
  return (p.egress ?? []).length > 0 ? ['Ingress', 'Egress'] : ['Ingress'];
}

function namespaceLabels(
  name: string,
  namespaces: readonly KubeNamespace[],
): Record<string, string> {
  const ns = namespaces.find((n) => n.name === name);
  return { ...(ns?.labels ?? {}), [NAMESPACE_NAME_LABEL]: name };
}

function inBlock(ip: string, cidr: string, except: readonly string[]): boolean {
  const a = Addr.tryParse(ip, BOTH_FAMILIES);
  if (a === undefined) return false;
  const within = (c: string) => {
    const n = Cidr.parse(c, 'cidr', BOTH_FAMILIES);
    return n.family === a.family && n.containsAddr(a);
  };
  return within(cidr) && !except.some(within);
}

function peerMatches(
  peer: KubePeer,
  policyNs: string,
  other: Party,
  namespaces: readonly KubeNamespace[],
): boolean {
  if (peer.ipBlock !== undefined) {
    return inBlock(ipOf(other), peer.ipBlock.cidr, peer.ipBlock.except ?? []);
  }
  if (!isPod(other)) return false;
  if (peer.namespaceSelector !== undefined) {
    if (!selects(peer.namespaceSelector, namespaceLabels(other.namespace, namespaces)))
      return false;
  } else if (other.namespace !== policyNs) {
    return false;
  }
  return peer.podSelector === undefined || selects(peer.podSelector, other.labels);
}

function ipOf(p: Party): string {
  return p.ip;
}

function portMatches(
  ports: readonly KubePort[],
  dst: Party,
  port: number,
  protocol: string,
): boolean {
  if (ports.length === 0) return true;
  return ports.some((p) => {
    if ((p.protocol ?? 'TCP') !== protocol) return false;
    if (p.port === undefined) return true;
    if (typeof p.port === 'number') {
      return p.endPort === undefined ? port === p.port : port >= p.port && port <= p.endPort;
    }
    if (!isPod(dst)) return false;
    return dst.ports.some(
      (cp) => cp.name === p.port && cp.protocol === protocol && cp.port === port,
    );
  });
}

/** The policies of `pod`'s namespace that select it and isolate it for `type`. */
function isolating(policies: readonly KubePolicy[], pod: KubePod, type: PolicyType): KubePolicy[] {
  return policies.filter(
    (p) =>
      p.namespace === pod.namespace &&
      typesOf(p).includes(type) &&
      selects(p.podSelector, pod.labels),
  );
}

/** A `namespace/name` reference looked up among `pods`. */
function resolve(ref: Party | string, pods: readonly KubePod[]): Party {
  if (typeof ref !== 'string') return ref;
  const pod = pods.find((p) => `${p.namespace}/${p.name}` === ref);
  if (pod === undefined) throw new Error(`no pod ${ref}`);
  return pod;
}

/**
 * True when the NetworkPolicy API allows a new connection from `fromRef` to `toRef` (a pod, a
 * `namespace/name` of one of `pods`, or `{ ip }` outside the pods) on `port` / `protocol`
 * (`TCP`, `UDP` or `SCTP`).
 *
 * @example allowed([denyAllIngressInX], pods, namespaces, 'y/a', 'x/a', 80, 'TCP') // false
 */
export function allowed(
  policies: readonly KubePolicy[],
  pods: readonly KubePod[],
  namespaces: readonly KubeNamespace[],
  fromRef: Party | string,
  toRef: Party | string,
  port: number,
  protocol: string,
): boolean {
  const from = resolve(fromRef, pods);
  const to = resolve(toRef, pods);
  if (isPod(from)) {
    const egress = isolating(policies, from, 'Egress');
    const ok =
      egress.length === 0 ||
      egress.some((p) =>
        (p.egress ?? []).some(
          (r) =>
            (r.to.length === 0 ||
              r.to.some((peer) => peerMatches(peer, p.namespace, to, namespaces))) &&
            portMatches(r.ports, to, port, protocol),
        ),
      );
    if (!ok) return false;
  }
  if (isPod(to)) {
    const ingress = isolating(policies, to, 'Ingress');
    return (
      ingress.length === 0 ||
      ingress.some((p) =>
        (p.ingress ?? []).some(
          (r) =>
            (r.from.length === 0 ||
              r.from.some((peer) => peerMatches(peer, p.namespace, from, namespaces))) &&
            portMatches(r.ports, to, port, protocol),
        ),
      )
    );
  }
  return true;
}
