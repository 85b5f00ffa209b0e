/**
 * The agent's loop: lists romanad's hosts, blocks and topology, follows the watch stream, and
 * has the reconciler bring table `romana` in line. Changes arriving together are synced once;
 * a periodic resync re-lists and re-reads everything, which repairs drift (a route deleted by
 * hand comes back). While romanad is unreachable the kernel keeps its routes.
 */
import type { RomanadClient } from '../client/index.ts';
import type { TransportOptions } from '../client/http.ts';
import { watchRomanad, type Watcher } from '../client/watch.ts';
import { PolicySync, type PolicyMode } from './policy-sync.ts';
import { RouteReconciler, type ReconcilerOptions } from './reconciler.ts';
import { VipSync } from './vip-sync.ts';

export interface AgentOptions extends TransportOptions, ReconcilerOptions {
  client: RomanadClient;
  baseUrl: string;
  resyncMs: number;
  /** Pause that gathers a burst of changes into one sync (ms, default 20). */
  debounceMs?: number;
  /** Enforce policies (iptables and ipset) too. */
  policy?: boolean;
  /** How policies are enforced (default `romana`). */
  policyMode?: PolicyMode;
  /** Hold this node's VIPs on this link (none: VIPs are not handled). */
  vipLink?: string;
}

export class Agent {
  readonly #o: AgentOptions;
  readonly reconciler: RouteReconciler;
  readonly policies: PolicySync | undefined;
  readonly vips: VipSync | undefined;
  #watch: Watcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #resync: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(opts: AgentOptions) {
    this.#o = opts;
    this.reconciler = new RouteReconciler(opts);
    this.policies = opts.policy
      ? new PolicySync(
          opts.exec,
          opts.hostname,
          () => this.reconciler.blocks(),
          opts.log,
          opts.metrics,
          opts.policyMode,
        )
      : undefined;
    this.vips =
      opts.vipLink === undefined
        ? undefined
        : new VipSync(opts.exec, opts.hostname, opts.vipLink, opts.log, opts.metrics);
  }

  get healthy(): boolean {
    return (
      this.reconciler.healthy && (this.policies?.healthy ?? true) && (this.vips?.healthy ?? true)
    );
  }

  async #syncAll(): Promise<void> {
    await this.reconciler.sync();
    await this.policies?.sync();
    await this.vips?.sync();
  }

  /** Lists the state, syncs once, then follows changes until `stop`. */
  async start(): Promise<void> {
    await this.refresh();
    await this.#syncAll();
    let restarted = false;
    this.#watch = watchRomanad({
      baseUrl: this.#o.baseUrl,
      token: this.#o.token,
      ca: this.#o.ca,
      kinds: [
        'blocks',
        'hosts',
        'topology',
        ...(this.policies ? this.policies.kinds : []),
        ...(this.vips ? (['vips'] as const) : []),
      ],
      onEvent: (e) => {
        this.reconciler.apply(e);
        this.policies?.apply(e);
        this.vips?.apply(e);
        this.#schedule();
      },
      onReset: () => (restarted = true),
      onConnect: () => {
        if (!restarted) return;
        restarted = false;
        void this.refresh()
          .then(() => this.#schedule())
          .catch((err: unknown) =>
            this.#o.log('warn', 'listing romanad state failed', { err: String(err) }),
          );
      },
      onError: (err) => {
        this.#o.metrics?.watchReconnects.inc();
        this.#o.log('warn', 'watch stream interrupted; reconnecting', { err: err.message });
      },
    });
    this.#resync = setInterval(() => {
      void this.refresh()
        .catch((err: unknown) => {
          this.reconciler.requestFull();
          this.policies?.requestFull();
          this.#o.log('warn', 'resync: romanad unreachable; keeping routes', { err: String(err) });
        })
        .then(() => this.#syncAll());
    }, this.#o.resyncMs);
  }

  /** Replaces the copies with romanad's current lists. */
  async refresh(): Promise<void> {
    const [hosts, blocks, topology] = await Promise.all([
      this.#o.client.listHosts(),
      this.#o.client.listBlocks(),
      this.#o.client.getTopology(),
    ]);
    this.reconciler.replace(hosts, blocks, topology);
    if (this.policies) await this.policies.refresh(this.#o.client);
    if (this.vips) this.vips.replace(await this.#o.client.listVips());
  }

  #schedule(): void {
    if (this.#stopped || this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#syncAll();
    }, this.#o.debounceMs ?? 20);
  }

  stop(): void {
    this.#stopped = true;
    this.#watch?.close();
    clearTimeout(this.#timer);
    clearInterval(this.#resync);
  }
}
