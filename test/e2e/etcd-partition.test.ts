/**
 * A watch attached to an etcd member that is cut off from the rest of its cluster: the member
 * stays up and answers keepalives, but sees no new writes, so the watch would fall silent for
 * as long as the partition lasts (and romanad, and every agent following it, with it). The
 * store's watch must notice that its member lags the cluster and move to another member,
 * delivering what it missed, in order, once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { EtcdStore } from '../../src/store/etcd.ts';
import type { WatchEvent } from '../../src/store/store.ts';
import { startPartitionableCluster, type PartitionableCluster } from '../helpers/etcd-partition.ts';

/** The watch's probe period; the test passes only with the probe (0 turns it off). */
const PROBE_MS = Number(process.env['ROMANA_TEST_PROBE_MS'] ?? 300);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('an etcd watch whose member is partitioned away', { timeout: 120_000 }, () => {
  let pc: PartitionableCluster;
  const stores: EtcdStore[] = [];
  const store = (endpoints: string[], probe = 0) => {
    const s = new EtcdStore({
      endpoints,
      prefix: '/part',
      watchProbeMs: probe,
      requestTimeoutMs: 2000,
    });
    stores.push(s);
    return s;
  };

  before(async () => {
    pc = await startPartitionableCluster(3);
  });
  after(async () => {
    for (const s of stores) await s.close();
    await pc?.stop();
  });

  it('moves to a member that keeps up, and delivers the writes made meanwhile', async () => {
    const [m0, m1, m2] = pc.endpoints as [string, string, string];
    const watcher = store([m0, m1, m2], PROBE_MS);
    const seen: WatchEvent[] = [];
    let failed: Error | undefined;
    // Only member 0 takes clients while the watch starts, so that is where it runs.
    pc.refuseClients(1, true);
    pc.refuseClients(2, true);
    const direct = store([m0]);
    const from = (await direct.range('')).revision + 1;
    const w = watcher.watch(
      '',
      from,
      (evs) => seen.push(...evs),
      (err) => (failed = err),
    );
    assert.ok((await direct.txn([], [{ type: 'put', key: 'a', value: '1' }])).succeeded);
    for (let i = 0; i < 100 && seen.length === 0; i++) await sleep(50);
    assert.deepEqual(
      seen.map((e) => e.key),
      ['a'],
    );
    pc.refuseClients(1, false);
    pc.refuseClients(2, false);
    pc.isolate(0);
    // Members 1 and 2 still make a quorum (after an election if 0 led).
    const writer = store([m1, m2]);
    let written = false;
    for (let i = 0; i < 40 && !written; i++) {
      try {
        written = (await writer.txn([], [{ type: 'put', key: 'b', value: '2' }])).succeeded;
      } catch {
        await sleep(250);
      }
    }
    assert.ok(written, 'members 1 and 2 commit without member 0');
    await writer.txn([], [{ type: 'put', key: 'c', value: '3' }]);
    // Each probe (every PROBE_MS) may ask the cut-off member or land the watch on it again.
    for (let i = 0; i < 600 && seen.length < 3; i++) await sleep(50);
    w.close();
    assert.equal(failed, undefined);
    assert.deepEqual(
      seen.map((e) => `${e.key}=${e.value}`),
      ['a=1', 'b=2', 'c=3'],
    );
  });
});
