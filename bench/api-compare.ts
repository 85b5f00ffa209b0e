/**
 * romanad builds of several checkouts under the same load, one after the other, round after
 * round. `npm run bench -- api` measures one build against the HTTP floor; between two
 * recorded runs the machine itself drifts (other tenants, memory, disk), which can hide or
 * invent a difference. Alternating the builds in one sitting shows what the code changed.
 *
 *   node --import tsx bench/api-compare.ts STORE ROUNDS CHECKOUT...
 *
 * STORE is `embedded` or `etcd`; each CHECKOUT has its bundles built (`npm run build`). Each
 * round starts a fresh romanad (and store) per checkout over the 1,024-host topology, warms it
 * up, then drives it with wrk at 64 connections for BENCH_API_SECONDS (default 10) and lists
 * every address back (no IP twice). One JSON line per figure, with its checkout and round.
 *
 * The order of the checkouts turns round after round: the second run of a round was the slower
 * one, whichever build it was (2026-11-28: seven pairs of the same two builds, 6-8 % fewer
 * allocations/s in second place for both). Compare builds over an even number of rounds.
 *
 * @example
 * git worktree add /tmp/before HEAD~3 && ln -s "$PWD/node_modules" /tmp/before/ && (cd /tmp/before && npm run build)
 * node --import tsx bench/api-compare.ts etcd 2 /tmp/before .
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startEtcd, type EtcdHandle } from '../test/helpers/etcd.ts';
import { request } from '../test/helpers/romanad.ts';
import {
  checkNoDuplicate,
  ROMANAD_NODE_ARGS,
  runWrk,
  runWrkCpu,
  spawnServer,
  wrkScript,
} from './api.ts';
import { rackTopology } from './topology.ts';

const [store, roundsText, ...checkouts] = process.argv.slice(2);
const rounds = Number(roundsText);
if ((store !== 'embedded' && store !== 'etcd') || !(rounds >= 1) || checkouts.length === 0) {
  process.stderr.write('usage: bench/api-compare.ts embedded|etcd ROUNDS CHECKOUT...\n');
  process.exit(2);
}

const dir = mkdtempSync(path.join(tmpdir(), 'romana-bench-compare-'));
const topo = rackTopology(8, 16, 8);
let etcd: EtcdHandle | undefined;
try {
  if (store === 'etcd') etcd = await startEtcd();
  let run = 0;
  for (let round = 1; round <= rounds; round++) {
    const order = round % 2 === 1 ? checkouts : [...checkouts].reverse();
    for (const checkout of order) {
      run++;
      const storeArgs =
        etcd === undefined
          ? ['--store', `embedded:${path.join(dir, `store-${run}`)}`]
          : [
              '--store',
              'etcd',
              '--etcd-endpoints',
              etcd.endpoints.join(','),
              '--etcd-prefix',
              `/compare-${run}`,
            ];
      const bin = path.join(path.resolve(checkout), 'bin/romanad.js');
      const d = await spawnServer(
        [...ROMANAD_NODE_ARGS, bin, '--port', '0', '--log-level', 'info', ...storeArgs],
        path.join(dir, `romanad-${run}.log`),
      );
      try {
        const t = await request(`${d.url}/topology`, 'POST', topo.doc);
        if (t.status !== 200) throw new Error(`topology: ${t.status} ${JSON.stringify(t.body)}`);
        await runWrk(d.url, wrkScript(dir, topo.hosts, `warm-${run}`), 64);
        const r = await runWrkCpu(d.proc.pid!, d.url, wrkScript(dir, topo.hosts, `run-${run}`), 64);
        await checkNoDuplicate(d.url);
        const line = (metric: string, value: number, unit: string) =>
          process.stdout.write(
            `${JSON.stringify({ bench: 'api-compare', metric: `${store}_c64_${metric}`, value, unit, checkout, round })}\n`,
          );
        line('allocations_per_s', Math.round(r.perSecond), 'ops/s');
        line('cpu_us_per_allocation', Math.round(r.cpuUsPerRequest), 'µs');
        line('p99_ms', r.p99, 'ms');
        line('errors', r.errors, 'count');
      } finally {
        await d.stop();
      }
    }
  }
} finally {
  await etcd?.stop();
  rmSync(dir, { recursive: true, force: true });
}
