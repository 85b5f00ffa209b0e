/**
 * A keyed work queue, the shape Kubernetes controllers use: events only name the object that
 * changed; a worker reconciles that key against the state as it is *now*. A key queued twice
 * before its turn runs once; a key is never reconciled by two workers at once; a failure is
 * retried with backoff; a reconcile may ask to run again later (a grace period ending).
 */

/** What a reconcile asks for next. */
export type Outcome = void | { againInMs: number };

export interface QueueOptions {
  /** Keys reconciled at the same time (default 4). */
  concurrency?: number;
  /** First retry pause after a failure (default 100 ms), doubled up to `maxBackoffMs`. */
  backoffMs?: number;
  maxBackoffMs?: number;
  onError?(key: string, err: unknown, attempt: number): void;
}

export class WorkQueue {
  readonly #reconcile: (key: string) => Promise<Outcome>;
  readonly #opts: Required<Omit<QueueOptions, 'onError'>> & Pick<QueueOptions, 'onError'>;
  readonly #pending = new Set<string>();
  readonly #order: string[] = [];
  readonly #running = new Set<string>();
  /** Keys queued again while running: requeued when their run ends. */
  readonly #dirty = new Set<string>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #failures = new Map<string, number>();
  #active = false;
  #idleWaiters: (() => void)[] = [];

  constructor(reconcile: (key: string) => Promise<Outcome>, opts: QueueOptions = {}) {
    this.#reconcile = reconcile;
    this.#opts = {
      concurrency: opts.concurrency ?? 4,
      backoffMs: opts.backoffMs ?? 100,
      maxBackoffMs: opts.maxBackoffMs ?? 10_000,
      onError: opts.onError,
    };
  }

  /** Starts (or resumes) working; keys queued while stopped wait. */
  start(): void {
    this.#active = true;
    this.#pump();
  }

  /** Stops taking keys (running reconciles finish); queued keys and timers are dropped. */
  stop(): void {
    this.#active = false;
    this.#pending.clear();
    this.#order.length = 0;
    this.#dirty.clear();
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
  }

  /** Queues `key` (once, however often it is added before it runs). */
  add(key: string): void {
    const t = this.#timers.get(key);
    if (t !== undefined) {
      clearTimeout(t);
      this.#timers.delete(key);
    }
    if (this.#running.has(key)) {
      this.#dirty.add(key);
      return;
    }
    if (this.#pending.has(key)) return;
    this.#pending.add(key);
    this.#order.push(key);
    this.#pump();
  }

  /** Queues `key` after `ms` (an earlier `add` wins). */
  addAfter(key: string, ms: number): void {
    if (this.#pending.has(key) || this.#timers.has(key)) return;
    const t = setTimeout(() => {
      this.#timers.delete(key);
      this.add(key);
    }, ms);
    t.unref();
    this.#timers.set(key, t);
  }

  /** Keys queued or running. */
  get size(): number {
    return this.#pending.size + this.#running.size;
  }

  /** Resolves once nothing is queued or running (timers may still be set). */
  idle(): Promise<void> {
    if (this.size === 0) return Promise.resolve();
    return new Promise((r) => this.#idleWaiters.push(r));
  }

  #pump(): void {
    while (this.#active && this.#running.size < this.#opts.concurrency && this.#order.length > 0) {
      const key = this.#order.shift()!;
      this.#pending.delete(key);
      this.#running.add(key);
      void this.#run(key);
    }
    if (this.size === 0) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  async #run(key: string): Promise<void> {
    let outcome: Outcome;
    let failed = false;
    try {
      outcome = await this.#reconcile(key);
      this.#failures.delete(key);
    } catch (err) {
      failed = true;
      const n = (this.#failures.get(key) ?? 0) + 1;
      this.#failures.set(key, n);
      this.#opts.onError?.(key, err, n);
      const pause = Math.min(this.#opts.maxBackoffMs, this.#opts.backoffMs * 2 ** (n - 1));
      outcome = { againInMs: pause * (0.5 + Math.random() / 2) };
    }
    this.#running.delete(key);
    if (this.#active) {
      if (this.#dirty.delete(key) && !failed) this.add(key);
      else if (outcome) this.addAfter(key, outcome.againInMs);
    }
    this.#pump();
  }
}
