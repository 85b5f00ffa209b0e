/**
 * A Kubernetes API server for tests, speaking the real wire protocol (JSON over plain HTTP)
 * well enough that `@kubernetes/client-node` and `kubectl` 1.32 cannot tell it from
 * kube-apiserver for what the listener does: discovery, list (selectors, pagination), watch
 * (resume from a resourceVersion, bookmarks, 410 Expired after compaction), create, get,
 * update (resourceVersion conflicts), patch (merge, strategic merge, JSON patch), delete,
 * /status subresources. No controllers, no admission beyond "the namespace exists" (and is
 * not Terminating), no auth unless `token` is set. Objects are deleted at once, except objects
 * with finalizers (they wait for them, as on the real server), namespaces (Terminating for
 * `namespaceDeletionMs`, then gone with their contents) and, with `gracefulPodDeletion`, pods
 * bound to a node (gone on a second delete with grace 0, as a kubelet sends).
 * docs/testing.md lists the other deliberate differences.
 *
 * @example
 * import { startKubeApiServer } from '../test/helpers/kube-apiserver/index.ts';
 * const api = await startKubeApiServer();            // a reserved port (test/helpers/ports.ts)
 * after(() => api.close());
 * const kc = new k8s.KubeConfig();
 * kc.loadFromFile(api.kubeconfigPath);               // or: kubectl --kubeconfig <path> get nodes
 * api.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' } });
 * api.requests;                                      // [{verb: 'list', resource: 'nodes', …}]
 * api.compact();                                     // watches from older versions get 410
 * api.restart();                                     // ends watches; every client must relist
 * api.patch('v1', 'Pod', 'p1', 'default', { metadata: { labels: { app: 'x' } } }); // merge
 * await api.stopListening(); await api.startListening(); // an outage, same port
 *
 * Standalone: `npm run kube-apiserver -- --port 6443 --request-log /tmp/k8s.jsonl`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { findByKind, type ResourceInfo } from './resources.ts';
import type { RequestRecord } from './routes.ts';
import { createHttpServer, type ServerContext } from './server.ts';
import { applyPatch } from './patch.ts';
import { badRequest, notFound } from './status.ts';
import { asKubeObject, Store, type DeleteOptions, type KubeObject } from './store.ts';
import { reservePort } from '../ports.ts';

const PATCH_NAMES = {
  merge: 'merge-patch',
  strategic: 'strategic-merge-patch',
  json: 'json-patch',
};

export type { KubeObject, ObjectMeta, Change, DeleteOptions } from './store.ts';
export type { RequestRecord } from './routes.ts';
export { Store } from './store.ts';
export { RESOURCES, type ResourceInfo } from './resources.ts';

export interface KubeApiServerOptions {
  /** Default: a reserved port (test/helpers/ports.ts), so that a restart gets it back. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Interval between BOOKMARK events on watches that allow them (default 1000 ms). */
  bookmarkMs?: number;
  /** Changes kept for watches to replay (default 10000); older versions answer 410. */
  historyLimit?: number;
  /** Also append every request record as a JSON line to this file. */
  requestLog?: string;
  /**
   * How a watch from a compacted version is refused: 'status' (default) is an HTTP 410 with
   * an Expired Status body; 'event' is a 200 stream with one ERROR event carrying it.
   */
  tooOldWatch?: 'status' | 'event';
  /** Namespaces that exist at start (default: default, kube-system, kube-public, kube-node-lease). */
  namespaces?: string[];
  /** Require `Authorization: Bearer <token>` (the kubeconfig carries it). */
  token?: string;
  /**
   * Delete pods bound to a node gracefully, as with a kubelet: the first delete only sets
   * deletionTimestamp; `delete(…, { gracePeriodSeconds: 0 })` (what a kubelet sends) removes
   * the pod. Default false: every pod goes at once.
   */
  gracefulPodDeletion?: boolean;
  /** How long a deleted namespace stays Terminating before it and its contents go (1000 ms). */
  namespaceDeletionMs?: number;
}

export interface KubeApiServer {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  readonly port: number;
  /** A kubeconfig (current context "test", namespace default) for kubectl and client-node. */
  readonly kubeconfigPath: string;
  readonly store: Store;
  /** Every request so far, in order; clear it with `requests.length = 0`. */
  readonly requests: RequestRecord[];
  /** Watches currently streaming. */
  readonly watchCount: number;
  create(obj: KubeObject): KubeObject;
  get(apiVersion: string, kind: string, name: string, namespace?: string): KubeObject | undefined;
  list(apiVersion: string, kind: string, namespace?: string): KubeObject[];
  /** Replaces an object (status kept where the resource has a status subresource). */
  update(obj: KubeObject): KubeObject;
  /** Replaces only the status. */
  updateStatus(obj: KubeObject): KubeObject;
  delete(
    apiVersion: string,
    kind: string,
    name: string,
    namespace?: string,
    options?: DeleteOptions,
  ): KubeObject;
  /**
   * Patches an object like a PATCH request (`type` merge by default; 'status' patches the
   * status subresource).
   */
  patch(
    apiVersion: string,
    kind: string,
    name: string,
    namespace: string | undefined,
    patch: unknown,
    options?: { type?: 'merge' | 'strategic' | 'json'; subresource?: 'status' },
  ): KubeObject;
  /** Drops history; `expireWatches`: running watches end with an ERROR 410 event. */
  compact(options?: { expireWatches?: boolean }): void;
  /**
   * What clients see when kube-apiserver restarts: every watch ends, idle connections close,
   * history is dropped and the version moves on, so each client's next watch gets 410 and
   * relists. Objects stay.
   */
  restart(): void;
  /** Stops accepting connections and closes every open one (objects and history stay). */
  stopListening(): Promise<void>;
  /** Listens again on the same port. */
  startListening(): Promise<void>;
  close(): Promise<void>;
}

