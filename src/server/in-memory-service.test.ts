/**
 * A small `RomanaService` straight on the IPAM engine, with no store: enough to drive the HTTP
 * layer's tests (src/server/romana-service.ts is the real one). It keeps a watch log that can
 * be "compacted", can be made not ready, and can be told to fail an operation. Also the
 * request helpers the HTTP tests share. This file holds no tests of its own.
 */
import assert from 'node:assert/strict';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { invalidInput, notFound, RomanaError } from '../errors.ts';
import { Ipam, type AddressView, type AllocationRequest } from '../ipam/index.ts';
import type {
  Policy,
  RomanaService,
  Vip,
  VipInput,
  WatchEvent,
  WatchHandle,
  WatchKind,
} from './service.ts';
import { validateVip } from './vips.ts';

interface Watcher {
  kinds: readonly WatchKind[];
  onEvent: (e: WatchEvent) => void;
  onError: (err: Error) => void;
}

export class InMemoryService implements RomanaService {
  readonly ipam = new Ipam();
  readonly policies = new Map<string, Policy>();
  readonly vips = new Map<string, Vip>();
  readonly log: WatchEvent[] = [];
  readonly watchers = new Set<Watcher>();
  isReady = true;
  /** Watches from a revision below this fail as compacted. */
  compactedBefore = 0;
  /** Errors to throw from the named operation (once). */
  readonly failures = new Map<string, Error>();
  #revision = 0;

  ready(): boolean {
    return this.isReady;
  }
  revision(): number {
    return this.#revision;
  }

  #check(op: string): void {
    const err = this.failures.get(op);
    if (err !== undefined) {
      this.failures.delete(op);
      throw err;
    }
  }

  #emit(kind: WatchKind, type: 'put' | 'delete', id: string, value: unknown): void {
    const e: WatchEvent = { revision: ++this.#revision, kind, type, id, value };
    this.log.push(e);
    for (const w of this.watchers) if (w.kinds.includes(kind)) w.onEvent(e);
  }

  #emitBlock(cidr: string): void {
    const b = this.ipam.listAllBlocks().blocks.find((x) => x.cidr === cidr);
    this.#emit('blocks', 'put', cidr, b ?? null);
  }

  listNetworks() {
    this.#check('listNetworks');
    return this.ipam.listNetworks();
  }
  listBlocks() {
    return this.ipam.listAllBlocks();
  }
  listNetworkBlocks(network: string) {
    return this.ipam.listNetworkBlocks(network);
  }
  async allocate(req: AllocationRequest): Promise<AddressView> {
    this.#check('allocate');
    const v = this.ipam.allocate(req);
    this.#emitBlock(v.block);
    return v;
  }
  async release(nameOrIp: string): Promise<AddressView> {
    const v = this.ipam.release(nameOrIp);
    this.#emitBlock(v.block);
    return v;
  }
  getAddress(nameOrIp: string) {
    return this.ipam.getAddress(nameOrIp);
  }
  listAddresses(filter?: { host?: string }) {
    const all = this.ipam.listAddresses();
    return filter?.host === undefined ? all : all.filter((a) => a.host === filter.host);
  }
  listHosts() {
    return this.ipam.listHosts();
  }
  getHost(name: string) {
    return this.ipam.getHost({ name });
  }
  async addHost(req: Parameters<RomanaService['addHost']>[0]) {
    this.#check('addHost');
    const h = this.ipam.addHost(req);
    this.#emit('hosts', 'put', h.name, h);
    return h;
  }
  async removeHost(name: string, opts: { force: boolean }) {
    const h = this.ipam.getHost({ name });
    if (h.address_count > 0 && !opts.force) {
      throw new RomanaError(
        'Conflict',
        `Host ${name} still holds ${h.address_count} addresses; use force to release them`,
        { resourceType: 'host', resourceId: name },
      );
    }
    const removed = this.ipam.removeHost({ name });
    this.#emit('hosts', 'delete', name, null);
    return removed;
  }
  async patchHost(name: string, patch: { tags?: unknown; k8s_info?: unknown }) {
    if ('tags' in patch) this.ipam.updateHostTags({ name }, patch.tags);
    if ('k8s_info' in patch) this.ipam.updateHostK8sInfo({ name }, patch.k8s_info);
    const h = this.ipam.getHost({ name });
    this.#emit('hosts', 'put', name, h);
    return h;
  }
  getTopology() {
    return this.ipam.getTopology();
  }
  async updateTopology(doc: unknown) {
    const r = this.ipam.updateTopology(doc);
    this.#emit('topology', 'put', 'topology', this.ipam.getTopology());
    return r;
  }
  listBlackouts() {
    return this.ipam.listBlackouts();
  }
  async addBlackout(cidr: string) {
    this.ipam.blackOut(cidr);
    const b = this.ipam.listBlackouts().find((x) => x.cidr === cidr);
    if (b === undefined) throw new Error('blackout vanished');
    return b;
  }
  async removeBlackout(cidr: string) {
    this.ipam.unBlackOut(cidr);
  }
  listPolicies() {
    return [...this.policies.values()];
  }
  getPolicy(id: string) {
    const p = this.policies.get(id);
    if (p === undefined) throw notFound('policy', id, `Policy ${id} not found`);
    return p;
  }
  async putPolicy(policy: unknown) {
    const p = policy as Policy;
    if (typeof p.id !== 'string' || p.id === '') {
      throw invalidInput('id: required, a non-empty string', {
        resourceType: 'policy',
        semantic: true,
      });
    }
    if (!Array.isArray(p['applied_to']) || p['applied_to'].length === 0) {
      throw invalidInput(`policy ${p.id}: applied_to is empty`, {
        resourceType: 'policy',
        semantic: true,
      });
    }
    this.policies.set(p.id, p);
    this.#emit('policies', 'put', p.id, p);
    return p;
  }
  async deletePolicy(id: string) {
    if (!this.policies.delete(id)) throw notFound('policy', id, `Policy ${id} not found`);
    this.#emit('policies', 'delete', id, null);
  }

  listVips() {
    return [...this.vips.values()];
  }
  getVip(name: string) {
    const v = this.vips.get(name);
    if (v === undefined) throw notFound('vip', name, `No VIP named ${name}`);
    return v;
  }
  async putVip(name: string, input: VipInput) {
    const hosts = new Set(this.ipam.listHosts().hosts.map((h) => h.name));
    const v = validateVip(name, input, { hosts, networks: this.ipam.listNetworks() });
    this.vips.set(name, v);
    this.#emit('vips', 'put', name, v);
    return v;
  }
  async deleteVip(name: string) {
    if (!this.vips.delete(name)) throw notFound('vip', name, `No VIP named ${name}`);
    this.#emit('vips', 'delete', name, null);
  }

  watch(
    kinds: readonly WatchKind[],
    fromRevision: number | undefined,
    onEvent: (e: WatchEvent) => void,
    onError: (err: Error) => void,
  ): WatchHandle {
    const w: Watcher = { kinds, onEvent, onError };
    let closed = false;
    queueMicrotask(() => {
      if (closed) return;
      if (fromRevision !== undefined && fromRevision < this.compactedBefore) {
        onError(
          new RomanaError(
            'Conflict',
            `revision ${fromRevision} has been compacted; the oldest is ${this.compactedBefore}`,
          ),
        );
        return;
      }
      if (fromRevision === undefined) {
        const rev = this.#revision;
        if (kinds.includes('hosts')) {
          for (const h of this.ipam.listHosts().hosts)
            onEvent({ revision: rev, kind: 'hosts', type: 'put', id: h.name, value: h });
        }
        if (kinds.includes('policies')) {
          for (const p of this.policies.values())
            onEvent({ revision: rev, kind: 'policies', type: 'put', id: p.id, value: p });
        }
      } else {
        for (const e of this.log)
          if (e.revision >= fromRevision && kinds.includes(e.kind)) onEvent(e);
      }
      this.watchers.add(w);
    });
    return {
      close: () => {
        closed = true;
        this.watchers.delete(w);
      },
    };
  }

  /** Fails every open watch, as a store that lost its history would. */
  breakWatches(err: Error): void {
    for (const w of [...this.watchers]) {
      this.watchers.delete(w);
      w.onError(err);
    }
  }

  async close(): Promise<void> {}
}

