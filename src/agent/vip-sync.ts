/**
 * VIPs on the node: every VIP whose `host` is this node is held as its host prefix on the primary
 * link, and announced with a gratuitous ARP so that neighbours that knew the address on
 * another node switch at once (the original sent none, so a moved VIP stayed unreachable until
 * neighbour caches expired). Addresses the agent added carry the label `<link>:rv`, which lets
 * it find and remove the ones it no longer should hold, also after a restart, without ever
 * touching the node's own addresses.
 */
import type { Vip } from '../client/index.ts';
import type { WatchEvent } from '../client/watch.ts';
import { runChecked, type Exec } from '../exec.ts';
import { Addr, BOTH_FAMILIES, hostCidr, hostPrefixLen } from '../net/addr.ts';
import type { AgentMetrics } from './metrics.ts';
import type { Log } from './provision.ts';
import { SingleFlight } from './single-flight.ts';

/** Longest interface label the kernel takes (IFNAMSIZ - 1). */
const MAX_LABEL = 15;

interface IpAddrJson {
  addr_info?: Array<{ family?: string; local?: string; prefixlen?: number; label?: string }>;
}

/** What a VIP sync would change: `ip` argument lists, in order. */
export interface VipPlan {
  add: string[];
  remove: string[];
}

export class VipSync {
  readonly #vips = new Map<string, Vip>();
  readonly #flight = new SingleFlight(() => this.#syncOnce());
  readonly #label: string | undefined;
  #arpingMissing = false;
  healthy = false;

  constructor(
    readonly exec: Exec,
    readonly hostname: string,
    readonly link: string,
    readonly log: Log,
    readonly metrics?: AgentMetrics,
  ) {
    const label = `${link}:rv`;
    this.#label = label.length <= MAX_LABEL ? label : undefined;
    if (this.#label === undefined) {
      log(
        'warn',
        'link name too long for a VIP label: VIPs removed while the agent was down stay',
        {
          link,
        },
      );
    }
  }

  replace(vips: Vip[]): void {
    this.#vips.clear();
    for (const v of vips) this.#vips.set(v.name, v);
  }

  apply(e: WatchEvent): void {
    if (e.kind !== 'vips') return;
    if (e.type === 'delete') this.#vips.delete(e.id);
    else this.#vips.set(e.id, e.value as Vip);
  }

  /** The VIPs this node should hold (each as its host prefix, /32). */
  wanted(): Set<string> {
    const out = new Set<string>();
    for (const v of this.#vips.values()) if (v.host === this.hostname) out.add(v.ip);
    return out;
  }

  /** Compares the wanted VIPs with the link's addresses. */
  async plan(): Promise<VipPlan> {
    const out = await runChecked(this.exec, 'ip', ['-json', 'addr', 'show', 'dev', this.link]);
    const held = new Set<string>();
    const ours = new Set<string>();
    for (const link of JSON.parse(out || '[]') as IpAddrJson[]) {
      for (const a of link.addr_info ?? []) {
        const local = a.local === undefined ? undefined : Addr.tryParse(a.local, BOTH_FAMILIES);
        if (local === undefined || a.prefixlen !== hostPrefixLen(local.family)) continue;
        held.add(local.toString());
        if (this.#label !== undefined && a.label === this.#label) ours.add(local.toString());
      }
    }
    const wanted = this.wanted();
    // Without a label, a VIP romanad still knows on another host is ours to drop.
    if (this.#label === undefined) {
      for (const v of this.#vips.values()) if (v.host !== this.hostname) ours.add(v.ip);
    }
    return {
      add: [...wanted].filter((ip) => !held.has(ip)).sort(),
      remove: [...ours].filter((ip) => !wanted.has(ip) && held.has(ip)).sort(),
    };
  }

  sync(): Promise<void> {
    return this.#flight.run();
  }

  async #syncOnce(): Promise<void> {
    try {
      const p = await this.plan();
      for (const ip of p.remove) {
        await runChecked(this.exec, 'ip', [
          'addr',
          'del',
          hostCidr(ip).toString(),
          'dev',
          this.link,
        ]);
        this.log('info', 'VIP released', { ip, link: this.link });
      }
      for (const ip of p.add) {
        const label = this.#label === undefined ? [] : ['label', this.#label];
        await runChecked(this.exec, 'ip', [
          'addr',
          'add',
          hostCidr(ip).toString(),
          'dev',
          this.link,
          ...label,
        ]);
        this.log('info', 'VIP taken', { ip, link: this.link });
      }
      this.metrics?.vips.set(this.wanted().size);
      for (const ip of p.add) await this.#announce(ip);
      this.healthy = true;
    } catch (err) {
      this.healthy = false;
      this.metrics?.vipErrors.inc();
      this.log('error', 'VIP sync failed', { err: String(err) });
    }
  }

  /** A gratuitous ARP (iputils `arping -U`), so that neighbours update their caches now. */
  async #announce(ip: string): Promise<void> {
    if (this.#arpingMissing) return;
    const r = await this.exec.run('arping', ['-U', '-c', '1', '-w', '1', '-I', this.link, ip]);
    if (r.code === 127) {
      this.#arpingMissing = true;
      this.log(
        'warn',
        'arping not found: moved VIPs reach neighbours only when their caches expire',
      );
    } else if (r.code !== 0) {
      this.log('warn', 'gratuitous ARP failed', { ip, err: r.stderr.trim() });
    }
  }
}
