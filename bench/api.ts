/**
 * romanad over HTTP: a real romanad process per configuration (embedded store, etcd), a
 * topology of 1,024 hosts (and of 10, to show the cost does not grow with the cluster), and
 * allocations at concurrency 1, 16 and 64 from keep-alive HTTP clients in this process.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startEtcd, type EtcdHandle } from '../test/helpers/etcd.ts';
import { agent, request, startRomanad } from '../test/helpers/romanad.ts';
import type { Report } from './run.ts';
import { rackTopology } from './topology.ts';

async function allocateMany(
  url: string,
  hosts: string[],
  count: number,
  concurrency: number,
  tag: string,
): Promise<{ perSecond: number; p50: number; p99: number }> {
  const latencies: number[] = [];
  let next = 0;
  const t0 = performance.now();
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= count) return;
      const s = performance.now();
      const r = await request(`${url}/address`, 'POST', {
        name: `${tag}-${i}`,
        host: hosts[i % hosts.length],
        tenant: 'bench',
        segment: `s${i % 4}`,
      });
      if (r.status !== 200)
        throw new Error(`allocation failed: ${r.status} ${JSON.stringify(r.body)}`);
      latencies.push(performance.now() - s);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const ms = performance.now() - t0;
  latencies.sort((a, b) => a - b);
  return {
    perSecond: (count / ms) * 1000,
    p50: latencies[Math.floor(latencies.length * 0.5)]!,
    p99: latencies[Math.floor(latencies.length * 0.99)]!,
  };
}

async function runOne(
  report: Report,
  label: string,
  args: string[],
  topo: { name: string; doc: unknown; hosts: string[] },
): Promise<void> {
  const d = await startRomanad(args);
  try {
    const t = await request(`${d.url}/topology`, 'POST', topo.doc);
    if (t.status !== 200) throw new Error(`topology: ${t.status} ${JSON.stringify(t.body)}`);
    for (const c of [1, 16, 64]) {
      const count = c === 1 ? 1500 : 6000;
      await allocateMany(d.url, topo.hosts, 200, c, `warm-${c}`);
      const r = await allocateMany(d.url, topo.hosts, count, c, `c${c}`);
      const key = `${label}_${topo.name}_c${c}`;
      report(`${key}_allocations_per_s`, r.perSecond, 'ops/s', `${count} allocations`);
      report(`${key}_p50_ms`, r.p50, 'ms');
      report(`${key}_p99_ms`, r.p99, 'ms');
    }
  } finally {
    await d.stop();
  }
}

export async function run(report: Report): Promise<void> {
  const topologies = [
    { name: '1024hosts', ...rackTopology(8, 16, 8) },
    { name: '10hosts', ...rackTopology(1, 2, 5) },
  ];
  for (const topo of topologies) {
    const dir = mkdtempSync(path.join(tmpdir(), 'romana-bench-'));
    try {
      await runOne(report, 'embedded', ['--store', `embedded:${dir}`], topo);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  let etcd: EtcdHandle | undefined;
  try {
    etcd = await startEtcd();
    for (const [i, topo] of topologies.entries()) {
      await runOne(
        report,
        'etcd',
        [
          '--store',
          'etcd',
          '--etcd-endpoints',
          etcd.endpoints.join(','),
          '--etcd-prefix',
          `/bench${i}`,
        ],
        topo,
      );
    }
  } finally {
    await etcd?.stop();
  }
  agent.destroy();
}
