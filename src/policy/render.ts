/**
 * Rendering policies and blocks into the node's desired firewall state (reference §6.3): the
 * ipsets of render-sets.ts and the iptables filter chains. Pure: plain data in, plain data out;
 * firewall.ts applies it as a diff.
 *
 * Same names and rules as the original, with these differences (each on purpose):
 * - a policy that fails validation is skipped and reported; the others are rendered
 *   (the original rendered no policy at all);
 * - each ingress entry gets its own chain pair, so peers never get another entry's ports:
 *   entry 0 uses `ROMANA-P-<h16>_X` / `_R` (the original's names), entry i ≥ 1 uses
 *   `_X<i>` / `_R<i>` with i in base 36 (`_X1` … `_Xz`): iptables chain names are limited to
 *   28 characters, so a policy has at most 36 entries;
 * - peer sets a rule names are created (empty when no block has that tenant/segment yet), so a
 *   rule never refers to a missing set;
 * - the per-policy `_s`/`_d` CIDR sets, which no rule used, are not created;
 * - policies are rendered in id order, so the same input always gives the same text.
 */
import {
  isValidCombination,
  peerTypeOf,
  targetTypeOf,
  type Endpoint,
  type Policy as AnyPolicy,
  type RomanaPolicy as Policy,
  type Rule,
} from './model.ts';
import { policyHash } from './hash.ts';
import {
  LOCAL_BLOCKS_SET,
  makeBlockSets,
  segmentSetName,
  targetValid,
  tenantListName,
  type IpSet,
  type RenderBlock,
} from './render-sets.ts';
import { validateRomanaPolicy } from './validate.ts';
import { isKubePolicy } from './kube-model.ts';
import type { Chain, ChainRule } from './render-format.ts';

export { formatIptablesRestore, formatRule } from './render-format.ts';
export type { Chain, ChainRule } from './render-format.ts';

/**
 * A policy left out of the rendering, with why.
 *
 * @example const s: SkippedPolicy = { id: 'p', problems: ['applied_to: field empty'] };
 */
export interface SkippedPolicy {
  id: string;
  problems: string[];
}

/**
 * Everything a node's firewall should contain for Romana: sets (`hash:net` before `list:set`)
 * and chains (base chains first), plus the policies that could not be rendered.
 *
 * @example const { sets, chains, skipped } = renderDesiredState(policies, blocks, 'host1');
 */
export interface DesiredState {
  sets: IpSet[];
  chains: Chain[];
  skipped: SkippedPolicy[];
}

/** The base chains, in the order the original created them. */
export const BASE_CHAIN_NAMES = [
  'ROMANA-OUTPUT',
  'ROMANA-INPUT',
  'ROMANA-FORWARD-OUT',
  'ROMANA-FORWARD-IN',
  'ROMANA-OP',
  'ROMANA-OP-IN',
] as const;

/** Most ingress entries one policy may have (one chain-name character of suffix, base 36). */
export const MAX_RENDERED_ENTRIES = 36;

/** Why a Kubernetes-form policy is not rendered by the 2.x renderer. */
export const KUBE_IN_ROMANA_MODE =
  'a Kubernetes-form policy is enforced only in Kubernetes mode (romana-agent --policy-mode kubernetes)';

const FOOTER: ChainRule = { match: '-m comment --comment POLICY_CHAIN_FOOTER', target: 'RETURN' };

/**
 * The base chains with their fixed rules (§6.3): host ↔ pod traffic allowed, pod egress
 * allowed unless a policy drops it, pod ingress dropped unless established or a policy allows it.
 *
 * @example baseChains()[0] // { name: 'ROMANA-OUTPUT', rules: [{ match: '', target: 'ACCEPT' }] }
 */
