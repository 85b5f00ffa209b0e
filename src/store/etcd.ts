/**
 * etcd v3 backend over the `etcd3` client's raw gRPC calls. Every store key lives under
 * `<prefix>/` (default `/romana/`), so several Romana installations can share one etcd.
 *
 * Retries: the client's built-in retry and circuit-breaker policies are replaced by ours. Reads
 * are retried on any connection error (they are idempotent). A transaction is retried only when
 * no connection was established (the request cannot have reached etcd); after that, a failure
 * is reported as `Unavailable`, because the transaction may or may not have been applied and
 * only the caller, by re-reading, can tell. Each retry may pick another endpoint.
 *
 * Health: a write that fails (etcd out of space, unreachable) makes `health()` unwritable until
 * a probe write succeeds again (`etcd-write-health.ts`), so `/readyz` follows.
 */
import { readFileSync, type PathOrFileDescriptor } from 'node:fs';
import { rootCertificates } from 'node:tls';
import {
  Etcd3,
  type IDuplexStream,
  type IKeyValue,
  type IOptions,
  type IRangeResponse,
} from 'etcd3';
import { RomanaError, invalidInput } from '../errors.ts';
import {
  decodeTxnResponse,
  decodeWatchResponse,
  encodeTxn,
  encodeWatchRequest,
  TXN_METHOD,
  WATCH_METHOD,
  type WatchRequest,
  type WatchResponse,
} from './etcd-wire.ts';
import { EtcdWatch } from './etcd-watch.ts';
import { WriteHealth } from './etcd-write-health.ts';
import { validateTxn } from './kv-state.ts';
import type {
  Compactable,
  Compare,
  KeyValue,
  Op,
  Store,
  StoreHealth,
  TxnResult,
  Watch,
  WatchEvent,
} from './store.ts';

/**
 * Options of `EtcdStore`.
 *
 * @example
 * new EtcdStore({ endpoints: ['https://etcd-0:2379'], prefix: '/romana',
 *                 tls: { ca: '/etc/romana/etcd-ca.pem', cert: '/etc/romana/etcd.pem', key: '/etc/romana/etcd-key.pem' } })
 */
export interface EtcdStoreOptions {
  /** Client URLs or host:port pairs, e.g. `['127.0.0.1:2379']` or `['https://etcd-0:2379']`. */
  endpoints: string[];
  /** Key prefix of this installation. Default `/romana`. */
  prefix?: string;
  /** PEM file paths; `ca` defaults to the system roots. Setting `tls` implies https. */
  tls?: { ca?: string; cert?: string; key?: string };
  /**
   * Deadline of one request, in ms. Default 3000: a request stuck on a frozen member fails
   * then (new requests avoid that member after `SUSPECT_MS` already).
   */
  requestTimeoutMs?: number;
  /** Attempts of one request when etcd is unreachable (see module comment). Default 3. */
  attempts?: number;
  /**
   * How often (ms) a watch checks that its member keeps up with the cluster (0: never); a
   * member cut off from the others is left for another. Default 10000.
   */
  watchProbeMs?: number;
}

type Policy = NonNullable<NonNullable<IOptions['faultHandling']>['global']>;

/** A watch stream of `EtcdClient.watchStream`. */
export type WatchStream = IDuplexStream<WatchRequest, WatchResponse>;

/**
 * The client, with transactions and watches in our own message forms (`etcd-wire.ts`) through
 * its connection pool: the same endpoints, credentials and fault policies as its own calls.
 */
export class EtcdClient extends Etcd3 {
  readonly #timeoutMs: number;

  constructor(options: IOptions, timeoutMs: number) {
    super(options);
    this.#timeoutMs = timeoutMs;
  }

