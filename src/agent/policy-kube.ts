/**
 * The agent's copy of romanad's pods and namespaces for Kubernetes-mode enforcement, and the
 * set member changes their events make (see `KubeSetIndex`).
 */
import {
  isKubePolicy,
  type KubeNamespace,
  type KubePod,
  type KubePolicy,
  type Policy,
} from '../policy/index.ts';
import { renderKube, type KubeDesiredState } from '../policy/kube-render.ts';
import { KubeSetIndex, type MemberChange } from '../policy/kube-sets.ts';
import type { RenderBlock } from '../policy/render-sets.ts';
import { validatePolicy } from '../policy/validate.ts';

/** What enforcement reads of romanad's address view (the `pod` part comes from the listener). */
export interface AddressLike {
  name: string;
  ip: string;
  /** Every address of the pod, IPv4 first (romanad's dual-stack view); absent: `ip` alone. */
  ips?: { ip: string }[];
  tenant: string;
  pod?: {
    namespace: string;
    name: string;
    labels?: Record<string, string>;
    ports?: { name?: string; port: number; protocol: string }[];
  } | null;
}

/** What enforcement reads of romanad's namespace view. */
export interface NamespaceLike {
  name: string;
  labels?: Record<string, string>;
}

/** Why a 2.x policy is not rendered in Kubernetes mode. */
const ROMANA_IN_KUBE_MODE =
  'a 2.x policy is not enforced in Kubernetes mode (romana-agent --policy-mode romana enforces it)';

function podOf(a: AddressLike): KubePod {
  return {
    namespace: a.pod?.namespace ?? a.tenant,
    name: a.pod?.name ?? a.name,
    ip: a.ip,
    ...(a.ips !== undefined && a.ips.length > 0 ? { ips: a.ips.map((x) => x.ip) } : {}),
    labels: { ...(a.pod?.labels ?? {}) },
    ports: (a.pod?.ports ?? []).map((p) => ({ ...p })),
  };
}

type Checked = { ok: true; policy: KubePolicy } | { ok: false; problems: string[] };

export class KubeView {
  #pods = new Map<string, KubePod>();
  #namespaces = new Map<string, Record<string, string>>();
  #index = new KubeSetIndex([]);
  #changes: MemberChange[] = [];
  /** Members of every set of the last render, kept current by pod and namespace events. */
  #members = new Map<string, Set<string>>();
  /** Sorted members of the sets no event changed since the last render (the render's own). */
  #sorted = new Map<string, string[]>();
  /** Validation results by policy object: the agent keeps unchanged policies' objects. */
  #byObject = new WeakMap<Policy, Checked>();
  #checked = new Map<string, Checked>();
  /** The last rendering: what it has in common with the next is handed back as is. */
  #last: KubeDesiredState | undefined;

  replace(addresses: readonly AddressLike[], namespaces: readonly NamespaceLike[]): void {
    this.#pods = new Map(addresses.map((a) => [a.name, podOf(a)]));
    this.#namespaces = new Map(namespaces.map((n) => [n.name, { ...(n.labels ?? {}) }]));
    this.#changes = [];
    this.#members.clear();
    this.#sorted.clear();
  }

  /** One watch event of kind `addresses` or `namespaces`. */
  apply(
    kind: 'addresses' | 'namespaces',
    type: 'put' | 'delete',
    id: string,
    value: unknown,
  ): void {
    if (kind === 'addresses') {
      const before = this.#pods.get(id);
      const after = type === 'delete' ? undefined : podOf(value as AddressLike);
      if (after === undefined) this.#pods.delete(id);
      else this.#pods.set(id, after);
      this.#record(this.#index.podChanged(before, after, this.#namespaces));
      return;
    }
    const before = new Map(this.#namespaces);
    if (type === 'delete') this.#namespaces.delete(id);
    else this.#namespaces.set(id, { ...((value as NamespaceLike).labels ?? {}) });
    const pods = [...this.#pods.values()];
    this.#record(this.#index.namespaceChanged(id, pods, before, this.#namespaces));
  }

  #record(changes: MemberChange[]): void {
    for (const c of changes) {
      const members = this.#members.get(c.set);
      this.#sorted.delete(c.set);
      if (c.op === 'add') members?.add(c.member);
      else members?.delete(c.member);
      this.#changes.push(c);
    }
  }

  /** The member changes since the last render or the last call. */
  takeChanges(): MemberChange[] {
    const out = this.#changes;
    this.#changes = [];
    return out;
  }

  /** Renders every policy in Kubernetes form; from now on changes follow the new sets. */
  render(
    policies: readonly Policy[],
    blocks: readonly RenderBlock[],
    host: string,
  ): KubeDesiredState {
    const valid: KubePolicy[] = [];
    const skipped: { id: string; problems: string[] }[] = [];
    for (const p of policies) {
      if (!isKubePolicy(p)) {
        skipped.push({ id: p.id, problems: [ROMANA_IN_KUBE_MODE] });
        continue;
      }
      const c = this.#check(p);
      if (c.ok) valid.push(c.policy);
      else skipped.push({ id: p.id, problems: c.problems });
    }
    this.#checked = this.#seen;
    this.#seen = new Map();
    const namespaces: KubeNamespace[] = [...this.#namespaces].map(([name, labels]) => ({
      name,
      labels,
    }));
    const known = new Map<string, string[]>();
    for (const [name, members] of this.#members) {
      known.set(name, this.#sorted.get(name) ?? [...members].sort());
    }
    const pods = [...this.#pods.values()];
    const last = this.#last;
    const desired = renderKube(valid, pods, namespaces, blocks, host, skipped, known, last);
    this.#last = desired;
    const members = new Map<string, Set<string>>();
    this.#sorted = new Map();
    for (const s of desired.sets) {
      // A set that existed keeps its members (the render took them from it as they were).
      members.set(s.name, known.has(s.name) ? this.#members.get(s.name)! : new Set(s.members));
      this.#sorted.set(s.name, s.members);
    }
    this.#members = members;
    this.#index = desired.index;
    this.#changes = [];
    return desired;
  }

  /** Validation results of this render, by the policy's JSON. */
  #seen = new Map<string, Checked>();

  /** A policy validated: remembered by object, then by its JSON, else validated now. */
  #check(p: KubePolicy): Checked {
    let c = this.#byObject.get(p);
    if (c !== undefined) return c;
    const key = JSON.stringify(p);
    c = this.#checked.get(key) ?? this.#seen.get(key);
    if (c === undefined) {
      const v = validatePolicy(p);
      c = v.ok ? { ok: true, policy: v.policy as KubePolicy } : { ok: false, problems: v.problems };
    }
    this.#seen.set(key, c);
    this.#byObject.set(p, c);
    return c;
  }
}
