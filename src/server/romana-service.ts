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
import { invalidInput, isRomanaError, RomanaError } from '../errors.ts';
import {
  Ipam,
  type AddressView,
  type AllocationRequest,
  type BlackoutView,
  type BlockChange,
  type BlocksView,
  type HostDetailView,
  type HostRecord,
  type HostView,
  type NetworkView,
  type RemovedHost,
  type TopologyUpdateRequest,
  type TopologyUpdateResult,
} from '../ipam/index.ts';
import { conflict, withRetry } from '../store/retry.ts';
import type {
  Compare,
  KeyValue,
  Op,
  Store,
  Watch,
  WatchEvent as StoreEvent,
} from '../store/store.ts';
import { EventLog } from './events.ts';
import {
  addressKey,
  blockKey,
  hostIpKey,
  hostKey,
  networkKey,
  parseKey,
  placementKey,
  policyKey,
  TOPOLOGY_KEY,
  type BlockState,
  type StoredHost,
  type StoredPlacement,
  type TopologyRecord,
} from './keys.ts';
import { KeyedMutex, RwLock } from './locks.ts';
import { loadState, type LoadedState } from './load.ts';
import { validatePolicyInput } from './policies.ts';
import type { Policy, RomanaService, WatchEvent, WatchHandle, WatchKind } from './service.ts';
import { recoverStaleUpdate, writeTopologyUpdate } from './topology-writer.ts';

export interface RomanaServiceOptions {
  store: Store;
  /** Applied when the store holds no topology yet. */
  initialTopology?: unknown;
  /** How long to keep retrying an unavailable store at start (ms, default 60,000). */
  startTimeoutMs?: number;
  /** Events kept for watch resumes. */
  eventCapacity?: number;
  log?: (level: 'info' | 'warn' | 'error', msg: string, extra?: Record<string, unknown>) => void;
}

const RETRY = { attempts: 30, baseDelayMs: 1, maxDelayMs: 40 };
const RETRY_ATTEMPTS = 30;
/** Address operations per transaction: etcd allows 128 compares and 128 writes. */
const BATCH = 24;
/** Combined transactions in flight at once. */
const MAX_IN_FLIGHT = 4;

type AddressOp =
  { kind: 'allocate'; req: AllocationRequest } | { kind: 'release'; nameOrIp: string };

interface Job {
  op: AddressOp;
  resolve(v: AddressView): void;
  reject(err: unknown): void;
  /** After a failed combined commit: retried alone. */
  solo: boolean;
  attempts: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

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
  readonly #store: Store;
  readonly #log: NonNullable<RomanaServiceOptions['log']>;
  #ipam = new Ipam();
  #state!: LoadedState;
  #events!: EventLog;
  #watch: Watch | null = null;
  #ready = false;
  #closed = false;
  #reloading: Promise<void> | null = null;
  #reloadScheduled = false;
  /** The store moved to another generation; events are ignored until the reload. */
  #stale = false;
  /** Last revision seen per key; negative: deleted at that revision. */
  #revs = new Map<string, number>();
  #revision = 0;
  #blocksRevision = 0;
  #hostsRevision = 0;
  #networkRevisions = new Map<string, number>();
  readonly #rw = new RwLock();
  readonly #hostLocks = new KeyedMutex();
  readonly #eventCapacity: number;
  #queue: Job[] = [];
  #inFlight = 0;
  #busyHosts = new Set<string>();

  constructor(opts: RomanaServiceOptions) {
    this.#store = opts.store;
    this.#log = opts.log ?? (() => undefined);
    this.#eventCapacity = opts.eventCapacity ?? 100_000;
  }

