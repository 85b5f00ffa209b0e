/**
 * The engine's whole state, built from a validated topology. `Ipam` keeps one `State` and
 * swaps it for a new one on a topology update, so a failed update leaves the old one intact.
 */
import { alreadyExists, invalidInput, RomanaError } from '../errors.ts';
import { ShardedMap } from '../sharded-map.ts';
import type { Addr, Family } from './addr.ts';
import type { AddressLocation } from './alloc.ts';
import { Block, Group, Host, Network, Placement, smallestEligibleLeaf } from './model.ts';
import { formatTags, type TopologySpec, type TopologyUpdateRequest } from './topology.ts';

export interface Revisions {
  /** Grows with every change to blocks or addresses (watchers of blocks filter on it). */
  allocation: number;
  /** Grows with every change to the topology or to hosts. */
  topology: number;
}

export interface HostInput {
  name: string;
  ip: Addr;
  ip6?: Addr | null;
  agentPort?: number;
  tags?: Record<string, string> | null;
  k8sInfo?: Record<string, unknown> | null;
}

export const DEFAULT_AGENT_PORT = 9604;

export class State {
  readonly networks: Network[] = [];
  readonly byName = new Map<string, Network>();
  /** Networks listed for a tenant by name, in definition order. */
  readonly tenantNets = new Map<string, Network[]>();
  /** Networks open to every tenant, in definition order. */
  readonly wildcard: Network[] = [];
  readonly hosts = new Map<string, Host>();
  readonly hostsByIp = new Map<string, Host>();
  /** Address name to the block that holds its IPv4 address (one entry per pod: sharded). */
  readonly addresses = new ShardedMap<Block>();
  /** Address name to the block that holds its IPv6 address. */
  readonly addresses6 = new ShardedMap<Block>();
  readonly request: TopologyUpdateRequest;
  readonly revisions: Revisions = { allocation: 0, topology: 0 };
  /** Source of acquisition/release/registration sequence numbers. */
  seq = 0;
  /** Blocks changed since the last `Ipam.takeTouchedBlocks()`: what a store must persist. */
  readonly touched = new Set<Block>();

  constructor(spec: TopologySpec | null) {
    this.request = spec?.request ?? { networks: [], topologies: [] };
    for (const ns of spec?.networks ?? []) {
      const net = new Network(ns, spec!.trees.get(ns.name)!);
      this.networks.push(net);
      this.byName.set(net.name, net);
      if (ns.tenants === null) this.wildcard.push(net);
      else {
        for (const t of ns.tenants) {
          const list = this.tenantNets.get(t) ?? [];
          list.push(net);
          this.tenantNets.set(t, list);
        }
      }
    }
  }

  /** The names of one family's addresses. */
  names(f: Family): ShardedMap<Block> {
    return f === 4 ? this.addresses : this.addresses6;
  }

  /** Where each family's address of `name` is, IPv4 first; empty when there is none. */
  locations(name: string): AddressLocation[] {
    const out: AddressLocation[] = [];
    const b4 = this.addresses.get(name);
    if (b4 !== undefined) out.push({ name, block: b4, index: b4.indexOf(name) });
    const b6 = this.addresses6.size === 0 ? undefined : this.addresses6.get(name);
    if (b6 !== undefined) out.push({ name, block: b6, index: b6.indexOf(name) });
    return out;
  }

  /** Networks a tenant may draw from: its own first, then the wildcard ones. */
  networksFor(tenant: string): Network[] {
    const own = this.tenantNets.get(tenant);
    return own === undefined ? this.wildcard : [...own, ...this.wildcard];
  }

  /** The network whose CIDR holds `a`. */
  networkOf(a: Addr): Network | undefined {
    for (const n of this.networks) if (n.cidr.containsAddr(a)) return n;
    return undefined;
  }

  /** Looks a host up by name, or by IP when no name is given; checks they agree. */
  findHost(ref: { name?: string; ip?: string }): Host {
    const name = ref.name ?? '';
    const ip = ref.ip ?? '';
    const host = ip !== '' ? this.hostsByIp.get(ip) : this.hosts.get(name);
    if (host !== undefined && ip !== '' && name !== '' && host.name !== name) {
      throw invalidInput(`Found host with IP ${ip} but it has name ${host.name}, not ${name}`, {
        resourceType: 'host',
        resourceId: name,
      });
    }
    if (host === undefined) {
      const which =
        ip !== '' ? `with IP ${ip}` : name !== '' ? `named '${name}'` : '(no name or IP given)';
      throw new RomanaError('NotFound', `No host ${which}`, {
        resourceType: 'host',
        resourceId: name !== '' ? name : ip,
      });
    }
    return host;
  }

