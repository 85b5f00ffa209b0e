/**
 * One address family's part of a rendered state. Renderers write one family-neutral state; each
 * family's `Firewall` applies its own projection of it (IPv4 through `iptables` and `family inet`
 * sets, IPv6 through `ip6tables` and `family inet6` sets), so both families always enforce the
 * same policies with the same decisions:
 *
 * - a set keeps the members of its family (block CIDRs, pod addresses, `ip,proto:port` entries);
 *   a set left empty matches nothing, so a rule that names it never lets the other family in;
 * - a rule naming an address (`-s`/`-d` with a CIDR) or an ICMP protocol (`-p icmp` for IPv4,
 *   `-p ipv6-icmp` for IPv6) goes to that family only; every other rule goes to both;
 * - IPv6 sets are named `ROMANA6-…` (`ROMANA-x` becomes `ROMANA6-x`): ipset names are shared by
 *   both families, chains are not (ip6tables has its own filter table);
 * - IPv6 lets ICMPv6 neighbour discovery (router solicitation and advertisement, neighbour
 *   solicitation and advertisement, redirect: types 133-137) through before any policy decides,
 *   at the top of both forward chains; without it no IPv6 address resolves.
 *
 * Pure; projections are remembered per source array, so applying the same rendering again hands
 * the firewall the very same arrays (its no-op check compares arrays by identity first).
 */
import type { Family } from '../net/addr.ts';
import type { Chain, ChainRule } from './render-format.ts';
import type { IpSet } from './render-sets.ts';

/** Prefix of Romana's IPv4 sets (and of its chains in both families). */
export const ROMANA4_SET_PREFIX = 'ROMANA-';
/** Prefix of Romana's IPv6 sets. */
export const ROMANA6_SET_PREFIX = 'ROMANA6-';

/**
 * The families a node enforces policies on, in the order they are applied.
 *
 * @example for (const family of POLICY_FAMILIES) new Firewall(exec, family);
 */
export const POLICY_FAMILIES: readonly Family[] = [4, 6];

/**
 * ICMPv6 neighbour discovery types that pass under default deny (RFC 4861: router solicitation
 * 133, router advertisement 134, neighbour solicitation 135, neighbour advertisement 136,
 * redirect 137).
 */
export const ND_TYPES: readonly number[] = [133, 134, 135, 136, 137];

/** The chains the ND rules open, at their top. */
export const ND_CHAINS: readonly string[] = ['ROMANA-FORWARD-IN', 'ROMANA-FORWARD-OUT'];

/**
 * The rules letting neighbour discovery through, written as `ip6tables-save` prints them.
 *
 * @example ND_RULES[0] // { match: '-p ipv6-icmp -m icmp6 --icmpv6-type 133', target: 'ACCEPT' }
 */
export const ND_RULES: readonly ChainRule[] = ND_TYPES.map((t) => ({
  match: `-p ipv6-icmp -m icmp6 --icmpv6-type ${t}`,
  target: 'ACCEPT',
}));

/**
 * The prefix of the sets a family's firewall owns.
 *
 * @example setPrefix(6) // 'ROMANA6-'
 */
export function setPrefix(family: Family): string {
  return family === 6 ? ROMANA6_SET_PREFIX : ROMANA4_SET_PREFIX;
}

/**
 * The name a rendered set has in `family`.
 *
 * @example familySetName('ROMANA-LOCAL-BLOCKS', 6) // 'ROMANA6-LOCAL-BLOCKS'
 * @example familySetName('ROMANA-LOCAL-BLOCKS', 4) // 'ROMANA-LOCAL-BLOCKS'
 */
export function familySetName(name: string, family: Family): string {
  if (family === 4 || !name.startsWith(ROMANA4_SET_PREFIX)) return name;
  return ROMANA6_SET_PREFIX + name.slice(ROMANA4_SET_PREFIX.length);
}

/**
 * The family of a set member: of its address (before `/`, `,` or a space); members of a
 * `list:set` (set names) have none.
 *
 * @example memberFamily('fd00::5,tcp:80') // 6
 * @example memberFamily('10.0.0.0/8 nomatch') // 4
 */
export function memberFamily(member: string): Family | undefined {
  if (isV6Member(member)) return 6;
  return /^\d+\.\d+\.\d+\.\d+(?:[/, ]|$)/.test(member) ? 4 : undefined;
}

/** Whether a hash set member's address (before `/`, `,` or a space) is IPv6: has a `:`. */
function isV6Member(member: string): boolean {
  for (let i = 0; i < member.length; i++) {
    const c = member.charCodeAt(i);
    if (c === 58) return true; // ':'
    if (c === 47 || c === 44 || c === 32) return false; // '/', ',', ' '
  }
  return false;
}

const ADDRESS_MATCH = /(?:^| )-[sd] (\S+)/;
const ICMP_MATCH = /(?:^| )-p (icmp|ipv6-icmp)(?: |$)/;

/**
 * The one family a rule match belongs to (an address or an ICMP protocol in it), or
 * `undefined` when it applies to both.
 *
 * @example ruleFamily('-s fd00::/64 -p tcp --dport 80') // 6
 * @example ruleFamily('-p icmp --icmp-type 8') // 4
 * @example ruleFamily('-m set --match-set ROMANA-x src') // undefined
 */
