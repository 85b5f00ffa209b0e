/**
 * The engine's live objects. Where a thing sits in its network (a group's range, a block's
 * start, a blackout) is an absolute address value (`bigint`), which holds an IPv6 /48 as well
 * as an IPv4 /8; inside a block an address is a plain number, its offset from the block's
 * start, so the allocation path does no bigint work. `Network.addrText` is the one place that
 * turns a block and an offset back into text (an IPv4 block keeps its start as a number too).
 */
import { Addr, Cidr, formatIPv4, type Family } from './addr.ts';
import { formatIPv6Groups } from '../net/addr-text.ts';
import type { GroupSpec, HostSpec } from './carve.ts';
import { IdPool } from './id-pool.ts';
import type { NetworkSpec } from './topology.ts';

/**
 * The most addresses one block hands out: a larger block (an IPv6 /64 holds 2^64) hands out
 * its first 2^32, which is more than any host runs.
 */
export const MAX_BLOCK_ADDRESSES = 2 ** 32;

/** Blocks above this size keep their names in a map instead of an array. */
const ARRAY_NAMES_MAX = 65536;

/** Blocks up to this size get their names array at full size at once. */
const PREALLOCATED_NAMES_MAX = 64;

/** The groups of the IPv6 address being formatted (one at a time: no allocation). */
const scratch = new Array<number>(8).fill(0);

export class Network {
  readonly name: string;
  readonly cidr: Cidr;
  readonly family: Family;
  readonly blockMask: number;
  /** Addresses a block hands out (its size, at most `MAX_BLOCK_ADDRESSES`). */
  readonly blockSize: number;
  /** The block's real size (2^(bits - mask)). */
  readonly blockSpan: bigint;
  readonly #shift: bigint;
  /** `null`: every tenant may use it. */
  readonly tenants: string[] | null;
  readonly root: Group;
  /** Blocks created so far, by block index ((start - network start) >> block bits). */
  readonly blocks = new Map<bigint, Block>();
  /** Sorted by start; each `[start, end]` an absolute address value, inclusive. */
  blackouts: Blackout[] = [];
  revision = 0;

  constructor(spec: NetworkSpec, tree: GroupSpec) {
    this.name = spec.name;
    this.cidr = spec.cidr;
    this.family = spec.cidr.family;
    this.blockMask = spec.blockMask;
    this.#shift = BigInt(spec.cidr.addr.bits - spec.blockMask);
    this.blockSpan = 1n << this.#shift;
    this.blockSize =
      this.blockSpan > BigInt(MAX_BLOCK_ADDRESSES) ? MAX_BLOCK_ADDRESSES : Number(this.blockSpan);
    this.tenants = spec.tenants;
    this.root = new Group(this, tree, '');
  }

  /** Text of the address at `index` in block `b`. */
  addrText(b: Block, index: number): string {
    if (this.family === 4) return formatIPv4(b.base + index);
    // A block is aligned to its size and hands out at most 2^32 addresses: the offset fills
    // the low 32 bits, which are zero in the block's start.
    const g = b.groups!;
    for (let k = 0; k < 6; k++) scratch[k] = g[k]!;
    scratch[6] = g[6]! | (index >>> 16);
    scratch[7] = g[7]! | (index & 0xffff);
    return formatIPv6Groups(scratch);
  }

  /** Index of the block that holds address value `v` (no range check). */
  blockIndex(v: bigint): bigint {
    return (v - this.cidr.start) >> this.#shift;
  }

  /** The block holding `a` and `a`'s offset in it, when that block exists. */
  blockOf(a: Addr): { block: Block; index: number } | undefined {
    if (!this.cidr.containsAddr(a)) return undefined;
    const block = this.blocks.get(this.blockIndex(a.value));
    if (block === undefined) return undefined;
    const off = a.value - block.start;
    return off < BigInt(this.blockSize) ? { block, index: Number(off) } : undefined;
  }

  /** The blackout covering address value `v`, if any. */
  blackoutAt(v: bigint): Blackout | undefined {
    for (const b of this.blackouts) {
      if (v < b.start) return undefined;
      if (v <= b.end) return b;
    }
    return undefined;
  }

