/**
 * The HTTP layer's tests run against the real service (src/server/state/romana-service.ts) over the
 * memory store. `FaultyService` wraps it to inject what the real one does not do on demand:
 * an operation that fails once, a service that is not ready, a watch that breaks mid-stream;
 * and it counts open watches so that tests can check streams are closed. Also the request
 * helpers the HTTP tests share.
 */
import assert from 'node:assert/strict';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { isRomanaError, type ErrorCode } from '../../src/errors.ts';
import {
  createRomanaService,
  type RomanaServiceOptions,
} from '../../src/server/state/romana-service.ts';
import type {
  PodInput,
  RomanaService,
  VipInput,
  WatchEvent,
  WatchHandle,
  WatchKind,
} from '../../src/server/state/service.ts';
import { MemoryStore } from '../../src/store/memory.ts';
import type { Store } from '../../src/store/store.ts';

interface OpenWatch {
  /** Ends the watch and reports `err` to its owner, as a failing store watch would. */
  fail(err: Error): void;
}

/**
 * A `RomanaService` that delegates every call to a real one, except:
 * - `failures`: the named operation throws (async ones reject) with that error, once;
 * - `readyOverride`: when set, what `ready()` answers;
 * - `breakWatches(err)`: fails every open watch with `err`.
 * `openWatches` counts watches opened and neither closed nor failed yet.
 */
export class FaultyService implements RomanaService {
  /** Errors to throw from the named operation instead of calling it (once). */
  readonly failures = new Map<keyof RomanaService, Error>();
  /** When set, `ready()` answers this instead of the real service. */
  readyOverride: boolean | undefined = undefined;
  readonly watches = new Set<OpenWatch>();

  /** `store`: closed after the service by `close()`, when given. */
  constructor(
    readonly real: RomanaService,
    readonly store?: Store,
  ) {}

  /** Watches open now. */
  get openWatches(): number {
    return this.watches.size;
  }

  protected fault(op: keyof RomanaService): void {
    const err = this.failures.get(op);
    if (err !== undefined) {
      this.failures.delete(op);
      throw err;
    }
  }

  ready(): boolean {
    this.fault('ready');
    return this.readyOverride ?? this.real.ready();
  }
  revision(): number {
    this.fault('revision');
    return this.real.revision();
  }

  listNetworks(): ReturnType<RomanaService['listNetworks']> {
    this.fault('listNetworks');
    return this.real.listNetworks();
  }
  listBlocks(): ReturnType<RomanaService['listBlocks']> {
    this.fault('listBlocks');
    return this.real.listBlocks();
  }
  listNetworkBlocks(network: string): ReturnType<RomanaService['listNetworkBlocks']> {
    this.fault('listNetworkBlocks');
    return this.real.listNetworkBlocks(network);
  }

  async allocate(
    req: Parameters<RomanaService['allocate']>[0],
  ): ReturnType<RomanaService['allocate']> {
    this.fault('allocate');
    return this.real.allocate(req);
  }
  async release(nameOrIp: string): ReturnType<RomanaService['release']> {
    this.fault('release');
    return this.real.release(nameOrIp);
  }
  getAddress(nameOrIp: string): ReturnType<RomanaService['getAddress']> {
    this.fault('getAddress');
    return this.real.getAddress(nameOrIp);
  }
  listAddresses(filter?: { host?: string }): ReturnType<RomanaService['listAddresses']> {
    this.fault('listAddresses');
    return this.real.listAddresses(filter);
  }

  async setAddressPod(name: string, pod: PodInput): ReturnType<RomanaService['setAddressPod']> {
    this.fault('setAddressPod');
    return this.real.setAddressPod(name, pod);
  }
  async clearAddressPod(name: string): ReturnType<RomanaService['clearAddressPod']> {
    this.fault('clearAddressPod');
    return this.real.clearAddressPod(name);
  }
  listNamespaces(): ReturnType<RomanaService['listNamespaces']> {
    this.fault('listNamespaces');
    return this.real.listNamespaces();
  }
  getNamespace(name: string): ReturnType<RomanaService['getNamespace']> {
    this.fault('getNamespace');
    return this.real.getNamespace(name);
  }
  async putNamespace(
    name: string,
    labels: Record<string, string>,
  ): ReturnType<RomanaService['putNamespace']> {
    this.fault('putNamespace');
    return this.real.putNamespace(name, labels);
  }
  async deleteNamespace(name: string): Promise<void> {
    this.fault('deleteNamespace');
    return this.real.deleteNamespace(name);
  }