export function ruleFamily(match: string): Family | undefined {
  if (!match.includes('-s ') && !match.includes('-d ') && !match.includes('icmp')) return undefined;
  const addr = ADDRESS_MATCH.exec(match);
  if (addr !== null) return addr[1]!.includes(':') ? 6 : 4;
  const icmp = ICMP_MATCH.exec(match);
  if (icmp !== null) return icmp[1] === 'icmp' ? 4 : 6;
  return undefined;
}

/** Per family, projections by source array (see the file comment). */
const memberMemo = { 4: new WeakMap<object, string[]>(), 6: new WeakMap<object, string[]>() };
const ruleMemo = { 4: new WeakMap<object, ChainRule[]>(), 6: new WeakMap<object, ChainRule[]>() };

function remember<K extends object, V>(memo: WeakMap<K, V>, key: K, make: () => V): V {
  let v = memo.get(key);
  if (v === undefined) memo.set(key, (v = make()));
  return v;
}

/** Whether a members array holds an IPv6 address, by array: rendered arrays are never changed. */
const hasV6Memo = new WeakMap<readonly string[], boolean>();

function hasV6Member(members: readonly string[]): boolean {
  let v = hasV6Memo.get(members);
  if (v === undefined) hasV6Memo.set(members, (v = members.some(isV6Member)));
  return v;
}

function projectSet(set: IpSet, family: Family): IpSet {
  // IPv4 keeps a set with no IPv6 member as it is (the common case, and no allocation).
  if (family === 4 && (set.type === 'list:set' || !hasV6Member(set.members))) return set;
  const members = remember(memberMemo[family], set.members, () => {
    if (set.type === 'list:set') return set.members.map((m) => familySetName(m, family));
    return set.members.filter((m) => isV6Member(m) === (family === 6));
  });
  const name = familySetName(set.name, family);
  if (set.type === 'list:set') return { name, type: set.type, members };
  return { name, type: set.type, members, family: family === 6 ? 'inet6' : 'inet' };
}

function projectRule(rule: ChainRule, family: Family): ChainRule {
  if (family === 4 || !rule.match.includes('--match-set ')) return rule;
  return {
    match: rule.match.replace(/--match-set (\S+)/g, (_, n: string) => {
      return `--match-set ${familySetName(n, family)}`;
    }),
    target: rule.target,
  };
}

/** `hasV6Rule` by rules array (rendered arrays are never changed). */
const hasV6RuleMemo = new WeakMap<readonly ChainRule[], boolean>();

/** Whether a rule is IPv6 only (it has a `:` of an address or says `icmp`); a plain loop: hot. */
function hasV6Rule(rules: readonly ChainRule[]): boolean {
  let v = hasV6RuleMemo.get(rules);
  if (v === undefined) hasV6RuleMemo.set(rules, (v = scanV6Rules(rules)));
  return v;
}

function scanV6Rules(rules: readonly ChainRule[]): boolean {
  for (let i = 0; i < rules.length; i++) {
    const m = rules[i]!.match;
    if ((m.includes(':') || m.includes('icmp')) && ruleFamily(m) === 6) return true;
  }
  return false;
}

function projectChain(chain: Chain, family: Family): Chain {
  if (family === 4 && !hasV6Rule(chain.rules)) return chain;
  const rules = remember(ruleMemo[family], chain.rules, () => {
    const kept = chain.rules.filter((r) => {
      const f = ruleFamily(r.match);
      return f === undefined || f === family;
    });
    const out = kept.map((r) => projectRule(r, family));
    if (family === 6 && ND_CHAINS.includes(chain.name)) out.unshift(...ND_RULES);
    const same = out.length === chain.rules.length && out.every((r, i) => r === chain.rules[i]);
    return same ? chain.rules : out;
  });
  return rules === chain.rules ? chain : { name: chain.name, rules };
}

/**
 * The part of a rendered state `family` enforces (see the file comment).
 *
 * @example
 * const v6 = forFamily(renderDesiredState(policies, blocks, 'host1'), 6);
 * v6.sets.every((s) => s.name.startsWith('ROMANA6-')) // true
 */
export function forFamily<T extends { sets: IpSet[]; chains: Chain[] }>(
  desired: T,
  family: Family,
): { sets: IpSet[]; chains: Chain[] } {
  return {
    sets: desired.sets.map((s) => projectSet(s, family)),
    chains: desired.chains.map((c) => projectChain(c, family)),
  };
}

/**
 * A set member change in `family`'s terms: the set renamed, or `undefined` when the member is
 * of the other family.
 *
 * @example forFamilyChange({ op: 'add', set: 'ROMANA-KS-x', member: 'fd00::5' }, 6)
 * // { op: 'add', set: 'ROMANA6-KS-x', member: 'fd00::5' }
 */
export function forFamilyChange<T extends { set: string; member: string }>(
  change: T,
  family: Family,
): T | undefined {
  const f = memberFamily(change.member);
  if (f !== undefined && f !== family) return undefined;
  if (f === undefined)
    return {
      ...change,
      set: familySetName(change.set, family),
      member: familySetName(change.member, family),
    };
  return family === 4 ? change : { ...change, set: familySetName(change.set, family) };
}