export function baseChains(): Chain[] {
  return [
    { name: 'ROMANA-OUTPUT', rules: [{ match: '', target: 'ACCEPT' }] },
    { name: 'ROMANA-INPUT', rules: [{ match: '', target: 'ACCEPT' }] },
    {
      name: 'ROMANA-FORWARD-OUT',
      rules: [
        { match: `-m set --match-set ${LOCAL_BLOCKS_SET} dst`, target: 'ROMANA-FORWARD-IN' },
        { match: '-m comment --comment Egress', target: 'ACCEPT' },
      ],
    },
    {
      name: 'ROMANA-FORWARD-IN',
      rules: [
        {
          match: '-m comment --comment Ingress -m state --state RELATED,ESTABLISHED',
          target: 'ACCEPT',
        },
        { match: '', target: 'ROMANA-OP' },
        { match: '-m comment --comment DefaultDrop', target: 'DROP' },
      ],
    },
    { name: 'ROMANA-OP', rules: [{ ...FOOTER }] },
    { name: 'ROMANA-OP-IN', rules: [{ ...FOOTER }] },
  ];
}

const TERMINAL = new Set(['ACCEPT', 'DROP', 'RETURN']);

/** Chains in creation order; rules added as the original's `EnsureRule` did. */
class ChainTable {
  readonly #chains = new Map<string, ChainRule[]>();
  readonly #keys = new Map<string, Set<string>>();

  constructor(initial: readonly Chain[] = []) {
    for (const c of initial) {
      this.#chains.set(
        c.name,
        c.rules.map((r) => ({ ...r })),
      );
      this.#keys.set(c.name, new Set(c.rules.map((r) => `${r.match}\u0000${r.target}`)));
    }
  }

  /**
   * Adds the rule unless the chain has it already, just above the chain's trailing run of
   * terminal rules (ACCEPT/DROP/RETURN). Creates the chain on first use.
   */
  ensureRule(chain: string, rule: ChainRule): void {
    let rules = this.#chains.get(chain);
    let keys = this.#keys.get(chain);
    if (rules === undefined || keys === undefined) {
      this.#chains.set(chain, (rules = []));
      this.#keys.set(chain, (keys = new Set()));
    }
    const key = `${rule.match}\u0000${rule.target}`;
    if (keys.has(key)) return;
    keys.add(key);
    let at = rules.length;
    while (at > 0 && TERMINAL.has(rules[at - 1]!.target)) at--;
    rules.splice(at, 0, { ...rule });
  }

  chains(): Chain[] {
    return [...this.#chains].map(([name, rules]) => ({ name, rules }));
  }
}

/**
 * The iptables matches of one policy rule, one per port and range (§6.3): tcp/udp ports and
 * ranges as `--dport`, icmp as `-p icmp` with `--icmp-type T` when a type is given (`T/C` when a
 * code is too; the original ignored both and so opened every ICMP type), icmpv6 likewise as
 * `-p ipv6-icmp` (enforced on IPv6 only, as icmp is on IPv4 only: family.ts), `any` as an empty
 * match, anything else as nothing. Type 0 and code 0 mean "not given", as in validation.
 *
 * @example ruleMatches({ protocol: 'tcp', ports: [80], port_ranges: [[8000, 8080]] })
 * // ['-p tcp --dport 80', '-p tcp --dport 8000:8080']
 * @example ruleMatches({ protocol: 'icmp', icmp_type: 3, icmp_code: 4 }) // ['-p icmp --icmp-type 3/4']
 * @example ruleMatches({ protocol: 'icmpv6', icmp_type: 128 }) // ['-p ipv6-icmp -m icmp6 --icmpv6-type 128']
 */
export function ruleMatches(rule: Rule): string[] {
  const proto = rule.protocol.trim().toLowerCase();
  switch (proto) {
    case 'tcp':
    case 'udp': {
      const out = (rule.ports ?? []).map((p) => `-p ${proto} --dport ${p}`);
      for (const [lo, hi] of rule.port_ranges ?? []) out.push(`-p ${proto} --dport ${lo}:${hi}`);
      return out.length > 0 ? out : [`-p ${proto}`];
    }
    case 'icmp': {
      const type = rule.icmp_type ?? 0;
      const code = rule.icmp_code ?? 0;
      if (type === 0) return ['-p icmp'];
      return [code === 0 ? `-p icmp --icmp-type ${type}` : `-p icmp --icmp-type ${type}/${code}`];
    }
    case 'icmpv6': {
      const type = rule.icmp_type ?? 0;
      const code = rule.icmp_code ?? 0;
      if (type === 0) return ['-p ipv6-icmp'];
      const which = code === 0 ? `${type}` : `${type}/${code}`;
      return [`-p ipv6-icmp -m icmp6 --icmpv6-type ${which}`];
    }
    case 'any':
      return [''];
    default:
      return [];
  }
}

