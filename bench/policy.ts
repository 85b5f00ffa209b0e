/**
 * Policy enforcement on a real kernel, in throwaway network namespaces (needs root): render and
 * apply 1,000 policies over 200 blocks from scratch, re-apply the same state (no-op), then apply
 * one changed policy on top; next to the bare `ipset restore` + `iptables-restore --noflush`
 * time of the same payloads in a fresh namespace (the floor). Each figure but the first render
 * is the median of several samples after a warm-up, with min and max. Last, the same policies
 * over dual-stack blocks (each block with an IPv6 twin) applied from scratch on both families
 * (iptables and ip6tables), next to the IPv4-only apply of the same run.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { inNetns, ProcessExec, runChecked, type Exec } from '../src/exec.ts';
import { Firewall, isEmptyPlan, type FirewallPlan } from '../src/policy/firewall.ts';
import type { Policy } from '../src/policy/model.ts';
import type { RenderBlock } from '../src/policy/render-sets.ts';
import { Renderer, renderDesiredState } from '../src/policy/render.ts';
import type { Report } from './run.ts';
import { reportSpread, samples, spread } from './stats.ts';

const POLICIES = 1000;
const BLOCKS = 200;
const TENANTS = 20;
const SEGMENTS = 5;
const HOST = 'node-0';

function blocks(): RenderBlock[] {
  return Array.from({ length: BLOCKS }, (_, i) => ({
    cidr: `10.${i >> 4}.${(i & 15) * 16}.0/28`,
    tenant: `t${i % TENANTS}`,
    segment: `s${Math.floor(i / TENANTS) % SEGMENTS}`,
    // Half the blocks are on this node: every (tenant, segment) has one here.
    host: i < BLOCKS / 2 ? HOST : `node-${1 + (i % 9)}`,
  }));
}

function policy(i: number, port = 1000 + i): Policy {
  const t = i % TENANTS;
  return {
    id: `bench-${i}`,
    direction: i % 10 === 9 ? 'egress' : 'ingress',
    applied_to: [{ tenant_id: `t${t}`, segment_id: `s${i % SEGMENTS}` }],
    ingress: [
      {
        peers: [
          { tenant_id: `t${(t + 1) % TENANTS}`, segment_id: `s${(i + 1) % SEGMENTS}` },
          { cidr: `172.16.${i % 256}.0/24` },
        ],
        rules: [
          { protocol: 'tcp', ports: [port, 443] },
          { protocol: 'udp', port_ranges: [[5000, 5100]] },
        ],
      },
    ],
  };
}

function netns(): { name: string; exec: Exec; remove: () => void } {
  const name = `romana-bench-${randomBytes(4).toString('hex')}`;
  execFileSync('ip', ['netns', 'add', name]);
  return {
    name,
    exec: inNetns(new ProcessExec(), name),
    remove: () => execFileSync('ip', ['netns', 'del', name]),
  };
}

async function timed<T>(f: () => Promise<T> | T): Promise<[T, number]> {
  const t0 = performance.now();
  const v = await f();
  return [v, performance.now() - t0];
}

/** Feeds a plan's payloads straight to the tools: the floor. */
async function bare(exec: Exec, plan: FirewallPlan): Promise<void> {
  if (plan.ipsetBefore) await runChecked(exec, 'ipset', ['restore'], plan.ipsetBefore);
  if (plan.iptables) await runChecked(exec, 'iptables-restore', ['--noflush', '-w'], plan.iptables);
  if (plan.ipsetAfter) await runChecked(exec, 'ipset', ['restore'], plan.ipsetAfter);
}

/** Samples of each figure, after one warm-up run. */
const SAMPLES = 5;

interface Round {
  fw: Firewall;
  a: ReturnType<typeof netns>;
  b: ReturnType<typeof netns>;
  renderMs: number;
  applyMs: number;
  floorMs: number;
}

/** Render + apply from scratch in a fresh namespace, and the floor in another. */
async function fullRound(policies: Policy[], bl: RenderBlock[]): Promise<Round> {
  const a = netns();
  const b = netns();
  const fw = new Firewall(a.exec);
  const [desired, renderMs] = await timed(() => renderDesiredState(policies, bl, HOST));
  const [plan, applyMs] = await timed(() => fw.apply(desired));
  const [, floorMs] = await timed(() => bare(b.exec, plan));
  return { fw, a, b, renderMs, applyMs, floorMs };
}

