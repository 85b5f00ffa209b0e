/**
 * Allocations and releases, combined: the ones that arrive while transactions are in flight
 * are decided together by the engine and committed in one transaction. Batches in flight at
 * the same time never hold the same host, so they write disjoint keys. When a combined
 * transaction fails (another replica won a key), its jobs are retried one by one.
 */
import { invalidInput, isRomanaError, RomanaError } from '../errors.ts';
import type { AddressView, AllocationRequest } from '../ipam/index.ts';
import { conflict } from '../store/retry.ts';
import type { Compare, Op } from '../store/store.ts';
import { sleep, type ServiceCore } from './core.ts';
import { addressKey, blockKey, hostKey, networkKey, TOPOLOGY_KEY } from './keys.ts';

const RETRY_ATTEMPTS = 30;
/** Address operations per transaction: etcd allows 128 compares and 128 writes. */
const BATCH = 24;
/** Combined transactions in flight at once. */
const MAX_IN_FLIGHT = 4;

export type AddressOp =
  { kind: 'allocate'; req: AllocationRequest } | { kind: 'release'; nameOrIp: string };

interface Job {
  op: AddressOp;
  resolve(v: AddressView): void;
  reject(err: unknown): void;
  /** After a failed combined commit: retried alone. */
  solo: boolean;
  attempts: number;
}

export class AddressQueue {
  readonly core: ServiceCore;
  #queue: Job[] = [];
  #inFlight = 0;
  #busyHosts = new Set<string>();

  constructor(core: ServiceCore) {
    this.core = core;
  }

  async enqueue(op: AddressOp): Promise<AddressView> {
    try {
      return await this.#run(op);
    } catch (err) {
      // A host, tenant network, address or finished topology update that another replica
      // has just written is not known here until the watch delivers it: catch up with the
      // store and try once more.
      const behind =
        isRomanaError(err, 'NotFound') ||
        (isRomanaError(err, 'Unavailable') && err.resourceType === 'topology');
      const key = behind ? keyOf(err as RomanaError) : undefined;
      if (key === undefined) throw err;
      if (!(await this.core.catchUp(key, this.core.seenRevision(key)))) throw err;
      return this.#run(op);
    }
  }

  #run(op: AddressOp): Promise<AddressView> {
    this.core.checkWritable();
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
        await this.core.rw.read(() => this.#runBatch(batch));
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
    return this.core.ipam.getAddress(op.nameOrIp).host;
  }

  async #runBatch(batch: Job[]): Promise<void> {
    try {
      this.core.checkWritable();
    } catch (err) {
      for (const j of batch) j.reject(err);
      return;
    }
    const g = this.core.generation();
    const compares = new Map<string, Compare>([[TOPOLOGY_KEY, this.core.cmp(TOPOLOGY_KEY)]]);
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
    const changes = this.core.ipam.takeTouchedBlocks();
    if (done.length === 0) return;
    for (const c of changes) {
      const key = blockKey(g, c.network, c.cidr);
      compares.set(key, this.core.cmp(key));
    }
    const undoKeys = [...changes.map((c) => blockKey(g, c.network, c.cidr)), TOPOLOGY_KEY];
    let rev: number | null;
    try {
      rev = await this.core.commit(
        [...compares.values()],
        [...this.core.blockOps(g, changes), ...ops],
      );
    } catch (err) {
      await this.core.refreshKeys(undoKeys, true).catch(() => this.core.markTainted());
      for (const { job } of done) job.reject(err);
      return;
    }
    if (rev !== null) {
      this.core.blocksCommitted(changes, rev);
      for (const { job, view } of done) job.resolve(view);
      return;
    }
    await this.core.refreshKeys(undoKeys, true);
    for (const { job, view } of done.reverse()) {
      if (job.op.kind === 'allocate') {
        const taken = await this.core.store.get(addressKey(view.name));
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
      const view = this.core.ipam.release(op.nameOrIp);
      ops.push({ type: 'delete', key: addressKey(view.name) });
      return view;
    }
    const host = op.req.host;
    if (typeof host === 'string' && this.core.state.hosts.get(host)?.removing) {
      throw new RomanaError('Conflict', `Host ${host} is being removed`, {
        resourceType: 'host',
        resourceId: host,
      });
    }
    // Everything that can refuse the request runs before the engine decides: the engine's
    // decision changes its blocks at once, and a throw after it would leave an address in
    // memory that the store never holds (and that a commit of the same batch would persist).
    const aKey = addressKeyOf(op.req.name);
    const view = this.core.ipam.allocate(op.req);
    for (const key of [hostKey(view.host), networkKey(g, view.network)]) {
      if (!compares.has(key)) compares.set(key, this.core.cmp(key));
    }
    compares.set(aKey, { key: aKey, modRevision: 0 });
    ops.push({
      type: 'put',
      key: aKey,
      value: JSON.stringify({ ip: view.ip, host: view.host, network: view.network }),
    });
    return view;
  }
}

/** The store key of an address name; a name that cannot be a key is refused as input. */
function addressKeyOf(name: unknown): string {
  if (typeof name !== 'string') return ''; // the engine refuses it
  try {
    return addressKey(name);
  } catch {
    throw invalidInput(`name: ${JSON.stringify(name)} holds a lone UTF-16 surrogate`, {
      resourceType: 'address',
    });
  }
}

/** The key whose newer stored version could resolve a NotFound. */
function keyOf(err: RomanaError): string | undefined {
  const id = err.resourceId ?? '';
  switch (err.resourceType) {
    case 'host':
      return hostKey(id);
    case 'address':
      return addressKey(id);
    case 'tenant':
    case 'topology':
      return TOPOLOGY_KEY;
    default:
      return undefined;
  }
}
