/**
 * Planning for `Firewall` (firewall.ts): the diff between a family's desired state and what the
 * kernel holds, as the `ipset restore` and `iptables-restore` payloads that close it, and the
 * state the kernel holds once they ran. Pure.
 */
import { Addr, BOTH_FAMILIES } from '../net/addr.ts';
import {
  isRomanaSetName,
  normalizeMember,
  normalizeRule,
  type CurrentChains,
  type CurrentSet,
} from './firewall-state.ts';
import type { IpSet } from './render-sets.ts';
import { formatIptablesRestore, type Chain, type ChainRule, type DesiredState } from './render.ts';

/**
 * What the kernel holds now, Romana's part only.
 *
 * @example const current: FirewallState = await firewall.read();
 */
export interface FirewallState {
  chains: CurrentChains;
  sets: Map<string, CurrentSet>;
  /** `ROMANA-*` sets non-Romana rules or `list:set`s use: never destroyed. */
  setsUsedByOthers?: Set<string>;
}

/**
 * The payloads that bring the kernel to the desired state (empty string: step not needed),
 * and the names each step changes.
 *
 * @example if (!isEmptyPlan(plan)) process.stdout.write(formatPlan(plan));
 */
export interface FirewallPlan {
  /** `ipset restore` input run before iptables: creations and swaps. */
  ipsetBefore: string;
  /** `iptables-restore --noflush` input. */
  iptables: string;
  /** `ipset restore` input run after iptables: stale sets destroyed. */
  ipsetAfter: string;
  setsCreated: string[];
  setsReplaced: string[];
  setsDestroyed: string[];
  /** Stale sets something else still uses (and the members of such a `list:set`): kept. */
  setsKept: string[];
  chainsWritten: string[];
  chainsDeleted: string[];
  /** Stale chains other chains still jump to: emptied, not deleted. */
  chainsEmptied: string[];
}

/** The desired-state part the plan needs. */
export type FirewallTarget = Pick<DesiredState, 'sets' | 'chains'>;

/**
 * True when the plan changes nothing.
 *
 * @example isEmptyPlan(planFirewall(desired, current)) // true right after applying desired
 */
export function isEmptyPlan(plan: FirewallPlan): boolean {
  return plan.ipsetBefore === '' && plan.iptables === '' && plan.ipsetAfter === '';
}

/**
 * Temporary name a set is rebuilt under before the swap. Short: the longest IPv6 set name
 * (`ROMANA6-KS-<16 hex>`, 27 characters) plus this suffix fits ipset's 31.
 */
function tempName(name: string): string {
  return `${name}-new`;
}

function createLine(set: IpSet, name: string): string {
  if (set.type === 'list:set')
    return `create ${name} list:set size ${Math.max(8, set.members.length)}`;
  const maxelem = Math.max(65536, set.members.length);
  return `create ${name} ${set.type} family ${set.family ?? ipsetFamily(set)} maxelem ${maxelem}`;
}

/** A hash set holds one family: that of its members (`inet` for IPv4, and when empty). */
function ipsetFamily(set: IpSet): 'inet' | 'inet6' {
  const first = set.members[0]?.split(/[/,\s]/)[0];
  const family = first === undefined ? 4 : Addr.tryParse(first, BOTH_FAMILIES)?.family;
  return family === 6 ? 'inet6' : 'inet';
}

/** Whether the kernel's set is of another family than the desired one. */
function otherFamily(set: IpSet, current: CurrentSet): boolean {
  if (set.type === 'list:set' || current.family === undefined) return false;
  return current.family !== (set.family ?? ipsetFamily(set));
}

function sameMembers(set: IpSet, current: CurrentSet): boolean {
  if (set.members.length !== current.members.size) return false;
  return set.members.every((m) => current.members.has(normalizeMember(m)));
}

/**
 * The members array each set of an applied state was built from (the desired state's own), so
 * that a set rendered again from the very same array is known equal without comparing its
 * members. Desired states are never changed after they are applied; a set patched since
 * (`patchSets`) loses its entry.
 */
export const builtFrom = new WeakMap<CurrentSet, readonly string[]>();

