/**
 * Kubernetes-mode enforcement on a real kernel, in throwaway network namespaces (needs root):
 * 10,000 pods in 100 namespaces and 1,000 NetworkPolicies rendered and applied from scratch,
 * next to the bare `ipset restore` + `iptables-restore --noflush` of the same payloads in a
 * fresh namespace (the floor); then one pod's label change (set patches only) and one policy
 * changed (render + diff against the last applied state + apply). Medians of several samples.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { KubeView, type AddressLike } from '../src/agent/policy-kube.ts';
import { inNetns, ProcessExec, runChecked, type Exec } from '../src/exec.ts';
import { Firewall, type FirewallPlan } from '../src/policy/firewall.ts';
import type { KubePolicy } from '../src/policy/kube-model.ts';
import type { RenderBlock } from '../src/policy/render-sets.ts';
import type { Report } from './run.ts';
import { reportSpread, samples } from './stats.ts';

const PODS = 10_000;
const NAMESPACES = 100;
const POLICIES = 1000;
const APPS = 10;
const HOST = 'node-0';
const SAMPLES = 3;
/** Samples of the one-change figures: cheap, and noisy on a shared machine. */
const CHANGE_SAMPLES = 11;

function address(i: number, app = `a${i % APPS}`): AddressLike {
  const ns = `ns${i % NAMESPACES}`;
  return {
    name: `p${i}.${ns}.c`,
    ip: `10.${64 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`,
    tenant: ns,
    pod: {
      namespace: ns,
      name: `p${i}`,
      labels: { app, tier: i % 3 === 0 ? 'fe' : 'be' },
      ports: [{ name: 'http', port: 8000 + (i % 5), protocol: 'TCP' }],
    },
  };
}

/** Ten policies per namespace: ingress by pod and namespace selectors, some egress by CIDR. */
function policy(i: number, port = 80): KubePolicy {
  const ns = `ns${i % NAMESPACES}`;
  const app = `a${Math.floor(i / NAMESPACES) % APPS}`;
  const p: KubePolicy = {
    id: `kube.${ns}.p${i}`,
    namespace: ns,
    podSelector: { matchLabels: { app } },
    policyTypes: ['Ingress'],
    ingress: [
      {
        from: [
          { podSelector: { matchLabels: { tier: 'fe' } } },
          {
            namespaceSelector: { matchLabels: { team: `t${i % 7}` } },
            podSelector: { matchLabels: { app } },
          },
        ],
        ports: [
          { protocol: 'TCP', port },
          { protocol: 'TCP', port: 'http' },
        ],
      },
    ],
    egress: [],
  };
  if (i % 4 === 0) {
    p.policyTypes = ['Ingress', 'Egress'];
    p.egress = [
      {
        to: [
          {
            ipBlock: {
              cidr: `172.${16 + (i % 16)}.0.0/16`,
              except: [`172.${16 + (i % 16)}.1.0/24`],
            },
          },
        ],
        ports: [],
      },
    ];
  }
  return p;
}

function blocks(): RenderBlock[] {
  return Array.from({ length: 40 }, (_, i) => ({
    cidr: `10.64.${i}.0/24`,
    tenant: '',
    segment: '',
    host: i < 4 ? HOST : `node-${i}`,
  }));
}

function netns(): { exec: Exec; remove: () => void } {
  const name = `np-bench-${randomBytes(4).toString('hex')}`;
  execFileSync('ip', ['netns', 'add', name]);
  return {
    exec: inNetns(new ProcessExec(), name),
    remove: () => execFileSync('ip', ['netns', 'del', name]),
  };
}

async function timed<T>(f: () => Promise<T> | T): Promise<[T, number]> {
  const t0 = performance.now();
  const v = await f();
  return [v, performance.now() - t0];
}

async function bare(exec: Exec, plan: FirewallPlan): Promise<void> {
  if (plan.ipsetBefore) await runChecked(exec, 'ipset', ['restore'], plan.ipsetBefore);
  if (plan.iptables) await runChecked(exec, 'iptables-restore', ['--noflush', '-w'], plan.iptables);
  if (plan.ipsetAfter) await runChecked(exec, 'ipset', ['restore'], plan.ipsetAfter);
}

function view(addresses: AddressLike[]): KubeView {
  const v = new KubeView();
  v.replace(
    addresses,
    Array.from({ length: NAMESPACES }, (_, i) => ({
      name: `ns${i}`,
      labels: { team: `t${i % 7}` },
    })),
  );
  return v;
}

