/**
 * Kubernetes-mode state on a real kernel (a throwaway namespace): the rendered sets and chains
 * load (hash:ip, hash:net with nomatch, hash:ip,port, named-port and range matches), a second
 * apply runs nothing, and a pod relabelled or a namespace relabelled is one `ipset restore` of
 * member changes after which the kernel holds exactly what a full render would.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Exec } from '../../src/exec.ts';
import { Firewall, isEmptyPlan } from '../../src/policy/firewall.ts';
import type { KubeNamespace, KubePod, KubePolicy } from '../../src/policy/kube-model.ts';
import { renderKube } from '../../src/policy/kube-render.ts';
import { createNetns, uniqueNetnsName, type TestNetns } from '../helpers/netns.ts';

/** Counts the commands that change state. */
class CountingExec implements Exec {
  readonly writes: string[] = [];
  constructor(readonly inner: Exec) {}
  run(program: string, args: readonly string[], stdin?: string) {
    if (program.endsWith('-restore') || args.includes('restore'))
      this.writes.push(`${program} ${args.join(' ')}`);
    return this.inner.run(program, args, stdin);
  }
}

const blocks = [{ cidr: '10.9.0.0/28', tenant: 'x', segment: '', host: 'h1' }];
const port = (name: string, p: number) => ({ name, port: p, protocol: 'TCP' });
let pods: KubePod[] = [
  { namespace: 'x', name: 'a', ip: '10.9.0.2', labels: { pod: 'a' }, ports: [port('web', 80)] },
  { namespace: 'x', name: 'b', ip: '10.9.0.3', labels: { pod: 'b' }, ports: [port('web', 81)] },
  { namespace: 'y', name: 'a', ip: '10.9.0.18', labels: { pod: 'a' }, ports: [] },
];
let namespaces: KubeNamespace[] = [
  { name: 'x', labels: {} },
  { name: 'y', labels: { team: 'red' } },
];
const policies: KubePolicy[] = [
  {
    id: 'kube.x.p',
    namespace: 'x',
    podSelector: { matchLabels: { pod: 'a' } },
    policyTypes: ['Ingress', 'Egress'],
    ingress: [
      {
        from: [
          { namespaceSelector: { matchLabels: { team: 'red' } } },
          { ipBlock: { cidr: '0.0.0.0/0', except: ['10.9.0.16/28'] } },
        ],
        ports: [
          { protocol: 'TCP', port: 'web' },
          { protocol: 'UDP', port: 53, endPort: 60 },
          { protocol: 'TCP', port: 443 },
          { protocol: 'SCTP', port: 9000, endPort: 9009 },
        ],
      },
    ],
    egress: [
      { to: [{ podSelector: { matchLabels: { pod: 'b' } } }], ports: [{ protocol: 'TCP' }] },
    ],
  },
];

describe('Kubernetes-mode firewall state on a real kernel', { timeout: 60_000 }, () => {
  let ns: TestNetns;
  let exec: CountingExec;
  let fw: Firewall;
  before(() => {
    ns = createNetns(uniqueNetnsName('npk'));
    exec = new CountingExec(ns.exec);
    fw = new Firewall(exec);
  });
  after(() => ns.remove());

  it('loads, and a second apply changes nothing', async () => {
    await fw.apply(renderKube(policies, pods, namespaces, blocks, 'h1'));
    const save = ns.run(['iptables-save', '-t', 'filter']);
    assert.match(
      save,
      /-p tcp -m set --match-set ROMANA-KN-[0-9a-f]{16} dst,dst -m set --match-set ROMANA-K[SB]-/,
    );
    assert.match(save, /-p udp -m udp --dport 53:60 /);
    assert.match(save, /-p sctp -m sctp --dport 9000:9009 /);
    assert.match(ns.run(['ipset', 'save']), /add ROMANA-KB-[0-9a-f]{16} 10\.9\.0\.16\/28 nomatch/);
    const plan = await fw.plan(renderKube(policies, pods, namespaces, blocks, 'h1'));
    assert.ok(isEmptyPlan(plan), JSON.stringify(plan, null, 1));
  });

  it('a pod relabelled and a namespace relabelled: one ipset restore each, kernel = full render', async () => {
    const first = renderKube(policies, pods, namespaces, blocks, 'h1');
    await fw.apply(first, { fromLastApplied: true });
    const nsMap = () => new Map(namespaces.map((n) => [n.name, n.labels]));
    const old = pods[1]!;
    const relabelled = { ...old, labels: { pod: 'a' } };
    pods = [pods[0]!, relabelled, pods[2]!];
    const writes = exec.writes.length;
    assert.equal(await fw.patchSets(first.index.podChanged(old, relabelled, nsMap())), true);
    const before = nsMap();
    namespaces = [
      { name: 'x', labels: {} },
      { name: 'y', labels: {} },
    ];
    assert.equal(
      await fw.patchSets(first.index.namespaceChanged('y', pods, before, nsMap())),
      true,
    );
    assert.deepEqual(exec.writes.slice(writes), ['ipset -exist restore', 'ipset -exist restore']);
    const plan = await fw.plan(renderKube(policies, pods, namespaces, blocks, 'h1'));
    assert.ok(isEmptyPlan(plan), JSON.stringify(plan, null, 1));
  });

  it('a state applied again after a set patch restores the patched set (no stale shortcut)', async () => {
    const state = renderKube(policies, pods, namespaces, blocks, 'h1');
    await fw.apply(state, { fromLastApplied: true });
    const set = state.sets.find((x) => x.name.startsWith('ROMANA-KS-') && x.members.length > 0)!;
    const member = set.members[0]!;
    assert.equal(await fw.patchSets([{ op: 'del', set: set.name, member }]), true);
    assert.doesNotMatch(ns.run(['ipset', 'list', set.name]), new RegExp(`^${member}$`, 'm'));
    // The very same desired state (same member arrays) once more, diffed against the last applied.
    await fw.apply(state, { fromLastApplied: true });
    assert.match(ns.run(['ipset', 'list', set.name]), new RegExp(`^${member}$`, 'm'));
    assert.ok(isEmptyPlan(await fw.plan(state)));
  });
});
