/**
 * Counts blocks acquired and released as pods come and go, and the route updates each causes
 * per tier: under Romana's aggregation a block inside its host's own group changes no table; a
 * block of a shared group changes its ToR's table and its rack peers', never a spine's that
 * aggregates the rack. Without aggregation every block changes every table above it.
 */
import type { AddressView } from '../ipam/index.ts';
import { BOTH_FAMILIES, Cidr } from '../net/addr.ts';
import type { Fabric } from './fabric.ts';
import type { ChurnReport, TierUpdates } from './types.ts';

type Tier = 'host' | 'tor' | 'spine' | 'core';

export class ChurnCounter {
  readonly #fabric: Fabric;
  /** Addresses in use per `network|block`. */
  readonly #inUse = new Map<string, number>();
  acquired = 0;
  released = 0;
  started = 0;
  updates = zeroUpdates();

  readonly #ecmp: boolean;

  /** `ecmp`: hosts announce their host group whole, so the ToR's table never changes. */
  constructor(fabric: Fabric, ecmp = false) {
    this.#fabric = fabric;
    this.#ecmp = ecmp;
  }

  /** Starts counting afresh (the blocks in use are kept). */
  mark(): void {
    this.acquired = 0;
    this.released = 0;
    this.started = 0;
    this.updates = zeroUpdates();
  }

  /** An address was allocated; a block going from 0 to 1 address is acquired. */
  allocated(v: AddressView): void {
    this.started++;
    const k = `${v.network}|${v.block}`;
    const n = (this.#inUse.get(k) ?? 0) + 1;
    this.#inUse.set(k, n);
    if (n === 1) {
      this.acquired++;
      this.#routeChange(v);
    }
  }

  /** An address was released; a block left empty is released. */
  freed(v: AddressView): void {
    const k = `${v.network}|${v.block}`;
    const n = (this.#inUse.get(k) ?? 0) - 1;
    if (n > 0) this.#inUse.set(k, n);
    else {
      this.#inUse.delete(k);
      this.released++;
      this.#routeChange(v);
    }
  }

  /** One block appeared or went away on a host: which tables change. */
  #routeChange(v: AddressView): void {
    const f = this.#fabric;
    const p = f.placementOf(v.network, v.host);
    if (p === undefined) return;
    const peers = (f.torMembers.get(`${p.network}|${p.tor.key}`)?.length ?? 1) - 1;
    const spine = f.spinePassesThrough(p);
    const core = f.hasCore && spine && p.spine.depth === 0;
    const u = this.updates;
    u.host.per_block += peers;
    u.tor.per_block += 1;
    u.spine.per_block += 1;
    if (f.hasCore) u.core.per_block += 1;
    if (p.soleCover.covers(Cidr.parse(v.block, 'cidr', BOTH_FAMILIES))) return;
    u.host.romana += peers;
    if (this.#ecmp) return;
    u.tor.romana += 1;
    if (spine) u.spine.romana += 1;
    if (core) u.core.romana += 1;
  }

  report(rounds: number, stopped: number): ChurnReport {
    return {
      rounds,
      pods_stopped: stopped,
      pods_started: this.started,
      blocks_acquired: this.acquired,
      blocks_released: this.released,
      route_updates: structuredClone(this.updates),
    };
  }
}

function zeroUpdates(): Record<Tier, TierUpdates> {
  const z = (): TierUpdates => ({ romana: 0, per_block: 0, per_host: 0 });
  return { host: z(), tor: z(), spine: z(), core: z() };
}