  txnEncoded(request: Buffer): Promise<{ succeeded: boolean; revision: number }> {
    return this.pool.withConnection(
      'KV',
      ({ client, metadata }) =>
        new Promise<{ succeeded: boolean; revision: number }>((resolve, reject) => {
          client.makeUnaryRequest(
            TXN_METHOD,
            (b: Buffer) => b,
            decodeTxnResponse,
            request,
            metadata,
            { deadline: Date.now() + this.#timeoutMs },
            (err, res) => (err ? reject(err) : resolve(res!)),
          );
        }),
    );
  }

  /** A watch stream on one of the endpoints; an endpoint whose stream fails is marked so. */
  watchStream(): Promise<WatchStream> {
    return this.pool.withConnection('Watch', ({ resource, client, metadata }) => {
      const stream = client.makeBidiStreamRequest(
        WATCH_METHOD,
        encodeWatchRequest,
        decodeWatchResponse,
        metadata,
        {},
      );
      stream.on('error', (err: Error) => stream.writable && this.pool.markFailed(resource, err));
      return stream as unknown as WatchStream;
    });
  }
}

/** The signal of a call made without one: never aborted (one for all, not one per call). */
const NEVER_ABORTED = new AbortController().signal;

/** Runs the call once: retries are done by `EtcdStore.#call`. */
const passthrough = {
  execute: async (fn: (ctx: { signal: AbortSignal }) => unknown, signal?: AbortSignal) =>
    fn({ signal: signal ?? NEVER_ABORTED }),
  onSuccess: () => ({ dispose: () => {} }),
  onFailure: () => ({ dispose: () => {} }),
} as unknown as Policy;

/** After a failure, an endpoint is avoided for this long, doubling per failure in a row. */
const DOWN_MS = 500;
const MAX_DOWN_MS = 10_000;
/** An endpoint with a request unanswered for this long is avoided by new requests. */
const SUSPECT_MS = 1000;

interface EndpointState {
  downUntil: number;
  failures: number;
  /** Start times of the requests it has not answered yet. */
  pending: Set<{ at: number }>;
}

/**
 * Which endpoints new requests should avoid. A member that is down refuses connections, but a
 * frozen or cut-off one accepts them and answers nothing: each request sent there hangs until
 * its deadline. So an endpoint is avoided after a connection failure or a timeout (for a while
 * that doubles while it keeps failing), and as soon as one of its requests has gone unanswered
 * for `SUSPECT_MS`, without waiting for the deadline. It is used anyway when every endpoint is
 * to be avoided: a slow cluster is slow everywhere. Once its pause is over, an endpoint that
 * failed gets reads again (a read that fails is retried elsewhere), but writes only after it
 * answered one: a write that times out may or may not have been applied and is not retried.
 *
 * Works through the client's per-host fault policy: a request the policy refuses never reaches
 * the endpoint, so the client's pool tries the next one within the same call.
 */
class EndpointHealth {
  readonly #all = new Map<string, EndpointState>();

  /** The policy of `endpoint` for the client of reads or the client of writes (`kind`). */
  policy(endpoint: string, kind: 'read' | 'write'): Policy {
    const me = this.#stateOf(endpoint);
    const write = kind === 'write';
    return {
      execute: async (fn: (ctx: { signal: AbortSignal }) => unknown, signal?: AbortSignal) => {
        const now = Date.now();
        const fit = (s: EndpointState) => this.#healthy(s, now) && !(write && s.failures > 0);
        if (!fit(me) && [...this.#all.values()].some(fit)) {
          throw new Error(
            `No connection established to etcd endpoint ${endpoint} (avoided: it failed or is not answering)`,
          );
        }
        const call = { at: now };
        me.pending.add(call);
        try {
          const r = await fn({ signal: signal ?? NEVER_ABORTED });
          me.failures = 0;
          me.downUntil = 0;
          return r;
        } catch (err) {
          if (/UNAVAILABLE|ECONNREFUSED|DEADLINE_EXCEEDED|Deadline exceeded/i.test(String(err))) {
            me.failures++;
            me.downUntil = Date.now() + Math.min(MAX_DOWN_MS, DOWN_MS * 2 ** (me.failures - 1));
          }
          throw err;
        } finally {
          me.pending.delete(call);
        }
      },
      onSuccess: () => ({ dispose: () => {} }),
      onFailure: () => ({ dispose: () => {} }),
    } as unknown as Policy;
  }

  /** One state per endpoint, shared by the policies of both clients. */
  #stateOf(endpoint: string): EndpointState {
    let state = this.#all.get(endpoint);
    if (state === undefined) {
      state = { downUntil: 0, failures: 0, pending: new Set() };
      this.#all.set(endpoint, state);
    }
    return state;
  }

