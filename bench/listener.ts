/**
 * romana-listener at cluster scale: a test API server holding 5,000 nodes and 50,000 pods, a
 * real romanad (memory store), the real listener process. Figures: time from spawn to ready
 * (every informer listed, romanad's state loaded), to every node registered as a host, the
 * listener's heap then; pod addresses linked; one pod label change → the address's labels in
 * romanad, p50/p99 over many changes (target < 100 ms).
 *
 * BENCH_LISTENER_NODES, BENCH_LISTENER_PODS, BENCH_LISTENER_LINKED (pods given an address),
 * BENCH_LISTENER_CHANGES set the sizes.
 */
import path from 'node:path';
import { RomanadClient } from '../src/client/index.ts';
import { watchRomanad } from '../src/client/watch.ts';
import { startKubeApiServer } from '../test/helpers/kube-apiserver/index.ts';
import { startListener, until } from '../test/helpers/listener.ts';
import { startRomanad } from '../test/helpers/romanad.ts';
import type { Report } from './run.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const NODES = Number(process.env['BENCH_LISTENER_NODES'] ?? 5000);
const PODS = Number(process.env['BENCH_LISTENER_PODS'] ?? 50_000);
const LINKED = Number(process.env['BENCH_LISTENER_LINKED'] ?? 2000);
const CHANGES = Number(process.env['BENCH_LISTENER_CHANGES'] ?? 200);

/** 172.16.0.1, 172.16.0.2, … */
const nodeIp = (i: number) => {
  const n = 0xac100000 + i + 1;
  return `${n >>> 24}.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
};

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

export async function run(report: Report): Promise<void> {
  const romanad = await startRomanad([
    '--store',
    'memory:',
    '--initial-topology-file',
    path.join(ROOT, 'examples/topology.json'),
  ]);
  const client = new RomanadClient({ baseUrl: romanad.url });
  const api = await startKubeApiServer({ bookmarkMs: 5000 });
  api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bench' } });
  for (let i = 0; i < NODES; i++) {
    api.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: `node-${i}` } });
    const n = api.get('v1', 'Node', `node-${i}`)!;
    api.updateStatus({
      ...n,
      status: {
        addresses: [{ type: 'InternalIP', address: nodeIp(i) }],
        conditions: [{ type: 'Ready', status: 'True' }],
      },
    });
  }
  const uids: string[] = [];
  for (let i = 0; i < PODS; i++) {
    const p = api.create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `pod-${i}`, namespace: 'bench', labels: { app: `a${i % 100}` } },
      spec: {
        nodeName: `node-${i % NODES}`,
        containers: [{ name: 'c', image: 'x', ports: [{ name: 'http', containerPort: 80 }] }],
      },
    });
    uids.push(p.metadata.uid!);
  }
  const t0 = performance.now();
  const listener = await startListener([
    ...['--kubeconfig', api.kubeconfigPath, '--romanad-url', romanad.url],
    ...['--no-leader-elect', '--log-level', 'info', '--resync-interval', '1h'],
  ]);
  try {
    await until(
      'ready',
      async () => (await fetch(`${listener.url}/readyz`)).status === 200,
      600_000,
    );
    report(
      'time to ready (every informer listed)',
      performance.now() - t0,
      'ms',
      `${NODES} nodes, ${PODS} pods`,
    );
    await until('all hosts', async () => (await client.listHosts()).hosts.length >= NODES, 600_000);
    report('time to every node registered as a host', performance.now() - t0, 'ms');
    const heap = await listener.metric('romana_listener_nodejs_heap_size_used_bytes');
    report('listener heap used after first sync', heap / 2 ** 20, 'MiB');

    const t1 = performance.now();
    const names: string[] = [];
    for (let i = 0; i < LINKED; i += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, LINKED - i) }, (_, k) => {
          const j = i + k;
          const name = `pod-${j}.bench.${uids[j]!.slice(0, 8)}`;
          names.push(name);
          return client.allocate({
            name,
            host: `node-${j % NODES}`,
            tenant: 'bench',
            pod: { namespace: 'bench', name: `pod-${j}`, uid: uids[j]! },
          });
        }),
      );
    }
    await until(
      'every address linked',
      async () =>
        (await client.listAddresses()).filter((a) => a.pod?.labels['app']).length >= LINKED,
      600_000,
    );
    report(
      'addresses allocated and linked to their pods',
      performance.now() - t1,
      'ms',
      `${LINKED} pods`,
    );

    // romanad's own watch stream says when the labels land: no polling competes for the CPU
    // with the listener and romanad (a tight poll of GET /addresses doubled the p99).
    const waiting = new Map<string, () => void>();
    const { revision } = await client.call<{ revision: number }>('GET', '/readyz');
    const watch = watchRomanad({
      baseUrl: romanad.url,
      kinds: ['addresses'],
      fromRevision: revision + 1,
      onEvent: (e) => {
        const rev = (e.value as { pod?: { labels?: Record<string, string> } } | undefined)?.pod
          ?.labels?.['rev'];
        const done = rev === undefined ? undefined : waiting.get(`${e.id} ${rev}`);
        done?.();
      },
    });
    const lat: number[] = [];
    for (let c = 0; c < CHANGES; c++) {
      const j = (c * 7919) % LINKED;
      const p = api.get('v1', 'Pod', `pod-${j}`, 'bench')!;
      const value = `v${c}`;
      const landed = new Promise<number>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`label ${value} never reached romanad`)),
          10_000,
        );
        waiting.set(`${names[j]} ${value}`, () => {
          clearTimeout(timer);
          resolve(performance.now());
        });
      });
      const ts = performance.now();
      api.update({ ...p, metadata: { ...p.metadata, labels: { app: `a${j % 100}`, rev: value } } });
      lat.push((await landed) - ts);
      waiting.clear();
    }
    watch.close();
    report(
      'pod label change → address labels in romanad, p50',
      percentile(lat, 50),
      'ms',
      `${CHANGES} changes`,
    );
    report(
      'pod label change → address labels in romanad, p99',
      percentile(lat, 99),
      'ms',
      'target < 100 ms',
    );
  } finally {
    await listener.stop();
    await api.close();
    await romanad.stop();
  }
}
