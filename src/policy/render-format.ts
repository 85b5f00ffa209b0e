/**
 * The iptables side of a rendered state as text: chains and rules in iptables-save syntax, as
 * the original agent wrote them, ready for `iptables-restore --noflush`.
 */

/**
 * One iptables rule of a chain: `-A <chain> <match> -j <target>`; `match` may be empty.
 *
 * @example const r: ChainRule = { match: '-p tcp --dport 80', target: 'ACCEPT' };
 */
export interface ChainRule {
  match: string;
  target: string;
}

/**
 * A chain of the filter table and its rules, in order.
 *
 * @example const c: Chain = { name: 'ROMANA-OUTPUT', rules: [{ match: '', target: 'ACCEPT' }] };
 */
export interface Chain {
  name: string;
  rules: ChainRule[];
}

/**
 * One rule in iptables-save syntax, as the original wrote it (`-A CH  -j X` for an empty match).
 *
 * @example formatRule('ROMANA-OUTPUT', { match: '', target: 'ACCEPT' }) // '-A ROMANA-OUTPUT  -j ACCEPT'
 */
export function formatRule(chain: string, rule: ChainRule): string {
  return `-A ${chain} ${rule.match} -j ${rule.target}`;
}

/**
 * An `iptables-restore --noflush` payload for the filter table: a `:<chain> - ` header per
 * chain (declaring a chain flushes it), its rules, then `-X` lines for `deletions`, `COMMIT`.
 *
 * @example formatIptablesRestore([{ name: 'ROMANA-OP', rules: [] }], ['ROMANA-P-0123456789abcdef'])
 * // '*filter\n:ROMANA-OP - \n-X ROMANA-P-0123456789abcdef\nCOMMIT\n'
 */
export function formatIptablesRestore(
  chains: readonly Chain[],
  deletions: readonly string[] = [],
): string {
  const lines = ['*filter'];
  for (const c of chains) lines.push(`:${c.name} - `);
  for (const c of chains) for (const r of c.rules) lines.push(formatRule(c.name, r));
  for (const d of deletions) lines.push(`-X ${d}`);
  lines.push('COMMIT', '');
  return lines.join('\n');
}