  listHosts(): ReturnType<RomanaService['listHosts']> {
    this.fault('listHosts');
    return this.real.listHosts();
  }
  getHost(name: string): ReturnType<RomanaService['getHost']> {
    this.fault('getHost');
    return this.real.getHost(name);
  }
  async addHost(
    req: Parameters<RomanaService['addHost']>[0],
  ): ReturnType<RomanaService['addHost']> {
    this.fault('addHost');
    return this.real.addHost(req);
  }
  async removeHost(
    name: string,
    opts: { force: boolean },
  ): ReturnType<RomanaService['removeHost']> {
    this.fault('removeHost');
    return this.real.removeHost(name, opts);
  }
  async patchHost(
    name: string,
    patch: { tags?: unknown; k8s_info?: unknown },
  ): ReturnType<RomanaService['patchHost']> {
    this.fault('patchHost');
    return this.real.patchHost(name, patch);
  }

  getTopology(): ReturnType<RomanaService['getTopology']> {
    this.fault('getTopology');
    return this.real.getTopology();
  }
  previewTopology(doc: unknown): ReturnType<RomanaService['previewTopology']> {
    this.fault('previewTopology');
    return this.real.previewTopology(doc);
  }
  async updateTopology(doc: unknown): ReturnType<RomanaService['updateTopology']> {
    this.fault('updateTopology');
    return this.real.updateTopology(doc);
  }

  listBlackouts(): ReturnType<RomanaService['listBlackouts']> {
    this.fault('listBlackouts');
    return this.real.listBlackouts();
  }
  async addBlackout(cidr: string): ReturnType<RomanaService['addBlackout']> {
    this.fault('addBlackout');
    return this.real.addBlackout(cidr);
  }
  async removeBlackout(cidr: string): Promise<void> {
    this.fault('removeBlackout');
    return this.real.removeBlackout(cidr);
  }

  listPolicies(): ReturnType<RomanaService['listPolicies']> {
    this.fault('listPolicies');
    return this.real.listPolicies();
  }
  getPolicy(id: string): ReturnType<RomanaService['getPolicy']> {
    this.fault('getPolicy');
    return this.real.getPolicy(id);
  }
  async putPolicy(policy: unknown): ReturnType<RomanaService['putPolicy']> {
    this.fault('putPolicy');
    return this.real.putPolicy(policy);
  }
  async deletePolicy(id: string): Promise<void> {
    this.fault('deletePolicy');
    return this.real.deletePolicy(id);
  }

  listVips(): ReturnType<RomanaService['listVips']> {
    this.fault('listVips');
    return this.real.listVips();
  }
  getVip(name: string): ReturnType<RomanaService['getVip']> {
    this.fault('getVip');
    return this.real.getVip(name);
  }
  async putVip(name: string, input: VipInput): ReturnType<RomanaService['putVip']> {
    this.fault('putVip');
    return this.real.putVip(name, input);
  }
  async deleteVip(name: string): Promise<void> {
    this.fault('deleteVip');
    return this.real.deleteVip(name);
  }

  watch(
    kinds: readonly WatchKind[],
    fromRevision: number | undefined,
    onEvent: (e: WatchEvent) => void,
    onError: (err: Error) => void,
  ): WatchHandle {
    this.fault('watch');
    // `real` is set once the real watch is open; it may fail before that (synchronously).
    const state: { ended: boolean; real?: WatchHandle } = { ended: false };
    const end = (): void => {
      state.ended = true;
      this.watches.delete(w);
      state.real?.close();
    };
    const w: OpenWatch = {
      fail: (err) => {
        if (state.ended) return;
        end();
        onError(err);
      },
    };
    // A compacted revision makes the real service throw here: then nothing is open.
    state.real = this.real.watch(kinds, fromRevision, onEvent, w.fail);
    if (state.ended) state.real.close();
    else this.watches.add(w);
    return { close: end };
  }

  /** Fails every open watch with `err`, as a store that lost its history would. */
  breakWatches(err: Error): void {
    for (const w of [...this.watches]) w.fail(err);
  }

