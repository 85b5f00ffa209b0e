/**
 * Host operations of the service: add (name and IP kept unique by create-if-absent keys),
 * patch (tags, Kubernetes info), and remove, which first fences the host so that no replica
 * allocates on it any more, then frees its blocks, then deletes it.
 */
import { RomanaError } from '../../errors.ts';
import type { HostDetailView, HostRecord, RemovedHost } from '../../ipam/index.ts';
import { checkName } from '../../names.ts';
import { conflict } from '../../store/retry.ts';
import type { Op } from '../../store/store.ts';
import type { ServiceCore } from './core.ts';
import type { ManagedHostView } from './service.ts';
import { newOperationId, Operation } from './operations.ts';
import {
  addressKey,
  blockKey,
  hostIpKey,
  hostKey,
  placementKey,
  podKey,
  TOPOLOGY_KEY,
  type StoredHost,
  type StoredPlacement,
} from './keys.ts';
import { TxnSet, type Decision } from './txn-runner.ts';

/** Writes per transaction besides the intent (etcd allows 128). */
const CHUNK = 100;

export interface HostRequestBody {
  name?: unknown;
  ip?: unknown;
  ip6?: unknown;
  tags?: unknown;
  agent_port?: unknown;
  k8s_info?: unknown;
  /** Who registers the host and may remove it (a name, e.g. `romana-listener`). */
  managed_by?: unknown;
}

type HostDetail = ManagedHostView<HostDetailView>;

export class HostOps {
  readonly core: ServiceCore;

  constructor(core: ServiceCore) {
    this.core = core;
  }

  async addHost(req: HostRequestBody): Promise<HostDetail> {
    this.core.checkWritable();
    if (req.managed_by !== undefined) checkName('managed_by', req.managed_by);
    const name = typeof req.name === 'string' ? req.name : '';
    return this.core.rw.read(() =>
      this.core.hostLocks.run(name, () =>
        this.core.runner.run(`adding host ${name}`, () => this.#decideAdd(req)),
      ),
    );
  }

  /** The host and its IP must be new; writes the host, its IP key and its placement. */
  #decideAdd(req: HostRequestBody): Decision<HostDetail> {
    const core = this.core;
    const detail = core.ipam.addHost(req);
    const rec = core.ipam.hostRecord(detail.name);
    const placement: StoredPlacement = { groups: rec.groups };
    const stored = storedHost(rec);
    if (typeof req.managed_by === 'string') stored.managed_by = req.managed_by;
    const txn = new TxnSet()
      .read(core, TOPOLOGY_KEY)
      .readAbsent(hostKey(rec.name))
      .readAbsent(hostIpKey(rec.ip))
      .put(hostKey(rec.name), stored)
      .put(hostIpKey(rec.ip), rec.name)
      .put(placementKey(core.generation(), rec.name), placement);
    return {
      txn,
      undo: () => core.ipam.applyHost(rec.name, null),
      readBack: [hostKey(rec.name), TOPOLOGY_KEY],
      explain: async () => {
        const clash = (await core.store.get(hostIpKey(rec.ip)))?.value;
        if (!core.state.hosts.has(rec.name) && clash === undefined) return;
        const what = core.state.hosts.has(rec.name)
          ? `a host named '${rec.name}' already exists`
          : `IP ${rec.ip} already belongs to another host`;
        throw new RomanaError('AlreadyExists', what, {
          resourceType: 'host',
          resourceId: rec.name,
        });
      },
      committed: (rev) => {
        core.state.hosts.set(rec.name, stored);
        core.state.placements.set(rec.name, placement);
        return {
          value: core.managed(core.ipam.getHost({ name: rec.name })),
          events: core.hostEvents([rec.name], rev),
        };
      },
    };
  }

  async patchHost(
    name: string,
    patch: { tags?: unknown; k8s_info?: unknown },
  ): Promise<HostDetail> {
    this.core.checkWritable();
    return this.core.rw.read(() =>
      this.core.hostLocks.run(name, () =>
        this.core.runner.run(`updating host ${name}`, () => this.#decidePatch(name, patch)),
      ),
    );
  }

  /** Rewrites the host's key, compared at the revision this replica holds. */
  #decidePatch(name: string, patch: { tags?: unknown; k8s_info?: unknown }): Decision<HostDetail> {
    const core = this.core;
    const before = core.ipam.hostRecord(name);
    try {
      if ('tags' in patch) core.ipam.updateHostTags({ name }, patch.tags);
      if ('k8s_info' in patch) core.ipam.updateHostK8sInfo({ name }, patch.k8s_info);
    } catch (err) {
      // A refused k8s_info after accepted tags: nothing of the patch stays.
      core.ipam.applyHost(name, before);
      throw err;
    }
    const rec = core.ipam.hostRecord(name);
    const held = core.state.hosts.get(name);
    const stored: StoredHost = { ...storedHost(rec), removing: held?.removing };
    // Set when the host was added; a patch never changes it.
    if (held?.managed_by !== undefined) stored.managed_by = held.managed_by;
    return {
      txn: new TxnSet()
        .read(core, TOPOLOGY_KEY)
        .read(core, hostKey(name))
        .put(hostKey(name), stored),
      undo: () => core.ipam.applyHost(name, before),
      readBack: [hostKey(name)],
      committed: (rev) => {
        core.state.hosts.set(name, stored);
        return {
          value: core.managed(core.ipam.getHost({ name })),
          events: core.hostEvents([name], rev),
        };
      },
    };
  }

