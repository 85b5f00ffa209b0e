/**
 * The control plane: the IPAM engine kept in memory and in step with the store.
 *
 * Every mutation runs the engine first (synchronously, so it sees a consistent state), then
 * commits one transaction that writes the objects it changed and compares the revisions of
 * exactly the keys the decision depended on: the topology (a fence for updates), the host,
 * the network (blackouts) and the blocks. Allocations on different hosts touch different keys
 * and never conflict. When a transaction fails, the keys it compared are read back and their
 * stored state applied to the engine (undoing the uncommitted change), then the operation is
 * retried. Changes committed by other replicas arrive through a store watch and are applied
 * object by object.
 */
import { invalidInput, invalidTopology, isRomanaError, RomanaError } from '../../errors.ts';
import {
  Ipam,
  type AllocationRequest,
  type BlackoutView,
  type BlocksView,
  type HostDetailView,
  type NetworkView,
  type RemovedHost,
  type TopologyUpdateRequest,
  type TopologyUpdateResult,
} from '../../ipam/index.ts';
import { isCompactable, storeHealth, type Store, type StoreHealth } from '../../store/store.ts';
import { AddressQueue } from './address-queue.ts';
import { ServiceCore, sleep, unavailable } from './core.ts';
import { HostOps, type HostRequestBody } from './host-ops.ts';
import { blockKey, networkKey, policyKey, TOPOLOGY_KEY } from './keys.ts';
import { TxnSet, type Decision, type Unchanged } from './txn-runner.ts';
import { validatePolicyInput } from './policies.ts';
import { K8sOps, addressOf, podRefLink } from './pods.ts';
import type {
  Address,
  ManagedHostView,
  Namespace,
  PodInput,
  PodRef,
  Policy,
  RomanaService,
  TopologyPreviewState,
  Vip,
  VipInput,
  WatchEvent,
  WatchHandle,
  WatchKind,
} from './service.ts';
import { VipOps, vipsInsideNetworks } from './vips.ts';
import type { OperationTiming } from './operations.ts';
import { writeTopologyUpdate } from './topology-writer.ts';

export interface RomanaServiceOptions {
  store: Store;
  /** Applied when the store holds no topology yet. */
  initialTopology?: unknown;
  /** How long to keep retrying an unavailable store at start (ms, default 60,000). */
  startTimeoutMs?: number;
  /** Events kept for watch resumes. */
  eventCapacity?: number;
  /**
   * How often to drop the store's history older than `keepRevisions` (ms; 0: never).
   * etcd keeps every old value until compacted and stops accepting writes at its quota.
   * Default 300,000.
   */
  compactEveryMs?: number;
  /** Revisions of history kept by compaction (default 10,000). */
  keepRevisions?: number;
  log?: (level: 'info' | 'warn' | 'error', msg: string, extra?: Record<string, unknown>) => void;
  /** Heartbeat and staleness of multi-transaction operations on etcd (`operations.ts`). */
  operationTiming?: Partial<OperationTiming>;
}

/** Creates the service and loads its state from the store. */
export async function createRomanaService(opts: RomanaServiceOptions): Promise<RomanaService> {
  const svc = new StoreBackedService(opts);
  const deadline = Date.now() + (opts.startTimeoutMs ?? 60_000);
  for (let attempt = 1; ; attempt++) {
    try {
      await svc.start(opts.initialTopology);
      return svc;
    } catch (err) {
      // A store that is briefly unreachable (an etcd election, a member down) is waited for.
      if (!isRomanaError(err, 'Unavailable') || Date.now() > deadline) throw err;
      opts.log?.('warn', 'the store is unavailable; retrying', { attempt, err: err.message });
      await sleep(Math.min(2000, 100 * 2 ** attempt));
    }
  }
}

export class StoreBackedService implements RomanaService {
  readonly #core: ServiceCore;
  readonly #addresses: AddressQueue;
  readonly #hosts: HostOps;
  readonly #vips: VipOps;
  readonly #k8s: K8sOps;
  #ready = false;
  #compactTimer: NodeJS.Timeout | undefined;
  readonly #compactEveryMs: number;
  readonly #keepRevisions: number;