  async close(): Promise<void> {
    await this.real.close();
    await this.store?.close();
  }
}

/** The real service over a fresh memory store, wrapped. */
export async function realService(
  opts: Omit<RomanaServiceOptions, 'store'> = {},
): Promise<FaultyService> {
  const store = new MemoryStore();
  return new FaultyService(await createRomanaService({ ...opts, store }), store);
}

/** A topology of two racks and one network, as the HTTP tests use it. */
export const TOPOLOGY = {
  networks: [{ name: 'net1', cidr: '10.0.0.0/16', block_mask: 28 }],
  topologies: [{ networks: ['net1'], map: [{ name: 'rack-1' }, { name: 'rack-2' }] }],
};

/**
 * Store revisions of a `seededService()`: applying the initial topology takes three
 * (fence, network, topology), and the networks carry the last; adding h1 takes the next.
 */
export const TOPOLOGY_REVISION = 3;
export const H1_REVISION = 4;

/** The real service with `TOPOLOGY` and one host, h1 (192.168.0.1). */
export async function seededService(
  opts: Omit<RomanaServiceOptions, 'store' | 'initialTopology'> = {},
): Promise<FaultyService> {
  const s = await realService({ ...opts, initialTopology: TOPOLOGY });
  assert.equal(s.revision(), TOPOLOGY_REVISION, 'revision after the initial topology');
  await s.addHost({ name: 'h1', ip: '192.168.0.1' });
  assert.equal(s.revision(), H1_REVISION, 'revision after adding h1');
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

/** The service-level tests' topology: one /16 in /29 blocks, two groups. */
/** A topology document as the tests write it (the engine checks the rest). */
export type TopologyDoc = {
  networks: Array<Record<string, unknown>>;
  topologies: Array<{ networks: string[]; map: Array<Record<string, unknown>> }>;
};

export const PODS_TOPOLOGY: TopologyDoc = {
  networks: [{ name: 'pods', cidr: '10.0.0.0/16', block_mask: 29 }],
  topologies: [{ networks: ['pods'], map: [{ name: 'r1' }, { name: 'r2' }] }],
};

/** `base` (by default `PODS_TOPOLOGY`) with `hosts` declared in its first group, r1. */
export function withHosts(
  hosts: Array<Record<string, unknown>>,
  base: TopologyDoc = PODS_TOPOLOGY,
): TopologyDoc {
  const doc = structuredClone(base);
  doc.topologies[0]!.map[0]!['groups'] = hosts;
  return doc;
}

/** The real service over `store` with `PODS_TOPOLOGY` and hosts h1 and h2. */
export async function serviceWithHosts(store = new MemoryStore()): Promise<RomanaService> {
  const svc = await createRomanaService({ store, initialTopology: PODS_TOPOLOGY });
  await svc.addHost({ name: 'h1', ip: '192.168.0.1' });
  await svc.addHost({ name: 'h2', ip: '192.168.0.2' });
  return svc;
}

/** Asserts that `p` rejects with a RomanaError of `code` whose message matches `re`. */
export async function rejectsWith(p: Promise<unknown>, code: ErrorCode, re: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isRomanaError(e, code), `expected ${code}, got ${String(e)}`);
    assert.match(e.message, re);
    return true;
  });
}

/**
 * Runs `check` until it passes, every 5 ms, for at most `ms`; then its last failure is thrown.
 *
 * @example await eventually(() => assert.equal(svc.getHost('y').ip, '192.168.0.11'));
 */
export async function eventually(check: () => void | Promise<void>, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      await check();
      return;
    } catch (err) {
      if (Date.now() > end) throw err;
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}

/** The events `svc` publishes from now on, of topology, hosts, blocks and addresses. */
export function collectEvents(svc: RomanaService): WatchEvent[] {
  const seen: WatchEvent[] = [];
  svc.watch(
    ['topology', 'hosts', 'blocks', 'addresses'],
    svc.revision() + 1,
    (e) => seen.push(e),
    () => undefined,
  );
  return seen;
}

/** Every key and value `store` holds, in key order. */
export async function dumpStore(store: Store): Promise<Array<[string, string]>> {
  return (await store.range('')).kvs.map((kv) => [kv.key, kv.value]);
}
