/**
 * The page's live copy of romanad's state: read from the list routes, then kept current from
 * the watch stream. Components subscribe and re-render at most once per task, however many
 * events arrived.
 */
import type { Block, HostList, Policy, Topology, Vip } from '../client/types.ts';
import type { Api } from './api.ts';
import {
  applyEvent,
  buildView,
  emptyState,
  stateFromLists,
  type DashState,
  type DashView,
  type WatchEvent,
} from './model.ts';
import { followWatch } from './watch.ts';

export type Status = { kind: 'loading' | 'live' | 'reconnecting' | 'failed'; detail?: string };

export class LiveStore {
  readonly api: Api;
  state: DashState = emptyState();
  status: Status = { kind: 'loading' };
  /** Counts changes; the view is rebuilt when it moved. */
  version = 0;
  /** Events applied since the page loaded. */
  eventCount = 0;
  #view: { version: number; view: DashView } | undefined;
  #listeners = new Set<() => void>();
  #notifying = false;
  #topologyTimer: ReturnType<typeof setTimeout> | undefined;
  #watch: { close(): void } | undefined;

  constructor(api: Api) {
    this.api = api;
  }

  get view(): DashView {
    if (this.#view?.version !== this.version) {
      this.#view = { version: this.version, view: buildView(this.state) };
    }
    return this.#view.view;
  }

  subscribe(fn: () => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Reads the lists, then follows the watch stream from their revision. */
  async start(): Promise<void> {
    try {
      const revision = await this.reload();
      this.#watch = followWatch(this.api, revision + 1, {
        onEvents: (events) => this.#apply(events),
        reload: () => this.reload(),
        onStatus: (kind, detail) => this.#setStatus({ kind, ...(detail ? { detail } : {}) }),
      });
    } catch (err) {
      this.#setStatus({ kind: 'failed', detail: err instanceof Error ? err.message : String(err) });
    }
  }

  stop(): void {
    this.#watch?.close();
    clearTimeout(this.#topologyTimer);
  }

  /**
   * Replaces the copy with the lists; resolves with the revision to follow from. Every list is
   * read after that revision was taken (from `/readyz`, small and quick; else from `/hosts`,
   * read first), so following from it misses nothing (a change seen twice is applied twice,
   * harmlessly).
   */
  async reload(): Promise<number> {
    const api = this.api;
    const ready = await api.json<{ revision: number }>('/readyz').catch(() => undefined);
    const first = ready === undefined ? await api.json<HostList>('/hosts') : undefined;
    const [hosts, topology, blocks, policies, vips] = await Promise.all([
      first ?? api.json<HostList>('/hosts'),
      api.json<Topology>('/topology'),
      api.json<{ blocks: Block[] }>('/blocks'),
      api.json<Policy[]>('/policies'),
      api.json<Vip[]>('/vips'),
    ]);
    if (performance.getEntriesByName('romana:lists').length === 0) performance.mark('romana:lists');
    this.state = stateFromLists({
      topology,
      hosts: hosts.hosts,
      blocks: blocks.blocks,
      policies: policies ?? [],
      vips: vips ?? [],
    });
    this.#changed();
    return ready?.revision ?? hosts.revision;
  }

  #apply(events: WatchEvent[]): void {
    let placement = false;
    for (const e of events) placement = applyEvent(this.state, e).placementChanged || placement;
    this.eventCount += events.length;
    if (placement) this.#refreshTopology();
    this.#changed();
  }

  /** Hosts are placed in groups without a topology event: read the topology again, once. */
  #refreshTopology(delayMs = 50): void {
    clearTimeout(this.#topologyTimer);
    this.#topologyTimer = setTimeout(() => {
      this.api.json<Topology>('/topology').then(
        (t) => {
          this.state.topology = t;
          this.#changed();
        },
        () => this.#refreshTopology(1_000),
      );
    }, delayMs);
  }

  #setStatus(s: Status): void {
    this.status = s;
    this.#notify();
  }

  #changed(): void {
    this.version += 1;
    this.#notify();
  }

  #notify(): void {
    if (this.#notifying) return;
    this.#notifying = true;
    setTimeout(() => {
      this.#notifying = false;
      for (const fn of this.#listeners) fn();
    }, 0);
  }
}
