/**
 * The publisher's loop: lists romanad's topology, hosts and blocks, follows the watch stream
 * (src/client: resume after a disconnect, relist after a compacted resume point), and after
 * every change renders this host's BIRD configuration and applies it (`BirdControl.apply`: no
 * change, no reload; a rejected one keeps the old). Nothing is rendered before the first full
 * listing, so a restarted publisher never announces less than BIRD already does, unless its
 * host is gone from romanad: then what BIRD's configuration still announces is withdrawn.
 */
import { readFile } from 'node:fs/promises';
import { watchRomanad, type Watcher } from '../client/watch.ts';
import type { Block, Host, RomanadClient, Topology } from '../client/index.ts';
import type { GroupOrHost } from '../ipam/index.ts';
import { SingleFlight } from '../agent/single-flight.ts';
import { announce, type Announcement } from './announce.ts';
import type { BirdControl } from './bird.ts';
import type { PublisherMetrics } from './metrics.ts';
import { collectPeers, localAs } from './peers.ts';
import {
  checkBirdConfig,
  renderBirdConfig,
  withoutAnnouncements,
  type BgpTimers,
  type BirdConfig,
} from './render.ts';
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
  /** The configuration of the last render while this host was known: reused, with nothing
   * announced, once romanad no longer knows it. */
  #last: BirdConfig | undefined;
  /** Whether the last render found this host in romanad (undefined: nothing rendered yet). */
  #present: boolean | undefined;
  /**
   * A host was added or removed since the topology was read: romanad places hosts in (and
   * takes them out of) its groups without a topology event, so it is read again.
   */
  #topologyStale = false;
  /** Topology events seen: one arriving while the topology is read makes that read stale. */
  #topologyEvents = 0;
  #stopped = false;
  /** The last configuration BIRD accepted (or found unchanged). */
  applied = false;
  announcements: readonly Announcement[] = [];

  constructor(o: PublisherOptions) {
    this.#o = o;
  }

  async start(): Promise<void> {
    // Follow from the revision the lists were read at: a change made between listing and the
    // stream connecting (a host deleted, say) is not lost.
    const revision = await this.refresh();
    await this.publish();
    let restarted = false;
    this.#watch = watchRomanad({
      fromRevision: revision + 1,
      baseUrl: this.#o.baseUrl,
      token: this.#o.token,
      ca: this.#o.ca,
      kinds: ['blocks', 'hosts', 'topology'],
      onEvent: (e) => {
        if (e.kind === 'topology') {
          this.#topology = e.value as Topology;
          this.#topologyEvents++;
        }
        if (e.kind === 'hosts') this.#topologyStale = true;
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

  /**
   * Replaces the copies with romanad's current lists; returns the store revision read before
   * them (every change after it is in the lists or still to come on the stream).
   */
  async refresh(): Promise<number> {
    const { revision } = await this.#o.client.call<{ revision: number }>('GET', '/readyz');
    const [topology, hosts, blocks] = await Promise.all([
      this.#o.client.getTopology(),
      this.#o.client.listHosts(),
      this.#o.client.listBlocks(),
    ]);
    this.#topology = topology;
    this.#topologyStale = false;
    this.#hosts = new Map(hosts.hosts.map((h) => [h.name, h]));
    this.#blocks = new Map(blocks.blocks.map((b) => [b.cidr, b]));
    this.#listed = true;
    return revision;
  }

  /** Renders and applies now (after any run in progress); also on SIGHUP. */
  publish(): Promise<void> {
    return this.#flight.run();
  }

  #schedule(ms = this.#o.debounceMs ?? 20): void {
    if (this.#timer !== undefined || this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.publish();
    }, ms);
  }

  /**
   * Reads the topology again after a host event (where hosts sit changed); retried in 1 s. A
   * topology event arriving meanwhile may be newer than what was read: read once more.
   */
  async #readTopology(): Promise<void> {
    if (!this.#topologyStale) return;
    this.#topologyStale = false;
    const events = this.#topologyEvents;
    try {
      const topology = await this.#o.client.getTopology();
      if (events === this.#topologyEvents) this.#topology = topology;
      else {
        this.#topologyStale = true;
        this.#schedule();
      }
    } catch (err) {
      this.#topologyStale = true;
      this.#o.log('warn', 'reading the topology failed; retrying', { err: `${err}` });
      this.#schedule(1000);
    }
  }

  /**
   * Whether this host is in romanad's host list and placed in the topology's map; undefined
   * before the first full listing.
   */
  present(): boolean | undefined {
    if (!this.#listed || this.#topology === undefined) return undefined;
    const self = this.#hosts.get(this.#o.host);
    return self !== undefined && placed(this.#topology, self.name);
  }

  /**
   * The configuration input for the current copies: undefined before this host was ever
   * known; once it is gone from romanad, the last one with its sessions and no announcement.
   */
  config(): BirdConfig | undefined {
    const present = this.present();
    if (present === undefined) return undefined;
    if (!present)
      return this.#last === undefined ? undefined : { ...this.#last, announcements: [] };
    const topology = this.#topology!;
    const self = this.#hosts.get(this.#o.host)!;
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
    this.#last = {
      host: self.name,
      routerId: this.#o.routerId ?? self.ip,
      localAddress: self.ip,
      ...ip6Of(self),
      localAs: localAs(self.tags, this.#o.localAs),
      networks: topology.networks.map((n) => ({ name: n.name, cidr: n.cidr })),
      announcements,
      peers,
      gracefulRestart: this.#o.gracefulRestart,
      timers: this.#o.timers,
      kernel: this.#o.kernel,
    };
    return this.#last;
  }

  /** Renders with the template when one is set, else the default configuration. */
  async render(c: BirdConfig): Promise<string> {
    checkBirdConfig(c);
    if (this.#o.template === undefined) return renderBirdConfig(c);
    return renderTemplate(await readFile(this.#o.template, 'utf8'), this.#o.template, c);
  }

  /**
   * What BIRD should run now: the rendered text and its announcements; undefined when nothing
   * can be rendered (logged and counted).
   */
  async #target(): Promise<{ text: string; announcements: readonly Announcement[] } | undefined> {
    const { log, metrics } = this.#o;
    try {
      const c = this.config();
      this.#logPresence();
      if (c !== undefined) return { text: await this.render(c), announcements: c.announcements };
      if (this.present() === false) return await this.#withdrawn();
      log('debug', `host ${this.#o.host} is not (yet) known to romanad; nothing rendered`);
    } catch (err) {
      metrics.errors.inc({ reason: 'render' });
      log('error', 'configuration not rendered; BIRD keeps the previous one', { err: `${err}` });
    }
    return undefined;
  }

  /**
   * For a host gone from romanad before this publisher ever saw it: BIRD's configuration file
   * (from an earlier run) with its Romana routes taken out, sessions kept; undefined when it
   * announces nothing (or there is no file).
   */
  async #withdrawn(): Promise<{ text: string; announcements: [] } | undefined> {
    const old = await readFile(this.#o.configFile, 'utf8').catch(() => undefined);
    const text = old === undefined ? undefined : withoutAnnouncements(old);
    return text === undefined || text === old ? undefined : { text, announcements: [] };
  }

  async #publish(): Promise<void> {
    const { log, metrics } = this.#o;
    await this.#readTopology();
    const target = await this.#target();
    if (target === undefined) return;
    try {
      const out = await this.#o.bird.apply(this.#o.configFile, target.text);
      if (out.result === 'rejected') {
        metrics.errors.inc({ reason: 'rejected' });
        log('error', 'BIRD rejected the configuration; the previous one keeps running', {
          bird: out.message,
        });
        return;
      }
      const prefixes = target.announcements.map((a) => a.prefix);
      if (out.result === 'reconfigured') {
        metrics.reloads.inc();
        log('info', 'BIRD reconfigured', { prefixes });
      } else {
        log('debug', 'configuration unchanged; BIRD not reloaded', { prefixes });
      }
      this.announcements = target.announcements;
      metrics.announced.set(target.announcements.length);
      this.applied = true;
    } catch (err) {
      metrics.errors.inc({ reason: 'birdc' });
      log('error', 'applying the configuration failed', { err: `${err}` });
    }
  }

  /** Says once when this host leaves romanad, and once when it is back. */
  #logPresence(): void {
    const now = this.present();
    if (now === undefined || now === this.#present) return;
    const was = this.#present;
    this.#present = now;
    const host = this.#o.host;
    if (!now) {
      this.#o.log(
        'warn',
        `host ${host} is not in romanad (removed, or not placed by the topology): ` +
          (this.#last === undefined
            ? "withdrawing the prefixes BIRD's configuration announces, BGP sessions kept"
            : 'announcing nothing, BGP sessions kept'),
      );
    } else if (was === false) {
      this.#o.log('info', `host ${host} is in romanad again: announcing its prefixes`);
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
    this.#stopped = true;
    this.#watch?.close();
    clearTimeout(this.#timer);
    clearInterval(this.#poll);
  }
}

/** Whether host `name` is an entry of one of the topology's maps. */
export function placed(topology: Topology, name: string): boolean {
  const visit = (e: GroupOrHost): boolean =>
    (e.ip !== undefined && e.name === name) || (e.groups ?? []).some(visit);
  return topology.topologies.some((t) => t.map.some(visit));
}

/** The host's `ip6` as the configuration's `localAddress6`, when it has one. */
function ip6Of(h: Host): { localAddress6?: string } {
  const ip6 = (h as Host & { ip6?: unknown }).ip6;
  return typeof ip6 === 'string' && ip6 !== '' ? { localAddress6: ip6 } : {};
}