/** Chain-name suffix of ingress entry `i`: '' for the first, then base-36 digits. */
function entrySuffix(i: number): string {
  return i === 0 ? '' : i.toString(36);
}

function setMatch(e: Endpoint, dir: 'src' | 'dst'): string {
  const name = e.segment_id
    ? segmentSetName(e.tenant_id ?? '', e.segment_id)
    : tenantListName(e.tenant_id ?? '');
  return `-m set --match-set ${name} ${dir}`;
}

/** Renders one valid policy into `table`; records the tenant/segment peers it refers to. */
function renderPolicy(
  table: ChainTable,
  policy: Policy,
  hash: string,
  localBlocks: readonly RenderBlock[],
  peersUsed: Endpoint[],
): void {
  const ingress = policy.direction === 'ingress';
  const p = `ROMANA-P-${hash}`;
  const base = ingress ? 'ROMANA-FORWARD-IN' : 'ROMANA-FORWARD-OUT';
  const verdict = ingress ? 'ACCEPT' : 'DROP';
  for (const target of policy.applied_to) {
    const tType = targetTypeOf(target);
    if (!targetValid(target, localBlocks)) continue;
    policy.ingress.forEach((entry, i) => {
      const x = `${p}_X${entrySuffix(i)}`;
      const r = `${p}_R${entrySuffix(i)}`;
      for (const peer of entry.peers) {
        const pType = peerTypeOf(peer);
        if (!isValidCombination(policy.direction, tType, pType)) continue;
        const matches = entry.rules.flatMap(ruleMatches);
        if (matches.length === 0) continue;
        table.ensureRule(base, { match: '', target: p });
        let peerChain = p;
        if (tType !== 'host') {
          table.ensureRule(p, { match: setMatch(target, ingress ? 'dst' : 'src'), target: x });
          peerChain = x;
        }
        table.ensureRule(peerChain, { match: peerMatch(peer, ingress, peersUsed), target: r });
        for (const match of matches) table.ensureRule(r, { match, target: verdict });
      }
    });
  }
}

function peerMatch(peer: Endpoint, ingress: boolean, peersUsed: Endpoint[]): string {
  switch (peerTypeOf(peer)) {
    case 'cidr':
      return `${ingress ? '-s' : '-d'} ${peer.cidr}`;
    case 'tenant':
    case 'tenant-segment':
      peersUsed.push(peer);
      return setMatch(peer, ingress ? 'src' : 'dst');
    default:
      return '';
  }
}

interface PolicyRendering {
  chains: Chain[];
  skipped: SkippedPolicy[];
  peersUsed: Endpoint[];
}

/** A policy checked for rendering: its normal form and hash, or why it is skipped. */
type Checked = { ok: true; policy: Policy; hash: string } | { ok: false; skipped: SkippedPolicy };

function checkPolicy(input: AnyPolicy): Checked {
  const id = typeof input?.id === 'string' ? input.id : '';
  if (isKubePolicy(input)) {
    return { ok: false, skipped: { id, problems: [KUBE_IN_ROMANA_MODE] } };
  }
  const v = validateRomanaPolicy(input);
  if (!v.ok) return { ok: false, skipped: { id, problems: v.problems } };
  const entries = v.policy.ingress.length;
  if (entries > MAX_RENDERED_ENTRIES) {
    const problem = `ingress: ${entries} entries, at most ${MAX_RENDERED_ENTRIES} can be rendered`;
    return { ok: false, skipped: { id, problems: [problem] } };
  }
  return { ok: true, policy: v.policy, hash: policyHash(v.policy) };
}

