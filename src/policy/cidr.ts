/**
 * A policy's CIDR (a 2.x `cidr` peer or a Kubernetes `ipBlock`): IPv4 or IPv6, canonical text
 * (RFC 5952 for IPv6), no host bits. Forms that have no meaning in a firewall rule are refused
 * with a reason of their own: zone ids (`fe80::1%eth0`), IPv4-mapped and dotted IPv6
 * (`::ffff:10.0.0.0/104`: write the IPv4 CIDR, which IPv4 enforces).
 */
import { BOTH_FAMILIES, Cidr } from '../net/addr.ts';
import { parseIPv6Loose } from '../net/addr-text.ts';
import { invalidInput } from '../errors.ts';

/** Whether IPv6 text `addr` with prefix `prefix` lies inside `::ffff:0:0/96` (IPv4-mapped). */
function isMapped(addr: string, prefix: string): boolean {
  const v6 = parseIPv6Loose(addr);
  return v6 !== undefined && v6 >> 32n === 0xffffn && Number(prefix) >= 96;
}

/**
 * Parses a policy CIDR of either family; throws an `invalid_input` error naming `field` and the
 * value.
 *
 * @example parsePolicyCidr('fd00:10::/48', 'ingress[0].peers[0].cidr').family // 6
 * @example parsePolicyCidr('fe80::%eth0/64', 'cidr') // throws: zone ids …
 */
export function parsePolicyCidr(text: string, field: string): Cidr {
  if (text.includes('%')) {
    throw invalidInput(
      `${field}: '${text}' has a zone id (%…); a policy CIDR cannot name an interface, write it without`,
    );
  }
  if (text.includes(':') && text.includes('.')) {
    throw invalidInput(
      `${field}: '${text}' embeds an IPv4 address in IPv6 text; write the IPv4 CIDR (a.b.c.d/n) or the IPv6 one in hex groups`,
    );
  }
  const slash = text.indexOf('/');
  if (slash > 0 && isMapped(text.slice(0, slash), text.slice(slash + 1))) {
    throw invalidInput(
      `${field}: '${text}' is an IPv4-mapped IPv6 prefix (::ffff:0:0/96), which no packet carries; write the IPv4 CIDR (a.b.c.d/n)`,
    );
  }
  return Cidr.parse(text, field, BOTH_FAMILIES);
}
