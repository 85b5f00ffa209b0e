/**
 * Node side: the CNI plugin's start, ADD and DEL; the agent's route reconcile for 10,000 remote
 * blocks (cold, no-op, one changed block), next to the same route batch applied directly with
 * `ip -batch` (the floor). Each figure is the median of several samples after a warm-up, with
 * min and max. Runs in throwaway network namespaces; needs root.
 */
import { execFileSync } from 'node:child_process';
import { applyBatch, readTable } from '../src/agent/kernel-routes.ts';
import { RouteReconciler } from '../src/agent/reconciler.ts';
import { inNetns, ProcessExec } from '../src/exec.ts';
import { Ipam, type GroupOrHost } from '../src/ipam/index.ts';
import { spawnSync } from 'node:child_process';
import { cniBundle } from '../test/helpers/cni.ts';
import { Fabric } from '../test/helpers/fabric.ts';
import type { Report } from './run.ts';
import { reportSpread, samples, timeIt } from './stats.ts';

const NS = `romana-bench-${process.pid}`;
const RACKS = 10;
const PER_RACK = 10;
const BLOCKS = 10_000;
/** Samples of each agent figure, after one warm-up run. */
const SAMPLES = 5;

function cluster(): Ipam {
  const map: GroupOrHost[] = [];
  for (let r = 0; r < RACKS; r++) {
    const hosts: GroupOrHost[] = [];
    for (let h = 0; h < PER_RACK; h++) {
      hosts.push({ name: `n${r}-${h}`, ip: `192.168.${r}.${h + 10}` });
    }
    map.push({ name: `rack-${r}`, groups: hosts });
  }
  map[0]!.groups!.push({ name: 'me', ip: '192.168.0.1' });
  const ipam = new Ipam();
  ipam.updateTopology({
    networks: [{ name: 'pods', cidr: '10.0.0.0/8', block_mask: 28 }],
    topologies: [{ networks: ['pods'], map }],
  });
  const hosts = ipam.listHosts().hosts.filter((h) => h.name !== 'me');
  for (let i = 0; i < BLOCKS; i++) {
    // One owner per allocation: every allocation opens a new block.
    ipam.allocate({ name: `p${i}`, host: hosts[i % hosts.length]!.name, tenant: `t${i}` });
  }
  return ipam;
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))]!;
}

/** romana-cni: bare start (VERSION), then ADD and DEL of 50 pods on one host. */
async function cniFigures(report: Report): Promise<void> {
  const bundle = cniBundle(); // rebuilt first if older than its sources
  const starts = await samples(20, 2, () =>
    timeIt(() =>
      spawnSync(process.execPath, [bundle], {
        env: { CNI_COMMAND: 'VERSION' },
        input: '{"cniVersion":"1.1.0"}',
      }),
    ),
  );
  reportSpread(report, 'cni_start_p50_ms', starts, 'ms', 'VERSION');
  const f = new Fabric(`rb${process.pid % 100000}`, ['h1']);
  try {
    await f.start({
      networks: [{ name: 'pods', cidr: '10.66.0.0/16', block_mask: 28 }],
      topologies: [
        { networks: ['pods'], map: [{ name: 'r', groups: [{ name: 'h1', ip: f.hostIp('h1') }] }] },
      ],
    });
    // Namespaces are made first: the figures are the plugin's ADD and DEL alone.
    const pods = Array.from({ length: 50 }, (_, i) => ({
      name: `p${i}`,
      ns: `${f.prefix}-p${i}`,
      id: `p${i}`.padEnd(8, '0') + 'beef',
    }));
    for (const p of pods) {
      f.addNamespace(p.ns);
      f.registerPod('team', p.name);
    }
    // Warm-up: one pod added and deleted, not counted.
    const warm = { name: 'warm', ns: `${f.prefix}-warm`, id: 'warm0000beef' };
    f.addNamespace(warm.ns);
    f.registerPod('team', warm.name);
    await f.cni('ADD', 'h1', warm.id, warm.ns, 'team', warm.name);
    await f.cni('DEL', 'h1', warm.id, warm.ns, 'team', warm.name);
    const adds: number[] = [];
    for (const p of pods) {
      const t = performance.now();
      const r = await f.cni('ADD', 'h1', p.id, p.ns, 'team', p.name);
      adds.push(performance.now() - t);
      if (r.code !== 0) throw new Error(`ADD ${p.name}: ${r.out}`);
    }
    const dels: number[] = [];
    for (const p of pods) {
      const t = performance.now();
      const r = await f.cni('DEL', 'h1', p.id, p.ns, 'team', p.name);
      dels.push(performance.now() - t);
      if (r.code !== 0) throw new Error(`DEL ${p.name}: ${r.out}`);
    }
    reportSpread(report, 'cni_add_p50_ms', adds, 'ms', 'the nsenter wrapper included');
    report('cni_add_p99_ms', percentile(adds, 0.99), 'ms');
    reportSpread(report, 'cni_del_p50_ms', dels, 'ms');
    report('cni_del_p99_ms', percentile(dels, 0.99), 'ms');
  } finally {
    await f.close();
  }
}