async function measure(report: Report): Promise<void> {
  const addresses = Array.from({ length: PODS }, (_, i) => address(i));
  const policies = Array.from({ length: POLICIES }, (_, i) => policy(i));
  const bl = blocks();
  const full: number[] = [];
  const renders: number[] = [];
  const floors: number[] = [];
  const ratios: number[] = [];
  let kept: { fw: Firewall; v: KubeView; ns: ReturnType<typeof netns> } | undefined;
  await samples(SAMPLES, 0, async () => {
    const a = netns();
    const b = netns();
    const v = view(addresses);
    const fw = new Firewall(a.exec);
    const [desired, renderMs] = await timed(() => v.render(policies, bl, HOST));
    const [plan, applyMs] = await timed(() => fw.apply(desired));
    const [, floorMs] = await timed(() => bare(b.exec, plan));
    renders.push(renderMs);
    full.push(renderMs + applyMs);
    floors.push(floorMs);
    ratios.push((renderMs + applyMs) / floorMs);
    b.remove();
    kept?.ns.remove();
    kept = { fw, v, ns: a };
    return 0;
  });
  const { fw, v, ns } = kept!;
  try {
    const desired = v.render(policies, bl, HOST);
    report(
      'sets',
      desired.sets.length,
      'sets',
      `${desired.sets.reduce((n, s) => n + s.members.length, 0)} members`,
    );
    report(
      'rules',
      desired.chains.reduce((n, c) => n + c.rules.length, 0),
      'rules',
      `${desired.chains.length} chains`,
    );
    reportSpread(report, 'render_full_ms', renders, 'ms', `${PODS} pods, ${POLICIES} policies`);
    reportSpread(report, 'render_and_apply_full_ms', full, 'ms', 'fresh namespace');
    reportSpread(
      report,
      'floor_full_ms',
      floors,
      'ms',
      'same payloads, bare restore, fresh namespace',
    );
    reportSpread(report, 'full_over_floor', ratios, 'x', 'per sample; target < 2');
    await fw.apply(desired);
    const labelFloor: number[] = [];
    const label = await samples(CHANGE_SAMPLES, 1, async (i) => {
      let lines = '';
      const [, ms] = await timed(async () => {
        v.apply('addresses', 'put', addresses[42]!.name, address(42, `a${(i + 20) % APPS}`));
        const changes = v.takeChanges();
        if (!(await fw.patchSets(changes))) throw new Error('patch refused');
        lines = changes.map((c) => `${c.op} ${c.set} ${c.member}\n`).join('');
      });
      // The floor: the same lines once more through a bare `ipset -exist restore`, same namespace.
      const [, floorMs] = await timed(() =>
        runChecked(ns.exec, 'ipset', ['-exist', 'restore'], lines),
      );
      if (i >= 0) labelFloor.push(floorMs);
      return ms;
    });
    reportSpread(
      report,
      'pod_label_change_ms',
      label,
      'ms',
      'set patches, one ipset restore; target < 20',
    );
    reportSpread(
      report,
      'floor_pod_label_change_ms',
      labelFloor,
      'ms',
      'the same set lines, bare ipset -exist restore',
    );
    const changed = [...policies];
    const renderOne: number[] = [];
    const floorOne: number[] = [];
    const policyMs = await samples(CHANGE_SAMPLES, 1, async (i) => {
      changed[500] = policy(500, 9000 + i);
      const [d, renderMs] = await timed(() => v.render(changed, bl, HOST));
      const [plan, applyMs] = await timed(() => fw.apply(d, { fromLastApplied: true }));
      // The same chains once more, bare, on top of the state it left (deletions left out: done).
      const iptables = plan.iptables
        .split('\n')
        .filter((l) => !l.startsWith('-X '))
        .join('\n');
      const [, floorMs] = await timed(() =>
        bare(ns.exec, { ...plan, ipsetBefore: '', iptables, ipsetAfter: '' }),
      );
      if (i >= 0) {
        renderOne.push(renderMs);
        floorOne.push(floorMs);
      }
      return renderMs + applyMs;
    });
    reportSpread(
      report,
      'policy_change_ms',
      policyMs,
      'ms',
      'render + diff against last applied + apply; target < 50',
    );
    reportSpread(report, 'policy_change_render_ms', renderOne, 'ms', 'of which rendering');
    reportSpread(
      report,
      'floor_policy_change_ms',
      floorOne,
      'ms',
      'the same payload, bare restore',
    );
  } finally {
    ns.remove();
  }
}

export async function run(report: Report): Promise<void> {
  if (process.getuid?.() !== 0) {
    process.stdout.write('netpol: skipped, needs root (network namespaces)\n');
    return;
  }
  await measure(report);
}
