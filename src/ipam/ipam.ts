/**
 * The IPAM engine: a pure, deterministic, in-memory model of networks, prefix groups, hosts,
 * blocks and addresses. No I/O and no clocks: a store persists its snapshot records.
 *
 * @example
 * const ipam = new Ipam();
 * ipam.updateTopology({ networks: [{ name: 'net1', cidr: '10.0.0.0/16' }],
 *   topologies: [{ networks: ['net1'], map: [{ name: 'rack-1' }, { name: 'rack-2' }] }] });
 * ipam.addHost({ name: 'h1', ip: '192.168.0.1' });
 * ipam.allocate({ name: 'pod-a', host: 'h1', tenant: 't', segment: 's' }).ip // '10.0.0.0'
 */
import { allocate, locate, release, type AllocationRequest } from './alloc.ts';
import { blackOut, listBlackouts, unBlackOut, type BlackoutView } from './blackouts.ts';
import {
  addHost,
  removeHost,
  updateHostK8sInfo,
  updateHostTags,
  type HostRef,
  type HostRequest,
  type RemovedHost,
} from './hosts.ts';
import {
  applyBlackouts,
  applyBlock,
  applyHost,
  blockState,
  findBlock,
  type BlockChange,
  type BlockHandle,
  type BlockState,
} from './replica.ts';
import {
  fromSnapshot,
  hostRecord,
  toSnapshot,
  type HostRecord,
  type IpamSnapshot,
} from './snapshot.ts';
import type { Block } from './model.ts';
import { State, type Revisions } from './state.ts';
import type { TopologyUpdateRequest } from './topology.ts';
import { buildUpdatedState, type TopologyUpdateResult } from './update.ts';
import * as views from './views.ts';

export class Ipam {
  #s: State;

  constructor(snapshot?: IpamSnapshot) {
    this.#s = snapshot === undefined ? new State(null) : fromSnapshot(snapshot);
  }

