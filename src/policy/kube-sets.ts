/**
 * The ipsets of Kubernetes-mode enforcement and their members: one `hash:ip` set of pod
 * addresses per distinct selector (`ROMANA-KS-<h16>`), one `hash:net` set per ipBlock
 * (`ROMANA-KB-<h16>`, `except` entries marked `nomatch`), one `hash:ip,port` set per named port
 * and protocol (`ROMANA-KN-<h16>`, members `<pod ip>,<proto>:<port>`). Pure.
 *
 * `KubeSetIndex` answers, for one pod or namespace change, which members of which sets change:
 * the agent applies those as `add`/`del` lines in one `ipset restore`, without rendering again.
 */
import { createHash } from 'node:crypto';
import { Cidr, BOTH_FAMILIES } from '../net/addr.ts';
import {
  NAMESPACE_NAME_LABEL,
  podIps,
  type IpBlock,
  type KubePod,
  type LabelSelector,
} from './kube-model.ts';

/**
 * Which pods a selector set holds: pods of the namespace `namespace`, or of every namespace
 * whose labels `namespaceSelector` matches; among them those `podSelector` matches (all when
 * absent).
 *
 * @example const s: SelectorSpec = { namespace: 'x', podSelector: { matchLabels: { pod: 'a' } } };
 */
export interface SelectorSpec {
  namespace?: string;
  namespaceSelector?: LabelSelector;
  podSelector?: LabelSelector;
}

/**
 * An ipset of Kubernetes mode: its kind and, for incremental updates, what it stands for.
 *
 * @example const s: KubeSetDef = { kind: 'named', name: 'ROMANA-KN-…', port: 'http', protocol: 'tcp' };
 */
export type KubeSetDef =
  | { kind: 'selector'; name: string; spec: SelectorSpec }
  | { kind: 'block'; name: string; block: IpBlock }
  | { kind: 'named'; name: string; port: string; protocol: string };