  async removeHost(name: string, opts: { force: boolean }): Promise<RemovedHost> {
    this.core.checkWritable();
    // A removal of this host that its writer abandoned is finished first.
    if (this.core.state.hosts.get(name)?.removing) await this.core.recoverOperations();
    return this.core.rw.write(async () => {
      this.core.checkWritable();
      const detail = this.core.ipam.getHost({ name });
      if (this.core.state.hosts.get(name)?.removing) {
        throw new RomanaError('Unavailable', `Host ${name} is being removed; retry in a moment`, {
          resourceType: 'host',
          resourceId: name,
        });
      }
      if (detail.address_count > 0 && !opts.force) {
        throw new RomanaError(
          'Conflict',
          `Host ${name} still holds ${detail.address_count} address(es); release them first or remove it with force=true`,
          { resourceType: 'host', resourceId: name },
        );
      }
      try {
        return await this.#removeHost(name);
      } catch (err) {
        await this.core.reload().catch(() => this.core.markTainted());
        throw err;
      }
    });
  }

  /** Fences the host and writes the removal's intent in one transaction, then removes it. */
  async #removeHost(name: string): Promise<RemovedHost> {
    const stored = { ...this.core.state.hosts.get(name)!, removing: true };
    const op = await Operation.begin(
      this.core.opContext(),
      newOperationId(),
      {
        kind: 'remove-host',
        owner: newOperationId(),
        since: Date.now(),
        host: name,
        ip: stored.ip,
      },
      [this.core.cmp(TOPOLOGY_KEY), this.core.cmp(hostKey(name))],
      [{ type: 'put', key: hostKey(name), value: JSON.stringify(stored) }],
    );
    if (op === null) throw conflict(`host ${name} changed while removing it; retry`);
    try {
      this.core.state.hosts.set(name, stored);
      return await removeHostSteps(this.core, op);
    } finally {
      op.release();
    }
  }
}

/**
 * Finishes a removal that another process began (the caller holds the write lock and has
 * reloaded): frees what is left of the host's blocks and deletes it.
 */
export async function resumeHostRemoval(core: ServiceCore, op: Operation): Promise<void> {
  if (op.value.kind !== 'remove-host') return;
  const { host, ip } = op.value;
  if (core.state.hosts.has(host)) {
    await removeHostSteps(core, op);
    return;
  }
  // Gone already (its last step is what deletes the intent: only the IP key may remain).
  const owner = (await core.store.get(hostIpKey(ip)))?.value;
  await op.finish([], owner === host ? [{ type: 'delete', key: hostIpKey(ip) }] : []);
}

/**
 * Frees the host's blocks one transaction each (with their address keys), then deletes the
 * host, its IP key and its placement together with the intent. Every step is guarded by the
 * intent, so whoever holds the operation can run this again from wherever it stopped.
 */
async function removeHostSteps(core: ServiceCore, op: Operation): Promise<RemovedHost> {
  if (op.value.kind !== 'remove-host') throw new RomanaError('Internal', 'not a host removal');
  const { host: name, ip } = op.value;
  const g = core.generation();
  const placed = core.ipam.hostView(name) !== undefined;
  const byBlock = new Map<string, string[]>();
  for (const a of core.ipam.listAddresses().filter((a) => a.host === name)) {
    for (const one of a.ips) {
      const k = `${one.network}\n${one.block}`;
      byBlock.set(k, [...(byBlock.get(k) ?? []), a.name]);
    }
  }
  // A dual-stack name sits in two blocks: its key goes with the first, its event once.
  const gone = new Set<string>();
  const removed: RemovedHost = placed
    ? core.ipam.removeHost({ name })
    : { name, ip, releasedAddresses: [], releasedBlocks: [] };
  for (const c of core.ipam.takeTouchedBlocks()) {
    const names = (byBlock.get(`${c.network}\n${c.cidr}`) ?? []).filter((n) => !gone.has(n));
    for (const n of names) gone.add(n);
    // Each address's key and its pod link (a delete of an absent key writes nothing).
    const deletes = names.flatMap((n): Op[] => [
      { type: 'delete', key: addressKey(n) },
      { type: 'delete', key: podKey(n) },
    ]);
    // A block with many addresses: their keys go first (the block, still listing them,
    // keeps the names taken until it is freed).
    while (deletes.length > CHUNK) await op.step([], deletes.splice(0, CHUNK));
    // Read and write sets as for any write, guarded by the intent besides (`Operation.step`).
    const key = blockKey(g, c.network, c.cidr);
    const txn = new TxnSet().read(core, TOPOLOGY_KEY).read(core, key).put(key, c.state);
    for (const d of deletes) txn.delete(d.key);
    const rev = await op.step(txn.compares(), txn.ops());
    if (rev === null) throw conflict(`a block of host ${name} changed while removing it; retry`);
    core.blocksCommitted([c], rev);
    for (const n of names) core.state.pods.delete(n);
    core.publish(
      rev,
      names.map((n) => ({ kind: 'addresses', type: 'delete', id: n, value: null })),
    );
  }
  const rev = await op.finish(
    [core.cmp(hostKey(name))],
    [
      { type: 'delete', key: hostKey(name) },
      { type: 'delete', key: hostIpKey(ip) },
      { type: 'delete', key: placementKey(g, name) },
    ],
  );
  if (rev === null) throw conflict(`host ${name} changed while removing it; retry`);
  core.state.hosts.delete(name);
  core.state.placements.delete(name);
  core.hostsCommitted([name], rev, true);
  return removed;
}

export function storedHost(rec: HostRecord): StoredHost {
  const { groups: _groups, ...rest } = rec;
  return rest;
}
