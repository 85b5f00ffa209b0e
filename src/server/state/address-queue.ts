/**
 * Allocations and releases, combined: the ones that arrive while transactions are in flight
 * are decided together by the engine and committed in one transaction. Batches in flight at
 * the same time never hold the same host, so they write disjoint keys. When a combined
 * transaction fails (another replica won a key), its jobs are retried one by one.
 */
import { invalidInput, isRomanaError, RomanaError } from '../../errors.ts';
import type { AllocationRequest } from '../../ipam/index.ts';
import { backoffDelay, conflict, WRITE_RETRY } from '../../store/retry.ts';
import { sleep, type ServiceCore } from './core.ts';
import { decodeAddress } from './decode.ts';
import {
  addressKey,
  hostKey,
  networkKey,
  podKey,
  storedAddressJson,
  TOPOLOGY_KEY,
} from './keys.ts';
import { addressOf } from './pods.ts';
import type { Address, PodLink } from './service.ts';
import { engineBlockWrites, TxnSet, type Decision } from './txn-runner.ts';

/** Address operations per transaction, at most (fewer when their keys would not fit). */
const BATCH = 24;
/** Compares, and writes, one transaction may hold: etcd's default (its `--max-txn-ops`). */
const MAX_TXN_KEYS = 128;
/**
 * The most one operation adds to a transaction, its blocks included. Compares: the host, the
 * address name (or the pod link), and per family (two at most) its network and its block.
 * Writes: the address, the pod link, and per family its block.
 */
const OP_COMPARES = 6;
const OP_WRITES = 4;
/**
 * Combined transactions in flight at once. Only the first starts with whatever is queued; the
 * others start only with a full batch waiting. Each transaction has a fixed cost (on etcd, a gRPC
 * call of a millisecond or more of CPU), so under load a few full transactions cost far less
 * than many small ones, and the operations that arrive meanwhile wait for the next one. Eight
 * rather than four: on etcd at 64 connections, full batches then wait less for a free slot
 * (in six alternated rounds, 7.6 % more allocations per second and 8 % less CPU per allocation).
 */
export const MAX_IN_FLIGHT = 8;

export type AddressOp =
  | { kind: 'allocate'; req: AllocationRequest; pod?: PodLink }
  | { kind: 'release'; nameOrIp: string };

interface Job {
  op: AddressOp;
  resolve(v: Address): void;
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

  async enqueue(op: AddressOp): Promise<Address> {
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

  #run(op: AddressOp): Promise<Address> {
    this.core.checkWritable();
    return new Promise<Address>((resolve, reject) => {
      this.#queue.push({ op, resolve, reject, solo: false, attempts: 0 });
      this.#pump();
    });
  }