  async start(initialTopology: unknown): Promise<void> {
    if (await recoverStaleUpdate(this.#store)) {
      this.#log('warn', 'lifted the fence of a topology update that a crashed romanad left');
    }
    await this.#reload();
    if (this.#state.topology === null && initialTopology !== undefined) {
      await this.updateTopology(initialTopology);
      this.#log('info', 'applied the initial topology');
    }
    this.#ready = true;
  }

  ready(): boolean {
    return this.#ready && !this.#closed;
  }

  revision(): number {
    return this.#revision;
  }

  // ---- reads ------------------------------------------------------------------------------

  listNetworks(): NetworkView[] {
    return this.#ipam
      .listNetworks()
      .map((n) => ({ ...n, revision: this.#networkRevisions.get(n.id) ?? 0 }));
  }

  listBlocks(): BlocksView {
    return { revision: this.#blocksRevision, blocks: this.#ipam.listAllBlocks().blocks };
  }

  listNetworkBlocks(network: string): BlocksView {
    const v = this.#ipam.listNetworkBlocks(network);
    return { revision: this.#networkRevisions.get(network) ?? 0, blocks: v.blocks };
  }

  getAddress(nameOrIp: string): AddressView {
    return this.#ipam.getAddress(nameOrIp);
  }

  listAddresses(filter: { host?: string } = {}): AddressView[] {
    const all = this.#ipam.listAddresses();
    return filter.host === undefined ? all : all.filter((a) => a.host === filter.host);
  }

  listHosts(): { hosts: HostView[]; revision: number } {
    return { hosts: this.#ipam.listHosts().hosts, revision: this.#hostsRevision };
  }

  getHost(name: string): HostDetailView {
    return this.#ipam.getHost({ name });
  }

  getTopology(): TopologyUpdateRequest {
    return this.#ipam.getTopology();
  }

  listBlackouts(): BlackoutView[] {
    return this.#ipam.listBlackouts();
  }

  listPolicies(): Policy[] {
    return [...this.#state.policies.values()];
  }

  getPolicy(id: string): Policy {
    const p = this.#state.policies.get(id);
    if (p === undefined) {
      throw new RomanaError('NotFound', `No policy with id ${id}`, {
        resourceType: 'policy',
        resourceId: id,
      });
    }
    return p;
  }

  // ---- addresses ----------------------------------------------------------------------------
  //
  // Allocations and releases are combined: the ones that arrive while a transaction is in
  // flight are decided together by the engine and committed in the next transaction. If that
  // transaction fails (another replica won a key), its jobs are retried one by one.

  allocate(req: AllocationRequest): Promise<AddressView> {
    return this.#enqueue({ kind: 'allocate', req });
  }

  release(nameOrIp: string): Promise<AddressView> {
    return this.#enqueue({ kind: 'release', nameOrIp });
  }

  #enqueue(op: AddressOp): Promise<AddressView> {
    this.#checkWritable();
    return new Promise<AddressView>((resolve, reject) => {
      this.#queue.push({ op, resolve, reject, solo: false, attempts: 0 });
      this.#pump();
    });
  }

  /**
   * Starts batches while fewer than `MAX_IN_FLIGHT` are in flight. A batch never holds a host
   * that an in-flight batch holds: batches then write disjoint keys and do not conflict.
   */
  #pump(): void {
    while (this.#inFlight < MAX_IN_FLIGHT && this.#queue.length > 0) {
      const batch: Job[] = [];
      const hosts = new Set<string>();
      for (let i = 0; i < this.#queue.length && batch.length < BATCH;) {
        const job = this.#queue[i]!;
        let host: string;
        try {
          host = this.#hostOf(job.op);
        } catch (err) {
          this.#queue.splice(i, 1);
          job.reject(err);
          continue;
        }
        if ((this.#busyHosts.has(host) && !hosts.has(host)) || (job.solo && batch.length > 0)) {
          i++;
          continue;
        }
        this.#queue.splice(i, 1);
        batch.push(job);
        hosts.add(host);
        this.#busyHosts.add(host);
        if (job.solo) break;
      }
      if (batch.length === 0) return;
      this.#inFlight++;
      const solo = batch[0]!.solo;
      void (async () => {
        if (solo) await sleep(Math.random() * Math.min(40, 2 ** batch[0]!.attempts));
        await this.#rw.read(() => this.#runBatch(batch));
      })()
        .catch((err: unknown) => {
          for (const j of batch) j.reject(err);
        })
        .finally(() => {
          for (const h of hosts) this.#busyHosts.delete(h);
          this.#inFlight--;
          this.#pump();
        });
    }
  }

  #hostOf(op: AddressOp): string {
    if (op.kind === 'allocate') return typeof op.req.host === 'string' ? op.req.host : '';
    return this.#ipam.getAddress(op.nameOrIp).host;
  }

  async #runBatch(batch: Job[]): Promise<void> {
    try {
      this.#checkWritable();
    } catch (err) {
      for (const j of batch) j.reject(err);
      return;
    }
    const g = this.#generation();
    const compares = new Map<string, Compare>([[TOPOLOGY_KEY, this.#cmp(TOPOLOGY_KEY)]]);
    const ops: Op[] = [];
    const done: Array<{ job: Job; view: AddressView }> = [];
    for (const job of batch) {
      try {
        const view = this.#decide(job.op, g, compares, ops);
        done.push({ job, view });
      } catch (err) {
        job.reject(err);
      }
    }
    const changes = this.#ipam.takeTouchedBlocks();
    if (done.length === 0) return;
    for (const c of changes) {
      const key = blockKey(g, c.network, c.cidr);
      compares.set(key, this.#cmp(key));
    }
    const undoKeys = [...changes.map((c) => blockKey(g, c.network, c.cidr)), TOPOLOGY_KEY];
    let rev: number | null;
    try {
      rev = await this.#commit([...compares.values()], [...this.#blockOps(g, changes), ...ops]);
    } catch (err) {
      await this.#refreshKeys(undoKeys, true).catch(() => this.#scheduleReload());
      for (const { job } of done) job.reject(err);
      return;
    }
    if (rev !== null) {
      this.#blocksCommitted(changes, rev);
      for (const { job, view } of done) job.resolve(view);
      return;
    }
    await this.#refreshKeys(undoKeys, true);
    for (const { job, view } of done.reverse()) {
      if (job.op.kind === 'allocate') {
        const taken = await this.#store.get(addressKey(view.name));
        if (taken !== undefined) {
          const ip = (JSON.parse(taken.value) as { ip: string }).ip;
          job.reject(
            new RomanaError(
              'AlreadyExists',
              `Address with name ${view.name} already allocated: ${ip}`,
              {
                resourceType: 'address',
                resourceId: view.name,
              },
            ),
          );
          continue;
        }
      }
      if (++job.attempts >= RETRY_ATTEMPTS) {
        job.reject(
          conflict(
            `gave up after ${RETRY_ATTEMPTS} attempts: ${view.name} kept racing other writers`,
          ),
        );
        continue;
      }
      job.solo = true;
      this.#queue.unshift(job);
      // #pump runs when this batch's slot is freed.
    }
  }

  /** Runs one operation in the engine and adds its compares and writes. */
  #decide(op: AddressOp, g: number, compares: Map<string, Compare>, ops: Op[]): AddressView {
    if (op.kind === 'release') {
      const view = this.#ipam.release(op.nameOrIp);
      ops.push({ type: 'delete', key: addressKey(view.name) });
      return view;
    }
    const host = op.req.host;
    if (typeof host === 'string' && this.#state.hosts.get(host)?.removing) {
      throw new RomanaError('Conflict', `Host ${host} is being removed`, {
        resourceType: 'host',
        resourceId: host,
      });
    }
    const view = this.#ipam.allocate(op.req);
    const aKey = addressKey(view.name);
    for (const key of [hostKey(view.host), networkKey(g, view.network)]) {
      if (!compares.has(key)) compares.set(key, this.#cmp(key));
    }
    compares.set(aKey, { key: aKey, modRevision: 0 });
    ops.push({
      type: 'put',
      key: aKey,
      value: JSON.stringify({ ip: view.ip, host: view.host, network: view.network }),
    });
    return view;
  }

  // ---- hosts --------------------------------------------------------------------------------

  async addHost(req: {
    name?: unknown;
    ip?: unknown;
    tags?: unknown;
    agent_port?: unknown;
    k8s_info?: unknown;
  }): Promise<HostDetailView> {
    this.#checkWritable();
    const name = typeof req.name === 'string' ? req.name : '';
    return this.#rw.read(() =>
      this.#hostLocks.run(name, () =>
        withRetry(async () => {
          this.#checkWritable();
          const detail = this.#ipam.addHost(req);
          const rec = this.#ipam.hostRecord(detail.name);
          const g = this.#generation();
          const ops: Op[] = [
            { type: 'put', key: hostKey(rec.name), value: JSON.stringify(storedHost(rec)) },
            { type: 'put', key: hostIpKey(rec.ip), value: rec.name },
            {
              type: 'put',
              key: placementKey(g, rec.name),
              value: JSON.stringify({ groups: rec.groups } satisfies StoredPlacement),
            },
          ];
          const compares = [
            this.#cmp(TOPOLOGY_KEY),
            { key: hostKey(rec.name), modRevision: 0 },
            { key: hostIpKey(rec.ip), modRevision: 0 },
          ];
          const rev = await this.#commit(compares, ops).catch((err: unknown) => {
            this.#ipam.applyHost(rec.name, null);
            throw err;
          });
          if (rev === null) {
            this.#ipam.applyHost(rec.name, null);
            await this.#refreshKeys([hostKey(rec.name), TOPOLOGY_KEY]);
            const clash = (await this.#store.get(hostIpKey(rec.ip)))?.value;
            if (this.#state.hosts.has(rec.name) || clash !== undefined) {
              const key = this.#state.hosts.has(rec.name) ? `name:${rec.name}` : `IP:${rec.ip}`;
              throw new RomanaError(
                'AlreadyExists',
                `A 'host' object identified by map[${key}] already exists`,
                { resourceType: 'host', resourceId: rec.name },
              );
            }
            throw conflict(`adding host ${rec.name} raced another writer`);
          }
          this.#state.hosts.set(rec.name, storedHost(rec));
          this.#state.placements.set(rec.name, { groups: rec.groups });
          this.#hostsCommitted([rec.name], rev);
          return this.#ipam.getHost({ name: rec.name });
        }, RETRY),
      ),
    );
  }

  async patchHost(
    name: string,
    patch: { tags?: unknown; k8s_info?: unknown },
  ): Promise<HostDetailView> {
    this.#checkWritable();
    return this.#rw.read(() =>
      this.#hostLocks.run(name, () =>
        withRetry(async () => {
          this.#checkWritable();
          const before = this.#ipam.hostRecord(name);
          if ('tags' in patch) this.#ipam.updateHostTags({ name }, patch.tags);
          if ('k8s_info' in patch) this.#ipam.updateHostK8sInfo({ name }, patch.k8s_info);
          const rec = this.#ipam.hostRecord(name);
          const stored = { ...storedHost(rec), removing: this.#state.hosts.get(name)?.removing };
          const rev = await this.#commit(
            [this.#cmp(TOPOLOGY_KEY), this.#cmp(hostKey(name))],
            [{ type: 'put', key: hostKey(name), value: JSON.stringify(stored) }],
          ).catch((err: unknown) => {
            this.#ipam.applyHost(name, before);
            throw err;
          });
          if (rev === null) {
            this.#ipam.applyHost(name, before);
            await this.#refreshKeys([hostKey(name)]);
            throw conflict(`updating host ${name} raced another writer`);
          }
          this.#state.hosts.set(name, stored);
          this.#hostsCommitted([name], rev);
          return this.#ipam.getHost({ name });
        }, RETRY),
      ),
    );
  }

  async removeHost(name: string, opts: { force: boolean }): Promise<RemovedHost> {
    this.#checkWritable();
    return this.#rw.write(async () => {
      this.#checkWritable();
      const detail = this.#ipam.getHost({ name });
      if (detail.address_count > 0 && !opts.force) {
        throw new RomanaError(
          'Conflict',
          `Host ${name} still holds ${detail.address_count} address(es); release them first or remove it with force=true`,
          { resourceType: 'host', resourceId: name },
        );
      }
      try {
        return await this.#removeHostSteps(name);
      } catch (err) {
        await this.#reload();
        throw err;
      }
    });
  }

  /** Fences the host, frees its blocks one transaction each, then deletes the host. */
  async #removeHostSteps(name: string): Promise<RemovedHost> {
    const g = this.#generation();
    const stored = { ...this.#state.hosts.get(name)!, removing: true };
    const fence = await this.#commit(
      [this.#cmp(TOPOLOGY_KEY), this.#cmp(hostKey(name))],
      [{ type: 'put', key: hostKey(name), value: JSON.stringify(stored) }],
    );
    if (fence === null) throw conflict(`host ${name} changed while removing it; retry`);
    this.#state.hosts.set(name, stored);
    const byBlock = new Map<string, string[]>();
    for (const a of this.listAddresses({ host: name })) {
      const k = `${a.network}\n${a.block}`;
      byBlock.set(k, [...(byBlock.get(k) ?? []), a.name]);
    }
    const ip = this.#ipam.hostRecord(name).ip;
    const removed = this.#ipam.removeHost({ name });
    const changes = this.#ipam.takeTouchedBlocks();
    for (const c of changes) {
      const names = byBlock.get(`${c.network}\n${c.cidr}`) ?? [];
      const ops: Op[] = [
        ...this.#blockOps(g, [c]),
        ...names.map((n): Op => ({ type: 'delete', key: addressKey(n) })),
      ];
      const compares = [this.#cmp(TOPOLOGY_KEY), this.#cmp(blockKey(g, c.network, c.cidr))];
      const rev = await this.#commitChunked(compares, ops);
      if (rev === null) throw conflict(`a block of host ${name} changed while removing it; retry`);
      this.#blocksCommitted([c], rev);
    }
    const rev = await this.#commit(
      [this.#cmp(hostKey(name))],
      [
        { type: 'delete', key: hostKey(name) },
        { type: 'delete', key: hostIpKey(ip) },
        { type: 'delete', key: placementKey(g, name) },
      ],
    );
    if (rev === null) throw conflict(`host ${name} changed while removing it; retry`);
    this.#state.hosts.delete(name);
    this.#state.placements.delete(name);
    this.#hostsCommitted([name], rev, true);
    return removed;
  }

  // ---- blackouts ----------------------------------------------------------------------------

  async addBlackout(cidr: string): Promise<BlackoutView> {
    return this.#changeBlackouts(cidr, () => {
      this.#ipam.blackOut(cidr);
    });
  }

  async removeBlackout(cidr: string): Promise<void> {
    await this.#changeBlackouts(cidr, () => this.#ipam.unBlackOut(cidr));
  }

  async #changeBlackouts(cidr: string, change: () => void): Promise<BlackoutView> {
    this.#checkWritable();
    if (typeof cidr !== 'string' || cidr === '') throw invalidInput('cidr: required');
    return this.#rw.write(() =>
      withRetry(async () => {
        const before = new Map(
          this.#ipam.listNetworks().map((n) => [n.id, this.#ipam.blackoutsOf(n.id)]),
        );
        change();
        const network = this.#ipam
          .listNetworks()
          .map((n) => n.id)
          .find(
            (id) => JSON.stringify(before.get(id)) !== JSON.stringify(this.#ipam.blackoutsOf(id)),
          );
        const view = { network: network ?? '', cidr };
        if (network === undefined) return view;
        const g = this.#generation();
        const key = networkKey(g, network);
        const blackouts = this.#ipam.blackoutsOf(network);
        const blocks = this.#ipam
          .listNetworkBlocks(network)
          .blocks.filter((b) => b.allocated_ip_count > 0)
          .map((b) => this.#cmp(blockKey(g, network, b.cidr)));
        const rev = await this.#commit(
          [this.#cmp(TOPOLOGY_KEY), this.#cmp(key), ...blocks.slice(0, 100)],
          [{ type: 'put', key, value: JSON.stringify({ blackouts }) }],
        ).catch((err: unknown) => {
          this.#ipam.applyBlackouts(network, before.get(network)!);
          throw err;
        });
        if (rev === null) {
          this.#ipam.applyBlackouts(network, before.get(network)!);
          await this.#reload();
          throw conflict(`network ${network} changed while changing its blackouts`);
        }
        this.#networkRevisions.set(network, rev);
        this.#revision = Math.max(this.#revision, rev);
        return view;
      }, RETRY),
    );
  }

  // ---- topology -----------------------------------------------------------------------------

  async updateTopology(doc: unknown): Promise<TopologyUpdateResult> {
    if (this.#closed) throw unavailable('romanad is shutting down');
    return this.#rw.write(async () => {
      const result = await writeTopologyUpdate({
        store: this.#store,
        current: this.#state.topology,
        currentRevision: this.#revs.get(TOPOLOGY_KEY) ?? 0,
        doc,
        // The update is worked out on a copy: this replica keeps serving reads from the
        // current state until the switch.
        buildFrom: async () => {
          await this.#reload();
          return new Ipam(this.#ipam.toSnapshot());
        },
      });
      await this.#reload();
      return result;
    });
  }

  // ---- policies -----------------------------------------------------------------------------

  async putPolicy(input: unknown): Promise<Policy> {
    this.#checkWritable();
    const policy = validatePolicyInput(input);
    const key = policyKey(policy.id);
    const r = await this.#commit([], [{ type: 'put', key, value: JSON.stringify(policy) }]);
    this.#state.policies.set(policy.id, policy);
    this.#publish(r!, [{ kind: 'policies', type: 'put', id: policy.id, value: policy }]);
    return policy;
  }

  async deletePolicy(id: string): Promise<void> {
    this.#checkWritable();
    this.getPolicy(id);
    const r = await this.#commit([], [{ type: 'delete', key: policyKey(id) }]);
    this.#state.policies.delete(id);
    this.#publish(r!, [{ kind: 'policies', type: 'delete', id, value: null }]);
  }

  // ---- watch --------------------------------------------------------------------------------

  watch(
    kinds: readonly WatchKind[],
    fromRevision: number | undefined,
    onEvent: (e: WatchEvent) => void,
    onError: (err: Error) => void,
  ): WatchHandle {
    void onError;
    if (fromRevision !== undefined) return this.#events.subscribe(kinds, fromRevision, onEvent);
    const rev = this.#revision;
    for (const e of this.#currentState(kinds, rev)) onEvent(e);
    return this.#events.subscribe(kinds, rev + 1, onEvent);
  }

  #currentState(kinds: readonly WatchKind[], revision: number): WatchEvent[] {
    const out: WatchEvent[] = [];
    const want = new Set(kinds);
    if (want.has('topology') && this.#state.topology !== null) {
      out.push({
        revision,
        kind: 'topology',
        type: 'put',
        id: 'topology',
        value: this.getTopology(),
      });
    }
    if (want.has('hosts')) {
      for (const h of this.#ipam.listHosts().hosts) {
        out.push({ revision, kind: 'hosts', type: 'put', id: h.name, value: h });
      }
    }
    if (want.has('blocks')) {
      for (const b of this.#ipam.listAllBlocks().blocks) {
        out.push({ revision, kind: 'blocks', type: 'put', id: b.cidr, value: b });
      }
    }
    if (want.has('policies')) {
      for (const p of this.#state.policies.values()) {
        out.push({ revision, kind: 'policies', type: 'put', id: p.id, value: p });
      }
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#watch?.close();
    this.#watch = null;
  }

  // ---- internals ----------------------------------------------------------------------------

  #generation(): number {
    return this.#state.topology?.generation ?? 0;
  }

  #checkWritable(): void {
    if (this.#closed) throw unavailable('romanad is shutting down');
    if (this.#state.topology?.updating !== undefined) {
      throw unavailable('a topology update is in progress; retry in a moment');
    }
  }

  #cmp(key: string): Compare {
    const r = this.#revs.get(key) ?? 0;
    return { key, modRevision: r > 0 ? r : 0 };
  }

  #blockOps(g: number, changes: BlockChange[]): Op[] {
    return changes.map((c) => ({
      type: 'put',
      key: blockKey(g, c.network, c.cidr),
      value: JSON.stringify(c.state satisfies BlockState),
    }));
  }

