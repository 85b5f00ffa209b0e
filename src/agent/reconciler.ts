/**
 * Table `romana` kept equal to the plan. A *full* sync re-reads the kernel's table and the
 * reachability of every host, plans everything and applies the difference; it runs at start,
 * after host or topology changes and at every resync (so drift is repaired). Between them, a
 * changed block costs one line: only that block is planned, against what was last applied.
 */
import type { Block, Host, Topology } from '../client/index.ts';
import type { WatchEvent } from '../client/watch.ts';
import type { Exec } from '../exec.ts';
import { applyBatch, reachability, readTable, routeChanges } from './kernel-routes.ts';
import type { AgentMetrics } from './metrics.ts';
import type { Log } from './provision.ts';
import { SingleFlight } from './single-flight.ts';
import { RoutePlanner, type RoutePlan } from './route-plan.ts';

/** A host's `ip6`, when it has one (romanads before dual-stack send none). */
function ip6Of(h: Host): string[] {
  const ip6 = (h as Host & { ip6?: unknown }).ip6;
  return typeof ip6 === 'string' && ip6 !== '' ? [ip6] : [];
}

export interface ReconcilerOptions {
  hostname: string;
  table: number;
  multihop: boolean;
  /** BGP routes the pods of hosts beyond a gateway (see `PlanInput.bgp`). */
  bgp?: boolean;
  exec: Exec;
  log: Log;
  metrics?: AgentMetrics;
}

export interface Plan extends RoutePlan {
  /** `ip -batch` lines that bring the table to the plan. */
  changes: string[];
}

export class RouteReconciler {
  readonly #o: ReconcilerOptions;
  #hosts = new Map<string, Host>();
  #blocks = new Map<string, Block>();
  #topology: Topology = { networks: [], topologies: [] };
  #seen = { blocks: 0, hosts: 0 };
  #planner: RoutePlanner | undefined;
  /** What the last sync left in the table: destination → next hop. */
  #applied = new Map<string, string>();
  #dirty = new Set<string>();
  /** Reasons for unrouted hosts already logged, so that each is logged once. */
  readonly #told = new Set<string>();
  #full = true;
  readonly #flight = new SingleFlight(() => this.#syncOnce());
  /** Whether the last sync succeeded (for /healthz). */
  healthy = false;

  constructor(opts: ReconcilerOptions) {
    this.#o = opts;
  }

  /** Replaces the copies with full listings (unless events already went further). */
  replace(
    hosts: { hosts: Host[]; revision: number },
    blocks: { blocks: Block[]; revision: number },
    topology: Topology,
  ): void {
    if (hosts.revision >= this.#seen.hosts) {
      this.#hosts = new Map(hosts.hosts.map((h) => [h.name, h]));
      this.#seen.hosts = hosts.revision;
    }
    if (blocks.revision >= this.#seen.blocks) {
      this.#blocks = new Map(blocks.blocks.map((b) => [b.cidr, b]));
      this.#seen.blocks = blocks.revision;
    }
    this.#topology = topology;
    this.#full = true;
  }

  /** Applies one change from the watch stream. */
  apply(e: WatchEvent): void {
    if (e.kind === 'topology') {
      this.#topology = e.value as Topology;
      this.#full = true;
    } else if (e.kind === 'hosts') {
      if (e.type === 'delete') this.#hosts.delete(e.id);
      else this.#hosts.set(e.id, e.value as Host);
      this.#seen.hosts = Math.max(this.#seen.hosts, e.revision);
      this.#full = true;
    } else if (e.kind === 'blocks') {
      if (e.type === 'delete') this.#blocks.delete(e.id);
      else this.#blocks.set(e.id, e.value as Block);
      this.#seen.blocks = Math.max(this.#seen.blocks, e.revision);
      this.#dirty.add(e.id);
    }
  }

  /** The blocks as last listed or streamed. */
  blocks(): Block[] {
    return [...this.#blocks.values()];
  }

  /** The next sync re-reads everything (resync). */
  requestFull(): void {
    this.#full = true;
  }

  /** Plans everything against the copies and the kernel, without changing anything. */
  async plan(): Promise<Plan> {
    const hosts = [...this.#hosts.values()];
    const others = hosts
      .filter((h) => h.name !== this.#o.hostname)
      .flatMap((h) => [h.ip, ...ip6Of(h)]);
    const planner = new RoutePlanner({
      self: this.#o.hostname,
      hosts,
      topology: this.#topology,
      reach: await reachability(this.#o.exec, others),
      multihop: this.#o.multihop,
      bgp: this.#o.bgp,
    });
    const plan = planner.plan([...this.#blocks.values()]);
    const current = await readTable(this.#o.exec, this.#o.table);
    this.#planner = planner;
    return { ...plan, changes: routeChanges(current, plan.routes, this.#o.table) };
  }

  /** Brings the table to the plan; one at a time, a request during a run runs once after. */
  sync(): Promise<void> {
    return this.#flight.run();
  }

  async #syncOnce(): Promise<void> {
    const end = this.#o.metrics?.reconcileSeconds.startTimer();
    const full = this.#full || this.#planner === undefined;
    const dirty = [...this.#dirty];
    this.#full = false;
    this.#dirty.clear();
    try {
      const changes = full ? await this.#syncAll() : await this.#syncBlocks(dirty);
      this.#o.metrics?.managedRoutes.set(this.#applied.size);
      if (changes > 0) {
        this.#o.log('info', 'routes reconciled', { full, changes, routes: this.#applied.size });
      }
      this.healthy = true;
    } catch (err) {
      this.healthy = false;
      this.#full = true;
      this.#o.metrics?.reconcileErrors.inc();
      this.#o.log('error', 'route reconcile failed', { err: String(err) });
    } finally {
      end?.();
    }
  }

  async #syncAll(): Promise<number> {
    const p = await this.plan();
    for (const s of p.skipped) {
      const key = `${s.host}: ${s.why}`;
      if (this.#told.has(key)) continue;
      this.#told.add(key);
      this.#o.log('warn', 'host not routed', s);
    }
    await applyBatch(this.#o.exec, p.changes);
    this.#applied = new Map(p.routes.map((r) => [r.dst, r.via]));
    return p.changes.length;
  }

  async #syncBlocks(cidrs: string[]): Promise<number> {
    const lines: string[] = [];
    const next = new Map<string, string | undefined>();
    for (const cidr of cidrs) {
      const b = this.#blocks.get(cidr);
      const want = b === undefined ? undefined : this.#planner!.blockRoute(b)?.via;
      const have = this.#applied.get(cidr);
      if (want === have) continue;
      lines.push(
        want === undefined
          ? `route del ${cidr} table ${this.#o.table}`
          : `route replace ${cidr} via ${want} table ${this.#o.table}`,
      );
      next.set(cidr, want);
    }
    await applyBatch(this.#o.exec, lines);
    for (const [cidr, via] of next) {
      if (via === undefined) this.#applied.delete(cidr);
      else this.#applied.set(cidr, via);
    }
    return lines.length;
  }
}
