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
 * The protocols a rule may name (after trimming and lower-casing). `icmp` is ICMP for IPv4 and
 * is enforced on IPv4 only; `icmpv6` is ICMPv6 and is enforced on IPv6 only (their type numbers
 * differ: an echo request is type 8 in one and 128 in the other). `tcp`, `udp` and `any` are
 * enforced on both families.
 *
 * @example PROTOCOLS.includes('sctp') // false
 */
export const PROTOCOLS: readonly string[] = ['tcp', 'udp', 'icmp', 'icmpv6', 'any'];

/**
 * The one family a rule's protocol is enforced on (`icmp`: 4, `icmpv6`: 6), or `undefined`
 * for both.
 *
 * @example protocolFamily('icmpv6') // 6
 * @example protocolFamily('tcp') // undefined
 */
export function protocolFamily(protocol: string): 4 | 6 | undefined {
  if (protocol === 'icmp') return 4;
  return protocol === 'icmpv6' ? 6 : undefined;
}

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
  if (protocol !== 'icmp' && protocol !== 'icmpv6') {
    if (type > 0 || code > 0) {
      out.push(
        `icmp_type ${type} and icmp_code ${code} apply to protocol 'icmp' or 'icmpv6' only; this rule has ${protocol === '' ? 'no protocol' : `protocol '${protocol}'`}`,
      );
    }
  } else if (protocol === 'icmp') {
    if (ports.length > 0 || ranges.length > 0) {
      out.push('ICMP protocol is specified but ports are also specified.');
    }
    if (type > MAX_ICMP_TYPE) out.push(`Invalid ICMP type: ${type}.`);
    if (code > maxIcmpCode(type)) out.push(`Invalid ICMP code for type ${type}: ${code}.`);
  } else {
    if (ports.length > 0 || ranges.length > 0) {
      out.push('protocol icmpv6 has no ports, but ports are also specified.');
    }
    if (type > MAX_ICMP_TYPE) out.push(`Invalid ICMPv6 type: ${type}.`);
    if (code > maxIcmpv6Code(type)) out.push(`Invalid ICMPv6 code for type ${type}: ${code}.`);
  }

  if (protocol === 'any' && (ports.length > 0 || ranges.length > 0)) {
    out.push('Protocol any matches every port, but ports are also specified.');
  }
  return out;
}

/** Highest code of an ICMPv6 type (RFC 4443 and its updates); 0 for types without codes. */
function maxIcmpv6Code(type: number): number {
  switch (type) {
    case 1: // destination unreachable
      return 8;
    case 3: // time exceeded
      return 1;
    case 4: // parameter problem
      return 10;
    case 138: // router renumbering (255: sequence number reset)
      return 255;
    default:
      return 0;
  }
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
