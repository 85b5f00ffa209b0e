/**
 * A policy the kernel refuses does not stop the others (romana-agent in Kubernetes mode, on a
 * real kernel): a node namespace with three pods behind veths, wired as the CNI plugin wires
 * them. The refusal is real: the set of one policy's ipBlock exists already under the same
 * name with another type, and a non-Romana rule uses it, so the kernel will not destroy it
 * and that policy's set cannot be made. The other policies are in the kernel and enforced
 * (traffic compared with the evaluator), the refused one is reported (log, metric), the pod it
 * selects stays isolated; once the cause is gone the next apply installs it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AgentMetrics } from '../../src/agent/metrics.ts';
import { closedForm, PolicySync } from '../../src/agent/policy-sync.ts';
import type { Policy } from '../../src/client/index.ts';
import type { Exec } from '../../src/exec.ts';
import { allowed } from '../../src/policy/evaluate.ts';
import type { KubeNamespace, KubePod, KubePolicy } from '../../src/policy/kube-model.ts';
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

const PORT = 8080;
/** The non-Romana chain that holds a sabotaged set. */
const HOLD = 'PSOL-HOLD';

/**
 * The cause of a real refusal: a set named `set` of another type than the policy's, used by a
 * non-Romana rule, so that the kernel can neither destroy nor recreate it.
 */
function holdSet(node: TestNetns, set: string): void {
  node.run(['ipset', 'create', set, 'hash:ip']);
  node.run(['iptables', '-N', HOLD]);
  node.run(['iptables', '-A', HOLD, '-m', 'set', '--match-set', set, 'src', '-j', 'RETURN']);
}

/** Removes what `holdSet` made hold the set (the set itself is then the agent's to replace). */
function releaseSet(node: TestNetns): void {
  node.run(['iptables', '-F', HOLD]);
  node.run(['iptables', '-X', HOLD]);
}
const POD_IPS = { a: '10.9.0.2', b: '10.9.0.3', c: '10.9.0.4' } as const;
type PodName = keyof typeof POD_IPS;
const NAMES = Object.keys(POD_IPS) as PodName[];
const pods: KubePod[] = NAMES.map((n) => ({
  namespace: 'x',
  name: n,
  ip: POD_IPS[n],
  labels: { pod: n },
  ports: [],
}));
const namespaces: KubeNamespace[] = [{ name: 'x', labels: {} }];
const tcp = [{ protocol: 'TCP' as const, port: PORT }];
const policies: KubePolicy[] = [
  {
    id: 'kube.x.a',
    namespace: 'x',
    podSelector: { matchLabels: { pod: 'a' } },
    ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }], ports: tcp }],
  },
  {
    id: 'kube.x.b',
    namespace: 'x',
    podSelector: { matchLabels: { pod: 'b' } },
    ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'c' } } }], ports: tcp }],
  },
  {
    id: 'kube.x.c',
    namespace: 'x',
    podSelector: { matchLabels: { pod: 'c' } },
    ingress: [{ from: [{ ipBlock: { cidr: '10.9.0.0/29', except: [] } }], ports: tcp }],
  },
];