  /** Commits; `null` when a compare failed. Store failures become `Unavailable`. */
  async #commit(compares: Compare[], ops: Op[]): Promise<number | null> {
    let r;
    try {
      r = await this.#store.txn(compares, ops);
    } catch (err) {
      if (isRomanaError(err)) throw err;
      throw unavailable(`the datastore failed: ${(err as Error).message}`, err);
    }
    if (!r.succeeded) return null;
    for (const op of ops) this.#revs.set(op.key, op.type === 'put' ? r.revision : -r.revision);
    this.#revision = Math.max(this.#revision, r.revision);
    return r.revision;
  }

  /** Splits a long list of ops into transactions of at most 100 (etcd allows 128). */
  async #commitChunked(compares: Compare[], ops: Op[]): Promise<number | null> {
    let rev = await this.#commit(compares, ops.slice(0, 100));
    for (let i = 100; rev !== null && i < ops.length; i += 100) {
      rev = await this.#commit([], ops.slice(i, i + 100));
    }
    return rev;
  }

  /** Reads keys back from the store and applies them (`force`: even at the same revision). */
  async #refreshKeys(keys: string[], force = false): Promise<void> {
    const kvs = await Promise.all(keys.map((k) => this.#store.get(k)));
    const events: StoreEvent[] = [];
    keys.forEach((key, i) => {
      const kv: KeyValue | undefined = kvs[i];
      const known = Math.abs(this.#revs.get(key) ?? 0);
      const rev = kv?.modRevision ?? known;
      if (rev < known || (rev === known && !force)) return;
      events.push(
        kv === undefined
          ? { type: 'delete', key, value: null, modRevision: rev }
          : { type: 'put', key, value: kv.value, modRevision: rev },
      );
    });
    this.#applyStoreEvents(events, true);
  }

  #blocksCommitted(changes: BlockChange[], rev: number): void {
    const events: WatchEvent[] = [];
    for (const c of changes) {
      this.#ipam.setBlockRevision(c.network, c.cidr, rev);
      this.#networkRevisions.set(c.network, rev);
      events.push({
        revision: rev,
        kind: 'blocks',
        type: 'put',
        id: c.cidr,
        value: this.#ipam.getBlock(c.network, c.cidr),
      });
    }
    this.#blocksRevision = Math.max(this.#blocksRevision, rev);
    this.#publish(rev, events);
  }

  #hostsCommitted(names: string[], rev: number, deleted = false): void {
    this.#hostsRevision = Math.max(this.#hostsRevision, rev);
    this.#publish(
      rev,
      names.map((name) =>
        deleted
          ? { revision: rev, kind: 'hosts', type: 'delete', id: name, value: null }
          : {
              revision: rev,
              kind: 'hosts',
              type: 'put',
              id: name,
              value: this.#ipam.listHosts().hosts.find((h) => h.name === name) ?? null,
            },
      ),
    );
  }

  #publish(rev: number, events: Array<Omit<WatchEvent, 'revision'> & { revision?: number }>): void {
    this.#revision = Math.max(this.#revision, rev);
    this.#events.publish(events.map((e) => ({ ...e, revision: rev })));
  }

  /**
   * Loads everything from the store and follows it from there. The caller holds the write
   * lock (or nothing else runs yet).
   */
  async #reload(): Promise<void> {
    if (this.#reloading !== null) return this.#reloading;
    this.#reloading = (async () => {
      this.#watch?.close();
      this.#watch = null;
      this.#stale = false;
      const loaded = await loadState(this.#store);
      const previous = this.#events;
      const before =
        previous === undefined
          ? []
          : this.#currentState(['topology', 'hosts', 'blocks'], loaded.revision);
      this.#state = loaded;
      this.#ipam = loaded.ipam;
      this.#revs = loaded.revs;
      this.#revision = loaded.revision;
      this.#blocksRevision = loaded.revision;
      this.#hostsRevision = loaded.revision;
      this.#networkRevisions = new Map(
        this.#ipam.listNetworks().map((n) => [n.id, loaded.revision]),
      );
      if (previous === undefined) this.#events = new EventLog(loaded.revision, this.#eventCapacity);
      else {
        // Watchers get the new state, and deletes for what is gone (blocks of a carving
        // that a topology update replaced, hosts removed meanwhile).
        const now = this.#currentState(['topology', 'hosts', 'blocks'], loaded.revision);
        const key = (e: WatchEvent) => `${e.kind}\n${e.id}`;
        const was = new Map(before.map((e) => [key(e), JSON.stringify(e.value)]));
        const still = new Set(now.map(key));
        const gone = before
          .filter((e) => !still.has(key(e)))
          .map((e): WatchEvent => ({ ...e, type: 'delete', value: null }));
        const changed = now.filter((e) => was.get(key(e)) !== JSON.stringify(e.value));
        this.#events.publish([...gone, ...changed]);
      }
      if (!this.#closed) {
        this.#watch = this.#store.watch(
          '',
          loaded.revision + 1,
          (events) => this.#applyStoreEvents(events, false),
          (err) => {
            this.#log('warn', 'store watch failed; reloading', { err: err.message });
            this.#scheduleReload();
          },
        );
      }
    })().finally(() => {
      this.#reloading = null;
    });
    return this.#reloading;
  }

  /**
   * Reloads once every operation in flight has finished (a reload under an operation that
   * commits afterwards would miss that commit), retrying while the store is unreachable.
   */
  #scheduleReload(): void {
    if (this.#closed || this.#reloadScheduled) return;
    this.#reloadScheduled = true;
    this.#rw
      .write(() => {
        this.#reloadScheduled = false;
        return this.#reload();
      })
      .catch((err: unknown) => {
        this.#log('error', 'reload from the store failed; retrying', { err: String(err) });
        setTimeout(() => this.#scheduleReload(), 1000).unref();
      });
  }

  /** Applies changes written by others (or read back after a failed transaction). */
  #applyStoreEvents(events: StoreEvent[], refreshing: boolean): void {
    if ((this.#reloading !== null || this.#stale) && !refreshing) return;
    try {
      const out = applyEvents(this, events, refreshing);
      for (const [rev, list] of out) this.#publish(rev, list);
    } catch (err) {
      this.#log('warn', 'could not apply a store change; reloading', { err: String(err) });
      this.#scheduleReload();
    }
  }

  /** Internal accessors for `applyEvents`. */
  get internals(): ServiceInternals {
    return {
      ipam: this.#ipam,
      state: this.#state,
      revs: this.#revs,
      generation: this.#generation(),
      scheduleReload: () => this.#scheduleReload(),
      markStale: () => {
        this.#stale = true;
        this.#scheduleReload();
      },
      markBlocks: (rev, network) => {
        this.#blocksRevision = Math.max(this.#blocksRevision, rev);
        this.#networkRevisions.set(network, rev);
      },
      markHosts: (rev) => {
        this.#hostsRevision = Math.max(this.#hostsRevision, rev);
      },
      markNetwork: (rev, network) => this.#networkRevisions.set(network, rev),
    };
  }
}

export interface ServiceInternals {
  ipam: Ipam;
  state: LoadedState;
  revs: Map<string, number>;
  generation: number;
  scheduleReload(): void;
  markStale(): void;
  markBlocks(rev: number, network: string): void;
  markHosts(rev: number): void;
  markNetwork(rev: number, network: string): void;
}

/** Turns store events into engine changes and view events, grouped by revision. */
function applyEvents(
  svc: StoreBackedService,
  events: StoreEvent[],
  force: boolean,
): Map<number, Array<Omit<WatchEvent, 'revision'>>> {
  const x = svc.internals;
  const out = new Map<number, Array<Omit<WatchEvent, 'revision'>>>();
  const emit = (rev: number, e: Omit<WatchEvent, 'revision'>) => {
    const list = out.get(rev) ?? [];
    list.push(e);
    out.set(rev, list);
  };
  const dirtyHosts = new Map<string, number>();
  const blocks: Array<{ ev: StoreEvent; network: string; cidr: string }> = [];
  for (const ev of events) {
    const known = Math.abs(x.revs.get(ev.key) ?? 0);
    // Our own commits come back through the watch at the revision we already hold.
    if (ev.modRevision < known || (ev.modRevision === known && !force)) continue;
    const k = parseKey(ev.key);
    const value = ev.value;
    switch (k.kind) {
      case 'topology': {
        const rec = value === null ? null : (JSON.parse(value) as TopologyRecord);
        if (rec?.generation !== x.state.topology?.generation) {
          // A new carving: nothing after this applies to the state held; reload it all.
          x.markStale();
          return out;
        }
        x.state.topology = rec;
        break;
      }
      case 'host':
        if (value === null) x.state.hosts.delete(k.name);
        else x.state.hosts.set(k.name, JSON.parse(value) as StoredHost);
        dirtyHosts.set(k.name, ev.modRevision);
        break;
      case 'placement':
        if (k.generation !== x.generation) break;
        if (value === null) x.state.placements.delete(k.host);
        else x.state.placements.set(k.host, JSON.parse(value) as StoredPlacement);
        dirtyHosts.set(k.host, ev.modRevision);
        break;
      case 'block':
        if (k.generation === x.generation) blocks.push({ ev, network: k.network, cidr: k.cidr });
        break;
      case 'network':
        if (k.generation !== x.generation) break;
        x.ipam.applyBlackouts(
          k.network,
          value === null ? [] : (JSON.parse(value) as { blackouts: string[] }).blackouts,
        );
        x.markNetwork(ev.modRevision, k.network);
        break;
      case 'policy':
        if (value === null) {
          x.state.policies.delete(k.id);
          emit(ev.modRevision, { kind: 'policies', type: 'delete', id: k.id, value: null });
        } else {
          const p = JSON.parse(value) as Policy;
          x.state.policies.set(k.id, p);
          emit(ev.modRevision, { kind: 'policies', type: 'put', id: k.id, value: p });
        }
        break;
      default:
        break;
    }
    x.revs.set(ev.key, ev.type === 'put' ? ev.modRevision : -ev.modRevision);
  }
  for (const [name, rev] of dirtyHosts) {
    const h = x.state.hosts.get(name);
    const p = x.state.placements.get(name);
    if (h !== undefined && p !== undefined) {
      x.ipam.applyHost(name, { ...h, groups: p.groups } satisfies HostRecord);
      const view = x.ipam.listHosts().hosts.find((v) => v.name === name) ?? null;
      emit(rev, { kind: 'hosts', type: 'put', id: name, value: view });
    } else if (h === undefined) {
      x.ipam.applyHost(name, null);
      emit(rev, { kind: 'hosts', type: 'delete', id: name, value: null });
    }
    x.markHosts(rev);
  }
  for (const { ev, network, cidr } of blocks) {
    x.ipam.applyBlock(
      network,
      cidr,
      ev.value === null ? null : (JSON.parse(ev.value) as BlockState),
    );
    x.ipam.setBlockRevision(network, cidr, ev.modRevision);
    x.markBlocks(ev.modRevision, network);
    emit(ev.modRevision, {
      kind: 'blocks',
      type: 'put',
      id: cidr,
      value: x.ipam.getBlock(network, cidr),
    });
  }
  return out;
}

function storedHost(rec: HostRecord): StoredHost {
  const { groups: _groups, ...rest } = rec;
  return rest;
}

function unavailable(message: string, cause?: unknown): RomanaError {
  return new RomanaError('Unavailable', message, { cause });
}