  /**
   * Starts batches while fewer than `MAX_IN_FLIGHT` are in flight: one whenever none is, more
   * only while a full batch is queued. A batch never holds a host that an in-flight batch holds:
   * batches then write disjoint keys and do not conflict.
   */
  #pump(): void {
    while (this.#inFlight < MAX_IN_FLIGHT && this.#queue.length > 0) {
      if (this.#inFlight > 0 && this.#queue.length < BATCH) return;
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
        if (solo) await sleep(backoffDelay(batch[0]!.attempts, WRITE_RETRY));
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
    const outcomes = await this.core.runner.batch(
      batch.map((job) => () => this.#decide(job.op, g)),
      () => engineBlockWrites(this.core),
      'an address operation',
      (sofar) => this.#fits(sofar),
    );
    // Backwards, so that the jobs retried or left out are queued again in their order.
    batch.reduceRight((_, job, i) => {
      const out = outcomes[i];
      if (out === undefined)
        this.#queue.unshift(job); // did not fit: next batch
      else if (out.ok) job.resolve(out.value);
      else if (!out.retry) job.reject(out.error);
      else if (++job.attempts >= WRITE_RETRY.attempts!) {
        job.reject(
          conflict(
            `gave up after ${job.attempts} attempts: ${describe(job.op)} kept racing other writers`,
          ),
        );
      } else {
        job.solo = true;
        this.#queue.unshift(job);
        // #pump runs when this batch's slot is freed.
      }
      return undefined;
    }, undefined);
  }

  /**
   * Whether one more operation surely fits in a transaction that holds `sofar` and the blocks
   * the engine changed so far (each compared and written), with the topology fence.
   */
  #fits(sofar: TxnSet): boolean {
    const blocks = this.core.ipam.touchedBlockCount();
    return (
      sofar.compares().length + blocks + 1 + OP_COMPARES <= MAX_TXN_KEYS &&
      sofar.ops().length + blocks + OP_WRITES <= MAX_TXN_KEYS
    );
  }

  /**
   * Runs one operation in the engine: its read set (the topology fence, the host, the
   * network's blackouts, the name absent) and write set (the address key); the blocks it
   * changed are written by `engineBlockWrites` for the whole batch.
   */
  #decide(op: AddressOp, g: number): Decision<Address> {
    const core = this.core;
    if (op.kind === 'release') {
      const view = core.ipam.release(op.nameOrIp);
      const released = addressOf(core, view);
      const pKey = podKey(view.name);
      const txn = new TxnSet().delete(addressKey(view.name));
      // The pod link goes in the same transaction. Without one known here, the key is compared
      // absent instead: a link another replica wrote a moment ago fails the compare, is read
      // back, and the release decided again deletes it.
      if (released.pod !== undefined) txn.read(core, pKey).delete(pKey);
      else txn.readAbsent(pKey);
      return {
        txn,
        readBack: [pKey],
        committed: (revision) => {
          core.state.pods.delete(view.name);
          return {
            value: released,
            events: [{ revision, kind: 'addresses', type: 'delete', id: view.name, value: null }],
          };
        },
      };
    }
    const host = op.req.host;
    if (typeof host === 'string' && core.state.hosts.get(host)?.removing) {
      throw new RomanaError('Conflict', `Host ${host} is being removed`, {
        resourceType: 'host',
        resourceId: host,
      });
    }
    // Everything that can refuse the request runs before the engine decides: the engine's
    // decision changes its blocks at once, and a throw after it would leave an address in
    // memory that the store never holds (and that a commit of the same batch would persist).
    const aKey = addressKeyOf(op.req.name);
    // Every family's address in one decision, so in one transaction: both or neither.
    const view = core.ipam.allocate(op.req);
    const txn = new TxnSet().read(core, hostKey(view.host));
    for (const a of view.ips) txn.read(core, networkKey(g, a.network));
    txn.readAbsent(aKey).put(aKey, storedAddressJson(view));
    const pod = op.pod;
    if (pod !== undefined) txn.put(podKey(view.name), pod);
    // A link left by an address of the same name that is gone (never shown): not this one's.
    else if (core.state.pods.has(view.name)) txn.delete(podKey(view.name));
    return {
      txn,
      readBack: [],
      explain: async () => {
        const taken = await core.store.get(aKey);
        if (taken === undefined) return;
        const stored = decodeAddress(aKey, taken.value);
        const ip = (stored.ips ?? [stored]).map((a) => a.ip).join(', ');
        throw new RomanaError(
          'AlreadyExists',
          `Address with name ${view.name} already allocated: ${ip}`,
          {
            resourceType: 'address',
            resourceId: view.name,
          },
        );
      },
      committed: (revision) => {
        if (pod !== undefined) core.state.pods.set(view.name, pod);
        else core.state.pods.delete(view.name);
        const value: Address = pod === undefined ? view : { ...view, pod };
        return {
          value,
          events: [{ revision, kind: 'addresses', type: 'put', id: view.name, value }],
        };
      },
    };
  }
}

function describe(op: AddressOp): string {
  if (op.kind === 'release') return `releasing ${op.nameOrIp}`;
  return `allocating ${typeof op.req.name === 'string' ? op.req.name : 'an address'}`;
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
