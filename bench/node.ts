/**
 * Node side: the agent's route reconcile for 10,000 remote blocks (cold, no-op, one changed
 * block), next to the same route batch applied directly with `ip -batch` (the floor). Runs in
 * a throwaway network namespace; needs root.
 */
import { execFileSync } from 'node:child_process';
import { applyBatch, readTable } from '../src/agent/kernel-routes.ts';
import { RouteReconciler } from '../src/agent/reconciler.ts';
import { inNetns, ProcessExec } from '../src/exec.ts';
import { Ipam, type GroupOrHost } from '../src/ipam/index.ts';
import { spawnSync } from 'node:child_process';
import { CNI_BUNDLE, Fabric } from '../test/helpers/fabric.ts';
import type { Report } from './run.ts';

const NS = `romana-bench-${process.pid}`;
const RACKS = 10;
const PER_RACK = 10;
const BLOCKS = 10_000;

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
  const starts: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t = performance.now();
    spawnSync(process.execPath, [CNI_BUNDLE], {
      env: { CNI_COMMAND: 'VERSION' },
      input: '{"cniVersion":"1.1.0"}',
    });
    starts.push(performance.now() - t);
  }
  report('cni_start_p50_ms', percentile(starts, 0.5), 'ms', 'VERSION, 20 runs');
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
    report('cni_add_p50_ms', percentile(adds, 0.5), 'ms', '50 pods, the nsenter wrapper included');
    report('cni_add_p99_ms', percentile(adds, 0.99), 'ms');
    report('cni_del_p50_ms', percentile(dels, 0.5), 'ms');
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

    const reconciler = new RouteReconciler({
      hostname: 'me',
      table: 10,
      multihop: false,
      exec,
      log: () => undefined,
    });
    reconciler.replace(ipam.listHosts(), ipam.listAllBlocks(), ipam.getTopology());
    const count = async () => (await readTable(exec, 10)).size;

    // The floor: the same 10,000 routes, one ip -batch, into an empty table.
    const lines = ipam
      .listAllBlocks()
      .blocks.map(
        (b) =>
          `route replace ${b.cidr} via ${ipam.listHosts().hosts.find((h) => h.name === b.host)!.ip} table 11`,
      );
    let t = performance.now();
    await applyBatch(exec, lines);
    report('ip_batch_floor_10k_routes_ms', performance.now() - t, 'ms', `${lines.length} routes`);

    t = performance.now();
    await reconciler.sync();
    report(
      'agent_cold_sync_10k_ms',
      performance.now() - t,
      'ms',
      `${await count()} routes in the table`,
    );

    reconciler.requestFull();
    t = performance.now();
    await reconciler.sync();
    report('agent_full_noop_sync_10k_ms', performance.now() - t, 'ms', 'resync, nothing to change');

    const freed = ipam.release('p77');
    const block = ipam.listAllBlocks().blocks.find((b) => b.cidr === freed.block)!;
    t = performance.now();
    reconciler.apply({ revision: 1, kind: 'blocks', type: 'put', id: block.cidr, value: block });
    await reconciler.sync();
    report(
      'agent_one_block_change_ms',
      performance.now() - t,
      'ms',
      `${await count()} routes left`,
    );
  } finally {
    execFileSync('ip', ['netns', 'del', NS]);
  }
}
