/**
 * The route publisher's figures (root: BIRD runs in a network namespace of its own):
 *
 * - render: announce + render the BIRD configuration of a host that holds 1,000 blocks in a
 *   group shared with another host (so each block is announced on its own), and BIRD's own
 *   parse of it (`bird -p`) alongside;
 * - reaction: from an allocation that carves a new block of this host (POST /address to a
 *   real romanad) to BIRD running the configuration that announces it (p50 and p99), next to
 *   the POST alone (the floor: what any consumer of the change waits for anyway).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RomanadClient } from '../src/client/index.ts';
import { Ipam } from '../src/ipam/index.ts';
import { announce } from '../src/bgp/announce.ts';
import { BirdControl } from '../src/bgp/bird.ts';
import { PublisherMetrics } from '../src/bgp/metrics.ts';
import { Publisher } from '../src/bgp/publisher.ts';
import { DEFAULT_TIMERS, renderBirdConfig, type BirdConfig } from '../src/bgp/render.ts';
import { createNetns, uniqueNetnsName } from '../test/helpers/netns.ts';
import { request, startRomanad } from '../test/helpers/romanad.ts';
import type { Report } from './run.ts';
import { reportSpread, samples, timeIt } from './stats.ts';

const TOPOLOGY = {
  networks: [{ name: 'pods', cidr: '10.112.0.0/16', block_mask: 32 }],
  topologies: [
    {
      networks: ['pods'],
      map: [
        {
          name: 'rack-1',
          groups: [
            { name: 'h1', ip: '192.168.1.11' },
            { name: 'h2', ip: '192.168.1.12' },
          ],
        },
      ],
    },
  ],
};

const baseConfig = (c: Partial<BirdConfig>): BirdConfig => ({
  host: 'h1',
  routerId: '192.168.1.11',
  localAddress: '192.168.1.11',
  localAs: 65100,
  networks: TOPOLOGY.networks,
  announcements: [],
  peers: [{ address: '192.168.1.1', as: 65001, source: 'flag' }],
  gracefulRestart: 120,
  timers: DEFAULT_TIMERS,
  kernel: true,
  ...c,
});

async function renderBench(report: Report, dir: string): Promise<void> {
  const ipam = new Ipam();
  ipam.updateTopology(TOPOLOGY);
  for (let i = 0; i < 1000; i++) ipam.allocate({ name: `a${i}`, host: 'h1' });
  const topology = ipam.getTopology();
  const blocks = ipam.listAllBlocks().blocks;
  let text = '';
  const ms = await samples(20, 3, () =>
    timeIt(() => {
      const announcements = announce({ self: 'h1', topology, blocks });
      text = renderBirdConfig(baseConfig({ announcements }));
    }),
  );
  const prefixes = (text.match(/ unreachable;/g) ?? []).length;
  if (prefixes !== 1000) throw new Error(`expected 1000 announced blocks, rendered ${prefixes}`);
  reportSpread(report, 'render_1000_blocks', ms, 'ms', 'announce + render, 1,000 blocks');
  const file = path.join(dir, 'big.conf');
  writeFileSync(file, text);
  const parse = await samples(5, 1, () =>
    timeIt(() => {
      const r = spawnSync('bird', ['-p', '-c', file]);
      if (r.status !== 0) throw new Error(`bird -p: ${r.stderr}`);
    }),
  );
  reportSpread(report, 'bird_parse_1000_blocks', parse, 'ms', 'bird -p of the same file');
}

async function reactionBench(report: Report, dir: string): Promise<void> {
  const ns = createNetns(uniqueNetnsName('bgbench'));
  const romanad = await startRomanad(['--store', 'memory:']);
  const sock = path.join(dir, 'bird.ctl');
  const conf = path.join(dir, 'bird.conf');
  writeFileSync(conf, 'router id 192.168.1.11;\nprotocol device {\n}\n');
  const bird = ns.spawn(['bird', '-f', '-c', conf, '-s', sock], { stdio: 'ignore' });
  let publisher: Publisher | undefined;
  try {
    const post = (p: string, body: unknown) => request(`${romanad.url}${p}`, 'POST', body);
    if ((await post('/topology', TOPOLOGY)).status !== 200) throw new Error('topology refused');
    const ctl = new BirdControl(ns.exec, sock);
    for (let i = 0; i < 100 && !(await ctl.check(conf)).ok; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    let applied: (() => void) | undefined;
    const bench = Object.create(ctl) as BirdControl;
    bench.apply = async (file, text) => {
      const out = await ctl.apply(file, text);
      if (out.result === 'reconfigured') applied?.();
      return out;
    };
    publisher = new Publisher({
      client: new RomanadClient({ baseUrl: romanad.url }),
      baseUrl: romanad.url,
      host: 'h1',
      bird: bench,
      configFile: conf,
      peerFlags: ['192.168.1.1,65001'],
      localAs: 65100,
      ecmpNetworks: new Set(),
      gracefulRestart: 120,
      timers: DEFAULT_TIMERS,
      kernel: true,
      metrics: new PublisherMetrics(),
      log: () => undefined,
      sessionPollMs: 0,
    });
    await publisher.start();
    let n = 0;
    const reaction = await samples(60, 5, async () => {
      const done = new Promise<void>((r) => (applied = r));
      const t0 = performance.now();
      const r = await post('/address', { name: `r${n++}`, host: 'h1' });
      if (r.status !== 200) throw new Error(`allocate: ${JSON.stringify(r.body)}`);
      await done;
      return performance.now() - t0;
    });
    const sorted = [...reaction].sort((a, b) => a - b);
    const p99 = sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)]!;
    reportSpread(report, 'reaction_p50', reaction, 'ms', 'new block → BIRD reconfigured');
    report('reaction_p99', p99, 'ms', `of ${sorted.length}`);
    // The floor: the allocation alone, on a host whose blocks need no new announcement.
    const floor = await samples(60, 5, () =>
      timeIt(() => post('/address', { name: `f${n++}`, host: 'h2' })),
    );
    reportSpread(report, 'allocation_floor_p50', floor, 'ms', 'POST /address alone');
    const f50 = [...floor].sort((a, b) => a - b)[(floor.length - 1) >> 1]!;
    const r50 = sorted[(sorted.length - 1) >> 1]!;
    report('reaction_over_floor', r50 / f50, 'x', 'reaction p50 / allocation p50');
  } finally {
    publisher?.stop();
    bird.kill('SIGKILL');
    await romanad.stop('SIGKILL');
    ns.remove();
  }
}

export async function run(report: Report): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'romana-bg-bench-'));
  try {
    await renderBench(report, dir);
    await reactionBench(report, dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