function renderInto(
  table: ChainTable,
  policies: readonly AnyPolicy[],
  blocks: readonly RenderBlock[],
  host: string,
  check: (p: AnyPolicy) => Checked = checkPolicy,
): PolicyRendering {
  const localBlocks = blocks.filter((b) => b.host === host);
  const skipped: SkippedPolicy[] = [];
  const peersUsed: Endpoint[] = [];
  const valid: { policy: Policy; hash: string }[] = [];
  for (const input of policies) {
    const c = check(input);
    if (c.ok) valid.push(c);
    else skipped.push(c.skipped);
  }
  valid.sort((a, b) => (a.policy.id < b.policy.id ? -1 : a.policy.id > b.policy.id ? 1 : 0));
  for (const v of valid) renderPolicy(table, v.policy, v.hash, localBlocks, peersUsed);
  return { chains: table.chains(), skipped, peersUsed };
}

/**
 * The policy chains alone, rendered into an empty table (what the original's golden tests
 * show): base chains appear only with the jumps policies add to them.
 *
 * @example
 * formatIptablesRestore(renderPolicyChains([demoPolicy], blocks, 'host1').chains)
 * // '*filter\n:ROMANA-FORWARD-IN - \n:ROMANA-P-aca884e8b43cc0e7 - \n…COMMIT\n'
 */
export function renderPolicyChains(
  policies: readonly AnyPolicy[],
  blocks: readonly RenderBlock[],
  host: string,
): { chains: Chain[]; skipped: SkippedPolicy[] } {
  const { chains, skipped } = renderInto(new ChainTable(), policies, blocks, host);
  return { chains, skipped };
}

/**
 * The node's whole desired Romana firewall state: block sets, base chains with the policy
 * jumps, and the policy chains. Invalid policies are skipped and listed in `skipped`.
 *
 * @example
 * const desired = renderDesiredState(policies, blocks, 'host1');
 * for (const s of desired.skipped) log.warn(`policy ${s.id} not enforced: ${s.problems.join('; ')}`);
 */
export function renderDesiredState(
  policies: readonly AnyPolicy[],
  blocks: readonly RenderBlock[],
  host: string,
): DesiredState {
  const { chains, skipped, peersUsed } = renderInto(
    new ChainTable(baseChains()),
    policies,
    blocks,
    host,
  );
  return { sets: withPeerSets(makeBlockSets(blocks, host), peersUsed), chains, skipped };
}

/** Adds an empty set for every peer set a rule names that no block filled. */
function withPeerSets(sets: IpSet[], peers: readonly Endpoint[]): IpSet[] {
  const have = new Set(sets.map((s) => s.name));
  const extraHash: IpSet[] = [];
  const extraList: IpSet[] = [];
  for (const peer of peers) {
    const tenant = peer.tenant_id ?? '';
    const name = peer.segment_id ? segmentSetName(tenant, peer.segment_id) : tenantListName(tenant);
    if (have.has(name)) continue;
    have.add(name);
    const set: IpSet = { name, type: peer.segment_id ? 'hash:net' : 'list:set', members: [] };
    (set.type === 'hash:net' ? extraHash : extraList).push(set);
  }
  const firstList = sets.findIndex((s) => s.type === 'list:set');
  const hash = firstList < 0 ? sets : sets.slice(0, firstList);
  const list = firstList < 0 ? [] : sets.slice(firstList);
  return [...hash, ...extraHash, ...list, ...extraList];
}

/**
 * `renderDesiredState` with memory: a policy whose JSON text is unchanged since the previous
 * call is not validated and hashed again, which is most of the cost of rendering 1,000
 * policies when one changed. Output is identical to `renderDesiredState`'s.
 *
 * @example
 * const renderer = new Renderer();
 * const desired = renderer.render(policies, blocks, 'host1'); // on every policy or block event
 */
export class Renderer {
  #seen = new Map<string, Checked>();

  render(
    policies: readonly AnyPolicy[],
    blocks: readonly RenderBlock[],
    host: string,
  ): DesiredState {
    const previous = this.#seen;
    const seen = new Map<string, Checked>();
    const check = (p: AnyPolicy): Checked => {
      const key = JSON.stringify(p);
      const c = previous.get(key) ?? seen.get(key) ?? checkPolicy(p);
      seen.set(key, c);
      return c;
    };
    const table = new ChainTable(baseChains());
    const { chains, skipped, peersUsed } = renderInto(table, policies, blocks, host, check);
    this.#seen = seen;
    return { sets: withPeerSets(makeBlockSets(blocks, host), peersUsed), chains, skipped };
  }
}
