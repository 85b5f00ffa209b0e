/**
 * Reading the node's current firewall state from `iptables-save -t filter` and `ipset save`,
 * keeping only what Romana owns (names starting with `ROMANA-`), in a normal form that compares
 * equal to the rendered desired state when the kernel holds exactly that.
 */
import { Addr, BOTH_FAMILIES, hostPrefixLen } from '../net/addr.ts';

/** Prefix of every chain and set Romana creates; nothing else is ever changed or removed. */
export const ROMANA_PREFIX = 'ROMANA-';

/**
 * Whether a set name is Romana's, of either family (`ROMANA-…` for IPv4, `ROMANA6-…` for IPv6).
 *
 * @example isRomanaSetName('ROMANA6-LOCAL-BLOCKS') // true
 */
export function isRomanaSetName(name: string): boolean {
  return name.startsWith(ROMANA_PREFIX) || name.startsWith('ROMANA6-');
}

/**
 * Romana's chains as the kernel has them (rules in normal form, see `normalizeRule`), and the
 * Romana chains that other chains jump to (they cannot be deleted).
 *
 * @example const t: CurrentChains = { chains: new Map([['ROMANA-OP', ['-j RETURN']]]), referencedByOthers: new Set() };
 */
export interface CurrentChains {
  chains: Map<string, string[]>;
  referencedByOthers: Set<string>;
  /** `ROMANA-*` sets that rules of non-Romana chains match on (they cannot be destroyed). */
  setsUsedByOthers?: Set<string>;
}

/**
 * One of Romana's ipsets as the kernel has it; members in normal form (see `normalizeMember`).
 *
 * @example const s: CurrentSet = { type: 'hash:net', members: new Set(['10.0.0.0/28']) };
 */
export interface CurrentSet {
  type: string;
  /** `inet` or `inet6` for hash sets, as `ipset save` says; absent for a `list:set`. */
  family?: string;
  members: Set<string>;
}

/**
 * A rule match in the form iptables-save prints it, so rendered and read-back rules compare
 * equal: single spaces, and the implicit `-m tcp` / `-m udp` / `-m icmp` iptables adds after
 * `-p <proto>` removed; a port range `N:N` is the port `N`.
 *
 * @example normalizeRule('-p tcp -m tcp --dport 80 -j ACCEPT') // '-p tcp --dport 80 -j ACCEPT'
 * @example normalizeRule(' -j ROMANA-OP') // '-j ROMANA-OP'
 */
export function normalizeRule(spec: string): string {
  const tokens = spec
    .trim()
    .split(/\s+/)
    .filter((t) => t !== '');
  const out: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t === '-m' && ['tcp', 'udp', 'icmp', 'sctp'].includes(tokens[i + 1] ?? '')) {
      const proto = out.lastIndexOf('-p');
      if (proto >= 0 && out[proto + 1] === tokens[i + 1]) {
        i++;
        continue;
      }
    }
    if ((t === '--dport' || t === '--sport') && tokens[i + 1] !== undefined) {
      const [lo, hi] = tokens[i + 1]!.split(':');
      out.push(t, lo === hi ? lo! : tokens[i + 1]!);
      i++;
      continue;
    }
    out.push(t);
  }
  return out.join(' ');
}

/**
 * Parses `iptables-save -t filter` output: every `ROMANA-*` chain with its rules (normal form,
 * `-A <chain>` stripped), and which `ROMANA-*` chains non-Romana chains jump to.
 *
 * @example
 * parseIptablesSave('*filter\n:ROMANA-OP - [0:0]\n-A ROMANA-OP -j RETURN\nCOMMIT\n').chains
 * // Map { 'ROMANA-OP' => ['-j RETURN'] }
 */
