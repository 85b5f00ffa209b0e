/**
 * The per-rule checks of the original `policytools.ValidatePolicy` (reference §10.3 rule 3),
 * with its message texts.
 */
import type { Rule } from './model.ts';

/**
 * Highest TCP/UDP port number.
 *
 * @example ports.every((p) => p <= MAX_PORT)
 */
export const MAX_PORT = 65535;
/**
 * Highest ICMP type number.
 *
 * @example ruleProblems({ protocol: 'icmp', icmp_type: MAX_ICMP_TYPE + 1 }) // ['Invalid ICMP type: 256.']
 */
export const MAX_ICMP_TYPE = 255;
/**
 * The protocols a rule may name (after trimming and lower-casing).
 *
 * @example PROTOCOLS.includes('sctp') // false
 */
export const PROTOCOLS: readonly string[] = ['tcp', 'udp', 'icmp', 'any'];

/**
 * §10.3 rule 3, with the original message texts (minus the `Rule #0:` prefix). Expects the rule
 * in normal form (protocol trimmed and lower-cased).
 *
 * @example ruleProblems({ protocol: 'icmp', icmp_type: 3, icmp_code: 16 })
 * // ['Invalid ICMP code for type 3: 16.']
 */
export function ruleProblems(rule: Rule): string[] {
  const out: string[] = [];
  const protocol = rule.protocol;
  const ports = rule.ports ?? [];
  const ranges = rule.port_ranges ?? [];
  if (protocol === '') out.push('No protocol specified.');
  else if (!PROTOCOLS.includes(protocol)) out.push(`Invalid protocol: ${protocol}.`);

  if (protocol === 'tcp' || protocol === 'udp') {
    const badRanges = ranges.filter(([lo, hi]) => lo > hi || lo > MAX_PORT || hi > MAX_PORT);
    if (badRanges.length > 0) {
      const list = badRanges.map(([lo, hi]) => `${lo}-${hi}`).join(', ');
      out.push(`The following port ranges are invalid: ${list}.`);
    }
    const badPorts = ports.filter((p) => p > MAX_PORT);
    if (badPorts.length > 0) out.push(`The following ports are invalid: ${badPorts.join(', ')}.`);
  }

  const type = rule.icmp_type ?? 0;
  const code = rule.icmp_code ?? 0;
  if (protocol !== 'icmp') {
    if (type > 0 || code > 0) {
      out.push(
        `icmp_type ${type} and icmp_code ${code} apply to protocol 'icmp' only; this rule has ${protocol === '' ? 'no protocol' : `protocol '${protocol}'`}`,
      );
    }
  } else {
    if (ports.length > 0 || ranges.length > 0) {
      out.push('ICMP protocol is specified but ports are also specified.');
    }
    if (type > MAX_ICMP_TYPE) out.push(`Invalid ICMP type: ${type}.`);
    if (code > maxIcmpCode(type)) out.push(`Invalid ICMP code for type ${type}: ${code}.`);
  }

  if (protocol === 'any' && (ports.length > 0 || ranges.length > 0)) {
    out.push('Protocol any matches every port, but ports are also specified.');
  }
  return out;
}

/** Highest code the original accepted for an ICMP type. */
function maxIcmpCode(type: number): number {
  switch (type) {
    case 3: // destination unreachable
      return 15;
    case 5: // redirect
      return 3;
    case 11: // time exceeded
      return 1;
    default: // including 4, source quench
      return 0;
  }
}
