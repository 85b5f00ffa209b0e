/**
 * Address and prefix value types for both families, used across module boundaries instead of
 * strings and plain numbers. Values are `bigint`, so IPv4 and IPv6 share one arithmetic.
 * Parsing is strict: canonical text only (no `010.0.0.1`, which is octal to some tools; RFC 5952
 * for IPv6), no host bits in a CIDR, no surrounding spaces.
 *
 * `parse` and `tryParse` take the families a caller accepts, by default `ACCEPTED_FAMILIES`
 * (both), and refuse the other one with a clear error: a field that takes one family only (a
 * host's `ip` is IPv4, its `ip6` IPv6) passes `IPV4_ONLY` or `IPV6_ONLY`. IPv6 text with a zone
 * id (`fe80::1%eth0`), an IPv4-mapped address (`::ffff:10.0.0.1`, `::ffff:a00:1`) or a
 * non-canonical spelling is refused with a message that says which and how to write it.
 */
import { invalidInput } from '../errors.ts';
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6Loose } from './addr-text.ts';

export { formatIPv4, formatIPv6, parseIPv4 } from './addr-text.ts';

export type Family = 4 | 6;

const BITS: Record<Family, number> = { 4: 32, 6: 128 };

/** Both families, for callers (and tests) that handle either. */
export const BOTH_FAMILIES: readonly Family[] = [4, 6];

/** The families the product accepts at its boundaries: both (issue 14). */
export const ACCEPTED_FAMILIES: readonly Family[] = BOTH_FAMILIES;

/** For fields that take an IPv4 address only (a host's `ip`, a BGP router id). */
export const IPV4_ONLY: readonly Family[] = [4];

/** For fields that take an IPv6 address only (a host's `ip6`). */
export const IPV6_ONLY: readonly Family[] = [6];

/** `::ffff:0:0/96`, the IPv4-mapped addresses: never a Romana address (use the IPv4 one). */
const MAPPED_PREFIX = 0xffffn;

/**
 * Prefix length of one host of the family: the `/32` of IPv4, the `/128` of IPv6.
 *
 * @example hostPrefixLen(4) // 32
 */
export function hostPrefixLen(family: Family): number {
  return BITS[family];
}

/**
 * The host prefix (`/32`, `/128`) of address text of either family, for the kernel's and the
 * CNI runtime's `address/len` fields.
 *
 * @example hostCidr('10.0.0.1').toString() // '10.0.0.1/32'
 */
export function hostCidr(text: string, field = 'ip'): Cidr {
  return Addr.parse(text, field, BOTH_FAMILIES).toCidr();
}

/**
 * The default route's destination of a family (`0.0.0.0/0`, `::/0`).
 *
 * @example defaultRoute(4).toString() // '0.0.0.0/0'
 */
export function defaultRoute(family: Family): Cidr {
  return Cidr.of(Addr.fromBigInt(family, 0n), 0);
}

/** Text to family and value, whichever family it is; a reason when it is neither. */
function scan(
  text: string,
  families: readonly Family[],
): { family: Family; value: bigint } | { why: string; canonical?: string } {
  const v4 = parseIPv4(text);
  if (v4 !== undefined) return { family: 4, value: BigInt(v4) };
  const kinds = families.includes(4) ? (families.includes(6) ? 'IPv4 or IPv6' : 'IPv4') : 'IPv6';
  if (!text.includes(':')) return { why: `is not a valid ${kinds} address` };
  const zone = text.indexOf('%');
  if (zone >= 0) {
    return {
      why: `is not a valid IPv6 address: it has a zone id (${text.slice(zone)}); Romana addresses take none`,
    };
  }
  const dotted = /^::ffff:([0-9.]+)$/i.exec(text);
  if (dotted !== null && parseIPv4(dotted[1]!) !== undefined) {
    return {
      why: `is not a valid IPv6 address: it is IPv4-mapped; write the IPv4 address ${dotted[1]}`,
    };
  }
  const v6 = parseIPv6Loose(text);
  if (v6 === undefined) return { why: 'is not a valid IPv6 address' };
  if (v6 >> 32n === MAPPED_PREFIX) {
    return {
      why: `is not a valid IPv6 address: it is IPv4-mapped; write the IPv4 address ${formatIPv4(Number(v6 & 0xffffffffn))}`,
    };
  }
  const canonical = formatIPv6(v6);
  if (canonical !== text) {
    return { why: `is not written canonically; write it as ${canonical}`, canonical };
  }
  return { family: 6, value: v6 };
}

