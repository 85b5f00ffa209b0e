/**
 * Whether etcd takes writes, for `EtcdStore.health()` and so for `/readyz`.
 *
 * etcd can be reachable and still refuse every write: when its backend reaches the quota it
 * raises the NOSPACE alarm and answers each put with "etcdserver: mvcc: database space
 * exceeded" until an operator frees space and disarms the alarm. Reads keep working, so only a
 * write can tell. Rule:
 *
 * - A write that etcd refused for lack of space makes the store unhealthy at once, with etcd's
 *   message as the problem.
 * - Any other failed write (unreachable, timed out, refused for another reason) is checked by
 *   one probe write at once: a blip that is already over leaves the store healthy; otherwise it
 *   turns unhealthy with the probe's error.
 * - While unhealthy, a probe write runs every `minMs` doubling to `maxMs`, with no client
 *   traffic needed; the first that succeeds (or any client write that succeeds) makes the store
 *   healthy again.
 *
 * A lost compare is no failure: etcd answered. The probe itself is chosen by the store (see
 * `EtcdStore`): it needs write quota but changes nothing.
 */

/** Pauses between probes while etcd refuses writes (ms). */
export const PROBE_MIN_MS = 500;
export const PROBE_MAX_MS = 5000;

/**
 * Write health of one store.
 *
 * @example
 * const wh = new WriteHealth(() => store.probeWrite());
 * try { await write(); wh.succeeded(); } catch (err) { wh.failed(err as Error, isNoSpace(err)); throw err; }
 * wh.problem; // undefined while writes go through
 */
export class WriteHealth {
  readonly #probe: () => Promise<void>;
  readonly #minMs: number;
  readonly #maxMs: number;
  #problem: string | undefined;
  /** Probes run (or are scheduled) while this is set. */
  #timer: NodeJS.Timeout | undefined;
  #probing = false;
  #failedProbes = 0;
  #probes = 0;
  #closed = false;

  constructor(probe: () => Promise<void>, options: { minMs?: number; maxMs?: number } = {}) {
    this.#probe = probe;
    this.#minMs = options.minMs ?? PROBE_MIN_MS;
    this.#maxMs = Math.max(this.#minMs, options.maxMs ?? PROBE_MAX_MS);
  }

  /** Probes answered so far (tests wait on it). */
  get probes(): number {
    return this.#probes;
  }

  /** Why writes cannot succeed now; undefined while they can. */
  get problem(): string | undefined {
    return this.#problem;
  }

  /** A client write went through: etcd takes writes. */
  succeeded(): void {
    this.#problem = undefined;
  }

  /**
   * A client write failed. `refused`: etcd itself said it takes no writes (NOSPACE), so the
   * store is unhealthy at once; otherwise a probe decides.
   */
  failed(err: Error, refused: boolean): void {
    if (this.#closed) return;
    if (refused) this.#problem = err.message;
    if (!this.#probing) {
      this.#probing = true;
      this.#failedProbes = 0;
      this.#schedule(0);
    }
  }

  /** Stops probing. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(ms: number): void {
    this.#timer = setTimeout(() => void this.#runProbe(), ms);
    this.#timer.unref();
  }

  async #runProbe(): Promise<void> {
    this.#timer = undefined;
    try {
      await this.#probe();
      this.#probes++;
      if (this.#closed) return;
      this.#problem = undefined;
      this.#probing = false;
    } catch (err) {
      this.#probes++;
      if (this.#closed) return;
      this.#problem = err instanceof Error ? err.message : String(err);
      this.#failedProbes++;
      this.#schedule(Math.min(this.#maxMs, this.#minMs * 2 ** (this.#failedProbes - 1)));
    }
  }
}