  constructor(opts: RomanaServiceOptions) {
    this.#compactEveryMs = opts.compactEveryMs ?? 300_000;
    this.#keepRevisions = opts.keepRevisions ?? 10_000;
    this.#core = new ServiceCore(
      opts.store,
      opts.log ?? (() => undefined),
      opts.eventCapacity ?? 100_000,
      opts.operationTiming,
    );
    this.#addresses = new AddressQueue(this.#core);
    this.#hosts = new HostOps(this.#core);
    this.#vips = new VipOps(this.#core);
    this.#k8s = new K8sOps(this.#core);
  }

  async start(initialTopology: unknown): Promise<void> {
    // Operations a crashed romanad left half done: settled now on an exclusive store, and by
    // the sweeper once abandoned on a shared one.
    await this.#core.recoverOperations().catch((err: unknown) => {
      // Serve anyway; the sweeper tries again (a fenced object stays refused meanwhile).
      if (isRomanaError(err, 'Unavailable')) throw err;
      this.#core.log('error', 'could not settle an abandoned operation', { err: String(err) });
    });
    await this.#core.reload();
    this.#core.startSweeper();
    if (this.#core.state.topology === null && initialTopology !== undefined) {
      await this.updateTopology(initialTopology);
      this.#core.log('info', 'applied the initial topology');
    }
    this.#ready = true;
    if (this.#compactEveryMs > 0 && isCompactable(this.#core.store)) {
      this.#compactTimer = setInterval(() => void this.compactHistory(), this.#compactEveryMs);
      this.#compactTimer.unref();
    }
  }

  /**
   * Drops store history older than the last `keepRevisions` revisions. Other replicas whose
   * store watch was behind that point reload; clients' watch streams are served from each
   * replica's own change log and are not affected. Returns the revision compacted to, if any.
   */
  async compactHistory(): Promise<number | undefined> {
    const store = this.#core.store;
    if (!isCompactable(store) || this.#core.closed) return undefined;
    try {
      const target = (await store.revision()) - this.#keepRevisions;
      if (target <= 0) return undefined;
      await store.compact(target);
      return target;
    } catch (err) {
      this.#core.log('warn', 'store compaction failed', { err: String(err) });
      return undefined;
    }
  }

  ready(): boolean {
    return this.#ready && !this.#core.closed;
  }

  /** The store's own health; and not writable while this replica must re-read its state. */
  storeHealth(): StoreHealth {
    if (this.#core.tainted) {
      return {
        writable: false,
        problem: 'romanad is re-reading its state after a datastore failure',
      };
    }
    return storeHealth(this.#core.store);
  }

  revision(): number {
    return this.#core.revision;
  }

  // ---- reads ------------------------------------------------------------------------------

  listNetworks(): NetworkView[] {
    return this.#core.ipam
      .listNetworks()
      .map((n) => ({ ...n, revision: this.#core.networkRevisions.get(n.id) ?? 0 }));
  }

  listBlocks(): BlocksView {
    return { revision: this.#core.blocksRevision, blocks: this.#core.ipam.listAllBlocks().blocks };
  }

  listNetworkBlocks(network: string): BlocksView {
    const v = this.#core.ipam.listNetworkBlocks(network);
    return { revision: this.#core.networkRevisions.get(network) ?? 0, blocks: v.blocks };
  }

  getAddress(nameOrIp: string): Address {
    return addressOf(this.#core, this.#core.ipam.getAddress(nameOrIp));
  }

  listAddresses(filter: { host?: string } = {}): Address[] {
    const all = this.#core.ipam.listAddresses();
    const some = filter.host === undefined ? all : all.filter((a) => a.host === filter.host);
    return this.#core.state.pods.size === 0 ? some : some.map((a) => addressOf(this.#core, a));
  }

  setAddressPod(name: string, pod: PodInput): Promise<Address> {
    return this.#k8s.setPod(name, pod);
  }

  clearAddressPod(name: string): Promise<Address> {
    return this.#k8s.clearPod(name);
  }

  listNamespaces(): Namespace[] {
    return this.#k8s.listNamespaces();
  }

  getNamespace(name: string): Namespace {
    return this.#k8s.getNamespace(name);
  }

  putNamespace(name: string, labels: Record<string, string>): Promise<Namespace> {
    return this.#k8s.putNamespace(name, labels);
  }

  deleteNamespace(name: string): Promise<void> {
    return this.#k8s.deleteNamespace(name);
  }

  listHosts(): { hosts: ManagedHostView[]; revision: number } {
    const hosts = this.#core.ipam.listHosts().hosts.map((h) => this.#core.managed(h));
    return { hosts, revision: this.#core.hostsRevision };
  }

  getHost(name: string): ManagedHostView<HostDetailView> {
    return this.#core.managed(this.#core.ipam.getHost({ name }));
  }

  getTopology(): TopologyUpdateRequest {
    return this.#core.ipam.getTopology();
  }

  listBlackouts(): BlackoutView[] {
    return this.#core.ipam.listBlackouts();
  }

  listPolicies(): Policy[] {
    return [...this.#core.state.policies.values()];
  }

  getPolicy(id: string): Policy {
    const p = this.#core.state.policies.get(id);
    if (p === undefined) {
      throw new RomanaError('NotFound', `No policy with id ${id}`, {
        resourceType: 'policy',
        resourceId: id,
      });
    }
    return p;
  }

  listVips(): Vip[] {
    return this.#vips.list();
  }

  getVip(name: string): Vip {
    return this.#vips.get(name);
  }

  putVip(name: string, input: VipInput): Promise<Vip> {
    return this.#vips.put(name, input);
  }

  deleteVip(name: string): Promise<void> {
    return this.#vips.delete(name);
  }

  // ---- addresses ----------------------------------------------------------------------------
  //
  // Allocations and releases are combined: the ones that arrive while a transaction is in
  // flight are decided together by the engine and committed in the next transaction. If that
  // transaction fails (another replica won a key), its jobs are retried one by one.

  allocate(req: AllocationRequest & { pod?: PodRef }): Promise<Address> {
    if (req.pod === undefined) return this.#addresses.enqueue({ kind: 'allocate', req });
    // Refused before the engine decides, like every other bad field.
    const { pod, ...rest } = req;
    return this.#addresses.enqueue({ kind: 'allocate', req: rest, pod: podRefLink(pod) });
  }

  release(nameOrIp: string): Promise<Address> {
    return this.#addresses.enqueue({ kind: 'release', nameOrIp });
  }

  // ---- hosts --------------------------------------------------------------------------------

  addHost(req: HostRequestBody): Promise<ManagedHostView<HostDetailView>> {
    return this.#hosts.addHost(req);
  }

  patchHost(
    name: string,
    patch: { tags?: unknown; k8s_info?: unknown },
  ): Promise<ManagedHostView<HostDetailView>> {
    return this.#hosts.patchHost(name, patch);
  }

  removeHost(name: string, opts: { force: boolean }): Promise<RemovedHost> {
    return this.#hosts.removeHost(name, opts);
  }

  // ---- blackouts ----------------------------------------------------------------------------

  async addBlackout(cidr: string): Promise<BlackoutView> {
    return this.#changeBlackouts(cidr, () => {
      this.#core.ipam.blackOut(cidr);
    });
  }

  async removeBlackout(cidr: string): Promise<void> {
    await this.#changeBlackouts(cidr, () => this.#core.ipam.unBlackOut(cidr));
  }

  async #changeBlackouts(cidr: string, change: () => void): Promise<BlackoutView> {
    this.#core.checkWritable();
    if (typeof cidr !== 'string' || cidr === '') throw invalidInput('cidr: required');
    return this.#core.rw.write(() =>
      this.#core.runner.run(`changing the blackouts of ${cidr}`, () =>
        decideBlackouts(this.#core, cidr, change),
      ),
    );
  }

  // ---- topology -----------------------------------------------------------------------------

  async updateTopology(doc: unknown): Promise<TopologyUpdateResult> {
    if (this.#core.closed) throw unavailable('romanad is shutting down');
    return this.#core.rw.write(async () => {
      const clash = vipsInsideNetworks(doc, this.#core.state.vips.values());
      if (clash.length > 0) throw invalidTopology(clash.join('\n'), { resourceId: 'topology' });
      const result = await writeTopologyUpdate(this.#core, doc);
      await this.#core.reload();
      return result;
    });
  }

  previewTopology(doc: unknown): TopologyPreviewState {
    if (this.#core.closed) throw unavailable('romanad is shutting down');
    const clash = vipsInsideNetworks(doc, this.#core.state.vips.values());
    if (clash.length > 0) throw invalidTopology(clash.join('\n'), { resourceId: 'topology' });
    // The engine's own update on a copy: the same checks and result as a real update.
    const snapshot = this.#core.ipam.toSnapshot();
    const after = new Ipam(snapshot);
    const result = after.updateTopology(doc);
    return { before: new Ipam(snapshot), after, result };
  }

  // ---- policies -----------------------------------------------------------------------------

  async putPolicy(input: unknown): Promise<Policy> {
    this.#core.checkWritable();
    const policy = validatePolicyInput(input);
    const core = this.#core;
    return core.rw.read(() =>
      core.runner.run(`writing policy ${policy.id}`, () => ({
        txn: new TxnSet().put(policyKey(policy.id), policy),
        committed: () => {
          core.state.policies.set(policy.id, policy);
          return {
            value: policy,
            events: [{ kind: 'policies', type: 'put', id: policy.id, value: policy }],
          };
        },
      })),
    );
  }

  async deletePolicy(id: string): Promise<void> {
    this.#core.checkWritable();
    this.getPolicy(id);
    const core = this.#core;
    await core.rw.read(() =>
      core.runner.run(`deleting policy ${id}`, () => ({
        txn: new TxnSet().delete(policyKey(id)),
        committed: () => {
          core.state.policies.delete(id);
          return {
            value: undefined,
            events: [{ kind: 'policies', type: 'delete', id, value: null }],
          };
        },
      })),
    );
  }

  // ---- watch --------------------------------------------------------------------------------

  watch(
    kinds: readonly WatchKind[],
    fromRevision: number | undefined,
    onEvent: (e: WatchEvent) => void,
    onError: (err: Error) => void,
  ): WatchHandle {
    void onError;
    if (fromRevision !== undefined)
      return this.#core.events.subscribe(kinds, fromRevision, onEvent);
    const rev = this.#core.revision;
    for (const e of this.#core.currentState(kinds, rev)) onEvent(e);
    return this.#core.events.subscribe(kinds, rev + 1, onEvent);
  }

  async close(): Promise<void> {
    if (this.#core.closed) return;
    this.#core.closed = true;
    clearInterval(this.#compactTimer);
    this.#core.stopSweeper();
    this.#core.watch?.close();
    this.#core.watch = null;
  }
}

/**
 * Runs a blackout change in the engine: rewrites the network's blackouts, compared with the
 * topology fence, the network and its blocks holding addresses (a blackout must not land on
 * an address allocated meanwhile). On a conflict the engine is reloaded from the store.
 */
function decideBlackouts(
  core: ServiceCore,
  cidr: string,
  change: () => void,
): Decision<BlackoutView> | Unchanged<BlackoutView> {
  const before = new Map(core.ipam.listNetworks().map((n) => [n.id, core.ipam.blackoutsOf(n.id)]));
  change();
  const network = core.ipam
    .listNetworks()
    .map((n) => n.id)
    .find((id) => JSON.stringify(before.get(id)) !== JSON.stringify(core.ipam.blackoutsOf(id)));
  const view = { network: network ?? '', cidr };
  if (network === undefined) return { unchanged: view };
  const g = core.generation();
  const key = networkKey(g, network);
  const txn = new TxnSet().read(core, TOPOLOGY_KEY).read(core, key);
  const blocks = core.ipam
    .listNetworkBlocks(network)
    .blocks.filter((b) => b.allocated_ip_count > 0)
    .slice(0, 100);
  for (const b of blocks) txn.read(core, blockKey(g, network, b.cidr));
  txn.put(key, { blackouts: core.ipam.blackoutsOf(network) });
  return {
    txn,
    undo: () => core.ipam.applyBlackouts(network, before.get(network)!),
    readBack: [],
    // The caller holds the write lock: nothing else is between decided and committed.
    explain: () => core.reload(),
    committed: (rev) => {
      core.networkRevisions.set(network, rev);
      return { value: view };
    },
  };
}