function planSets(
  desired: readonly IpSet[],
  current: Map<string, CurrentSet>,
  usedByOthers: ReadonlySet<string>,
): Pick<
  FirewallPlan,
  'ipsetBefore' | 'ipsetAfter' | 'setsCreated' | 'setsReplaced' | 'setsDestroyed' | 'setsKept'
> {
  const before: string[] = [];
  const created: string[] = [];
  const replaced: string[] = [];
  const wanted = new Set<string>();
  const fill = (set: IpSet, name: string) => {
    before.push(createLine(set, name));
    for (const m of set.members) before.push(`add ${name} ${m}`);
  };
  for (const set of desired) {
    wanted.add(set.name);
    const have = current.get(set.name);
    if (have === undefined) {
      fill(set, set.name);
      created.push(set.name);
    } else if (have.type !== set.type || otherFamily(set, have)) {
      // Not a set Romana made (same name, other type or family): swap is impossible then.
      before.push(`destroy ${set.name}`);
      fill(set, set.name);
      replaced.push(set.name);
    } else if (builtFrom.get(have) !== set.members && !sameMembers(set, have)) {
      const temp = tempName(set.name);
      wanted.add(temp);
      if (current.has(temp)) before.push(`destroy ${temp}`);
      fill(set, temp);
      before.push(`swap ${temp} ${set.name}`, `destroy ${temp}`);
      replaced.push(set.name);
    }
  }
  const kept = keptSets(current, wanted, usedByOthers);
  const stale = [...current]
    .filter(([name]) => isRomanaSetName(name) && !wanted.has(name) && !kept.has(name))
    .sort(([, a], [, b]) => Number(b.type === 'list:set') - Number(a.type === 'list:set'))
    .map(([name]) => name);
  return {
    ipsetBefore: payload(before),
    ipsetAfter: payload(stale.map((n) => `destroy ${n}`)),
    setsCreated: created,
    setsReplaced: replaced,
    setsDestroyed: stale,
    setsKept: [...kept],
  };
}

/** Stale sets something else uses, and the stale members of such a `list:set`. */
function keptSets(
  current: Map<string, CurrentSet>,
  wanted: ReadonlySet<string>,
  usedByOthers: ReadonlySet<string>,
): Set<string> {
  const kept = new Set<string>();
  for (const name of usedByOthers) {
    const set = current.get(name);
    if (set === undefined || wanted.has(name)) continue;
    kept.add(name);
    if (set.type !== 'list:set') continue;
    for (const m of set.members) if (current.has(m) && !wanted.has(m)) kept.add(m);
  }
  return kept;
}