export async function run(report: Report): Promise<void> {
  await cniFigures(report);
  execFileSync('ip', ['netns', 'add', NS]);
  try {
    const ip = (...a: string[]) => execFileSync('ip', ['-n', NS, ...a]);
    ip('link', 'set', 'lo', 'up');
    ip('link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1');
    ip('addr', 'add', '192.168.0.1/16', 'dev', 'v0');
    ip('link', 'set', 'v0', 'up');
    ip('link', 'set', 'v1', 'up');
    const exec = inNetns(new ProcessExec(), NS);
    const ipam = cluster();

    const reconciler = () =>
      new RouteReconciler({ hostname: 'me', table: 10, multihop: false, exec, log: () => {} });
    const count = async () => (await readTable(exec, 10)).size;
    // Empties a table; a table with no route yet does not exist, which is fine.
    const flush = (table: number) =>
      spawnSync('ip', ['-n', NS, 'route', 'flush', 'table', String(table)]);

    // The floor: the same 10,000 routes, one ip -batch, into an empty table.
    const ipOf = new Map(ipam.listHosts().hosts.map((h) => [h.name, h.ip]));
    const lines = ipam
      .listAllBlocks()
      .blocks.map((b) => `route replace ${b.cidr} via ${ipOf.get(b.host)!} table 11`);
    const floor = await samples(SAMPLES, 1, async () => {
      flush(11);
      return timeIt(() => applyBatch(exec, lines));
    });
    reportSpread(report, 'ip_batch_floor_10k_routes_ms', floor, 'ms', `${lines.length} routes`);

    let r = reconciler();
    const cold = await samples(SAMPLES, 1, async () => {
      flush(10);
      r = reconciler();
      r.replace(ipam.listHosts(), ipam.listAllBlocks(), ipam.getTopology());
      return timeIt(() => r.sync());
    });
    reportSpread(report, 'agent_cold_sync_10k_ms', cold, 'ms', `${await count()} routes`);

    const noop = await samples(SAMPLES, 1, () => {
      r.requestFull();
      return timeIt(() => r.sync());
    });
    reportSpread(report, 'agent_full_noop_sync_10k_ms', noop, 'ms', 'resync, nothing to change');

    const one = await samples(SAMPLES, 1, (i) => {
      const freed = ipam.release(`p${100 + i}`);
      const block = ipam.listAllBlocks().blocks.find((b) => b.cidr === freed.block)!;
      return timeIt(() => {
        r.apply({ revision: 1, kind: 'blocks', type: 'put', id: block.cidr, value: block });
        return r.sync();
      });
    });
    reportSpread(report, 'agent_one_block_change_ms', one, 'ms', `${await count()} routes left`);
  } finally {
    execFileSync('ip', ['netns', 'del', NS]);
  }
}
