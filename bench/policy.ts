/**
 * Policy enforcement on a real kernel, in throwaway network namespaces (needs root): render and
 * apply 1,000 policies over 200 blocks from scratch, re-apply the same state (no-op), then apply
 * one changed policy on top; next to the bare `ipset restore` + `iptables-restore --noflush`
 * time of the same payloads in a fresh namespace (the floor).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { inNetns, ProcessExec, runChecked, type Exec } from '../src/exec.ts';
import { Firewall, isEmptyPlan, type FirewallPlan } from '../src/policy/firewall.ts';
import type { Policy } from '../src/policy/model.ts';
import type { RenderBlock } from '../src/policy/render-sets.ts';
import { Renderer, renderDesiredState } from '../src/policy/render.ts';
import type { Report } from './run.ts';

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

async function measure(report: Report, nsA: Exec, nsB: Exec): Promise<void> {
  const bl = blocks();
  const policies = Array.from({ length: POLICIES }, (_, i) => policy(i));
  const fw = new Firewall(nsA);
  const renderer = new Renderer();

  const [desired, renderMs] = await timed(() => renderDesiredState(policies, bl, HOST));
  const rules = desired.chains.reduce((n, c) => n + c.rules.length, 0);
  report('render_full_ms', renderMs, 'ms', `${POLICIES} policies, ${BLOCKS} blocks`);
  report('rules', rules, 'rules', `${desired.chains.length} chains, ${desired.sets.length} sets`);

  const [plan, applyMs] = await timed(() => fw.apply(desired));
  report('apply_full_ms', applyMs, 'ms', 'read + diff + ipset restore + iptables-restore');
  report('render_and_apply_full_ms', renderMs + applyMs, 'ms');

  const [, floorMs] = await timed(() => bare(nsB, plan));
  report('floor_full_ms', floorMs, 'ms', 'same payloads, bare restore, fresh namespace');
  report('full_over_floor', (renderMs + applyMs) / floorMs, 'x', 'target < 2');

  const [again, noopMs] = await timed(() => fw.apply(desired));
  if (!isEmptyPlan(again)) throw new Error('re-apply was not a no-op');
  report('apply_noop_ms', noopMs, 'ms', 'read + diff, nothing run');

  const changed = [...policies];
  changed[500] = policy(500, 9999);
  const [one, oneMs] = await timed(async () => fw.apply(renderDesiredState(changed, bl, HOST)));
  report('apply_one_changed_ms', oneMs, 'ms', 'render + read kernel + diff + apply');
  report('one_changed_chains_written', one.chainsWritten.length, 'chains');
  const [, oneFloorMs] = await timed(() => bare(nsB, one));
  report('floor_one_changed_ms', oneFloorMs, 'ms', 'same payload, bare iptables-restore');

  renderer.render(changed, bl, HOST); // what the agent's previous tick left in memory
  changed[501] = policy(501, 9998);
  const [, fastMs] = await timed(async () =>
    fw.apply(renderer.render(changed, bl, HOST), { fromLastApplied: true }),
  );
  report(
    'apply_one_changed_fast_ms',
    fastMs,
    'ms',
    'Renderer + diff against last applied + apply; target < 100',
  );
  const [, render2Ms] = await timed(() => renderDesiredState(changed, bl, HOST));
  report('render_full_warm_ms', render2Ms, 'ms', 'second render, JIT warm');
}

export async function run(report: Report): Promise<void> {
  if (process.getuid?.() !== 0) {
    process.stdout.write('policy: skipped, needs root (network namespaces)\n');
    return;
  }
  const a = netns();
  const b = netns();
  try {
    await measure(report, a.exec, b.exec);
  } finally {
    a.remove();
    b.remove();
  }
}