/** JSON with object keys sorted, so equal selectors give equal text. */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    const keys = Object.keys(v).sort();
    const o = v as Record<string, unknown>;
    return `{${keys
      .filter((k) => o[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

function h16(text: string): string {
  return createHash('sha1').update(text, 'utf8').digest('hex').slice(0, 16);
}

/** Name of the set of a selector spec. */
export function selectorSetName(spec: SelectorSpec): string {
  return `ROMANA-KS-${h16(canonical(spec))}`;
}

/** Name of the set of an ipBlock. */
export function blockSetName(block: IpBlock): string {
  return `ROMANA-KB-${h16(canonical(block))}`;
}

/** Name of the set of a named port of one protocol (`tcp`, `udp`, `sctp`). */
export function namedPortSetName(port: string, protocol: string): string {
  return `ROMANA-KN-${h16(`${protocol}/${port}`)}`;
}

/** Whether `labels` satisfy `selector`; written for enforcement, apart from the oracle's. */
export function labelsMatch(selector: LabelSelector, labels: Record<string, string>): boolean {
  const want = selector.matchLabels ?? {};
  if (Object.keys(want).some((k) => labels[k] !== want[k])) return false;
  return (selector.matchExpressions ?? []).every((r) => {
    const value = Object.hasOwn(labels, r.key) ? labels[r.key] : undefined;
    switch (r.operator) {
      case 'Exists':
        return value !== undefined;
      case 'DoesNotExist':
        return value === undefined;
      case 'In':
        return value !== undefined && (r.values ?? []).includes(value);
      case 'NotIn':
        return value === undefined || !(r.values ?? []).includes(value);
    }
  });
}

/** A namespace's labels, with the name label the API server always sets. */
export function labelsOfNamespace(
  name: string,
  namespaces: ReadonlyMap<string, Record<string, string>>,
): Record<string, string> {
  return { ...namespaces.get(name), [NAMESPACE_NAME_LABEL]: name };
}

/** Whether a namespace (with these labels) is one a spec draws pods from. */
function namespaceIn(spec: SelectorSpec, name: string, labels: Record<string, string>): boolean {
  if (spec.namespaceSelector !== undefined) return labelsMatch(spec.namespaceSelector, labels);
  return spec.namespace === name;
}

/** Whether the set of `spec` holds `pod`. */
export function specHolds(
  spec: SelectorSpec,
  pod: KubePod,
  namespaces: ReadonlyMap<string, Record<string, string>>,
): boolean {
  if (!namespaceIn(spec, pod.namespace, labelsOfNamespace(pod.namespace, namespaces))) return false;
  return spec.podSelector === undefined || labelsMatch(spec.podSelector, pod.labels);
}

/** The `hash:ip,port` members a pod gives a named-port set. */
export function namedMembers(pod: KubePod, port: string, protocol: string): string[] {
  return pod.ports
    .filter((p) => p.name === port && p.protocol.toLowerCase() === protocol)
    .flatMap((p) => podIps(pod).map((ip) => `${ip},${protocol}:${p.port}`));
}

/**
 * The members of an ipBlock set: the CIDR (a `/0` as its two halves, which `hash:net` can
 * hold) and each `except` entry with `nomatch`.
 *
 * @example blockMembers({ cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] }) // ['10.0.0.0/8', '10.1.0.0/16 nomatch']
 */
export function blockMembers(block: IpBlock): string[] {
  const c = Cidr.parse(block.cidr, 'cidr', BOTH_FAMILIES);
  const whole =
    c.prefix === 0 ? [c.subnet(1, 0).toString(), c.subnet(1, 1).toString()] : [c.toString()];
  return [...whole, ...(block.except ?? []).map((e) => `${e} nomatch`)];
}

/**
 * The members of every set at once: pods grouped by namespace and namespace labels computed
 * once, so a selector set looks only at the pods of the namespaces it draws from.
 */
export function allSetMembers(
  defs: readonly KubeSetDef[],
  pods: readonly KubePod[],
  namespaces: ReadonlyMap<string, Record<string, string>>,
): Map<string, string[]> {
  const byNs = new Map<string, KubePod[]>();
  for (const p of pods) {
    let list = byNs.get(p.namespace);
    if (list === undefined) byNs.set(p.namespace, (list = []));
    list.push(p);
  }
  const nsLabels = new Map([...byNs.keys()].map((n) => [n, labelsOfNamespace(n, namespaces)]));
  const out = new Map<string, string[]>();
  for (const d of defs) {
    if (d.kind !== 'selector') {
      out.set(d.name, setMembers(d, pods, namespaces));
      continue;
    }
    const spec = d.spec;
    const names =
      spec.namespaceSelector === undefined
        ? [spec.namespace ?? '']
        : [...nsLabels].filter(([, l]) => labelsMatch(spec.namespaceSelector!, l)).map(([n]) => n);
    const members: string[] = [];
    for (const n of names) {
      for (const p of byNs.get(n) ?? []) {
        if (spec.podSelector !== undefined && !labelsMatch(spec.podSelector, p.labels)) continue;
        if (p.ips === undefined) members.push(p.ip);
        else members.push(...p.ips);
      }
    }
    out.set(d.name, members);
  }
  return out;
}

/** The members of a set given every pod and namespace. */
export function setMembers(
  def: KubeSetDef,
  pods: readonly KubePod[],
  namespaces: ReadonlyMap<string, Record<string, string>>,
): string[] {
  switch (def.kind) {
    case 'block':
      return blockMembers(def.block);
    case 'selector':
      return pods.filter((p) => specHolds(def.spec, p, namespaces)).flatMap((p) => podIps(p));
    case 'named':
      return pods.flatMap((p) => namedMembers(p, def.port, def.protocol));
  }
}

/**
 * One member change of one set.
 *
 * @example const c: MemberChange = { op: 'add', set: 'ROMANA-KS-…', member: '10.0.0.5' };
 */
export interface MemberChange {
  op: 'add' | 'del';
  set: string;
  member: string;
}

/** The members a pod gives a set (none for block sets, which do not follow pods). */
function podMembers(
  def: KubeSetDef,
  pod: KubePod | undefined,
  namespaces: ReadonlyMap<string, Record<string, string>>,
): string[] {
  if (pod === undefined || def.kind === 'block') return [];
  if (def.kind === 'named') return namedMembers(pod, def.port, def.protocol);
  return specHolds(def.spec, pod, namespaces) ? [...podIps(pod)] : [];
}

function diff(set: string, before: readonly string[], after: readonly string[]): MemberChange[] {
  const out: MemberChange[] = [];
  for (const m of before) if (!after.includes(m)) out.push({ op: 'del', set, member: m });
  for (const m of after) if (!before.includes(m)) out.push({ op: 'add', set, member: m });
  return out;
}

/**
 * The sets of the last full rendering, and the member changes a pod or namespace change makes
 * to them.
 *
 * @example
 * const changes = index.podChanged(oldPod, newPod, namespaces); // [{ op: 'del', … }, { op: 'add', … }]
 */
export class KubeSetIndex {
  readonly #defs: readonly KubeSetDef[];

  constructor(defs: readonly KubeSetDef[]) {
    this.#defs = defs;
  }

  get defs(): readonly KubeSetDef[] {
    return this.#defs;
  }

  /** A pod started (`before` undefined), stopped (`after` undefined) or changed. */
  podChanged(
    before: KubePod | undefined,
    after: KubePod | undefined,
    namespaces: ReadonlyMap<string, Record<string, string>>,
  ): MemberChange[] {
    return this.#defs.flatMap((d) =>
      diff(d.name, podMembers(d, before, namespaces), podMembers(d, after, namespaces)),
    );
  }

  /** A namespace's labels changed (`before`/`after` as maps of every namespace's labels). */
  namespaceChanged(
    name: string,
    pods: readonly KubePod[],
    before: ReadonlyMap<string, Record<string, string>>,
    after: ReadonlyMap<string, Record<string, string>>,
  ): MemberChange[] {
    const inNs = pods.filter((p) => p.namespace === name);
    return this.#defs
      .filter((d) => d.kind === 'selector' && d.spec.namespaceSelector !== undefined)
      .flatMap((d) =>
        inNs.flatMap((p) => diff(d.name, podMembers(d, p, before), podMembers(d, p, after))),
      );
  }
}