export function payload(lines: readonly string[]): string {
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

/** A rendered rule in normal form; rendered matches are single-spaced, so only ranges need work. */
function ruleKey(r: ChainRule): string {
  if (r.match.includes(':')) return normalizeRule(`${r.match} -j ${r.target}`);
  return r.match === '' ? `-j ${r.target}` : `${r.match} -j ${r.target}`;
}

function sameRules(chain: Chain, current: readonly string[] | undefined): boolean {
  if (current === undefined || current.length !== chain.rules.length) return false;
  return chain.rules.every((r, i) => ruleKey(r) === current[i]);
}

/** Likewise the rules array each chain of an applied state was built from. */
const rulesFrom = new WeakMap<readonly string[], readonly ChainRule[]>();

/** Whether `have` (an applied state's chain) was built from the very rules `c` has. */
function sameSource(c: Chain, have: readonly string[] | undefined): boolean {
  return have !== undefined && rulesFrom.get(have) === c.rules;
}

function planChains(
  desired: readonly Chain[],
  current: CurrentChains,
): Pick<FirewallPlan, 'iptables' | 'chainsWritten' | 'chainsDeleted' | 'chainsEmptied'> {
  const written = desired.filter((c) => {
    const have = current.chains.get(c.name);
    return !sameSource(c, have) && !sameRules(c, have);
  });
  const wanted = new Set(desired.map((c) => c.name));
  const deleted: string[] = [];
  const emptied: string[] = [];
  for (const [name, rules] of current.chains) {
    if (wanted.has(name)) continue;
    if (!current.referencedByOthers.has(name)) deleted.push(name);
    else if (rules.length > 0) emptied.push(name);
  }
  const flushOnly = [...deleted, ...emptied].map((name) => ({ name, rules: [] }));
  const touched = written.length + deleted.length + emptied.length > 0;
  return {
    iptables: touched ? formatIptablesRestore([...written, ...flushOnly], deleted) : '',
    chainsWritten: written.map((c) => c.name),
    chainsDeleted: deleted,
    chainsEmptied: emptied,
  };
}

/**
 * The diff from `current` to `desired`, as payloads; pure.
 *
 * @example
 * const plan = planFirewall(renderDesiredState(policies, blocks, 'host1'), await firewall.read());
 */
export function planFirewall(desired: FirewallTarget, current: FirewallState): FirewallPlan {
  const usedByOthers = current.setsUsedByOthers ?? new Set<string>();
  return {
    ...planSets(desired.sets, current.sets, usedByOthers),
    ...planChains(desired.chains, current.chains),
  };
}

/**
 * The plan as text for an operator (`romana-agent plan --policy`): each non-empty payload under
 * a header naming the command it is fed to.
 *
 * @example process.stdout.write(formatPlan(plan));
 */
export function formatPlan(plan: FirewallPlan, tables = 'iptables'): string {
  if (isEmptyPlan(plan)) return '# nothing to change\n';
  const parts: string[] = [];
  if (plan.ipsetBefore) parts.push(`# ipset restore\n${plan.ipsetBefore}`);
  if (plan.iptables) parts.push(`# ${tables}-restore --noflush\n${plan.iptables}`);
  if (plan.ipsetAfter) parts.push(`# ipset restore (after iptables)\n${plan.ipsetAfter}`);
  return parts.join('\n');
}

/**
 * How `Firewall.apply` learns the current state.
 *
 * @example await firewall.apply(desired, { fromLastApplied: true }); // after a policy event
 */
export interface ApplyOptions {
  /**
   * Diff against the state this `Firewall` last applied instead of reading the kernel
   * (`iptables-save`, `ipset save`), the largest cost of a small change. Default false: read,
   * which also repairs anything changed by hand. Meant for event-driven applies between
   * periodic full ones. Falls back to reading the kernel when nothing was applied yet or when a
   * step fails (the kernel was not what was left).
   */
  fromLastApplied?: boolean;
}

/** The state the kernel holds right after `desired` was applied over `before`. */
export function stateAfter(desired: FirewallTarget, before: FirewallState): FirewallState {
  const chains = new Map<string, string[]>();
  for (const c of desired.chains) {
    const had = before.chains.chains.get(c.name);
    if (sameSource(c, had)) {
      chains.set(c.name, had!);
      continue;
    }
    const keys = c.rules.map(ruleKey);
    rulesFrom.set(keys, c.rules);
    chains.set(c.name, keys);
  }
  // Stale chains other chains jump to were kept, empty.
  for (const name of before.chains.referencedByOthers) {
    if (!chains.has(name) && before.chains.chains.has(name)) chains.set(name, []);
  }
  const sets = new Map<string, CurrentSet>();
  for (const s of desired.sets) {
    const had = before.sets.get(s.name);
    if (had !== undefined && had.type === s.type && builtFrom.get(had) === s.members) {
      sets.set(s.name, had);
      continue;
    }
    const set: CurrentSet = { type: s.type, members: new Set(s.members.map(normalizeMember)) };
    if (s.type !== 'list:set') set.family = s.family ?? ipsetFamily(s);
    builtFrom.set(set, s.members);
    sets.set(s.name, set);
  }
  const usedByOthers = before.setsUsedByOthers ?? new Set<string>();
  const wanted = new Set(sets.keys());
  for (const name of keptSets(before.sets, wanted, usedByOthers)) {
    sets.set(name, before.sets.get(name)!);
  }
  return {
    chains: { chains, referencedByOthers: new Set(before.chains.referencedByOthers) },
    sets,
    setsUsedByOthers: new Set(usedByOthers),
  };
}
