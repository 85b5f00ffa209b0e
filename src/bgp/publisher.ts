/**
 * The publisher's loop: lists romanad's topology, hosts and blocks, follows the watch stream
 * (src/client: resume after a disconnect, relist after a compacted resume point), and after
 * every change renders this host's BIRD configuration and applies it (`BirdControl.apply`: no
 * change, no reload; a rejected one keeps the old). Nothing is rendered before the first full
 * listing, so a restarted publisher never announces less than BIRD already does.
 */
import { readFile } from 'node:fs/promises';
import { watchRomanad, type Watcher } from '../client/watch.ts';
import type { Block, Host, RomanadClient, Topology } from '../client/index.ts';
import { SingleFlight } from '../agent/single-flight.ts';
import { announce, type Announcement } from './announce.ts';
import type { BirdControl } from './bird.ts';
import type { PublisherMetrics } from './metrics.ts';
import { collectPeers, localAs } from './peers.ts';
import { checkBirdConfig, renderBirdConfig, type BgpTimers, type BirdConfig } from './render.ts';
import { renderTemplate } from './template.ts';

export type Log = (level: 'debug' | 'info' | 'warn' | 'error', msg: string, extra?: object) => void;

export interface PublisherOptions {
  client: RomanadClient;
  /** For the watch stream. */
  baseUrl: string;
  token?: string;
  ca?: string;
  host: string;
  bird: BirdControl;
  configFile: string;
  /** An eta template file, read again on every render. */
  template?: string;
  peerFlags: readonly string[];
  password?: string;
  localAs: number;
  routerId?: string;
  ecmpNetworks: ReadonlySet<string>;
  gracefulRestart: number;
  timers: BgpTimers;
  kernel: boolean;
  metrics: PublisherMetrics;
  log: Log;
  debounceMs?: number;
  /** How often session states are read from BIRD for the metrics (ms; 0: never). */
  sessionPollMs?: number;
}

export class Publisher {
  readonly #o: PublisherOptions;
  #topology: Topology | undefined;
  #hosts = new Map<string, Host>();
  #blocks = new Map<string, Block>();
  #listed = false;
  #watch: Watcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #poll: NodeJS.Timeout | undefined;
  readonly #flight = new SingleFlight(() => this.#publish());
  /** The last configuration BIRD accepted (or found unchanged). */
  applied = false;
  announcements: readonly Announcement[] = [];

  constructor(o: PublisherOptions) {
    this.#o = o;
  }