  #healthy(s: EndpointState, now: number): boolean {
    if (now < s.downUntil) return false;
    for (const c of s.pending) if (now - c.at >= SUSPECT_MS) return false;
    return true;
  }
}

const PAGE = 500;
/** Key (under the prefix) of the write probe; never written (see `#probeWrite`). */
const PROBE_KEY = '.write-probe';

/**
 * A `Store` on an etcd v3 cluster.
 *
 * @example
 * const store = new EtcdStore({ endpoints: ['127.0.0.1:2379'], prefix: '/romana' });
 * const { kvs, revision } = await store.range('hosts/');
 * await store.close();
 */
export class EtcdStore implements Store, Compactable {
  readonly endpoints: string;
  /**
   * One client for reads (and watches), one for writes: each endpoint's policy then knows
   * which a request is without tracking it through the client's asynchronous calls (an
   * `AsyncLocalStorage` did, and made every promise of the process pay for it).
   */
  readonly #clients: Record<'read' | 'write', EtcdClient>;
  readonly #prefix: Buffer;
  /** `#prefix` as text: a key's full form is built in one step. */
  readonly #prefixText: string;
  readonly #attempts: number;
  readonly #watchProbeMs: number;
  readonly #health = new EndpointHealth();
  readonly #writes = new WriteHealth(() => this.#probeWrite());
  #closed = false;
  #watches = new Set<Watch>();