  /** Current revisions (copies). */
  get revisions(): Revisions {
    return { ...this.#s.revisions };
  }

  /** True once a topology has been applied. */
  get hasTopology(): boolean {
    return this.#s.networks.length > 0;
  }

  /**
   * Replaces the topology, keeping every allocation at its address; all-or-nothing.
   * Throws an `InvalidInput` (semantic) error that lists every problem of the document.
   */
  updateTopology(doc: unknown): TopologyUpdateResult {
    const { state, result } = buildUpdatedState(this.#s, doc);
    this.#s = state;
    return result;
  }

  /** The topology as a document that `updateTopology` accepts back. */
  getTopology(): TopologyUpdateRequest {
    return views.getTopology(this.#s);
  }

  /** Registers a host in the smallest eligible group of every network that accepts it. */
  addHost(r: HostRequest): views.HostDetailView {
    return views.hostDetail(addHost(this.#s, r));
  }

  /** Removes a host, releasing its blocks and the address names in them. */
  removeHost(ref: HostRef): RemovedHost {
    return removeHost(this.#s, ref);
  }

  /** Replaces a host's tags; returns false when they were already equal. */
  updateHostTags(ref: HostRef, tags: unknown): boolean {
    return updateHostTags(this.#s, ref, tags);
  }

  /** Replaces a host's Kubernetes info; returns false when it was already equal. */
  updateHostK8sInfo(ref: HostRef, info: unknown): boolean {
    return updateHostK8sInfo(this.#s, ref, info);
  }

  getHost(ref: HostRef): views.HostDetailView {
    return views.hostDetail(this.#s.findHost(ref));
  }

  /** One host's view by name, without building every host's (undefined when not placed). */
  hostView(name: string): views.HostView | undefined {
    const h = this.#s.hosts.get(name);
    return h === undefined ? undefined : views.hostView(h);
  }

  listHosts(): { hosts: views.HostView[]; revision: number } {
    return views.listHosts(this.#s);
  }

  /**
   * Allocates the next address for a name on a host (reference §2.4 order), one in each family
   * of the tenant's networks: both or neither.
   */
  allocate(r: AllocationRequest): views.AddressView {
    return views.addressView(allocate(this.#s, r));
  }

  /** Releases a name's addresses (every family's), given by name or by one of its IPs. */
  release(nameOrIp: string): views.AddressView {
    const locs = locate(this.#s, nameOrIp);
    const view = views.addressView(locs);
    for (const loc of locs) release(this.#s, loc);
    return view;
  }

  getAddress(nameOrIp: string): views.AddressView {
    return views.addressView(locate(this.#s, nameOrIp));
  }

  listAddresses(): views.AddressView[] {
    return views.listAddresses(this.#s);
  }

  /** Reserves a range; returns false when an existing blackout already covers it. */
  blackOut(cidr: string): boolean {
    return blackOut(this.#s, cidr);
  }

  unBlackOut(cidr: string): void {
    unBlackOut(this.#s, cidr);
  }

  listBlackouts(): BlackoutView[] {
    return listBlackouts(this.#s);
  }

  listNetworks(): views.NetworkView[] {
    return views.listNetworks(this.#s);
  }

  listAllBlocks(): views.BlocksView {
    return views.listAllBlocks(this.#s);
  }

  listNetworkBlocks(network: string): views.BlocksView {
    return views.listNetworkBlocks(this.#s, network);
  }

  /**
   * Blocks changed since the last call, with their states: what a store must write to
   * persist the operations since then. Clears the list.
   */
  takeTouchedBlocks(): BlockChange[] {
    const out: BlockChange[] = [];
    for (const b of this.#s.touched) {
      out.push({ network: b.network.name, cidr: b.cidr, state: blockState(b) });
    }
    this.#s.touched.clear();
    return out;
  }

  /** How many blocks `takeTouchedBlocks` would give now. */
  touchedBlockCount(): number {
    return this.#s.touched.size;
  }

  /**
   * `takeTouchedBlocks`, with the blocks themselves in the same order: handles that
   * `commitBlocks` stamps without looking each block up by its CIDR again.
   */
  takeTouchedBlockHandles(): { changes: BlockChange[]; handles: BlockHandle[] } {
    const handles: Block[] = [...this.#s.touched];
    return { changes: this.takeTouchedBlocks(), handles };
  }

  /**
   * Sets the revision of blocks committed at `revision` (as `setBlockRevision`); their views.
   * The handles come from `takeTouchedBlockHandles` of this state (no topology update since).
   */
  commitBlocks(handles: readonly BlockHandle[], revision: number): views.BlockView[] {
    return handles.map((h) => {
      const b = h as Block;
      b.revision = revision;
      return views.blockView(b);
    });
  }

  /** The stored form of a host (tags, group per network). */
  hostRecord(name: string): HostRecord {
    return hostRecord(this.#s.findHost({ name }));
  }

  /** A network's blackouts, as CIDR strings. */
  blackoutsOf(network: string): string[] {
    return (this.#s.byName.get(network)?.blackouts ?? []).map((b) => b.cidr.toString());
  }

  /** One block's view; NotFound when the network has no such block. */
  getBlock(network: string, cidr: string): views.BlockView {
    return views.blockView(findBlock(this.#s, network, cidr));
  }

  /** Sets a block's revision (a store keeps its own: the block key's modification revision). */
  setBlockRevision(network: string, cidr: string, revision: number): void {
    findBlock(this.#s, network, cidr).revision = revision;
  }

  /** Makes a block what the store holds (`null`: a free block the store does not hold). */
  applyBlock(network: string, cidr: string, state: BlockState | null): void {
    applyBlock(this.#s, network, cidr, state);
  }

  /** Sets (or, with `null`, removes) a host as the store holds it. */
  applyHost(name: string, record: HostRecord | null): void {
    applyHost(this.#s, name, record);
  }

  /** Replaces a network's blackouts with what the store holds. */
  applyBlackouts(network: string, cidrs: string[]): void {
    applyBlackouts(this.#s, network, cidrs);
  }

  /** The whole state as plain JSON records. */
  toSnapshot(): IpamSnapshot {
    return toSnapshot(this.#s);
  }
}
