/**
 * The rule of `WriteHealth` with a scripted probe (the real etcd case is in
 * src/server/http/readyz-etcd.test.ts): a refusal is unhealthy at once; another failure only
 * once a probe fails too; probes back off and stop at the first success or on close.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { WriteHealth } from './etcd-write-health.ts';

async function waitUntil(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** A probe that fails with the given messages in turn, then succeeds; records call times. */
function scripted(failures: string[]): { probe: () => Promise<void>; at: number[] } {
  const at: number[] = [];
  return {
    at,
    probe: async () => {
      at.push(performance.now());
      const msg = failures.shift();
      if (msg !== undefined) throw new Error(msg);
    },
  };
}

describe('WriteHealth', () => {
  test('a blip a probe finds over never shows', async () => {
    const p = scripted([]);
    const wh = new WriteHealth(p.probe, { minMs: 5, maxMs: 20 });
    wh.failed(new Error('14 UNAVAILABLE: connection reset'), false);
    assert.equal(wh.problem, undefined);
    await waitUntil(() => wh.probes === 1, 'the probe ran');
    assert.equal(wh.problem, undefined);
    wh.close();
  });

  test('a refusal shows at once; failed probes keep it, with their reason, backing off', async () => {
    const p = scripted(['space exceeded (probe 1)', 'space exceeded (probe 2)', 'probe 3']);
    const wh = new WriteHealth(p.probe, { minMs: 10, maxMs: 25 });
    wh.failed(new Error('etcd refuses writes: database space exceeded'), true);
    assert.equal(wh.problem, 'etcd refuses writes: database space exceeded');
    await waitUntil(() => wh.probes === 1, 'the first probe');
    assert.equal(wh.problem, 'space exceeded (probe 1)');
    await waitUntil(() => wh.probes === 3, 'the third probe');
    assert.equal(wh.problem, 'probe 3');
    await waitUntil(() => wh.probes === 4, 'a probe that passes');
    assert.equal(wh.problem, undefined);
    // Pauses: none before the first probe, then 10, 20, 25 (capped) ms at least.
    const gaps = p.at.slice(1).map((t, i) => t - p.at[i]!);
    [10, 20, 25].forEach((min, i) => assert.ok(gaps[i]! >= min - 1, `gap ${i}: ${gaps[i]}`));
    wh.close();
  });

  test('a write that goes through clears the problem; close stops the probes', async () => {
    const p = scripted(Array.from({ length: 100 }, (_, i) => `refused ${i}`));
    const wh = new WriteHealth(p.probe, { minMs: 5, maxMs: 5 });
    wh.failed(new Error('refused'), true);
    wh.failed(new Error('refused again'), true); // joins the probing under way
    await waitUntil(() => wh.probes >= 2, 'two probes');
    wh.succeeded();
    assert.equal(wh.problem, undefined);
    wh.close();
    const n = p.at.length;
    // An absence: give a stray timer (every 5 ms) six chances to fire.
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.ok(p.at.length <= n + 1, 'probes went on after close'); // one may be in flight
    wh.failed(new Error('after close'), true);
    assert.equal(wh.problem, undefined, 'a closed WriteHealth ignores failures');
  });
});
