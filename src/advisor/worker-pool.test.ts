/**
 * The simulation runner (src/advisor/worker-pool.ts) from the sources: worker threads that load
 * src/advisor/worker.ts through tsx. Its answer is `simulate()`'s, typed errors keep their code,
 * and its bounds (queue, time limit, close) answer `Unavailable` naming the bound.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isRomanaError } from '../errors.ts';
import { API_LIMITS } from './limits.ts';
import { simulate } from './simulate.ts';
import type { SimulationInput } from './types.ts';
import { SimulationRunner } from './worker-pool.ts';

const SMALL: SimulationInput = {
  shape: { zones: 1, racks: 2, hosts: 2, cidr: '10.0.0.0/24' },
  pods: 5,
  block_masks: [28, 27],
  churn: { rounds: 2, fraction: 0.5 },
};
/** Enough work to keep a worker busy for seconds (1,024 hosts x 60 pods x 2 sizes). */
const BIG: SimulationInput = {
  shape: { zones: 8, racks: 16, hosts: 8, cidr: '10.112.0.0/12' },
  pods: 60,
  block_masks: [28, 27],
};

const isUnavailable = (id: string, re: RegExp) => (err: unknown) =>
  isRomanaError(err, 'Unavailable') && err.resourceId === id && re.test(err.message);

describe('SimulationRunner', () => {
  test('answers what simulate() answers in-process, and keeps typed errors', async () => {
    const runner = new SimulationRunner({ concurrency: 2, queue: 2, timeoutMs: 60_000 });
    try {
      const [a, b] = await Promise.all([
        runner.run(SMALL, API_LIMITS),
        runner.run({ ...SMALL, seed: 7 }, API_LIMITS),
      ]);
      assert.deepEqual(a, simulate(SMALL, API_LIMITS));
      assert.deepEqual(b, simulate({ ...SMALL, seed: 7 }, API_LIMITS));
      // Too much work: the InvalidInput the route turns into a 413, not a crash of the thread.
      const tooBig = { ...BIG, pods: 10_000 };
      await assert.rejects(
        runner.run(tooBig, API_LIMITS),
        (err) => isRomanaError(err, 'InvalidInput') && err.resourceId === 'work',
      );
      assert.deepEqual(runner.load, { running: 0, waiting: 0 });
    } finally {
      await runner.close();
    }
  });

  test('a simulation past its time limit is stopped with an error naming the limit', async () => {
    const runner = new SimulationRunner({ concurrency: 1, queue: 1, timeoutMs: 300 });
    try {
      const started = performance.now();
      await assert.rejects(
        runner.run(BIG, API_LIMITS),
        isUnavailable('timeout', /time limit of 300 ms/),
      );
      assert.ok(performance.now() - started < 5_000, 'stopped near its limit');
      assert.deepEqual(runner.load, { running: 0, waiting: 0 });
    } finally {
      await runner.close();
    }
  });

  test('a full queue is refused at once; the queued one runs after', async () => {
    const runner = new SimulationRunner({ concurrency: 1, queue: 1, timeoutMs: 60_000 });
    try {
      const first = runner.run(BIG, API_LIMITS);
      const queued = runner.run(SMALL, API_LIMITS);
      assert.deepEqual(runner.load, { running: 1, waiting: 1 });
      await assert.rejects(
        runner.run(SMALL, API_LIMITS),
        isUnavailable('queue', /busy: 1 simulation\(s\) running and 1 waiting \(at most 1\)/),
      );
      await runner.close(); // stops the big one; the queued one is refused too
      await assert.rejects(first, isUnavailable('closed', /shutting down/));
      await assert.rejects(queued, isUnavailable('closed', /shutting down/));
      await assert.rejects(runner.run(SMALL, API_LIMITS), isUnavailable('closed', /shutting/));
    } finally {
      await runner.close();
    }
  });
});
