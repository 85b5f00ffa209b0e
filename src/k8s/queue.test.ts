import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { WorkQueue } from './queue.ts';

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

describe('the keyed work queue', () => {
  it('runs a key queued many times before its turn once, and never one key twice at once', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom('a', 'b', 'c', 'd'), { maxLength: 40 }),
        async (adds) => {
          const running = new Set<string>();
          let overlap = false;
          const runs: string[] = [];
          const q = new WorkQueue(
            async (k) => {
              if (running.has(k)) overlap = true;
              running.add(k);
              runs.push(k);
              await tick();
              running.delete(k);
            },
            { concurrency: 3 },
          );
          for (const k of adds) q.add(k); // queued while stopped: waits
          assert.equal(runs.length, 0);
          q.start();
          await q.idle();
          assert.equal(overlap, false);
          assert.deepEqual([...runs].sort(), [...new Set(adds)].sort());
        },
      ),
      { numRuns: 30 },
    );
  });

  it('runs a key again when it was queued while running', async () => {
    let n = 0;
    const q: WorkQueue = new WorkQueue(async () => {
      if (n++ === 0) q.add('k');
      await tick();
    });
    q.start();
    q.add('k');
    await q.idle();
    await tick(5);
    await q.idle();
    assert.equal(n, 2);
  });

  it('retries a failing key with growing pauses and reports each failure', async () => {
    const at: number[] = [];
    const errors: number[] = [];
    const q = new WorkQueue(
      async () => {
        at.push(performance.now());
        if (at.length < 4) throw new Error('not yet');
      },
      { backoffMs: 10, maxBackoffMs: 1000, onError: (_k, _e, attempt) => errors.push(attempt) },
    );
    q.start();
    q.add('k');
    for (let i = 0; i < 200 && at.length < 4; i++) await tick(5);
    assert.equal(at.length, 4);
    assert.deepEqual(errors, [1, 2, 3]);
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    assert.ok(gaps[2]! >= 20, `the third pause (${gaps[2]} ms) is at least half of 40 ms`);
  });

  it('runs a key again when its reconcile asks for it, and an add comes first', async () => {
    const runs: number[] = [];
    const q = new WorkQueue(async () => {
      runs.push(performance.now());
      return runs.length === 1 ? { againInMs: 10_000 } : undefined;
    });
    q.start();
    q.add('k');
    await q.idle();
    q.add('k'); // earlier than the 10 s asked for
    await q.idle();
    assert.equal(runs.length, 2);
    q.stop();
  });

  it('drops queued keys and timers on stop', async () => {
    const runs = { kept: 0, stopped: 0 };
    const queue = (which: keyof typeof runs) => {
      const q = new WorkQueue(async () => {
        runs[which]++;
        return { againInMs: 5 };
      });
      q.start();
      q.add('k');
      return q;
    };
    const kept = queue('kept');
    const stopped = queue('stopped');
    await Promise.all([kept.idle(), stopped.idle()]);
    stopped.stop();
    // The same timer fires on the queue left running (within the wait, however long it takes).
    for (let i = 0; i < 400 && runs.kept < 3; i++) await tick(5);
    kept.stop();
    assert.ok(runs.kept >= 3, `the running queue ran again (${runs.kept} runs)`);
    assert.equal(runs.stopped, 1);
  });
});
