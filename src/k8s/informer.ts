/**
 * List/watch informers over the official client (`@kubernetes/client-node` 1.x): the client's
 * `ListWatch` cache, with what it leaves to its user:
 *
 * - watches ask for bookmarks (`allowWatchBookmarks`), so that a quiet resource's
 *   resourceVersion still advances and a reconnect resumes from a recent version;
 * - a watch that ends resumes from the last resourceVersion seen; `410 Gone` (as a status or as
 *   an ERROR event) makes the client list again, and the objects gone meanwhile are reported as
 *   deletions;
 * - any other failure (the API server down, a 5xx) stops the client's informer: it is started
 *   again here with backoff, resuming from the last resourceVersion;
 * - `synced` turns true once the first list has been applied.
 */
import { invalidInput } from '../errors.ts';
import {
  KubeConfig,
  ListWatch,
  Watch,
  type KubernetesListObject,
  type KubernetesObject,
} from '@kubernetes/client-node';

export type Handler<T> = (obj: T) => void;

export interface InformerOptions<T extends KubernetesObject> {
  /** Short name for logs and metrics, e.g. `nodes`. */
  name: string;
  /** Watch path, e.g. `/api/v1/nodes`. */
  path: string;
  list(): Promise<KubernetesListObject<T>>;
  onAdd?: Handler<T>;
  onUpdate?: Handler<T>;
  onDelete?: Handler<T>;
  /** A list or watch failed (it is retried). */
  onError?(err: unknown): void;
  /** A list finished (the first, or a relist after 410 or a restart). */
  onList?(): void;
  /** Pause before restarting after a failure: doubled from `backoffMs` up to `maxBackoffMs`. */
  backoffMs?: number;
  maxBackoffMs?: number;
}

/** A Watch that asks for bookmarks and counts the watch requests it makes. */
class BookmarkWatch extends Watch {
  requests = 0;
  onRequest?: (params: Record<string, unknown>) => void;

  override watch(
    path: string,
    queryParams: Record<string, unknown>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    this.requests++;
    this.onRequest?.(queryParams);
    return super.watch(path, { ...queryParams, allowWatchBookmarks: true }, callback, done);
  }
}

/**
 * One resource's cache, kept in step with the API server until `stop()`.
 *
 * @example
 * const nodes = new Informer(kc, { name: 'nodes', path: '/api/v1/nodes',
 *   list: () => core.listNode(), onAdd: (n) => queue.add(n.metadata!.name!) });
 * nodes.start();
 */
export class Informer<T extends KubernetesObject> {
  readonly name: string;
  readonly #lw: ListWatch<T>;
  readonly #opts: InformerOptions<T>;
  #synced = false;
  #stopped = true;
  #failures = 0;
  #restart: NodeJS.Timeout | undefined;
  /** Lists made (the first and every relist). */
  lists = 0;

  constructor(kc: KubeConfig, opts: InformerOptions<T>) {
    this.name = opts.name;
    this.#opts = opts;
    const watch = new BookmarkWatch(kc);
    watch.onRequest = () => {
      // the client calls watch() right after applying a list's items: the cache is filled
      this.#failures = 0;
    };
    const list = async (): Promise<KubernetesListObject<T>> => {
      const result = await opts.list();
      this.lists++;
      // ListWatch applies the items synchronously after this resolves; report after that
      queueMicrotask(() => {
        this.#synced = true;
        opts.onList?.();
      });
      return result;
    };
    this.#lw = new ListWatch<T>(opts.path, watch, list, false);
    if (opts.onAdd) this.#lw.on('add', opts.onAdd);
    if (opts.onUpdate) this.#lw.on('update', opts.onUpdate);
    if (opts.onDelete) this.#lw.on('delete', opts.onDelete);
    this.#lw.on('error', (err: unknown) => this.#failed(err));
  }

  /** Whether the first list has been applied. */
  get synced(): boolean {
    return this.#synced;
  }

  /** The resourceVersion the next watch resumes from ('' before the first list). */
  get resourceVersion(): string {
    return this.#lw.latestResourceVersion();
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    void this.#lw.start().catch((err: unknown) => this.#failed(err));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#restart);
    await this.#lw.stop();
  }

  get(name: string, namespace?: string): T | undefined {
    return this.#lw.get(name, namespace);
  }

  list(namespace?: string): readonly T[] {
    return this.#lw.list(namespace);
  }

  #failed(err: unknown): void {
    this.#opts.onError?.(err);
    if (this.#stopped) return;
    clearTimeout(this.#restart);
    const base = this.#opts.backoffMs ?? 200;
    const pause = Math.min(this.#opts.maxBackoffMs ?? 5000, base * 2 ** this.#failures++);
    this.#restart = setTimeout(
      () => {
        if (this.#stopped) return;
        void this.#lw.start().catch((e: unknown) => this.#failed(e));
      },
      pause * (0.5 + Math.random() / 2),
    );
    this.#restart.unref();
  }
}

/**
 * The kubeconfig: the file given, else in-cluster (service account), else the default
 * (`$KUBECONFIG`, `~/.kube/config`). A plain-http server needs no TLS settings.
 */
export function loadKubeConfig(file: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  if (file !== undefined) {
    try {
      kc.loadFromFile(file);
    } catch (err) {
      throw invalidInput(`--kubeconfig: cannot read '${file}': ${(err as Error).message}`);
    }
  } else if (process.env['KUBERNETES_SERVICE_HOST']) kc.loadFromCluster();
  else kc.loadFromDefault();
  // the client refuses plain http unless TLS verification is off (there is no TLS to verify)
  kc.clusters = kc.clusters.map((c) =>
    c.server.startsWith('http:') ? { ...c, skipTLSVerify: true } : c,
  );
  if (kc.getCurrentCluster() === null) {
    throw invalidInput(
      file !== undefined
        ? `--kubeconfig: '${file}' names no current cluster`
        : 'no Kubernetes cluster configured: not in a pod (KUBERNETES_SERVICE_HOST unset) and no kubeconfig; pass --kubeconfig',
    );
  }
  return kc;
}