  /**
   * The lowest offset at or after `from` of a block starting at `start` that no blackout
   * covers, or `undefined`.
   */
  firstUnblocked(start: bigint, from: number): number | undefined {
    let i = from;
    while (i < this.blockSize) {
      const bo = this.blackoutAt(start + BigInt(i));
      if (bo === undefined) return i;
      const next = bo.end - start + 1n;
      if (next >= BigInt(this.blockSize)) return undefined;
      i = Number(next);
    }
    return undefined;
  }

  /** The leaf group whose range holds address value `v` (descending by range). */
  leafAt(v: bigint): Group | undefined {
    let g = this.root;
    for (;;) {
      if (v < g.start || v > g.end) return undefined;
      if (g.children === null) return g;
      const next = g.children.find((c) => v >= c.start && v <= c.end);
      if (next === undefined) return undefined;
      g = next;
    }
  }
}

export interface Blackout {
  cidr: Cidr;
  start: bigint;
  end: bigint;
}

export class Group {
  readonly network: Network;
  readonly spec: GroupSpec;
  /** Child indexes from the root joined by '.', '' for the root: stable for one document. */
  readonly path: string;
  /** First and last address values of the group. */
  readonly start: bigint;
  readonly end: bigint;
  readonly children: Group[] | null;
  readonly hosts: Host[] = [];
  /** Blocks in creation order; always the first `blocks.length` blocks of the group. */
  readonly blocks: Block[] = [];
  /** Free blocks in release order (oldest first). */
  readonly reusable: Block[] = [];

  constructor(network: Network, spec: GroupSpec, path: string) {
    this.network = network;
    this.spec = spec;
    this.path = path;
    this.start = spec.cidr.start;
    this.end = spec.cidr.end;
    this.children =
      spec.children === null
        ? null
        : spec.children.map((c, i) => new Group(network, c, path === '' ? `${i}` : `${path}.${i}`));
  }

  /** A name for messages: the group's own name, else its CIDR. */
  get label(): string {
    return this.spec.name !== '' ? this.spec.name : this.spec.cidr.toString();
  }

  /** Whether a host with `tags` may be placed in (or below) this group. */
  accepts(tags: Record<string, string> | null): boolean {
    if (this.spec.dummy) return false;
    const want = this.spec.assignment;
    if (want === null) return true;
    for (const k in want) if (tags?.[k] !== want[k]) return false;
    return true;
  }

  /** Start of the group's `k`-th block, or `undefined` past the group's end. */
  blockStart(k: number): bigint | undefined {
    const span = this.network.blockSpan;
    const start = this.start + BigInt(k) * span;
    return start + span - 1n > this.end ? undefined : start;
  }

  /** Next block of this group, or `undefined` when the group is full. */
  createBlock(): Block | undefined {
    const start = this.blockStart(this.blocks.length);
    if (start === undefined) return undefined;
    const b = new Block(this, start);
    this.blocks.push(b);
    this.network.blocks.set(this.network.blockIndex(start), b);
    return b;
  }

  /** Visits this group and its descendants, pre-order. */
  *walk(): Generator<Group> {
    yield this;
    for (const c of this.children ?? []) yield* c.walk();
  }

  /** Groups from the root down to this one. */
  pathFromRoot(): Group[] {
    const out: Group[] = [];
    let g: Group | undefined = this.network.root;
    const steps = this.path === '' ? [] : this.path.split('.').map(Number);
    out.push(g);
    for (const s of steps) {
      g = g.children![s]!;
      out.push(g);
    }
    return out;
  }
}

export class Block {
  readonly group: Group;
  /** First address value. */
  readonly start: bigint;
  /** First address as a number (IPv4; unused for IPv6). */
  readonly base: number;
  /** The block's CIDR text. */
  readonly cidr: string;
  readonly pool: IdPool;
  /** IPv6: the 16-bit groups of the first address (`undefined` for IPv4). */
  readonly groups: Uint16Array | undefined;
  /** Address names by offset within the block (blocks up to 65536 addresses). */
  readonly names: Array<string | undefined>;
  /** Address names by offset, for larger blocks. */
  readonly #big: Map<number, string> | null;
  owner: string | null = null;
  placement: Placement | null = null;
  revision = 0;
  /** Sequence numbers of the last acquisition and release: they order owner and reuse lists. */
  acquired = 0;
  released = 0;

