/**
 * What the listener knows of romanad: its hosts, addresses and VIPs, listed once and then kept
 * in step through romanad's watch stream. Loading: read the revision romanad has applied
 * (`/readyz`), list, then watch from that revision + 1, so that no change made meanwhile is
 * missed (one seen twice is harmless: events are whole states or deletions).
 */
import type { RomanadClient } from '../client/index.ts';
import { watchRomanad, type WatchEvent, type Watcher } from '../client/watch.ts';
import type { TransportOptions } from '../client/http.ts';
import type { HostRecord } from './node-host.ts';
import type { PodLink } from './pod-link.ts';
import type { Topology, Vip } from '../client/types.ts';

/** An address as romanad shows it, with its pod link. */
export interface AddressRecord {
  name: string;
  ip: string;
  host: string;
  tenant?: string;
  segment?: string;
  pod?: PodLink;
}

export interface MirrorOptions extends TransportOptions {
  client: RomanadClient;
  baseUrl: string;
  onHost?(name: string): void;
  /** An address changed: `now` undefined when it was released. */
  onAddress?(now: AddressRecord | undefined, previous: AddressRecord | undefined): void;
  onVip?(name: string): void;
  /** The topology's VIP pool (`vip_cidr`) changed. */
  onVipCidr?(vipCidr: string | undefined): void;
  onError?(err: Error): void;
}

export class RomanadMirror {
  readonly hosts = new Map<string, HostRecord>();
  readonly addresses = new Map<string, AddressRecord>();
  readonly vips = new Map<string, Vip>();
  /** The topology's VIP pool (`vip_cidr`); undefined when it has none. */
  vipCidr: string | undefined;
  /** Addresses by the host that holds them. */
  readonly #byHost = new Map<string, Set<string>>();
  readonly #o: MirrorOptions;
  #watcher: Watcher | undefined;
  #loaded = false;

  constructor(opts: MirrorOptions) {
    this.#o = opts;
  }

  get loaded(): boolean {
    return this.#loaded;
  }

  /** Lists, then follows; resolves once the lists are in. */
  async start(): Promise<void> {
    const { client } = this.#o;
    const ready = await client.call<{ revision: number }>('GET', '/readyz');
    const [{ hosts }, addresses, vips, topology] = await Promise.all([
      client.listHosts(),
      client.listAddresses(),
      client.listVips(),
      client.getTopology(),
    ]);
    this.#setVipCidr(topology.vip_cidr);
    for (const h of hosts) this.#putHost(h as HostRecord);
    for (const a of addresses) this.#putAddress(a as AddressRecord);
    for (const v of vips) this.#putVip(v);
    this.#loaded = true;
    this.#watcher = watchRomanad({
      ...this.#o,
      kinds: ['hosts', 'addresses', 'vips', 'topology'],
      fromRevision: ready.revision + 1,
      onEvent: (e) => this.#apply(e),
      onReset: () => this.#reset(),
      onError: (err) => this.#o.onError?.(err),
    });
  }

  stop(): void {
    this.#watcher?.close();
  }

  /** Names of the addresses held on `host`. */
  addressesOn(host: string): string[] {
    return [...(this.#byHost.get(host) ?? [])];
  }

  #reset(): void {
    // a compacted resume point: the current state follows as puts; forget what may be gone
    if (!this.#loaded) return;
    this.hosts.clear();
    this.addresses.clear();
    this.vips.clear();
    this.#byHost.clear();
  }

  #apply(e: WatchEvent): void {
    const kind = e.kind as string;
    if (kind === 'hosts') {
      if (e.type === 'put') this.#putHost(e.value as HostRecord);
      else this.hosts.delete(e.id);
      this.#o.onHost?.(e.id);
    } else if (kind === 'addresses') {
      const prev = this.addresses.get(e.id);
      if (prev) this.#byHost.get(prev.host)?.delete(e.id);
      if (e.type === 'put') this.#putAddress(e.value as AddressRecord);
      else this.addresses.delete(e.id);
      this.#o.onAddress?.(this.addresses.get(e.id), prev);
    } else if (kind === 'vips') {
      if (e.type === 'put') this.#putVip(e.value as Vip);
      else this.vips.delete(e.id);
      this.#o.onVip?.(e.id);
    } else if (kind === 'topology') {
      this.#setVipCidr(e.type === 'put' ? (e.value as Topology).vip_cidr : undefined);
    }
  }

  #setVipCidr(vipCidr: string | undefined): void {
    if (vipCidr === this.vipCidr) return;
    this.vipCidr = vipCidr;
    this.#o.onVipCidr?.(vipCidr);
  }

  #putHost(h: HostRecord): void {
    this.hosts.set(h.name, h);
  }

  #putAddress(a: AddressRecord): void {
    this.addresses.set(a.name, a);
    let set = this.#byHost.get(a.host);
    if (set === undefined) this.#byHost.set(a.host, (set = new Set()));
    set.add(a.name);
  }

  #putVip(v: Vip): void {
    this.vips.set(v.name, v);
  }
}