  constructor(options: EtcdStoreOptions) {
    if (options.endpoints.length === 0) throw invalidInput('etcd: no endpoints given');
    const prefix = (options.prefix ?? '/romana').replace(/\/+$/, '');
    this.#prefixText = prefix === '' ? '' : `${prefix}/`;
    this.#prefix = Buffer.from(this.#prefixText, 'utf8');
    this.#attempts = Math.max(1, options.attempts ?? 3);
    this.#watchProbeMs = options.watchProbeMs ?? 10_000;
    const hosts = options.endpoints.map((e) =>
      options.tls && !/^https?:\/\//.test(e) ? `https://${e}` : e,
    );
    this.endpoints = hosts.join(',');
    const timeout = options.requestTimeoutMs ?? 3000;
    const credentials = options.tls ? { credentials: tlsCredentials(options.tls) } : {};
    const client = (kind: 'read' | 'write') =>
      new EtcdClient(
        {
          hosts,
          ...credentials,
          grpcOptions: {
            'grpc.max_receive_message_length': 64 * 1024 * 1024,
            'grpc.keepalive_time_ms': 10_000,
            'grpc.keepalive_timeout_ms': 5_000,
          },
          defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeout }),
          faultHandling: { global: passthrough, host: (h) => this.#health.policy(h, kind) },
        },
        timeout,
      );
    this.#clients = { read: client('read'), write: client('write') };
  }

  async get(key: string): Promise<KeyValue | undefined> {
    this.#checkOpen();
    const res = await this.#call('read', `get ${key}`, (c) => c.kv.range({ key: this.#full(key) }));
    const kv = res.kvs[0];
    return kv === undefined ? undefined : this.#toKeyValue(kv);
  }

  async range(prefix: string): Promise<{ kvs: KeyValue[]; revision: number }> {
    this.#checkOpen();
    const start = this.#full(prefix);
    const end = prefixEnd(start);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#rangePages(start, end);
      } catch (err) {
        // The snapshot revision was compacted between two pages: start over at a newer one.
        if (attempt >= 3 || !/compacted/.test((err as Error).message))
          throw this.#map(err, `range ${prefix}`);
      }
    }
  }

  async #rangePages(start: Buffer, end: Buffer): Promise<{ kvs: KeyValue[]; revision: number }> {
    const kvs: KeyValue[] = [];
    let revision = 0;
    let key = start;
    for (;;) {
      const page: IRangeResponse = await this.#call('read', 'range', (c) =>
        c.kv.range({
          key,
          range_end: end,
          limit: PAGE,
          ...(revision > 0 ? { revision } : {}),
        }),
      );
      if (revision === 0) revision = Number(page.header.revision);
      for (const kv of page.kvs) kvs.push(this.#toKeyValue(kv));
      const last = page.kvs[page.kvs.length - 1];
      if (!page.more || last === undefined) return { kvs, revision };
      key = Buffer.concat([last.key, Buffer.from([0])]);
    }
  }

  async txn(compares: Compare[], ops: Op[]): Promise<TxnResult> {
    this.#checkOpen();
    validateTxn(compares, ops);
    const request = encodeTxn(this.#prefixText, compares, ops);
    let res;
    try {
      res = await this.#call('write', 'txn', (c) => c.txnEncoded(request));
    } catch (err) {
      this.#writes.failed(err as Error, isNoSpace(err));
      throw err;
    }
    // A lost compare too: etcd charges the puts against its quota whatever the compares decide.
    // A transaction of deletes alone proves nothing: etcd allows deletes at its quota.
    if (ops.some((op) => op.type === 'put')) this.#writes.succeeded();
    return res;
  }

  watch(
    prefix: string,
    fromRevision: number,
    onEvents: (events: WatchEvent[], revision: number) => void,
    onError: (err: Error) => void,
  ): Watch {
    this.#checkOpen();
    const key = this.#full(prefix);
    const plen = this.#prefix.length;
    const w = new EtcdWatch(
      {
        client: this.#clients.read,
        key,
        rangeEnd: prefixEnd(key),
        unprefix: (k) => k.subarray(plen).toString('utf8'),
        endpoints: this.endpoints,
        probeMs: this.#watchProbeMs,
      },
      fromRevision,
      onEvents,
      (err) => {
        this.#watches.delete(handle);
        onError(err);
      },
    );
    const handle: Watch = {
      close: () => {
        this.#watches.delete(handle);
        w.close();
      },
    };
    this.#watches.add(handle);
    return handle;
  }

  async revision(): Promise<number> {
    this.#checkOpen();
    const res = await this.#call('read', 'revision', (c) =>
      c.kv.range({
        key: this.#prefix.length > 0 ? this.#prefix : Buffer.from([0]),
        count_only: true,
      }),
    );
    return Number(res.header.revision);
  }

  /**
   * Compacts etcd's history (the whole cluster's, not only this prefix) up to `revision`.
   * Compacting an already compacted revision is a no-op.
   */
  async compact(revision: number): Promise<void> {
    this.#checkOpen();
    try {
      await this.#call('write', 'compact', (c) => c.kv.compact({ revision }));
    } catch (err) {
      if (/compacted/.test((err as Error).message)) return;
      throw err;
    }
  }

  /**
   * Not writable while closed, and after a failed write until a write succeeds again (the
   * problem is etcd's answer, e.g. "etcdserver: mvcc: database space exceeded").
   */
  health(): StoreHealth {
    if (this.#closed) return { writable: false, problem: 'etcd store is closed' };
    const problem = this.#writes.problem;
    return problem === undefined ? { writable: true } : { writable: false, problem };
  }

  /** Write probes run so far (see `health`); tests wait on it. */
  get writeProbes(): number {
    return this.#writes.probes;
  }

  /**
   * A write that changes nothing but needs etcd's write quota: a put under a compare that never
   * holds (a version below 0). etcd checks the quota on the puts a transaction holds whatever
   * its compares decide, and refuses them while its NOSPACE alarm is raised; a delete would not
   * prove anything (etcd allows deletes then). No revision, no watch event.
   */
  async #probeWrite(): Promise<void> {
    const key = this.#full(PROBE_KEY);
    await this.#call('write', 'write probe', (c) =>
      c.kv.txn({
        compare: [{ key, target: 'Version', result: 'Less', version: 0 }],
        success: [{ request_put: { key, value: Buffer.alloc(0) } }],
        failure: [],
      }),
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#writes.close();
    for (const w of [...this.#watches]) w.close();
    this.#clients.read.close();
    this.#clients.write.close();
  }

  /** One request with our retry rule (module comment); errors come out as `RomanaError`s. */
  async #call<T>(
    kind: 'read' | 'write',
    what: string,
    fn: (client: EtcdClient) => Promise<T>,
  ): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn(this.#clients[kind]);
      } catch (err) {
        const retry = kind === 'read' ? isUnavailable(err) : neverSent(err);
        if (!retry || attempt >= this.#attempts || this.#closed) throw this.#map(err, what);
        await new Promise((r) => setTimeout(r, 50 * 2 ** (attempt - 1) * (0.5 + Math.random())));
      }
    }
  }

  #map(err: unknown, what: string): Error {
    if (err instanceof RomanaError) return err;
    const msg = err instanceof Error ? err.message : String(err);
    const opts = { resourceType: 'store', resourceId: this.endpoints, cause: err };
    if (isUnavailable(err)) {
      return new RomanaError(
        'Unavailable',
        `etcd at ${this.endpoints} is unavailable (${what}): ${msg}`,
        opts,
      );
    }
    if (isNoSpace(err)) {
      return new RomanaError(
        'Unavailable',
        `etcd at ${this.endpoints} refuses writes: ${msg}`,
        opts,
      );
    }
    if (/compacted/.test(msg))
      return new RomanaError('Compacted', `etcd ${what}: revision compacted: ${msg}`, opts);
    if (/future rev/.test(msg)) return invalidInput(`etcd ${what}: ${msg}`, opts);
    return new RomanaError('Internal', `etcd at ${this.endpoints}: ${what} failed: ${msg}`, opts);
  }

  #full(key: string): Buffer {
    return Buffer.from(this.#prefixText + key, 'utf8');
  }

  #toKeyValue(kv: IKeyValue): KeyValue {
    return {
      key: kv.key.subarray(this.#prefix.length).toString('utf8'),
      value: kv.value.toString('utf8'),
      modRevision: Number(kv.mod_revision),
      createRevision: Number(kv.create_revision),
    };
  }

  #checkOpen(): void {
    if (this.#closed)
      throw new RomanaError('Unavailable', `etcd store (${this.endpoints}) is closed`);
  }
}

