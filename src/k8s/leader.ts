/**
 * Leader election on a `coordination.k8s.io/v1` Lease, so that several listener replicas can run
 * and exactly one acts.
 *
 * Every write of the Lease carries the resourceVersion it was read at, so two candidates never
 * both win: the API server refuses the second with 409. A candidate never compares its clock
 * with another's: a Lease held by someone else counts as expired once this candidate has seen
 * it unchanged (same holder, renew time and resourceVersion) for the lease duration, measured on
 * its own monotonic clock. So a standby takes over at most lease duration + retry period after
 * the leader's last renewal. A leader that cannot renew for `renewDeadlineMs` stops acting
 * before its lease can expire for the others; a leader that stops cleanly hands the Lease back
 * (empty holder) so that a standby takes over at its next try.
 */
import type { CoordinationV1Api, V1Lease } from '@kubernetes/client-node';
import { invalidInput } from '../errors.ts';

export interface LeaderOptions {
  api: CoordinationV1Api;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  /** A leader that has not renewed for this long stops acting (must be < leaseDurationMs). */
  renewDeadlineMs: number;
  /** Pause between tries (standby) and renewals (leader). */
  retryPeriodMs: number;
  onStartedLeading(): void;
  onStoppedLeading(): void;
  onError?(err: unknown): void;
  /** Monotonic milliseconds (tests may pass their own). */
  now?: () => number;
}

/** The HTTP status of a client error, if it carries one. */
export function statusOf(err: unknown): number | undefined {
  const e = err as { code?: unknown; statusCode?: unknown };
  if (typeof e?.code === 'number') return e.code;
  if (typeof e?.statusCode === 'number') return e.statusCode;
  return undefined;
}

export class LeaderElector {
  readonly #o: LeaderOptions;
  readonly #now: () => number;
  #leading = false;
  #abandoned = false;
  #stopped = true;
  #timer: NodeJS.Timeout | undefined;
  #lastRenewMs = 0;
  /** What this candidate last saw of the Lease, and when (its own clock). */
  #observed: { key: string; atMs: number } | undefined;
  #running: Promise<void> | undefined;

  constructor(opts: LeaderOptions) {
    if (opts.renewDeadlineMs >= opts.leaseDurationMs) {
      throw invalidInput(
        `--renew-deadline (${opts.renewDeadlineMs} ms) must be shorter than --lease-duration (${opts.leaseDurationMs} ms)`,
      );
    }
    this.#o = opts;
    this.#now = opts.now ?? (() => performance.now());
  }

  get leading(): boolean {
    return this.#leading;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#tick();
  }

  /** Stops trying; a leader hands the Lease back first. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
    if (this.#leading) {
      this.#setLeading(false);
      await this.#release().catch((err: unknown) => this.#o.onError?.(err));
    }
  }

  /** Stops without handing the Lease back, as a crash would (tests use it). */
  abandon(): void {
    this.#stopped = true;
    this.#abandoned = true;
    clearTimeout(this.#timer);
    this.#leading = false;
  }

  #tick(): void {
    if (this.#stopped) return;
    this.#running = this.#tryOnce().finally(() => {
      this.#running = undefined;
      if (this.#stopped) return;
      this.#timer = setTimeout(() => this.#tick(), this.#o.retryPeriodMs);
    });
  }

  async #tryOnce(): Promise<void> {
    let won = false;
    try {
      won = await this.#acquireOrRenew();
    } catch (err) {
      this.#o.onError?.(err);
    }
    // a crashed process does nothing after its crash, even with a renewal in flight then
    if (this.#abandoned) return;
    if (won) {
      this.#lastRenewMs = this.#now();
      if (!this.#leading) this.#setLeading(true);
    } else if (this.#leading && this.#now() - this.#lastRenewMs >= this.#o.renewDeadlineMs) {
      this.#setLeading(false);
    }
  }

  #setLeading(v: boolean): void {
    this.#leading = v;
    if (v) this.#o.onStartedLeading();
    else this.#o.onStoppedLeading();
  }

  /** One try: true when this candidate holds the Lease afterwards. */
  async #acquireOrRenew(): Promise<boolean> {
    const { api, namespace, name, identity } = this.#o;
    let lease: V1Lease;
    try {
      lease = await api.readNamespacedLease({ name, namespace });
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
      return this.#write(() =>
        api.createNamespacedLease({ namespace, body: this.#record(undefined) }),
      );
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const key = JSON.stringify([
      holder,
      String(spec.renewTime ?? ''),
      lease.metadata?.resourceVersion,
    ]);
    const now = this.#now();
    if (this.#observed?.key !== key) this.#observed = { key, atMs: now };
    const duration = (spec.leaseDurationSeconds ?? 0) * 1000 || this.#o.leaseDurationMs;
    if (holder !== '' && holder !== identity && now - this.#observed.atMs < duration) {
      return false; // held by a live leader
    }
    return this.#write(() =>
      api.replaceNamespacedLease({ name, namespace, body: this.#record(lease) }),
    );
  }

  /** The Lease as this candidate writes it, from the one read (resourceVersion kept). */
  #record(prev: V1Lease | undefined): V1Lease {
    const now = new Date();
    const spec = prev?.spec ?? {};
    const mine = spec.holderIdentity === this.#o.identity;
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        name: this.#o.name,
        namespace: this.#o.namespace,
        ...(prev?.metadata?.resourceVersion
          ? { resourceVersion: prev.metadata.resourceVersion }
          : {}),
      },
      spec: {
        holderIdentity: this.#o.identity,
        leaseDurationSeconds: Math.ceil(this.#o.leaseDurationMs / 1000),
        acquireTime: mine && spec.acquireTime ? spec.acquireTime : now,
        renewTime: now,
        leaseTransitions: (spec.leaseTransitions ?? 0) + (prev === undefined || mine ? 0 : 1),
      },
    };
  }

  /** A create or replace: 409 (someone else wrote first) is a lost try, not an error. */
  async #write(op: () => Promise<V1Lease>): Promise<boolean> {
    try {
      const written = await op();
      this.#observed = {
        key: JSON.stringify([
          this.#o.identity,
          String(written.spec?.renewTime ?? ''),
          written.metadata?.resourceVersion,
        ]),
        atMs: this.#now(),
      };
      return true;
    } catch (err) {
      if (statusOf(err) === 409) return false;
      throw err;
    }
  }

  /** Hands the Lease back: empty holder, so that a standby need not wait for it to expire. */
  async #release(): Promise<void> {
    const { api, namespace, name, identity } = this.#o;
    const lease = await api.readNamespacedLease({ name, namespace });
    if (lease.spec?.holderIdentity !== identity) return;
    const body = this.#record(lease);
    body.spec = { ...body.spec, holderIdentity: '', leaseDurationSeconds: 1 };
    await api.replaceNamespacedLease({ name, namespace, body });
  }
}