/** A topology of two racks and one network, as the HTTP tests use it. */
export const TOPOLOGY = {
  networks: [{ name: 'net1', cidr: '10.0.0.0/16', block_mask: 28 }],
  topologies: [{ networks: ['net1'], map: [{ name: 'rack-1' }, { name: 'rack-2' }] }],
};

/** A service with the topology and one host. */
export async function seededService(): Promise<InMemoryService> {
  const s = new InMemoryService();
  await s.updateTopology(TOPOLOGY);
  await s.addHost({ name: 'h1', ip: '192.168.0.1' });
  return s;
}

export interface Answer {
  status: number;
  body: unknown;
  text: string;
  headers: Record<string, string | string[] | number | undefined>;
}

/** Sends a request; `body` objects go as JSON. */
export async function call(
  app: FastifyInstance,
  method: InjectOptions['method'],
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const opts: InjectOptions = { method, url, headers };
  if (body !== undefined) opts.payload = body as InjectOptions['payload'];
  const res = await app.inject(opts);
  let parsed: unknown = undefined;
  try {
    parsed = JSON.parse(res.body);
  } catch {
    parsed = undefined;
  }
  return { status: res.statusCode, body: parsed, text: res.body, headers: res.headers };
}

/** Asserts an error answer: status, the body's code, and a pattern for `details`. */
export function assertError(a: Answer, status: number, code: string, details?: RegExp): void {
  assert.equal(a.status, status, a.text);
  assert.match(String(a.headers['content-type']), /^application\/json/);
  const b = a.body as Record<string, unknown>;
  assert.equal(b['status_code'], status);
  assert.equal(b['code'], code);
  assert.equal(b['see_also'], 'docs/api.md#errors');
  assert.equal(typeof b['details'], 'string');
  if (details !== undefined) assert.match(String(b['details']), details);
}