  constructor(group: Group, start: bigint) {
    const net = group.network;
    this.group = group;
    this.start = start;
    this.base = net.family === 4 ? Number(start) : 0;
    this.groups = net.family === 4 ? undefined : groupsOf(start);
    this.names =
      net.blockSize <= PREALLOCATED_NAMES_MAX ? new Array<string | undefined>(net.blockSize) : [];
    this.cidr = `${Addr.fromBigInt(net.family, start)}/${net.blockMask}`;
    this.pool = new IdPool(net.blockSize);
    this.#big = net.blockSize > ARRAY_NAMES_MAX ? new Map() : null;
  }

  get network(): Network {
    return this.group.network;
  }

  nameAt(i: number): string | undefined {
    return this.#big === null ? this.names[i] : this.#big.get(i);
  }

  /** Offset of the address named `name`, or -1. */
  indexOf(name: string): number {
    if (this.#big === null) return this.names.indexOf(name);
    for (const [i, n] of this.#big) if (n === name) return i;
    return -1;
  }

  setName(i: number, name: string | undefined): void {
    if (this.#big !== null) {
      if (name === undefined) this.#big.delete(i);
      else this.#big.set(i, name);
    } else this.names[i] = name;
  }

  /** `[offset, name]` of every named address, ascending. */
  named(): Array<[number, string]> {
    const out: Array<[number, string]> = [];
    if (this.#big !== null) {
      for (const [i, n] of this.#big) out.push([i, n]);
      return out.sort((x, y) => x[0] - y[0]);
    }
    this.names.forEach((n, i) => {
      if (n !== undefined) out.push([i, n]);
    });
    return out;
  }

  /** Forgets every name. */
  clearNames(): void {
    if (this.#big !== null) this.#big.clear();
    else this.names.length = 0;
  }
}

function groupsOf(v: bigint): Uint16Array {
  const out = new Uint16Array(8);
  for (let k = 0; k < 8; k++) out[k] = Number((v >> BigInt(112 - 16 * k)) & 0xffffn);
  return out;
}

/** A host's place in one network: its leaf group and the blocks it holds there per owner. */
export class Placement {
  readonly host: Host;
  readonly group: Group;
  /** Owner (`tenant:segment`) to blocks, in acquisition order. */
  readonly owned = new Map<string, Block[]>();

  constructor(host: Host, group: Group) {
    this.host = host;
    this.group = group;
  }
}

export class Host {
  readonly name: string;
  readonly ip: Addr;
  readonly ipText: string;
  /** The host's own IPv6 address (next hop of IPv6 routes to its blocks), if it has one. */
  readonly ip6: Addr | null;
  agentPort: number;
  tags: Record<string, string> | null;
  k8sInfo: Record<string, unknown> | null;
  /** Registration order. */
  readonly seq: number;
  /** One per network that holds the host, in network order. */
  readonly placements: Placement[] = [];

  constructor(
    spec: HostSpec & {
      agentPort: number;
      tags: Record<string, string> | null;
      k8sInfo: Record<string, unknown> | null;
      seq: number;
    },
  ) {
    this.name = spec.name;
    this.ip = spec.ip;
    this.ipText = spec.ip.toString();
    this.ip6 = spec.ip6 ?? null;
    this.agentPort = spec.agentPort;
    this.tags = spec.tags;
    this.k8sInfo = spec.k8sInfo;
    this.seq = spec.seq;
  }

  placementIn(net: Network): Placement | undefined {
    for (const p of this.placements) if (p.group.network === net) return p;
    return undefined;
  }
}

/**
 * The smallest eligible leaf under `g` (reference §2.3): fewest hosts, ties to the earliest
 * in tree order; only eligible groups are entered.
 */
export function smallestEligibleLeaf(
  g: Group,
  tags: Record<string, string> | null,
): Group | undefined {
  if (!g.accepts(tags)) return undefined;
  if (g.children === null) return g;
  let best: Group | undefined;
  for (const c of g.children) {
    const leaf = smallestEligibleLeaf(c, tags);
    if (leaf !== undefined && (best === undefined || leaf.hosts.length < best.hosts.length)) {
      best = leaf;
    }
  }
  return best;
}
