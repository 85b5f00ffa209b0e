/**
 * Kubernetes mode: policies in Kubernetes form rendered into the node's chains and sets.
 * Isolation comes only from policies (no default deny); a connection passes when the source's
 * egress and the destination's ingress both allow it; replies pass (conntrack). Pure.
 *
 * The CNI plugin sends traffic leaving a pod (`-i <veth>`) to `ROMANA-FORWARD-OUT` and traffic
 * to a pod (`-o <veth>`) to `ROMANA-FORWARD-IN`; between two pods of this node both apply, and
 * whichever the packet meets first runs both checks:
 *
 * ```
 * ROMANA-FORWARD-OUT  established -> ACCEPT; -> ROMANA-K-EGRESS
 * ROMANA-FORWARD-IN   established -> ACCEPT; src local -> ROMANA-K-EGRESS; -> ROMANA-K-INGRESS
 * ROMANA-K-EGRESS     per Egress policy: src in target set -> ROMANA-KE-<h16> (an allowing rule
 *                     jumps on to ROMANA-K-INGRESS); then src in a target set -> DROP;
 *                     -> ROMANA-K-INGRESS
 * ROMANA-K-INGRESS    dst not local -> ACCEPT (its own node checks); per Ingress policy: dst in
 *                     target set -> ROMANA-KI-<h16> (an allowing rule ACCEPTs); then dst in a
 *                     target set -> DROP; ACCEPT
 * ```
 */
import { createHash } from 'node:crypto';
import {
  type KubePeer,
  type KubePolicy,
  type KubePort,
  type KubeNamespace,
  type KubePod,
} from './kube-model.ts';
import {
  blockSetName,
  KubeSetIndex,
  namedPortSetName,
  selectorSetName,
  allSetMembers,
  type KubeSetDef,
  type SelectorSpec,
} from './kube-sets.ts';
import { LOCAL_BLOCKS_SET, makeBlockSets, type IpSet, type RenderBlock } from './render-sets.ts';
import type { Chain, ChainRule } from './render-format.ts';
import type { DesiredState, SkippedPolicy } from './render.ts';

const EGRESS = 'ROMANA-K-EGRESS';
const INGRESS = 'ROMANA-K-INGRESS';
const ESTABLISHED = '-m state --state RELATED,ESTABLISHED';

/**
 * Kubernetes-mode state: the desired sets and chains plus the index of the sets that follow
 * pods and namespaces.
 *
 * @example const { sets, chains, index } = renderKube(policies, pods, namespaces, blocks, 'h1');
 */
export interface KubeDesiredState extends DesiredState {
  index: KubeSetIndex;
}

/** Chains with rules kept unique, in first-use order. */
class Chains {
  readonly #rules = new Map<string, ChainRule[]>();