  /**
   * Registers a host and places it, in every network whose tree accepts it, in the group
   * `pick` returns (by default the smallest eligible leaf). Returns the host, or `undefined`
   * (and registers nothing) when no network accepts it.
   */
  addHost(
    input: HostInput,
    pick: (net: Network, host: Host) => Group | undefined = (net, h) =>
      smallestEligibleLeaf(net.root, h.tags),
  ): Host | undefined {
    const ipText = input.ip.toString();
    const ip6Text = input.ip6?.toString();
    const clash =
      this.hosts.get(input.name) ??
      this.hostsByIp.get(ipText) ??
      (ip6Text === undefined ? undefined : this.hostsByIp.get(ip6Text));
    if (clash !== undefined) {
      const what =
        clash.name === input.name
          ? `a host named '${input.name}' already exists`
          : `IP ${this.hostsByIp.get(ipText) === clash ? ipText : ip6Text} already belongs to another host`;
      throw alreadyExists('host', input.name, `${what}: ${clash.name} (${clash.ipText})`);
    }
    // The sequence number is taken only once the host fits somewhere: a refused host
    // changes nothing.
    const host = new Host({
      name: input.name,
      ip: input.ip,
      ip6: input.ip6 ?? undefined,
      agentPort: input.agentPort ?? DEFAULT_AGENT_PORT,
      tags: input.tags ?? null,
      k8sInfo: input.k8sInfo ?? null,
      seq: this.seq + 1,
    });
    for (const net of this.networks) {
      const group = pick(net, host);
      if (group === undefined) continue;
      host.placements.push(new Placement(host, group));
    }
    if (host.placements.length === 0) return undefined;
    this.seq++;
    for (const p of host.placements) p.group.hosts.push(host);
    this.hosts.set(host.name, host);
    this.hostsByIp.set(ipText, host);
    if (ip6Text !== undefined) this.hostsByIp.set(ip6Text, host);
    return host;
  }

  /** Error for a host that fits nowhere. */
  static noSuitableGroup(input: HostInput): RomanaError {
    return new RomanaError(
      'InvalidInput',
      `No group can take host ${input.name} (${input.ip}) with ${formatTags(input.tags)}: ` +
        `no group's assignment matches them`,
      { resourceType: 'host', resourceId: input.name, semantic: true },
    );
  }

  /** Gives a block to (owner, placement). */
  assign(b: Block, owner: string, p: Placement): void {
    b.owner = owner;
    b.placement = p;
    b.acquired = ++this.seq;
    const list = p.owned.get(owner);
    if (list === undefined) p.owned.set(owner, [b]);
    else list.push(b);
    this.touched.add(b);
  }

  /** Takes a block back from its owner and queues it for reuse. */
  unassign(b: Block): void {
    const p = b.placement;
    if (p !== null) {
      const list = p.owned.get(b.owner!)!;
      list.splice(list.indexOf(b), 1);
      if (list.length === 0) p.owned.delete(b.owner!);
    }
    b.owner = null;
    b.placement = null;
    b.released = ++this.seq;
    b.group.reusable.push(b);
    this.touched.add(b);
  }

  /**
   * The block of `net` that starts at address value `start`, created if needed. Blocks of a
   * group are contiguous: missing ones before it are created free (another replica may be
   * about to store them; its transaction or ours will then fail and be retried).
   */
  blockAt(net: Network, start: bigint): Block | undefined {
    const existing = net.blocks.get(net.blockIndex(start));
    if (existing !== undefined) return existing;
    const g = net.leafAt(start);
    if (g === undefined || (start - net.cidr.start) % net.blockSpan !== 0n) return undefined;
    for (;;) {
      const b = g.createBlock();
      if (b === undefined) return undefined;
      if (b.start === start) return b;
      g.reusable.unshift(b);
    }
  }

  /** Frees every address of a block and queues it for reuse. */
  reclaimBlock(b: Block): string[] {
    const names: string[] = [];
    const map = this.names(b.network.family);
    for (const [, n] of b.named()) {
      names.push(n);
      map.delete(n);
    }
    b.clearNames();
    b.pool.clear();
    b.revision++;
    b.network.revision++;
    this.unassign(b);
    return names;
  }
}