function infoOf(apiVersion: string | undefined, kind: string | undefined): ResourceInfo {
  const info = findByKind(apiVersion ?? '', kind ?? '');
  if (info === undefined) throw badRequest(`no resource for ${apiVersion ?? '?'} ${kind ?? '?'}`);
  return info;
}

function kubeconfig(url: string, token: string | undefined): string {
  const user = token === undefined ? '{}' : `{ token: ${JSON.stringify(token)} }`;
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    `- name: test`,
    // client-node refuses plain http unless TLS verification is off; kubectl does not mind.
    `  cluster: { server: ${JSON.stringify(url)}, insecure-skip-tls-verify: true }`,
    'users:',
    `- name: test`,
    `  user: ${user}`,
    'contexts:',
    '- name: test',
    '  context: { cluster: test, user: test, namespace: default }',
    'current-context: test',
    '',
  ].join('\n');
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

type ObjectHelpers = Pick<
  KubeApiServer,
  'create' | 'get' | 'list' | 'update' | 'updateStatus' | 'delete' | 'patch'
>;

/** In-process reads and writes by apiVersion and kind (not in the request log). */
function objectHelpers(store: Store): ObjectHelpers {
  const nsOf = (info: ResourceInfo, ns: string | undefined): string =>
    info.namespaced ? (ns ?? 'default') : '';
  return {
    create: (obj) => {
      const info = infoOf(obj.apiVersion, obj.kind);
      return store.create(info, nsOf(info, obj.metadata.namespace), obj);
    },
    get: (apiVersion, kind, name, namespace) => {
      const info = infoOf(apiVersion, kind);
      return store.get(info, nsOf(info, namespace), name);
    },
    list: (apiVersion, kind, namespace) => store.list(infoOf(apiVersion, kind), namespace),
    update: (obj) => {
      const info = infoOf(obj.apiVersion, obj.kind);
      return store.update(info, nsOf(info, obj.metadata.namespace), obj, 'main');
    },
    updateStatus: (obj) => {
      const info = infoOf(obj.apiVersion, obj.kind);
      return store.update(info, nsOf(info, obj.metadata.namespace), obj, 'status');
    },
    delete: (apiVersion, kind, name, namespace, opts) => {
      const info = infoOf(apiVersion, kind);
      return store.delete(info, nsOf(info, namespace), name, opts);
    },
    patch: (apiVersion, kind, name, namespace, body, opts = {}) => {
      const info = infoOf(apiVersion, kind);
      const ns = nsOf(info, namespace);
      const current = store.get(info, ns, name);
      if (current === undefined) throw notFound(info, name);
      const type = `application/${PATCH_NAMES[opts.type ?? 'merge']}+json`;
      const patched = asKubeObject(applyPatch(type, current, body));
      return store.update(info, ns, patched, opts.subresource === 'status' ? 'status' : 'main');
    },
  };
}

/** The server's state, with the starting namespaces created. */
function contextFor(store: Store, options: KubeApiServerOptions): ServerContext {
  const nsInfo = infoOf('v1', 'Namespace');
  const seed = options.namespaces ?? ['default', 'kube-system', 'kube-public', 'kube-node-lease'];
  for (const name of seed) store.create(nsInfo, '', { metadata: { name } });
  return {
    store,
    bookmarkMs: options.bookmarkMs ?? 1000,
    tooOldWatch: options.tooOldWatch ?? 'status',
    live: new Set(),
    requests: [],
    requestLog: options.requestLog,
    token: options.token,
    sockets: new Set<Socket>(),
  };
}

/** Starts a test API server; see the file comment. */
export async function startKubeApiServer(
  options: KubeApiServerOptions = {},
): Promise<KubeApiServer> {
  const store = new Store({
    historyLimit: options.historyLimit ?? 10_000,
    gracefulPods: options.gracefulPodDeletion ?? false,
    namespaceDeletionMs: options.namespaceDeletionMs ?? 1000,
  });
  const ctx = contextFor(store, options);
  const host = options.host ?? '127.0.0.1';
  const server = createHttpServer(ctx);
  // A reserved port, not port 0: stopListening/startListening come back on it.
  const port = await listen(server, options.port ?? (await reservePort(host)), host);
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kube-apiserver-'));
  const kubeconfigPath = path.join(dir, 'kubeconfig');
  writeFileSync(kubeconfigPath, kubeconfig(url, options.token));

  const endWatches = (): void => {
    for (const finish of [...ctx.live]) finish();
  };
  const stopListening = async (): Promise<void> => {
    endWatches();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of ctx.sockets) s.destroy();
    await closed;
  };
  return {
    url,
    port,
    kubeconfigPath,
    store,
    requests: ctx.requests,
    get watchCount() {
      return ctx.live.size;
    },
    ...objectHelpers(store),
    compact: (opts = {}) => store.compact({ expireWatches: opts.expireWatches === true }),
    restart: () => {
      endWatches();
      store.compact({ bump: true });
      server.closeIdleConnections();
    },
    stopListening,
    startListening: async () => {
      await listen(server, port, host);
    },
    close: async () => {
      store.dispose();
      if (server.listening) await stopListening();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