async function measure(report: Report): Promise<void> {
  const bl = blocks();
  const policies = Array.from({ length: POLICIES }, (_, i) => policy(i));

  const [desired, coldMs] = await timed(() => renderDesiredState(policies, bl, HOST));
  const rules = desired.chains.reduce((n, c) => n + c.rules.length, 0);
  report('render_full_cold_ms', coldMs, 'ms', `${POLICIES} policies, ${BLOCKS} blocks, first run`);
  report('rules', rules, 'rules', `${desired.chains.length} chains, ${desired.sets.length} sets`);

  const rounds: Round[] = [];
  await samples(SAMPLES, 1, async (i) => {
    const r = await fullRound(policies, bl);
    if (i < 0) {
      r.a.remove();
      r.b.remove();
    } else rounds.push(r);
    return 0;
  });
  const last = rounds[rounds.length - 1]!;
  for (const r of rounds.slice(0, -1)) {
    r.a.remove();
    r.b.remove();
  }
  try {
    reportSpread(
      report,
      'render_full_warm_ms',
      rounds.map((r) => r.renderMs),
      'ms',
    );
    const applyNote = 'read + diff + ipset restore + iptables-restore';
    reportSpread(
      report,
      'apply_full_ms',
      rounds.map((r) => r.applyMs),
      'ms',
      applyNote,
    );
    const full = rounds.map((r) => r.renderMs + r.applyMs);
    reportSpread(report, 'render_and_apply_full_ms', full, 'ms');
    const floorNote = 'same payloads, bare restore, fresh namespace';
    reportSpread(
      report,
      'floor_full_ms',
      rounds.map((r) => r.floorMs),
      'ms',
      floorNote,
    );
    const ratios = rounds.map((r) => (r.renderMs + r.applyMs) / r.floorMs);
    reportSpread(report, 'full_over_floor', ratios, 'x', 'per sample; target < 2');
    await changes(report, last, policies, bl);
    await dualStack(report, policies, bl, spread(rounds.map((r) => r.applyMs)).median);
  } finally {
    last.a.remove();
    last.b.remove();
  }
}

/** No-op re-apply, one changed policy (slow and fast path), on the last round's namespaces. */
async function changes(report: Report, r: Round, policies: Policy[], bl: RenderBlock[]) {
  const desired = renderDesiredState(policies, bl, HOST);
  const noop = await samples(SAMPLES, 1, async () => {
    const [again, ms] = await timed(() => r.fw.apply(desired));
    if (!isEmptyPlan(again)) throw new Error('re-apply was not a no-op');
    return ms;
  });
  reportSpread(report, 'apply_noop_ms', noop, 'ms', 'read + diff, nothing run');

  const changed = [...policies];
  let written = 0;
  const floors: number[] = [];
  const slow = await samples(SAMPLES, 1, async (i) => {
    changed[500] = policy(500, 9000 + i);
    const [one, ms] = await timed(async () => r.fw.apply(renderDesiredState(changed, bl, HOST)));
    written = one.chainsWritten.length;
    const [, floorMs] = await timed(() => bare(r.b.exec, one));
    if (i >= 0) floors.push(floorMs);
    return ms;
  });
  reportSpread(report, 'apply_one_changed_ms', slow, 'ms', 'render + read kernel + diff + apply');
  report('one_changed_chains_written', written, 'chains');
  reportSpread(report, 'floor_one_changed_ms', floors, 'ms', 'same payload, bare iptables-restore');

  const renderer = new Renderer();
  renderer.render(changed, bl, HOST); // what the agent's previous tick left in memory
  await r.fw.apply(renderer.render(changed, bl, HOST));
  const fast = await samples(SAMPLES, 1, async (i) => {
    changed[501] = policy(501, 8000 + i);
    const [, ms] = await timed(async () =>
      r.fw.apply(renderer.render(changed, bl, HOST), { fromLastApplied: true }),
    );
    return ms;
  });
  const fastNote = 'Renderer + diff against last applied + apply; target < 100';
  reportSpread(report, 'apply_one_changed_fast_ms', fast, 'ms', fastNote);
}

/** Both families from scratch, over the blocks and an IPv6 twin of each. */
async function dualStack(report: Report, policies: Policy[], bl: RenderBlock[], v4Ms: number) {
  const twin = (i: number) => `fd00:${(i >> 4).toString(16)}:${(i & 15).toString(16)}::/120`;
  const all = [...bl, ...bl.map((b, i) => ({ ...b, cidr: twin(i) }))];
  const desired = renderDesiredState(policies, all, HOST);
  const ms = await samples(3, 1, async () => {
    const a = netns();
    try {
      const [, t] = await timed(async () => {
        await new Firewall(a.exec, 4).apply(desired);
        await new Firewall(a.exec, 6).apply(desired);
      });
      return t;
    } finally {
      a.remove();
    }
  });
  const note = `${BLOCKS} IPv4 + ${BLOCKS} IPv6 blocks: iptables and ip6tables, read + diff + apply`;
  reportSpread(report, 'dual_apply_full_ms', ms, 'ms', note);
  const ratio = spread(ms).median / v4Ms;
  report('dual_over_v4_apply', ratio, 'x', 'over apply_full_ms (IPv4 only) of this run');
}

export async function run(report: Report): Promise<void> {
  if (process.getuid?.() !== 0) {
    process.stdout.write('policy: skipped, needs root (network namespaces)\n');
    return;
  }
  await measure(report);
}
