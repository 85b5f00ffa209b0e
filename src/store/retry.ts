/**
 * The one optimistic-concurrency retry loop. A caller reads, decides, and commits a transaction
 * guarded by the revisions it read; when the transaction reports a conflict it throws a
 * retryable `Conflict` (made by `conflict()`) and `withRetry` runs the whole read-decide-commit
 * again after a short jittered pause (jitter keeps two contending writers from colliding in
 * lock step). A definitive conflict (a blackout over a live pod, a host that still holds
 * addresses) is not retryable: it is answered at once, since trying again cannot change it.
 */
import { RomanaError, isRomanaError } from '../errors.ts';

/**
 * Tuning of `withRetry`; every field is optional.
 *
 * @example const opts: RetryOptions = { attempts: 20, maxDelayMs: 20 };
 */
export interface RetryOptions {
  /** Total number of calls of `fn` (first try included). Default 10. */
  attempts?: number;
  /** Pause before the first retry, in ms; doubles on each retry up to `maxDelayMs`. Default 1. */
  baseDelayMs?: number;
  /** Upper bound of one pause, in ms. Default 50. */
  maxDelayMs?: number;
  /** Which errors mean "try again". Default: a `RomanaError` marked `retryable`. */
  isRetryable?: (err: unknown) => boolean;
  /** Random source in [0, 1) for the jitter (tests pass a fixed one). Default `Math.random`. */
  random?: () => number;
  /** How to wait (tests pass a recorder). Default `setTimeout`. */
  sleep?: (ms: number) => Promise<void>;
}

/** The one backoff policy of romanad's writes (`TxnRunner`, the address queue). */
export const WRITE_RETRY: Readonly<RetryOptions> = { attempts: 30, baseDelayMs: 1, maxDelayMs: 40 };

/**
 * True for an error that means "try again": a `RomanaError` marked `retryable`. Any other
 * error is definitive and is answered at once.
 *
 * @example isRetryable(conflict('block changed')) // true
 * @example isRetryable(new RomanaError('AlreadyExists', 'name taken')) // false
 */
export function isRetryable(err: unknown): boolean {
  return isRomanaError(err) && err.retryable;
}

/**
 * The pause before retry number `attempt` (1-based): "full jitter", a random pause in
 * [0, cap], the cap doubling per retry from `baseDelayMs` up to `maxDelayMs`.
 *
 * @example backoffDelay(3, { baseDelayMs: 1, maxDelayMs: 40 }, () => 0.5) // 2
 */
export function backoffDelay(
  attempt: number,
  options: Pick<RetryOptions, 'baseDelayMs' | 'maxDelayMs'> = {},
  random: () => number = Math.random,
): number {
  const cap = Math.min(options.maxDelayMs ?? 50, (options.baseDelayMs ?? 1) * 2 ** (attempt - 1));
  return random() * cap;
}

/**
 * Runs `fn` until it returns, throws a non-retryable error, or `attempts` are used up; in that
 * last case the final conflict is rethrown as a `Conflict` error that says how many attempts were
 * made (the original is its `cause`). `fn` gets the 1-based attempt number.
 *
 * @example
 * const addr = await withRetry(async () => {
 *   const kv = await store.get('blocks/b1');
 *   const next = allocate(kv);
 *   const r = await store.txn([{ key: 'blocks/b1', modRevision: kv?.modRevision ?? 0 }], next.ops);
 *   if (!r.succeeded) throw conflict('block b1 changed while allocating');
 *   return next.addr;
 * }, { attempts: 20 });
 */
export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  const attempts = Math.max(1, options.attempts ?? 10);
  const retryable = options.isRetryable ?? isRetryable;
  const random = options.random ?? Math.random;
  const sleep = options.sleep ?? defaultSleep;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (!retryable(err)) throw err;
      if (attempt >= attempts) {
        const what = err instanceof Error ? err.message : String(err);
        throw new RomanaError('Conflict', `gave up after ${attempts} attempts: ${what}`, {
          cause: err,
          ...(err instanceof RomanaError
            ? { resourceType: err.resourceType, resourceId: err.resourceId }
            : {}),
        });
      }
      await sleep(backoffDelay(attempt, options, random));
    }
  }
}

/**
 * A retryable `Conflict` error for a transaction whose compares failed (another writer got
 * there first); `withRetry` retries on it.
 *
 * @example if (!r.succeeded) throw conflict('host h1 changed concurrently', { resourceType: 'host', resourceId: 'h1' });
 */
export function conflict(
  message: string,
  options: { resourceType?: string; resourceId?: string } = {},
): RomanaError {
  return new RomanaError('Conflict', message, { ...options, retryable: true });
}

function defaultSleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