/**
 * The end of the key range of all keys starting with `prefix` (etcd's `range_end`).
 *
 * @example prefixEnd(Buffer.from('/romana/')).toString() // '/romana0'
 */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]); // all keys
}

/** A connection-level failure: etcd unreachable, timed out, or without leader. */
function isUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return (
    /GRPCUnavailable|GRPCDeadlineExceeded|BrokenCircuit|ClientClosed/.test(
      err.constructor.name + ' ' + err.name,
    ) ||
    /UNAVAILABLE|DEADLINE_EXCEEDED|Deadline exceeded|No connection established|ECONNREFUSED|etcdserver: (no leader|leader changed|request timed out)/i.test(
      err.message,
    )
  );
}

/** etcd refuses writes: its backend is at the quota (the NOSPACE alarm). */
function isNoSpace(err: unknown): boolean {
  return err instanceof Error && /database space exceeded/.test(err.message);
}

/** The request cannot have reached etcd, so even a write may be retried. */
function neverSent(err: unknown): boolean {
  return (
    err instanceof Error &&
    /No connection established|ECONNREFUSED|ENOTFOUND|EHOSTUNREACH/.test(err.message)
  );
}

function tlsCredentials(
  tls: NonNullable<EtcdStoreOptions['tls']>,
): NonNullable<IOptions['credentials']> {
  const read = (what: string, file: PathOrFileDescriptor): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw invalidInput(
        `etcd TLS ${what} file ${String(file)} cannot be read: ${(err as Error).message}`,
      );
    }
  };
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw invalidInput('etcd TLS: a client certificate needs both cert and key');
  }
  return {
    rootCertificate:
      tls.ca !== undefined ? read('CA', tls.ca) : Buffer.from(rootCertificates.join('\n')),
    ...(tls.key !== undefined ? { privateKey: read('key', tls.key) } : {}),
    ...(tls.cert !== undefined ? { certChain: read('cert', tls.cert) } : {}),
  };
}
