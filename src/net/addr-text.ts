/**
 * Address text, both families, canonical forms only: dotted quads without leading zeros for
 * IPv4; RFC 5952 for IPv6 (lower case, no leading zeros in a group, the longest run of two or
 * more zero groups written `::`, the first one on a tie). Text that means an address but is not
 * written canonically is refused, with the canonical form in the message, so that one address
 * has one spelling in the store, in keys and in the kernel's answers.
 */

/**
 * Dotted-quad text to its 32-bit value, or `undefined` when it is not canonical IPv4 (four
 * decimal octets 0-255, no leading zeros, nothing else). A hand-written scanner: it runs for
 * every address and block the agent plans.
 *
 * @example parseIPv4('10.0.0.1') // 167772161
 */
export function parseIPv4(text: string): number | undefined {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return undefined;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && octet === 0) return undefined; // leading zero
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return undefined;
    } else {
      return undefined;
    }
  }
  if (dots !== 3 || digits === 0) return undefined;
  return value * 256 + octet;
}

/**
 * 32-bit value to dotted-quad text.
 *
 * @example formatIPv4(167772161) // '10.0.0.1'
 */
export function formatIPv4(v: number): string {
  return `${Math.floor(v / 16777216)}.${Math.floor(v / 65536) % 256}.${Math.floor(v / 256) % 256}.${v % 256}`;
}

const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

/**
 * IPv6 text (hex groups, at most one `::`; no embedded dotted quad, no zone) to its 128-bit
 * value, whether or not it is canonical; `undefined` when it is not IPv6 at all. Check the
 * spelling with `formatIPv6(v) === text`.
 *
 * @example parseIPv6Loose('FD00:0::1') // 0xfd000000000000000000000000000001n
 */
export function parseIPv6Loose(text: string): bigint | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] === '' ? [] : halves[0]!.split(':');
  const tail = halves.length === 1 || halves[1] === '' ? [] : halves[1]!.split(':');
  const given = head.length + tail.length;
  if (halves.length === 1 ? given !== 8 : given > 7) return undefined;
  const groups = [...head, ...Array<string>(8 - given).fill('0'), ...tail];
  let v = 0n;
  for (const g of groups) {
    if (!HEX_GROUP.test(g)) return undefined;
    v = (v << 16n) | BigInt(parseInt(g, 16));
  }
  return v;
}

/**
 * 128-bit value to RFC 5952 text.
 *
 * @example formatIPv6(1n) // '::1'
 */
export function formatIPv6(v: bigint): string {
  const groups: number[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) groups.push(Number((v >> shift) & 0xffffn));
  return formatIPv6Groups(groups);
}

/**
 * Eight 16-bit groups to RFC 5952 text: no bigint work (the IPAM engine formats every IPv6
 * address it hands out through here).
 *
 * @example formatIPv6Groups([0xfd00, 0x10, 0, 0, 0, 0, 0, 5]) // 'fd00:10::5'
 */
export function formatIPv6Groups(groups: ArrayLike<number>): string {
  // The longest run of two or more zero groups, the first one on a tie.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (i === best) {
      out += i === 0 ? '::' : ':';
      i += bestLen - 1;
      continue;
    }
    out += groups[i]!.toString(16);
    if (i < 7) out += ':';
  }
  return out;
}
