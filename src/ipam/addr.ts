/**
 * Address and CIDR value types. Values are `bigint` so that IPv6 can follow without changing
 * callers; only IPv4 text is parsed today. Parsing is strict: no leading zeros (`010.0.0.1`
 * would be octal to some tools), no host bits in a CIDR, no surrounding spaces.
 */
import { invalidInput } from '../errors.ts';

export type Family = 4 | 6;

const BITS: Record<Family, number> = { 4: 32, 6: 128 };

/** An IP address. Immutable; compare with `equals` or by `value`. */
export class Addr {
  readonly family: Family;
  readonly value: bigint;

  private constructor(family: Family, value: bigint) {
    this.family = family;
    this.value = value;
  }

  /** Number of bits of the family (32 for IPv4). */
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
   * Parses dotted-quad IPv4 text; `field` names the input in error messages.
   *
   * @example Addr.parse('10.0.0.1').value // 167772161n
   */
  static parse(text: string, field = 'ip'): Addr {
    const v = parseIPv4(text);
    if (v === undefined) {
      const hint = text.includes(':') ? ' (IPv6 is not supported yet)' : '';
      throw invalidInput(`${field}: '${text}' is not a valid IPv4 address${hint}`);
    }
    return new Addr(4, BigInt(v));
  }

  /** Like `parse`, but returns `undefined` instead of throwing. */
  static tryParse(text: string): Addr | undefined {
    const v = parseIPv4(text);
    return v === undefined ? undefined : new Addr(4, BigInt(v));
  }

  /** The address `n` positions after this one (no range check beyond the family's). */
  add(n: bigint | number): Addr {
    return Addr.fromBigInt(this.family, this.value + BigInt(n));
  }

  equals(other: Addr): boolean {
    return this.family === other.family && this.value === other.value;
  }

  toString(): string {
    return formatIPv4(Number(this.value));
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
   * Parses `a.b.c.d/n`; rejects host bits and non-canonical numbers.
   *
   * @example Cidr.parse('10.1.0.0/16').size // 65536n
   */
  static parse(text: string, field = 'cidr'): Cidr {
    const slash = text.indexOf('/');
    const prefixText = slash < 0 ? '' : text.slice(slash + 1);
    if (slash < 0 || !/^(0|[1-9][0-9]?|1[0-2][0-9])$/.test(prefixText)) {
      throw invalidInput(`${field}: '${text}' is not a CIDR (expected a.b.c.d/n)`);
    }
    const v = parseIPv4(text.slice(0, slash));
    if (v === undefined) {
      throw invalidInput(`${field}: '${text}' is not a CIDR (expected a.b.c.d/n)`);
    }
    return Cidr.of(Addr.fromBigInt(4, BigInt(v)), Number(prefixText), field);
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

/**
 * Dotted-quad text to its 32-bit value, or `undefined` when it is not canonical IPv4 (four
 * decimal octets 0-255, no leading zeros, nothing else). A hand-written scanner: it runs for
 * every address and block the agent plans.
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

/** 32-bit value to dotted-quad text. */
export function formatIPv4(v: number): string {
  return `${Math.floor(v / 16777216)}.${Math.floor(v / 65536) % 256}.${Math.floor(v / 256) % 256}.${v % 256}`;
}