describe('a policy the kernel refuses', { timeout: 90_000 }, () => {
  let node: TestNetns;
  const podNs = new Map<PodName, TestNetns>();
  const logs: { level: string; msg: string; extra?: object }[] = [];
  const metrics = new AgentMetrics();
  let sync: PolicySync;
  let exec: CountingExec;

  before(() => {
    node = createNetns(uniqueNetnsName('psol-n'));
    node.run(['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    for (const n of NAMES) {
      const pod = createNetns(uniqueNetnsName(`psol-${n}`));
      podNs.set(n, pod);
      const host = `psol${n}h`;
      node.addVeth({ name: host, peer: 'eth0', peerNs: pod.name, peerAddress: `${POD_IPS[n]}/32` });
      node.run(['sysctl', '-qw', `net.ipv4.conf.${host}.proxy_arp=1`]);
      node.ip('route', 'add', `${POD_IPS[n]}/32`, 'dev', host);
      pod.ip('route', 'add', 'default', 'dev', 'eth0');
      pod.spawn(['socat', `TCP-LISTEN:${PORT},fork,reuseaddr`, 'SYSTEM:echo pong'], {
        stdio: 'ignore',
      });
    }
    const log = (level: string, msg: string, extra?: object) => logs.push({ level, msg, extra });
    const blocks = () => [
      {
        revision: 1,
        cidr: '10.9.0.0/28',
        network: 'net',
        tenant: 'x',
        segment: '',
        host: 'h1',
        allocated_ip_count: 3,
      },
    ];
    exec = new CountingExec(node.exec);
    sync = new PolicySync(exec, 'h1', blocks, log, metrics, 'kubernetes', [4]);
  });
  after(() => {
    for (const p of podNs.values()) p.remove();
    node?.remove();
  });

  /** The CNI plugin's jumps for each pod's host veth (after the chains exist). */
  function wire(): void {
    for (const n of NAMES) {
      const host = `psol${n}h`;
      node.run(['iptables', '-A', 'FORWARD', '-i', host, '-j', 'ROMANA-FORWARD-OUT']);
      node.run(['iptables', '-A', 'FORWARD', '-o', host, '-j', 'ROMANA-FORWARD-IN']);
    }
  }

  function talk(from: PodName, to: PodName): boolean {
    const target = `TCP:${POD_IPS[to]}:${PORT},connect-timeout=1`;
    const r = podNs.get(from)!.tryRun(['socat', '-T1', '-', target]);
    return r.stdout.includes('pong');
  }

  /** Every ordered pair of pods probed; mismatches with the evaluator over `effective`. */
  function mismatches(effective: KubePolicy[]): string[] {
    const out: string[] = [];
    for (const from of NAMES) {
      for (const to of NAMES) {
        if (from === to) continue;
        const want = allowed(effective, pods, namespaces, `x/${from}`, `x/${to}`, PORT, 'TCP');
        const got = talk(from, to);
        if (got !== want) out.push(`${from}->${to}: got ${got}, want ${want}`);
      }
    }
    return out;
  }

  async function refreshAndSync(): Promise<void> {
    await sync.refresh({
      listPolicies: () => Promise.resolve(policies as Policy[]),
      listAddresses: () =>
        Promise.resolve(
          pods.map((p) => ({
            name: `x.${p.name}`,
            ip: p.ip,
            tenant: 'x',
            pod: { namespace: 'x', name: p.name, labels: p.labels, ports: [] },
          })),
        ),
      listNamespaces: () => Promise.resolve(namespaces),
    });
    await sync.sync();
  }

  it('applies the others, closes the refused one, reports it; the next apply installs it', async () => {
    sync.replace(policies as Policy[]);
    const set = sync.desired().sets.find((s) => s.name.startsWith('ROMANA-KB-'))!.name;
    // The cause: a set of that name, of another type, that a non-Romana rule uses.
    holdSet(node, set);

    await refreshAndSync();
    assert.equal(sync.healthy, true);
    assert.deepEqual(
      sync.refused.map((r) => r.id),
      ['kube.x.c'],
    );
    assert.match(sync.refused[0]!.message, /in use|cannot be destroyed/i);
    const warns = () => logs.filter((l) => l.level === 'warn' && /refused/.test(l.msg));
    const extra = () => warns().at(-1)?.extra as { policy?: string; applies?: number };
    assert.equal(warns().length, 1);
    // All closed; all open (refused); a and b open; c open (refused); c closed again.
    assert.deepEqual(extra(), { ...extra(), policy: 'kube.x.c', applies: 5 });
    const text = await metrics.registry.metrics();
    assert.match(text, /romana_policy_refused\{policy="kube\.x\.c"\} 1/);
    // The literal rules: a's and b's chains hold their rules, c's chain is empty but c is isolated.
    const save = node.run(['iptables-save', '-t', 'filter']);
    const ingress = save.split('\n').filter((l) => l.startsWith('-A ROMANA-K-INGRESS'));
    assert.equal(ingress.filter((l) => / -j DROP$/.test(l)).length, 3, ingress.join('\n'));
    assert.doesNotMatch(save, new RegExp(`--match-set ${set} src -j ACCEPT`));
    // Traffic: the evaluator over a's and b's policies and c's closed form.
    wire();
    const closedC = closedForm(policies[2]!) as KubePolicy;
    assert.deepEqual(mismatches([policies[0]!, policies[1]!, closedC]), []);
    assert.equal(talk('a', 'c'), false, 'the refused policy must not leave c open');

    // Still refused at the next full apply: retried, found again, the others unchanged.
    sync.requestFull();
    await sync.sync();
    assert.deepEqual(
      sync.refused.map((r) => r.id),
      ['kube.x.c'],
    );
    assert.deepEqual(mismatches([policies[0]!, policies[1]!, closedC]), []);

    // The one refused last time is searched first: c closed; c open (refused); c closed again.
    assert.equal(warns().length, 2);
    assert.deepEqual(extra(), { ...extra(), policy: 'kube.x.c', applies: 3 });

    // The cause removed: the next apply installs the policy and clears the report.
    releaseSet(node);
    await refreshAndSync();
    assert.deepEqual(sync.refused, []);
    assert.match(node.run(['ipset', 'list', '-t', set]), /Type: hash:net/);
    assert.doesNotMatch(await metrics.registry.metrics(), /romana_policy_refused\{/);
    assert.deepEqual(mismatches(policies), []);
    assert.equal(talk('a', 'c'), true);
    // The common case costs what it did: nothing to change runs no restore at all.
    const writes = exec.writes.length;
    sync.requestFull();
    await sync.sync();
    assert.deepEqual(exec.writes.slice(writes), []);
  });
});

describe(
  'a 2.x policy the kernel refuses (romana mode, same apply path)',
  { timeout: 60_000 },
  () => {
    let node: TestNetns;
    after(() => node?.remove());

    it('is left out (ingress is denied by default), the other is applied, then installed', async () => {
      node = createNetns(uniqueNetnsName('psol-r'));
      const logs: { level: string; msg: string; extra?: object }[] = [];
      const log = (level: string, msg: string, extra?: object) => logs.push({ level, msg, extra });
      const blocks = () => [
        {
          revision: 1,
          cidr: '10.9.1.0/28',
          network: 'net',
          tenant: 'a',
          segment: 'back',
          host: 'h1',
          allocated_ip_count: 1,
        },
      ];
      const sync = new PolicySync(node.exec, 'h1', blocks, log, undefined, 'romana', [4]);
      const target = [{ tenant_id: 'a', segment_id: 'back' }];
      const fromCidr = {
        id: 'from-cidr',
        direction: 'ingress',
        applied_to: target,
        ingress: [{ peers: [{ cidr: '192.0.2.0/24' }], rules: [{ protocol: 'tcp', ports: [80] }] }],
      };
      // Peer tenant zz has no block: its set exists only because this policy names it.
      const fromZz = {
        id: 'from-zz',
        direction: 'ingress',
        applied_to: target,
        ingress: [{ peers: [{ tenant_id: 'zz', segment_id: 'q' }], rules: [{ protocol: 'tcp' }] }],
      };
      sync.replace([fromCidr, fromZz] as Policy[]);
      const all = new Set(sync.desired().sets.map((s) => s.name));
      sync.replace([fromCidr] as Policy[]);
      const without = new Set(sync.desired().sets.map((s) => s.name));
      const own = [...all].filter((n) => !without.has(n));
      assert.equal(own.length, 1, `one set of its own: ${[...all].join(' ')}`);
      const set = own[0]!;
      holdSet(node, set);

      sync.replace([fromCidr, fromZz] as Policy[]);
      await sync.sync();
      assert.equal(sync.healthy, true);
      assert.deepEqual(
        sync.refused.map((r) => r.id),
        ['from-zz'],
      );
      const warn = logs.find((l) => l.level === 'warn' && /refused/.test(l.msg));
      assert.equal((warn?.extra as { policy?: string }).policy, 'from-zz');
      const romana = () =>
        node
          .run(['iptables-save', '-t', 'filter'])
          .split('\n')
          .filter((l) => l.startsWith('-A ROMANA-'))
          .join('\n');
      let save = romana();
      assert.match(save, /-A ROMANA-P-[0-9a-f]+_X -s 192\.0\.2\.0\/24 /);
      assert.doesNotMatch(save, new RegExp(`--match-set ${set} `));
      assert.match(save, /-A ROMANA-FORWARD-IN .*DefaultDrop.* -j DROP/);

      releaseSet(node);
      sync.requestFull();
      await sync.sync();
      assert.deepEqual(sync.refused, []);
      save = node.run(['iptables-save', '-t', 'filter']);
      assert.match(save, new RegExp(`--match-set ${set} src`));
    });
  },
);