  /** Creates the chain (empty) unless it exists. */
  declare(chain: string): void {
    if (!this.#rules.has(chain)) this.#rules.set(chain, []);
  }

  add(chain: string, rule: ChainRule): void {
    let rules = this.#rules.get(chain);
    if (rules === undefined) this.#rules.set(chain, (rules = []));
    if (!rules.some((r) => r.match === rule.match && r.target === rule.target)) rules.push(rule);
  }

  list(): Chain[] {
    return [...this.#rules].map(([name, rules]) => ({ name, rules }));
  }
}

/** Collects the sets rules refer to. */
class SetDefs {
  readonly defs = new Map<string, KubeSetDef>();

  selector(spec: SelectorSpec): string {
    const name = selectorSetName(spec);
    if (!this.defs.has(name)) this.defs.set(name, { kind: 'selector', name, spec });
    return name;
  }

  peer(peer: KubePeer, namespace: string): string {
    if (peer.ipBlock !== undefined) {
      const name = blockSetName(peer.ipBlock);
      if (!this.defs.has(name)) this.defs.set(name, { kind: 'block', name, block: peer.ipBlock });
      return name;
    }
    const spec: SelectorSpec =
      peer.namespaceSelector === undefined
        ? { namespace }
        : { namespaceSelector: peer.namespaceSelector };
    if (peer.podSelector !== undefined) spec.podSelector = peer.podSelector;
    return this.selector(spec);
  }

  named(port: string, protocol: string): string {
    const name = namedPortSetName(port, protocol);
    if (!this.defs.has(name)) this.defs.set(name, { kind: 'named', name, port, protocol });
    return name;
  }
}

/** The iptables match of one port entry (destination port, named ports through their set). */
function portMatch(p: KubePort, sets: SetDefs): string {
  const proto = p.protocol.toLowerCase();
  if (p.port === undefined) return `-p ${proto}`;
  if (typeof p.port === 'string') {
    return `-p ${proto} -m set --match-set ${sets.named(p.port, proto)} dst,dst`;
  }
  const range = p.endPort !== undefined && p.endPort !== p.port ? `:${p.endPort}` : '';
  return `-p ${proto} --dport ${p.port}${range}`;
}

/** `a` then `b`, single-spaced. */
function join(a: string, b: string): string {
  return a === '' ? b : b === '' ? a : `${a} ${b}`;
}

/** The rules of one direction of one policy into its chain; returns that chain's name. */
function renderRules(
  chains: Chains,
  sets: SetDefs,
  policy: KubePolicy,
  dir: 'ingress' | 'egress',
  hash: string,
): string {
  const chain = `${dir === 'ingress' ? 'ROMANA-KI-' : 'ROMANA-KE-'}${hash}`;
  const side = dir === 'ingress' ? 'src' : 'dst';
  const verdict = dir === 'ingress' ? 'ACCEPT' : INGRESS;
  const rules =
    dir === 'ingress'
      ? (policy.ingress ?? []).map((r) => ({ peers: r.from, ports: r.ports }))
      : (policy.egress ?? []).map((r) => ({ peers: r.to, ports: r.ports }));
  chains.declare(chain);
  for (const r of rules) {
    const peers =
      r.peers.length === 0
        ? ['']
        : r.peers.map((p) => `-m set --match-set ${sets.peer(p, policy.namespace)} ${side}`);
    const ports = r.ports.length === 0 ? [''] : r.ports.map((p) => portMatch(p, sets));
    for (const port of ports) {
      for (const peer of peers) chains.add(chain, { match: join(port, peer), target: verdict });
    }
  }
  return chain;
}

/**
 * A policy's chain hash: of its id only, so that a changed policy rewrites its own chains and
 * leaves `ROMANA-K-INGRESS`/`-EGRESS` (a rule per policy) alone unless its targets change.
 */
function policyKey(policy: KubePolicy): string {
  return createHash('sha1').update(policy.id, 'utf8').digest('hex').slice(0, 16);
}

function baseChains(chains: Chains): void {
  chains.add('ROMANA-OUTPUT', { match: '', target: 'ACCEPT' });
  chains.add('ROMANA-INPUT', { match: '', target: 'ACCEPT' });
  chains.add('ROMANA-FORWARD-OUT', { match: ESTABLISHED, target: 'ACCEPT' });
  chains.add('ROMANA-FORWARD-OUT', { match: '', target: EGRESS });
  chains.add('ROMANA-FORWARD-IN', { match: ESTABLISHED, target: 'ACCEPT' });
  chains.add('ROMANA-FORWARD-IN', {
    match: `-m set --match-set ${LOCAL_BLOCKS_SET} src`,
    target: EGRESS,
  });
  chains.add('ROMANA-FORWARD-IN', { match: '', target: INGRESS });
}

/**
 * Renders Kubernetes-form policies (already validated, normal form) for this node. Policies of
 * the 2.x form are not enforced in this mode and come back in `skipped`. `known` gives the
 * current members (sorted) of sets that exist already, so only new sets are computed from the
 * pods. `previous`, the state this function returned last time, lets an unchanged part be
 * handed back as the very same objects (chains, rule arrays, sets), which the firewall's diff
 * recognises by identity: one changed policy then costs that policy's rendering, not the
 * whole state's.
 *
 * @example
 * const desired = renderKube(policies, pods, namespaces, blocks, 'host1');
 * await firewall.apply(desired);
 */
export function renderKube(
  policies: readonly KubePolicy[],
  pods: readonly KubePod[],
  namespaces: readonly KubeNamespace[],
  blocks: readonly RenderBlock[],
  host: string,
  skipped: SkippedPolicy[] = [],
  known?: ReadonlyMap<string, string[]>,
  previous?: KubeDesiredState,
): KubeDesiredState {
  const before = previous === undefined ? undefined : memos.get(previous);
  const sorted = [...policies].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const parts = sorted.map(policyPart);
  const was = before !== undefined && before.parts.length === parts.length ? before : undefined;
  const egress = was && unchanged(parts, was.parts, 'egress') ? was.egress : egressChain(parts);
  const ingress = was && unchanged(parts, was.parts, 'ingress') ? was.ingress : ingressChain(parts);
  const own = uniqueChains(parts.flatMap((p) => p.chains));
  const defs = was && unchanged(parts, was.parts, 'defs') ? was.defs : collectDefs(parts);
  const index = was !== undefined && defs === was.defs ? was.index : new KubeSetIndex(defs);
  const nsLabels = new Map(namespaces.map((n) => [n.name, n.labels]));
  const sets = kubeSets(defs, pods, nsLabels, known, before?.sets);
  const local = localSet(blocks, host, before?.local);
  const state: KubeDesiredState = {
    sets: [local, ...sets.values()],
    chains: [...BASE_CHAINS, egress, ingress, ...own],
    skipped,
    index,
  };
  memos.set(state, { parts, egress, ingress, defs, index, sets, local });
  return state;
}

/** What a rendering keeps for the next one (see `previous` of `renderKube`). */
interface Memo {
  parts: readonly PolicyPart[];
  egress: Chain;
  ingress: Chain;
  defs: readonly KubeSetDef[];
  index: KubeSetIndex;
  sets: ReadonlyMap<string, IpSet>;
  local: IpSet;
}

const memos = new WeakMap<KubeDesiredState, Memo>();

/** The chains every rendering has, the same objects each time (they never change). */
const BASE_CHAINS: readonly Chain[] = (() => {
  const chains = new Chains();
  baseChains(chains);
  return chains.list();
})();

/** The egress dispatch: per Egress policy a jump, then the drops of isolated pods. */
function egressChain(parts: readonly PolicyPart[]): Chain {
  const rules = [...parts.flatMap((p) => p.egress), ...parts.flatMap((p) => p.egressTail)];
  return { name: EGRESS, rules: dedupe([...rules, { match: '', target: INGRESS }]) };
}

/** The ingress dispatch: non-local passes, per Ingress policy a jump, then the drops. */
function ingressChain(parts: readonly PolicyPart[]): Chain {
  const rules: ChainRule[] = [
    { match: `-m set ! --match-set ${LOCAL_BLOCKS_SET} dst`, target: 'ACCEPT' },
    ...parts.flatMap((p) => p.ingress),
    ...parts.flatMap((p) => p.ingressTail),
    { match: '', target: 'ACCEPT' },
  ];
  return { name: INGRESS, rules: dedupe(rules) };
}

/**
 * Whether every part gives the same `what` as the part at its place last time: the same object
 * (an unchanged policy), or equal rules (dispatch) or set names (defs; a set's name is a hash of
 * what it holds).
 */
function unchanged(
  parts: readonly PolicyPart[],
  was: readonly PolicyPart[],
  what: 'egress' | 'ingress' | 'defs',
): boolean {
  return parts.every((p, i) => {
    const q = was[i]!;
    if (p === q) return true;
    if (what === 'defs') return sameList(p.defs, q.defs, (a, b) => a.name === b.name);
    const tail = what === 'egress' ? 'egressTail' : 'ingressTail';
    return sameList(p[what], q[what], sameRule) && sameList(p[tail], q[tail], sameRule);
  });
}

function sameRule(a: ChainRule, b: ChainRule): boolean {
  return a.match === b.match && a.target === b.target;
}

function sameList<T>(a: readonly T[], b: readonly T[], eq: (x: T, y: T) => boolean): boolean {
  return a.length === b.length && a.every((x, i) => eq(x, b[i]!));
}

/** Every set the parts refer to, once, sorted by name. */
function collectDefs(parts: readonly PolicyPart[]): KubeSetDef[] {
  const defs = new Map<string, KubeSetDef>();
  for (const p of parts) for (const d of p.defs) defs.set(d.name, d);
  return [...defs.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
}

/**
 * The sets of `defs` by name, members from `known` or computed from the pods; a set equal to
 * last time's (same members array) is last time's object.
 */
function kubeSets(
  defs: readonly KubeSetDef[],
  pods: readonly KubePod[],
  nsLabels: ReadonlyMap<string, Record<string, string>>,
  known: ReadonlyMap<string, string[]> | undefined,
  was: ReadonlyMap<string, IpSet> | undefined,
): Map<string, IpSet> {
  const unknown = defs.filter((d) => known?.get(d.name) === undefined);
  const computed = unknown.length === 0 ? undefined : allSetMembers(unknown, pods, nsLabels);
  const out = new Map<string, IpSet>();
  for (const d of defs) {
    const members = known?.get(d.name) ?? [...new Set(computed?.get(d.name))].sort();
    const old = was?.get(d.name);
    if (old !== undefined && old.members === members) {
      out.set(d.name, old);
      continue;
    }
    const type =
      d.kind === 'selector' ? 'hash:ip' : d.kind === 'block' ? 'hash:net' : 'hash:ip,port';
    out.set(d.name, { name: d.name, type, members });
  }
  return out;
}

/** `ROMANA-LOCAL-BLOCKS`; last time's object when its members are the same. */
function localSet(blocks: readonly RenderBlock[], host: string, was: IpSet | undefined): IpSet {
  const local = makeBlockSets(blocks, host).find((s) => s.name === LOCAL_BLOCKS_SET)!;
  if (was !== undefined && sameList(local.members, was.members, (a, b) => a === b)) return was;
  return local;
}

/** What one policy contributes, which depends on the policy alone. */
interface PolicyPart {
  egress: ChainRule[];
  egressTail: ChainRule[];
  ingress: ChainRule[];
  ingressTail: ChainRule[];
  chains: Chain[];
  defs: KubeSetDef[];
}

/**
 * A policy's part, remembered per policy object: the agent keeps validated policies from one
 * render to the next, so one changed policy costs one policy's rendering.
 */
const parts = new WeakMap<KubePolicy, PolicyPart>();

function policyPart(p: KubePolicy): PolicyPart {
  const known = parts.get(p);
  if (known !== undefined) return known;
  const chains = new Chains();
  const sets = new SetDefs();
  const hash = policyKey(p);
  const target = sets.selector({ namespace: p.namespace, podSelector: p.podSelector });
  const types = p.policyTypes ?? ['Ingress'];
  const part: PolicyPart = {
    egress: [],
    egressTail: [],
    ingress: [],
    ingressTail: [],
    chains: [],
    defs: [],
  };
  if (types.includes('Egress')) {
    const chain = renderRules(chains, sets, p, 'egress', hash);
    part.egress.push({ match: `-m set --match-set ${target} src`, target: chain });
    part.egressTail.push({ match: `-m set --match-set ${target} src`, target: 'DROP' });
  }
  if (types.includes('Ingress')) {
    const chain = renderRules(chains, sets, p, 'ingress', hash);
    part.ingress.push({ match: `-m set --match-set ${target} dst`, target: chain });
    part.ingressTail.push({ match: `-m set --match-set ${target} dst`, target: 'DROP' });
  }
  part.chains = chains.list();
  part.defs = [...sets.defs.values()];
  parts.set(p, part);
  return part;
}

/** Chains by name, first one kept (two equal policies render the same chain). */
function uniqueChains(chains: Chain[]): Chain[] {
  const seen = new Set<string>();
  return chains.filter((c) => {
    if (seen.has(c.name)) return false;
    seen.add(c.name);
    return true;
  });
}

function dedupe(rules: ChainRule[]): ChainRule[] {
  const seen = new Set<string>();
  return rules.filter((r) => {
    const k = `${r.match}\u0000${r.target}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