export function parseIptablesSave(text: string): CurrentChains {
  const chains = new Map<string, string[]>();
  const referencedByOthers = new Set<string>();
  const setsUsedByOthers = new Set<string>();
  let inFilter = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) inFilter = line.trim() === '*filter';
    if (!inFilter) continue;
    if (line.startsWith(':')) {
      const name = line.slice(1).split(' ')[0]!;
      if (name.startsWith(ROMANA_PREFIX)) chains.set(name, []);
    } else if (line.startsWith('-A ')) {
      const rest = line.slice(3);
      const space = rest.indexOf(' ');
      const chain = space < 0 ? rest : rest.slice(0, space);
      const spec = space < 0 ? '' : rest.slice(space + 1);
      if (chain.startsWith(ROMANA_PREFIX)) {
        let rules = chains.get(chain);
        if (rules === undefined) chains.set(chain, (rules = []));
        rules.push(normalizeRule(spec));
      } else {
        for (const target of jumpTargets(spec)) {
          if (target.startsWith(ROMANA_PREFIX)) referencedByOthers.add(target);
        }
        for (const m of spec.matchAll(/--match-set (\S+)/g)) {
          if (isRomanaSetName(m[1]!)) setsUsedByOthers.add(m[1]!);
        }
      }
    }
  }
  return { chains, referencedByOthers, setsUsedByOthers };
}

function jumpTargets(spec: string): string[] {
  const tokens = spec.split(/\s+/);
  const out: string[] = [];
  tokens.forEach((t, i) => {
    if ((t === '-j' || t === '-g' || t === '--jump' || t === '--goto') && tokens[i + 1]) {
      out.push(tokens[i + 1]!);
    }
  });
  return out;
}

/**
 * A set member as `ipset save` prints it: a `hash:net` host entry loses its host prefix
 * (`/32`, `/128`).
 *
 * @example normalizeMember('10.0.0.1/32') // '10.0.0.1'
 */
export function normalizeMember(member: string): string {
  if (member.endsWith(' nomatch')) return `${normalizeMember(member.slice(0, -8))} nomatch`;
  const slash = member.indexOf('/');
  if (slash < 0) return member;
  const addr = Addr.tryParse(member.slice(0, slash), BOTH_FAMILIES);
  if (addr === undefined || member.slice(slash + 1) !== String(hostPrefixLen(addr.family))) {
    return member;
  }
  return addr.toString();
}

/**
 * Parses `ipset save` output, keeping the sets whose names start with `prefix` (`ROMANA-` for
 * IPv4, `ROMANA6-` for IPv6: each family's firewall owns its own).
 *
 * @example
 * parseIpsetSave('create ROMANA-x hash:net family inet\nadd ROMANA-x 10.0.0.0/28\n')
 * // Map { 'ROMANA-x' => { type: 'hash:net', members: Set { '10.0.0.0/28' } } }
 */
export function parseIpsetSave(text: string, prefix = ROMANA_PREFIX): Map<string, CurrentSet> {
  const sets = new Map<string, CurrentSet>();
  for (const line of text.split('\n')) {
    const tokens = line.trim().split(/\s+/);
    const [verb, name, arg, flag] = tokens;
    if (name === undefined || !name.startsWith(prefix)) continue;
    if (verb === 'create') {
      const set: CurrentSet = { type: arg ?? '', members: new Set() };
      const at = tokens.indexOf('family');
      if (at > 0 && tokens[at + 1] !== undefined) set.family = tokens[at + 1];
      sets.set(name, set);
    } else if (verb === 'add' && arg !== undefined) {
      const member = flag === 'nomatch' ? `${arg} nomatch` : arg;
      sets.get(name)?.members.add(normalizeMember(member));
    }
  }
  return sets;
}

/**
 * `ROMANA-*` sets that a non-Romana `list:set` holds, from `ipset save` output: they cannot be
 * destroyed while it does.
 *
 * @example romanaSetsInForeignLists('create theirs list:set size 8\nadd theirs ROMANA-x\n') // Set { 'ROMANA-x' }
 */
export function romanaSetsInForeignLists(text: string): Set<string> {
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const [verb, name, member] = line.trim().split(/\s+/);
    if (verb !== 'add' || name === undefined || member === undefined) continue;
    if (!isRomanaSetName(name) && isRomanaSetName(member)) out.add(member);
  }
  return out;
}
