/**
 * Store backends: commit throughput of create-if-absent transactions (one key, ~300-byte value),
 * one at a time and 64 in flight, on the embedded store (in a temp dir, fsync on) and on a real
 * single-member etcd started on loopback (skipped when /usr/bin/etcd is missing). Also the
 * embedded store with allocation-shaped transactions (3 keys, compare on 1), and the longest
 * commit while the embedded store rewrites its snapshot and log at a large state (200,000 keys).
 */
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { startEtcd } from '../test/helpers/etcd.ts';
import { EmbeddedStore } from '../src/store/embedded.ts';
import { EtcdStore } from '../src/store/etcd.ts';
import type { Op, Store } from '../src/store/store.ts';
import type { Report } from './run.ts';

const VALUE = 'v'.repeat(300);

/** Runs `n` transactions with `inFlight` of them outstanding at any time; returns txn/s. */
async function throughput(
  store: Store,
  n: number,
  inFlight: number,
  txnOf: (i: number) => Op[],
  tag: string,
): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < n) {
        const i = next++;
        const ops = txnOf(i);
        const r = await store.txn([{ key: ops[0]!.key, modRevision: 0 }], ops);
        if (!r.succeeded) throw new Error(`bench ${tag}: txn ${i} conflicted`);
      }
    }),
  );
  return n / ((performance.now() - t0) / 1000);
}

/** Commit latencies (ms, sorted) of `n` transactions with `inFlight` outstanding. */
async function latencies(
  store: Store,
  n: number,
  inFlight: number,
  tag: string,
): Promise<number[]> {
  const out: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < n) {
        const i = next++;
        const key = `${tag}/${i}`;
        const t0 = performance.now();
        const r = await store.txn([{ key, modRevision: 0 }], [{ type: 'put', key, value: VALUE }]);
        out.push(performance.now() - t0);
        if (!r.succeeded) throw new Error(`bench ${tag}: txn ${i} conflicted`);
      }
    }),
  );
  return out.sort((a, b) => a - b);
}

/** Fills an embedded store with 200,000 keys, then times commits across a log compaction. */
async function compactionPause(report: Report, dir: string): Promise<void> {
  // 16 MiB of log (~50,000 transactions of this size) between compactions.
  const store = await EmbeddedStore.open(dir, { compactLogBytes: 16 << 20 });
  await throughput(store, 200_000, 64, oneKey('fill'), 'fill');
  const lat = await latencies(store, 60_000, 64, 'lat');
  report(
    'embedded_commit_p99_ms_200k_keys',
    lat[Math.floor(lat.length * 0.99)]!,
    'ms',
    '64 in flight',
  );
  report(
    'embedded_commit_max_ms_200k_keys',
    lat[lat.length - 1]!,
    'ms',
    'longest commit; ~60,000 commits span at least one snapshot + log rewrite',
  );
  await store.close();
}

const oneKey =
  (tag: string) =>
  (i: number): Op[] => [{ type: 'put', key: `${tag}/${i}`, value: VALUE }];
const allocation =
  (tag: string) =>
  (i: number): Op[] => [
    { type: 'put', key: `${tag}/addr/${i}`, value: VALUE },
    { type: 'put', key: `${tag}/name/${i}`, value: VALUE.slice(0, 100) },
    { type: 'put', key: `${tag}/block/${i % 256}`, value: VALUE },
  ];

export async function run(report: Report): Promise<void> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'romana-bench-store-'));
  try {
    const store = await EmbeddedStore.open(dir);
    await throughput(store, 500, 8, oneKey('warm'), 'warm-up');
    report(
      'embedded_txn_sequential_per_s',
      await throughput(store, 3000, 1, oneKey('seq'), 'seq'),
      'txn/s',
      '1 key, 300 B, fsync each',
    );
    report(
      'embedded_txn_c64_per_s',
      await throughput(store, 100_000, 64, oneKey('par'), 'par'),
      'txn/s',
      '1 key, 300 B, group commit',
    );
    report(
      'embedded_allocation_txn_c64_per_s',
      await throughput(store, 100_000, 64, allocation('alloc'), 'alloc'),
      'txn/s',
      '3 keys, ~700 B',
    );
    await store.close();
    await compactionPause(report, path.join(dir, 'big'));
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }

  if (!existsSync('/usr/bin/etcd')) {
    process.stderr.write('store: etcd figures skipped: /usr/bin/etcd is not installed\n');
    return;
  }
  const etcd = await startEtcd();
  try {
    const store = new EtcdStore({ endpoints: etcd.endpoints, prefix: '/bench' });
    await throughput(store, 500, 8, oneKey('warm'), 'warm-up');
    report(
      'etcd_txn_sequential_per_s',
      await throughput(store, 2000, 1, oneKey('seq'), 'seq'),
      'txn/s',
      '1 key, 300 B, single member',
    );
    report(
      'etcd_txn_c64_per_s',
      await throughput(store, 20_000, 64, oneKey('par'), 'par'),
      'txn/s',
      '1 key, 300 B, single member',
    );
    await store.close();
  } finally {
    await etcd.stop();
  }
}
