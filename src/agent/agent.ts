/**
 * The agent's route reconciler: keeps copies of romanad's hosts, blocks and topology (fed by
 * the watch stream, refreshed by a full listing at start, after a stream restart and at every
 * resync), and brings table `romana` to the plan with the smallest batch of changes. Changes
 * arriving together are reconciled once; a periodic resync repairs drift (a route deleted by
 * hand comes back). While romanad is unreachable the kernel keeps its routes.
 */
import type { Block, Host, RomanadClient, Topology } from '../client/index.ts';
import { watchRomanad, type Watcher, type WatchEvent } from '../client/watch.ts';
import type { TransportOptions } from '../client/http.ts';
import { applyBatch, reachability, readTable, routeChanges, type Run } from './kernel-routes.ts';
import type { AgentMetrics } from './metrics.ts';
import type { Log } from './provision.ts';
import { planRoutes, type RoutePlan } from './route-plan.ts';

export interface AgentOptions extends TransportOptions {
  client: RomanadClient;
  baseUrl: string;
  hostname: string;
  table: number;
  multihop: boolean;
  run: Run;
  resyncMs: number;
  log: Log;
  metrics?: AgentMetrics;
  /** Pause that gathers a burst of changes into one reconcile (ms, default 20). */
  debounceMs?: number;
}

export interface Plan extends RoutePlan {
  /** `ip -batch` lines that bring the table to the plan. */
  changes: string[];
}

export class Agent {
  readonly #o: AgentOptions;
  #hosts = new Map<string, Host>();
  #blocks = new Map<string, Block>();
  #topology: Topology | null = null;
  #seen = { blocks: 0, hosts: 0 };
  #watch: Watcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #resync: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = false;
  /** Whether the last reconcile succeeded (for /healthz). */
  healthy = false;

  constructor(opts: AgentOptions) {
    this.#o = opts;
  }

  /** Lists the state, reconciles once, then follows changes until `stop`. */
  async start(): Promise<void> {
    await this.refresh();
    await this.reconcile();
    let restarted = false;
    this.#watch = watchRomanad({
      baseUrl: this.#o.baseUrl,
      token: this.#o.token,
      ca: this.#o.ca,
      kinds: ['blocks', 'hosts', 'topology'],
      onEvent: (e) => this.#apply(e),
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
        .catch((err: unknown) =>
          this.#o.log('warn', 'resync: romanad unreachable; keeping routes', { err: String(err) }),
        )
        .then(() => this.reconcile());
    }, this.#o.resyncMs);
  }

  /** Replaces the copies with romanad's current lists (unless events already went further). */
  async refresh(): Promise<void> {
    const [hosts, blocks, topology] = await Promise.all([
      this.#o.client.listHosts(),
      this.#o.client.listBlocks(),
      this.#o.client.getTopology(),
    ]);
    if (hosts.revision >= this.#seen.hosts) {
      this.#hosts = new Map(hosts.hosts.map((h) => [h.name, h]));
      this.#seen.hosts = hosts.revision;
    }
    if (blocks.revision >= this.#seen.blocks) {
      this.#blocks = new Map(blocks.blocks.map((b) => [b.cidr, b]));
      this.#seen.blocks = blocks.revision;
    }
    this.#topology = topology;
  }

  #apply(e: WatchEvent): void {
    if (e.kind === 'topology') this.#topology = e.value as Topology;
    else if (e.kind === 'hosts') {
      if (e.type === 'delete') this.#hosts.delete(e.id);
      else this.#hosts.set(e.id, e.value as Host);
      this.#seen.hosts = Math.max(this.#seen.hosts, e.revision);
    } else if (e.kind === 'blocks') {
      if (e.type === 'delete') this.#blocks.delete(e.id);
      else this.#blocks.set(e.id, e.value as Block);
      this.#seen.blocks = Math.max(this.#seen.blocks, e.revision);
    }
    this.#schedule();
  }

  #schedule(): void {
    if (this.#stopped || this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.reconcile();
    }, this.#o.debounceMs ?? 20);
  }

  /** Plans against the copies and the kernel, without changing anything. */
  async plan(): Promise<Plan> {
    const hosts = [...this.#hosts.values()];
    const others = hosts.filter((h) => h.name !== this.#o.hostname).map((h) => h.ip);
    const plan = planRoutes({
      self: this.#o.hostname,
      hosts,
      blocks: [...this.#blocks.values()],
      topology: this.#topology ?? { networks: [], topologies: [] },
      reach: await reachability(this.#o.run, others),
      multihop: this.#o.multihop,
    });
    const current = await readTable(this.#o.run, this.#o.table);
    return { ...plan, changes: routeChanges(current, plan.routes, this.#o.table) };
  }

  /** Brings the table to the plan; one at a time, a request during a run runs once after. */
  async reconcile(): Promise<void> {
    if (this.#running !== undefined) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      do {
        this.#again = false;
        const end = this.#o.metrics?.reconcileSeconds.startTimer();
        try {
          const p = await this.plan();
          await applyBatch(this.#o.run, p.changes);
          this.#o.metrics?.managedRoutes.set(p.routes.length);
          if (p.changes.length > 0) {
            this.#o.log('info', 'routes reconciled', {
              changes: p.changes.length,
              routes: p.routes.length,
            });
          }
          this.healthy = true;
        } catch (err) {
          this.healthy = false;
          this.#o.metrics?.reconcileErrors.inc();
          this.#o.log('error', 'route reconcile failed', { err: String(err) });
        } finally {
          end?.();
        }
      } while (this.#again && !this.#stopped);
    })().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  stop(): void {
    this.#stopped = true;
    this.#watch?.close();
    clearTimeout(this.#timer);
    clearInterval(this.#resync);
  }
}