function familyRefused(field: string, text: string, family: Family): Error {
  const other = family === 4 ? 6 : 4;
  return invalidInput(
    `${field}: '${text}' is an IPv${family} address; this field takes an IPv${other} address`,
  );
}

/** An IP address. Immutable; compare with `equals` or by `value`. */
export class Addr {
  readonly family: Family;
  readonly value: bigint;

  private constructor(family: Family, value: bigint) {
    this.family = family;
    this.value = value;
  }

  /** Number of bits of the family (32 for IPv4, 128 for IPv6). */
  get bits(): number {
    return BITS[this.family];
  }

  /**
   * Builds an address from its integer value.
   *
   * @example Addr.fromBigInt(4, 167772161n).toString() // '10.0.0.1'
   */
  static fromBigInt(family: Family, value: bigint): Addr {
    if (value < 0n || value >= 1n << BigInt(BITS[family])) {
      throw invalidInput(`address value ${value} is out of range for IPv${family}`);
    }
    return new Addr(family, value);
  }

  /**
   * Parses canonical address text of one of `families`; `field` names the input in error
   * messages.
   *
   * @example Addr.parse('10.0.0.1').value // 167772161n
   * @example Addr.parse('fd00::1', 'ip', BOTH_FAMILIES).family // 6
   */
  static parse(text: string, field = 'ip', families = ACCEPTED_FAMILIES): Addr {
    const v4 = parseIPv4(text);
    if (v4 !== undefined && families.includes(4)) return new Addr(4, BigInt(v4));
    const r = scan(text, families);
    if ('why' in r) throw invalidInput(`${field}: '${text}' ${r.why}`);
    if (!families.includes(r.family)) throw familyRefused(field, text, r.family);
    return new Addr(r.family, r.value);
  }

  /** Like `parse`, but returns `undefined` instead of throwing. */
  static tryParse(text: string, families = ACCEPTED_FAMILIES): Addr | undefined {
    const v4 = parseIPv4(text);
    if (v4 !== undefined) return families.includes(4) ? new Addr(4, BigInt(v4)) : undefined;
    // Names are looked up through here too: no second scan unless it can be IPv6.
    if (!families.includes(6) || !text.includes(':')) return undefined;
    const v6 = parseIPv6Loose(text);
    return v6 !== undefined && v6 >> 32n !== MAPPED_PREFIX && formatIPv6(v6) === text
      ? new Addr(6, v6)
      : undefined;
  }

  /** The host prefix of this address (`a/32`, `a/128`). */
  toCidr(): Cidr {
    return Cidr.of(this, this.bits);
  }

  /** The address `n` positions after this one (no range check beyond the family's). */
  add(n: bigint | number): Addr {
    return Addr.fromBigInt(this.family, this.value + BigInt(n));
  }

  equals(other: Addr): boolean {
    return this.family === other.family && this.value === other.value;
  }

  toString(): string {
    return this.family === 4 ? formatIPv4(Number(this.value)) : formatIPv6(this.value);
  }

  toJSON(): string {
    return this.toString();
  }
}

/** An aligned network: `addr` has no bits set past `prefix`. */
export class Cidr {
  readonly addr: Addr;
  readonly prefix: number;

  private constructor(addr: Addr, prefix: number) {
    this.addr = addr;
    this.prefix = prefix;
  }

