/**
 * VIPs on the node: every VIP whose `host` is this node is held as its host prefix on the primary
 * link, and announced so that neighbours that knew the address on another node switch at once
 * (the original sent nothing, so a moved VIP stayed unreachable until neighbour caches
 * expired): an IPv4 VIP with a gratuitous ARP, an IPv6 VIP with an unsolicited neighbour
 * advertisement (override flag set) sent by the kernel itself. The VIP is added without DAD
 * (`nodad`: it is usable at once, and the old holder may still answer for it), which sends
 * nothing; then, with `ndisc_notify` on the link, the agent sets the link's MAC address to the
 * value it already has: the kernel takes that as an address change and advertises every
 * IPv6 address of the link. No raw socket and no extra tool.
 *
 * IPv4 addresses the agent added carry the label `<link>:rv`, which lets it find and remove the
 * ones it no longer should hold, also after a restart, without ever touching the node's own
 * addresses. IPv6 addresses carry no label: the agent's are the /128s it added without DAD.
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
  addr_info?: Array<{
    family?: string;
    local?: string;
    prefixlen?: number;
    label?: string;
    nodad?: boolean;
  }>;
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
        const marked =
          local.family === 6
            ? a.nodad === true
            : this.#label !== undefined && a.label === this.#label;
        if (marked) ours.add(local.toString());
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
        const cidr = hostCidr(ip);
        const mark =
          cidr.family === 6 ? ['nodad'] : this.#label === undefined ? [] : ['label', this.#label];
        await runChecked(this.exec, 'ip', [
          'addr',
          'add',
          cidr.toString(),
          'dev',
          this.link,
          ...mark,
        ]);
        this.log('info', 'VIP taken', { ip, link: this.link });
      }
      this.metrics?.vips.set(this.wanted().size);
      for (const ip of p.add) if (hostCidr(ip).family === 4) await this.#announce(ip);
      if (p.add.some((ip) => hostCidr(ip).family === 6)) await this.#advertise6();
      this.healthy = true;
    } catch (err) {
      this.healthy = false;
      this.metrics?.vipErrors.inc();
      this.log('error', 'VIP sync failed', { err: String(err) });
    }
  }

  /**
   * Unsolicited neighbour advertisements for the link's IPv6 addresses: `ndisc_notify` on
   * (written with `tee`, put back if someone turned it off), then the link's MAC set to itself.
   * A driver that refuses a MAC change while up leaves neighbours to learn the move late.
   */
  async #advertise6(): Promise<void> {
    const warn = (err: string) =>
      this.log('warn', 'no neighbour advertisement: moved IPv6 VIPs reach neighbours late', {
        link: this.link,
        err,
      });
    const path = `/proc/sys/net/ipv6/conf/${this.link}/ndisc_notify`;
    const on = await this.exec.run('tee', [path], '1\n');
    if (on.code !== 0) return warn(on.stderr.trim());
    const show = await this.exec.run('ip', ['-json', 'link', 'show', 'dev', this.link]);
    const mac =
      show.code === 0 ? (JSON.parse(show.stdout) as { address?: string }[])[0]?.address : undefined;
    if (mac === undefined) return warn(show.stderr.trim() || 'the link has no MAC address');
    const set = await this.exec.run('ip', ['link', 'set', 'dev', this.link, 'address', mac]);
    if (set.code !== 0) warn(set.stderr.trim());
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
