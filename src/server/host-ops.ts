/**
 * Host operations of the service: add (name and IP kept unique by create-if-absent keys),
 * patch (tags, Kubernetes info), and remove, which first fences the host so that no replica
 * allocates on it any more, then frees its blocks, then deletes it.
 */
import { RomanaError } from '../errors.ts';
import type { HostDetailView, HostRecord, RemovedHost } from '../ipam/index.ts';
import { conflict, withRetry } from '../store/retry.ts';
import type { Op } from '../store/store.ts';
import type { ServiceCore } from './core.ts';
import {
  addressKey,
  blockKey,
  hostIpKey,
  hostKey,
  placementKey,
  TOPOLOGY_KEY,
  type StoredHost,
  type StoredPlacement,
} from './keys.ts';

const RETRY = { attempts: 30, baseDelayMs: 1, maxDelayMs: 40 };

export interface HostRequestBody {
  name?: unknown;
  ip?: unknown;
  tags?: unknown;
  agent_port?: unknown;
  k8s_info?: unknown;
}

export class HostOps {
  readonly core: ServiceCore;

  constructor(core: ServiceCore) {
    this.core = core;
  }

  async addHost(req: HostRequestBody): Promise<HostDetailView> {
    this.core.checkWritable();
    const name = typeof req.name === 'string' ? req.name : '';
    return this.core.rw.read(() =>
      this.core.hostLocks.run(name, () =>
        withRetry(async () => {
          this.core.checkWritable();
          const detail = this.core.ipam.addHost(req);
          const rec = this.core.ipam.hostRecord(detail.name);
          const g = this.core.generation();
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
            this.core.cmp(TOPOLOGY_KEY),
            { key: hostKey(rec.name), modRevision: 0 },
            { key: hostIpKey(rec.ip), modRevision: 0 },
          ];
          const rev = await this.core.commit(compares, ops).catch((err: unknown) => {
            this.core.ipam.applyHost(rec.name, null);
            throw err;
          });
          if (rev === null) {
            this.core.ipam.applyHost(rec.name, null);
            await this.core.refreshKeys([hostKey(rec.name), TOPOLOGY_KEY]);
            const clash = (await this.core.store.get(hostIpKey(rec.ip)))?.value;
            if (this.core.state.hosts.has(rec.name) || clash !== undefined) {
              const what = this.core.state.hosts.has(rec.name)
                ? `a host named '${rec.name}' already exists`
                : `IP ${rec.ip} already belongs to another host`;
              throw new RomanaError('AlreadyExists', what, {
                resourceType: 'host',
                resourceId: rec.name,
              });
            }
            throw conflict(`adding host ${rec.name} raced another writer`);
          }
          this.core.state.hosts.set(rec.name, storedHost(rec));
          this.core.state.placements.set(rec.name, { groups: rec.groups });
          this.core.hostsCommitted([rec.name], rev);
          return this.core.ipam.getHost({ name: rec.name });
        }, RETRY),
      ),
    );
  }

  async patchHost(
    name: string,
    patch: { tags?: unknown; k8s_info?: unknown },
  ): Promise<HostDetailView> {
    this.core.checkWritable();
    return this.core.rw.read(() =>
      this.core.hostLocks.run(name, () =>
        withRetry(async () => {
          this.core.checkWritable();
          const before = this.core.ipam.hostRecord(name);
          if ('tags' in patch) this.core.ipam.updateHostTags({ name }, patch.tags);
          if ('k8s_info' in patch) this.core.ipam.updateHostK8sInfo({ name }, patch.k8s_info);
          const rec = this.core.ipam.hostRecord(name);
          const stored = {
            ...storedHost(rec),
            removing: this.core.state.hosts.get(name)?.removing,
          };
          const rev = await this.core
            .commit(
              [this.core.cmp(TOPOLOGY_KEY), this.core.cmp(hostKey(name))],
              [{ type: 'put', key: hostKey(name), value: JSON.stringify(stored) }],
            )
            .catch((err: unknown) => {
              this.core.ipam.applyHost(name, before);
              throw err;
            });
          if (rev === null) {
            this.core.ipam.applyHost(name, before);
            await this.core.refreshKeys([hostKey(name)]);
            throw conflict(`updating host ${name} raced another writer`);
          }
          this.core.state.hosts.set(name, stored);
          this.core.hostsCommitted([name], rev);
          return this.core.ipam.getHost({ name });
        }, RETRY),
      ),
    );
  }

  async removeHost(name: string, opts: { force: boolean }): Promise<RemovedHost> {
    this.core.checkWritable();
    return this.core.rw.write(async () => {
      this.core.checkWritable();
      const detail = this.core.ipam.getHost({ name });
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
        await this.core.reload().catch(() => this.core.markTainted());
        throw err;
      }
    });
  }

  /** Fences the host, frees its blocks one transaction each, then deletes the host. */
  async #removeHostSteps(name: string): Promise<RemovedHost> {
    const g = this.core.generation();
    const stored = { ...this.core.state.hosts.get(name)!, removing: true };
    const fence = await this.core.commit(
      [this.core.cmp(TOPOLOGY_KEY), this.core.cmp(hostKey(name))],
      [{ type: 'put', key: hostKey(name), value: JSON.stringify(stored) }],
    );
    if (fence === null) throw conflict(`host ${name} changed while removing it; retry`);
    this.core.state.hosts.set(name, stored);
    const byBlock = new Map<string, string[]>();
    for (const a of this.core.ipam.listAddresses().filter((a) => a.host === name)) {
      const k = `${a.network}\n${a.block}`;
      byBlock.set(k, [...(byBlock.get(k) ?? []), a.name]);
    }
    const ip = this.core.ipam.hostRecord(name).ip;
    const removed = this.core.ipam.removeHost({ name });
    const changes = this.core.ipam.takeTouchedBlocks();
    for (const c of changes) {
      const names = byBlock.get(`${c.network}\n${c.cidr}`) ?? [];
      const ops: Op[] = [
        ...this.core.blockOps(g, [c]),
        ...names.map((n): Op => ({ type: 'delete', key: addressKey(n) })),
      ];
      const compares = [this.core.cmp(TOPOLOGY_KEY), this.core.cmp(blockKey(g, c.network, c.cidr))];
      const rev = await this.core.commitChunked(compares, ops);
      if (rev === null) throw conflict(`a block of host ${name} changed while removing it; retry`);
      this.core.blocksCommitted([c], rev);
    }
    const rev = await this.core.commit(
      [this.core.cmp(hostKey(name))],
      [
        { type: 'delete', key: hostKey(name) },
        { type: 'delete', key: hostIpKey(ip) },
        { type: 'delete', key: placementKey(g, name) },
      ],
    );
    if (rev === null) throw conflict(`host ${name} changed while removing it; retry`);
    this.core.state.hosts.delete(name);
    this.core.state.placements.delete(name);
    this.core.hostsCommitted([name], rev, true);
    return removed;
  }
}

export function storedHost(rec: HostRecord): StoredHost {
  const { groups: _groups, ...rest } = rec;
  return rest;
}