  async start(): Promise<void> {
    await this.refresh();
    await this.publish();
    let restarted = false;
    this.#watch = watchRomanad({
      baseUrl: this.#o.baseUrl,
      token: this.#o.token,
      ca: this.#o.ca,
      kinds: ['blocks', 'hosts', 'topology'],
      onEvent: (e) => {
        if (e.kind === 'topology') this.#topology = e.value as Topology;
        const map: Map<string, unknown> | undefined =
          e.kind === 'hosts' ? this.#hosts : e.kind === 'blocks' ? this.#blocks : undefined;
        if (map !== undefined && e.type === 'delete') map.delete(e.id);
        else if (e.kind === 'hosts') this.#hosts.set(e.id, e.value as Host);
        else if (e.kind === 'blocks') this.#blocks.set(e.id, e.value as Block);
        this.#schedule();
      },
      onReset: () => (restarted = true),
      onConnect: () => {
        if (!restarted) return;
        restarted = false;
        // The stream starts over: relist, so deletions missed meanwhile are dropped too.
        void this.refresh()
          .then(() => this.#schedule())
          .catch((err: unknown) =>
            this.#o.log('warn', 'listing romanad failed', { err: `${err}` }),
          );
      },
      onError: (err) => {
        this.#o.metrics.watchReconnects.inc();
        this.#o.log('warn', 'watch stream interrupted; reconnecting', { err: err.message });
      },
    });
    const every = this.#o.sessionPollMs ?? 5000;
    if (every > 0) this.#poll = setInterval(() => void this.pollSessions(), every);
  }

  /** Replaces the copies with romanad's current lists. */
  async refresh(): Promise<void> {
    const [topology, hosts, blocks] = await Promise.all([
      this.#o.client.getTopology(),
      this.#o.client.listHosts(),
      this.#o.client.listBlocks(),
    ]);
    this.#topology = topology;
    this.#hosts = new Map(hosts.hosts.map((h) => [h.name, h]));
    this.#blocks = new Map(blocks.blocks.map((b) => [b.cidr, b]));
    this.#listed = true;
  }

  /** Renders and applies now (after any run in progress); also on SIGHUP. */
  publish(): Promise<void> {
    return this.#flight.run();
  }

  #schedule(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.publish();
    }, this.#o.debounceMs ?? 20);
  }

  /** The configuration input for the current copies; undefined before this host is known. */
  config(): BirdConfig | undefined {
    const self = this.#hosts.get(this.#o.host);
    if (!this.#listed || this.#topology === undefined || self === undefined) return undefined;
    const topology = this.#topology;
    const announcements = announce({
      self: self.name,
      topology,
      blocks: [...this.#blocks.values()],
      ecmpNetworks: this.#o.ecmpNetworks,
    });
    const peers = collectPeers({
      flags: this.#o.peerFlags,
      tags: self.tags,
      topology,
      host: self.name,
    }).map((p) => (this.#o.password === undefined ? p : { ...p, password: this.#o.password }));
    return {
      host: self.name,
      routerId: this.#o.routerId ?? self.ip,
      localAddress: self.ip,
      localAs: localAs(self.tags, this.#o.localAs),
      networks: topology.networks.map((n) => ({ name: n.name, cidr: n.cidr })),
      announcements,
      peers,
      gracefulRestart: this.#o.gracefulRestart,
      timers: this.#o.timers,
      kernel: this.#o.kernel,
    };
  }

  /** Renders with the template when one is set, else the default configuration. */
  async render(c: BirdConfig): Promise<string> {
    checkBirdConfig(c);
    if (this.#o.template === undefined) return renderBirdConfig(c);
    return renderTemplate(await readFile(this.#o.template, 'utf8'), this.#o.template, c);
  }

  async #publish(): Promise<void> {
    const { log, metrics } = this.#o;
    let c: BirdConfig | undefined;
    let text: string;
    try {
      c = this.config();
      if (c === undefined) {
        log('warn', `host ${this.#o.host} is not (yet) known to romanad; nothing rendered`);
        return;
      }
      text = await this.render(c);
    } catch (err) {
      metrics.errors.inc({ reason: 'render' });
      log('error', 'configuration not rendered; BIRD keeps the previous one', { err: `${err}` });
      return;
    }
    try {
      const out = await this.#o.bird.apply(this.#o.configFile, text);
      if (out.result === 'rejected') {
        metrics.errors.inc({ reason: 'rejected' });
        log('error', 'BIRD rejected the configuration; the previous one keeps running', {
          bird: out.message,
        });
        return;
      }
      const prefixes = c.announcements.map((a) => a.prefix);
      if (out.result === 'reconfigured') {
        metrics.reloads.inc();
        log('info', 'BIRD reconfigured', { prefixes });
      } else {
        log('debug', 'configuration unchanged; BIRD not reloaded', { prefixes });
      }
      this.announcements = c.announcements;
      metrics.announced.set(c.announcements.length);
      this.applied = true;
    } catch (err) {
      metrics.errors.inc({ reason: 'birdc' });
      log('error', 'applying the configuration failed', { err: `${err}` });
    }
  }

  async pollSessions(): Promise<void> {
    try {
      this.#o.metrics.setSessions(await this.#o.bird.protocols());
    } catch (err) {
      this.#o.log('warn', 'reading BIRD protocols failed', { err: `${err}` });
    }
  }

  stop(): void {
    this.#watch?.close();
    clearTimeout(this.#timer);
    clearInterval(this.#poll);
  }
}