  /**
   * Builds a CIDR; the address must be aligned to the prefix.
   *
   * @example Cidr.of(Addr.parse('10.0.0.0'), 8).toString() // '10.0.0.0/8'
   */
  static of(addr: Addr, prefix: number, field = 'cidr'): Cidr {
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > addr.bits) {
      throw invalidInput(`${field}: prefix length ${prefix} is not between 0 and ${addr.bits}`);
    }
    const hostBits = BigInt(addr.bits - prefix);
    const network = (addr.value >> hostBits) << hostBits;
    if (network !== addr.value) {
      const aligned = Addr.fromBigInt(addr.family, network);
      throw invalidInput(
        `${field}: '${addr}/${prefix}' has host bits set; the network address of that /${prefix} is ${aligned}/${prefix}`,
      );
    }
    return new Cidr(addr, prefix);
  }

  /**
   * Parses `address/n` of one of `families`; rejects host bits and non-canonical text.
   *
   * @example Cidr.parse('10.1.0.0/16').size // 65536n
   * @example Cidr.parse('fd00::/64', 'cidr', BOTH_FAMILIES).prefix // 64
   */
  static parse(text: string, field = 'cidr', families = ACCEPTED_FAMILIES): Cidr {
    const slash = text.indexOf('/');
    const prefixText = slash < 0 ? '' : text.slice(slash + 1);
    const v6Text = families.includes(6) && text.includes(':');
    const expected = v6Text ? 'ipv6-address/n' : families.includes(4) ? 'a.b.c.d/n' : 'address/n';
    if (slash < 0 || !/^(0|[1-9][0-9]?|1[0-2][0-9])$/.test(prefixText)) {
      throw invalidInput(`${field}: '${text}' is not a CIDR (expected ${expected})`);
    }
    const addrText = text.slice(0, slash);
    const r = scan(addrText, families);
    if ('why' in r) {
      if (r.why.includes('IPv4-mapped')) {
        throw invalidInput(
          `${field}: '${text}' is not a CIDR: its address is IPv4-mapped (::ffff:0:0/96); write the IPv4 CIDR (a.b.c.d/n)`,
        );
      }
      const hint = r.canonical === undefined ? '' : `; write it as ${r.canonical}/${prefixText}`;
      throw invalidInput(`${field}: '${text}' is not a CIDR (expected ${expected})${hint}`);
    }
    if (!families.includes(r.family)) throw familyRefused(field, text, r.family);
    return Cidr.of(Addr.fromBigInt(r.family, r.value), Number(prefixText), field);
  }

  /**
   * The prefix of length `prefix` holding `addr` (host bits cleared, unlike `of`).
   *
   * @example Cidr.containing(Addr.parse('10.1.2.3'), 16).toString() // '10.1.0.0/16'
   */
  static containing(addr: Addr, prefix: number): Cidr {
    const hostBits = BigInt(addr.bits - prefix);
    return Cidr.of(Addr.fromBigInt(addr.family, (addr.value >> hostBits) << hostBits), prefix);
  }

  get family(): Family {
    return this.addr.family;
  }

  /** Number of addresses. */
  get size(): bigint {
    return 1n << BigInt(this.addr.bits - this.prefix);
  }

  /** First address as an integer. */
  get start(): bigint {
    return this.addr.value;
  }

  /** Last address as an integer (inclusive). */
  get end(): bigint {
    return this.addr.value + this.size - 1n;
  }

  containsAddr(a: Addr): boolean {
    return a.family === this.family && a.value >= this.start && a.value <= this.end;
  }

  /** True when `other` lies entirely inside this CIDR (equal CIDRs included). */
  contains(other: Cidr): boolean {
    return other.family === this.family && other.start >= this.start && other.end <= this.end;
  }

  /** Aligned CIDRs overlap exactly when one contains the other. */
  overlaps(other: Cidr): boolean {
    return this.contains(other) || other.contains(this);
  }

  /** The `index`-th subnet of length `prefix` inside this CIDR. */
  subnet(prefix: number, index: bigint | number): Cidr {
    const start = this.start + BigInt(index) * (1n << BigInt(this.addr.bits - prefix));
    return new Cidr(Addr.fromBigInt(this.family, start), prefix);
  }

  equals(other: Cidr): boolean {
    return this.prefix === other.prefix && this.addr.equals(other.addr);
  }

  toString(): string {
    return `${this.addr}/${this.prefix}`;
  }

  toJSON(): string {
    return this.toString();
  }
}

/** A range that is never a node's, a pod's or a VIP's address. */
export interface SpecialUse {
  kind: string;
  cidr: Cidr;
}

const SPECIAL: ReadonlyArray<readonly [string, string]> = [
  ['0.0.0.0/8', 'unspecified'],
  ['127.0.0.0/8', 'loopback'],
  ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved or broadcast'],
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  ['ff00::/8', 'multicast'],
];

let special: SpecialUse[] | undefined;

/**
 * The special-use range `a` lies in (unspecified, loopback, multicast, reserved), if any.
 *
 * @example specialUse(Addr.parse('127.0.0.1'))?.kind // 'loopback'
 */
export function specialUse(a: Addr): SpecialUse | undefined {
  special ??= SPECIAL.map(([c, kind]) => ({ kind, cidr: Cidr.parse(c, 'cidr', BOTH_FAMILIES) }));
  return special.find((s) => s.cidr.containsAddr(a));
}
