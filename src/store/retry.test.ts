import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RomanaError, isRomanaError } from '../errors.ts';
import { backoffDelay, conflict, isRetryable, withRetry, WRITE_RETRY } from './retry.ts';

describe('withRetry', () => {
  it('returns the first successful result without sleeping', async () => {
    const sleeps: number[] = [];
    const r = await withRetry(async () => 42, { sleep: async (ms) => void sleeps.push(ms) });
    assert.equal(r, 42);
    assert.deepEqual(sleeps, []);
  });

  it('retries on conflicts with jittered, doubling, capped pauses', async () => {
    const sleeps: number[] = [];
    const attempts: number[] = [];
    const r = await withRetry(
      async (attempt) => {
        attempts.push(attempt);
        if (attempt < 6) throw conflict('changed');
        return 'done';
      },
      {
        baseDelayMs: 2,
        maxDelayMs: 10,
        random: () => 0.5,
        sleep: async (ms) => void sleeps.push(ms),
      },
    );
    assert.equal(r, 'done');
    assert.deepEqual(attempts, [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(sleeps, [1, 2, 4, 5, 5]); // half of min(10, 2 * 2^n)
  });

  it('gives up after the last attempt with a Conflict that counts them and keeps the cause', async () => {
    let calls = 0;
    const last = conflict('block b1 changed', { resourceType: 'block', resourceId: 'b1' });
    await assert.rejects(
      withRetry(
        async () => {
          calls++;
          throw last;
        },
        { attempts: 3, sleep: async () => {} },
      ),
      (err: unknown) =>
        isRomanaError(err, 'Conflict') &&
        /gave up after 3 attempts: block b1 changed/.test(err.message) &&
        err.cause === last &&
        err.resourceId === 'b1',
    );
    assert.equal(calls, 3);
  });

  it('does not retry other errors', async () => {
    let calls = 0;
    const boom = new RomanaError('Unavailable', 'etcd down');
    await assert.rejects(
      withRetry(async () => {
        calls++;
        throw boom;
      }),
      (err: unknown) => err === boom,
    );
    assert.equal(calls, 1);
  });

  it('answers a definitive Conflict at once; only a retryable one is tried again', async () => {
    let calls = 0;
    const final = new RomanaError('Conflict', 'the range holds a live address');
    assert.equal(final.retryable, false);
    assert.equal(conflict('raced').retryable, true);
    await assert.rejects(
      withRetry(
        async () => {
          calls++;
          throw final;
        },
        { sleep: async () => assert.fail('a definitive conflict must not be retried') },
      ),
      (err: unknown) => err === final,
    );
    assert.equal(calls, 1);
  });

  it('retries what a custom predicate says is retryable', async () => {
    let calls = 0;
    const r = await withRetry(
      async () => {
        if (++calls < 3) throw new Error('busy');
        return calls;
      },
      { isRetryable: (e) => e instanceof Error && e.message === 'busy', sleep: async () => {} },
    );
    assert.equal(r, 3);
  });

  it('tells retryable from definitive errors: only a lost compare is tried again', () => {
    assert.equal(isRetryable(conflict('raced')), true);
    for (const code of [
      'Conflict',
      'AlreadyExists',
      'InvalidInput',
      'NotFound',
      'Unavailable',
    ] as const) {
      assert.equal(isRetryable(new RomanaError(code, 'no')), false, code);
    }
    assert.equal(isRetryable(new Error('socket hang up')), false);
  });

  it('backs off with full jitter under a cap that doubles up to its maximum', () => {
    const top = () => 0.999999;
    const caps = [1, 2, 3, 4, 5, 6, 7, 30].map((a) =>
      Math.round(backoffDelay(a, WRITE_RETRY, top)),
    );
    assert.deepEqual(caps, [1, 2, 4, 8, 16, 32, 40, 40]);
    assert.equal(
      backoffDelay(5, WRITE_RETRY, () => 0),
      0,
    );
  });
});
