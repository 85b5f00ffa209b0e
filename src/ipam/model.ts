/**
 * The engine's live objects. Offsets are plain numbers counted from the start of the network
 * (so the hot path does no bigint work); `Network.addrText` is the one place that turns an
 * offset back into text.
 */
import { Addr, Cidr, formatIPv4 } from './addr.ts';
import type { GroupSpec, HostSpec } from './carve.ts';
import { IdPool } from './id-pool.ts';
import type { NetworkSpec } from './topology.ts';

export class Network {
  readonly name: string;
  readonly cidr: Cidr;
  readonly blockMask: number;
  readonly blockSize: number;
  /** `null`: every tenant may use it. */
  readonly tenants: string[] | null;
  readonly root: Group;
  /** Blocks created so far, by block index (offset / blockSize). */
  readonly blocks = new Map<number, Block>();
  /** Sorted by start; each `[start, end]` in offsets, inclusive. */
  blackouts: Array<{ cidr: Cidr; start: number; end: number }> = [];
  revision = 0;
  readonly #base: number;

  constructor(spec: NetworkSpec, tree: GroupSpec) {
    this.name = spec.name;
    this.cidr = spec.cidr;
    this.blockMask = spec.blockMask;
    this.blockSize = 2 ** (spec.cidr.addr.bits - spec.blockMask);
    this.tenants = spec.tenants;
    this.#base = Number(spec.cidr.start);
    this.root = new Group(this, tree, '');
  }

  /** Text of the address at `offset`. */
  addrText(offset: number): string {
    return formatIPv4(this.#base + offset);
  }

  /** Offset of `a`, or `undefined` when `a` is outside the network. */
  offsetOf(a: Addr): number | undefined {
    return this.cidr.containsAddr(a) ? Number(a.value - this.cidr.start) : undefined;
  }

  /** Offset range `[start, end]` of a CIDR inside this network. */
  rangeOf(c: Cidr): { start: number; end: number } {
    const start = Number(c.start - this.cidr.start);
    return { start, end: start + Number(c.size) - 1 };
  }

  blockCidr(b: Block): string {
    return `${this.addrText(b.offset)}/${this.blockMask}`;
  }

  /** The blackout covering `offset`, if any. */
  blackoutAt(offset: number): { start: number; end: number; cidr: Cidr } | undefined {
    for (const b of this.blackouts) {
      if (offset < b.start) return undefined;
      if (offset <= b.end) return b;
    }
    return undefined;
  }

  /** The leaf group whose range holds `offset` (descending by range). */
  leafAt(offset: number): Group | undefined {
    let g = this.root;
    for (;;) {
      if (offset < g.offset || offset >= g.offset + g.size) return undefined;
      if (g.children === null) return g;
      const next = g.children.find((c) => offset >= c.offset && offset < c.offset + c.size);
      if (next === undefined) return undefined;
      g = next;
    }
  }
}

export class Group {
  readonly network: Network;
  readonly spec: GroupSpec;
  /** Child indexes from the root joined by '.', '' for the root: stable for one document. */
  readonly path: string;
  readonly offset: number;
  readonly size: number;
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
    this.offset = Number(spec.cidr.start - network.cidr.start);
    this.size = Number(spec.cidr.size);
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

  /** Next block of this group, or `undefined` when the group is full. */
  createBlock(): Block | undefined {
    const net = this.network;
    const offset = this.offset + this.blocks.length * net.blockSize;
    if (offset + net.blockSize > this.offset + this.size) return undefined;
    const b = new Block(this, offset);
    this.blocks.push(b);
    net.blocks.set(offset / net.blockSize, b);
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
  readonly offset: number;
  readonly pool: IdPool;
  /** Address names by offset within the block. */
  readonly names: Array<string | undefined>;
  owner: string | null = null;
  placement: Placement | null = null;
  revision = 0;
  /** Sequence numbers of the last acquisition and release: they order owner and reuse lists. */
  acquired = 0;
  released = 0;

  constructor(group: Group, offset: number) {
    this.group = group;
    this.offset = offset;
    const size = group.network.blockSize;
    this.pool = new IdPool(size);
    this.names = size <= 4096 ? new Array<string | undefined>(size) : [];
  }

  get network(): Network {
    return this.group.network;
  }
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
