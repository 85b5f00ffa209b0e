/**
 * The agent's event path in Kubernetes mode on a real kernel (throwaway namespaces, root): a
 * random sequence of policy, pod and namespace events applied one sync at a time (policy changes
 * rendered and diffed against the last applied state, pod and namespace changes as set patches)
 * leaves the kernel exactly as a full apply of the final state does in a fresh namespace, for
 * IPv4 and IPv6; and after the first sync the fast path never reads the kernel back.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { Block } from '../client/index.ts';
import type { Exec } from '../exec.ts';
import type { KubePeer, KubePolicy, KubePort, LabelSelector } from '../policy/index.ts';
import { createNetns, uniqueNetnsName, type TestNetns } from '../../test/helpers/netns.ts';
import type { AddressLike, NamespaceLike } from './policy-kube.ts';
import { PolicySync, type PolicySource } from './policy-sync.ts';

/** Records every command, to tell the fast path (no read) from a full apply. */
class CountingExec implements Exec {
  readonly programs: string[] = [];
  constructor(readonly inner: Exec) {}
  run(program: string, args: readonly string[], stdin?: string) {
    this.programs.push(program === 'ipset' ? `ipset ${args.join(' ')}` : program);
    return this.inner.run(program, args, stdin);
  }
}

const block = (cidr: string): Block => ({
  revision: 1,
  cidr,
  network: 'n',
  tenant: '',
  segment: '',
  host: 'h1',
  allocated_ip_count: 0,
});
const BLOCKS = [block('10.31.0.0/28'), block('fd00:31::/124')];
const NAMESPACES = ['x', 'y', 'z'] as const;
const LABELS = ['a', 'b', 'c'] as const;

function address(i: number, ns: string, pod: string, port: number): AddressLike {
  const ip = `10.31.0.${i + 2}`;
  return {
    name: `p${i}`,
    ip,
    ...(i % 2 === 0 ? { ips: [{ ip }, { ip: `fd00:31::${i + 2}` }] } : {}),
    tenant: ns,
    pod: {
      namespace: ns,
      name: `p${i}`,
      labels: { pod },
      ports: [{ name: 'web', port, protocol: 'TCP' }],
    },
  };
}

const label = fc.constantFrom(...LABELS);
const selector: fc.Arbitrary<LabelSelector> = fc.oneof(
  fc.constant({}),
  label.map((pod) => ({ matchLabels: { pod } })),
  fc.subarray([...LABELS], { minLength: 1 }).map((values) => ({
    matchExpressions: [{ key: 'pod', operator: 'NotIn' as const, values }],
  })),
);
const nsSelector: fc.Arbitrary<LabelSelector> = fc.oneof(
  fc.constant({}),
  label.map((team) => ({ matchLabels: { team } })),
);
const peer: fc.Arbitrary<KubePeer> = fc.oneof(
  selector.map((podSelector) => ({ podSelector })),
  nsSelector.map((namespaceSelector) => ({ namespaceSelector })),
  fc.tuple(nsSelector, selector).map(([namespaceSelector, podSelector]) => ({
    namespaceSelector,
    podSelector,
  })),
  fc.constantFrom<KubePeer>(
    { ipBlock: { cidr: '10.40.0.0/16', except: ['10.40.1.0/24'] } },
    { ipBlock: { cidr: 'fd00:40::/64' } },
  ),
);
const port: fc.Arbitrary<KubePort> = fc.oneof(
  fc.record({
    protocol: fc.constantFrom('TCP' as const, 'UDP' as const),
    port: fc.constantFrom(80, 81),
  }),
  fc.constant<KubePort>({ protocol: 'TCP', port: 'web' }),
  fc.constant<KubePort>({ protocol: 'TCP', port: 1000, endPort: 1010 }),
  fc.constant<KubePort>({ protocol: 'UDP' }),
);
const rule = fc.record({
  peers: fc.array(peer, { maxLength: 2 }),
  ports: fc.array(port, { maxLength: 2 }),
});

/** A random valid policy in slot `slot` (its id and namespace). */
function policy(slot: number): fc.Arbitrary<KubePolicy> {
  const namespace = NAMESPACES[slot % NAMESPACES.length]!;
  return fc
    .record({
      podSelector: selector,
      types: fc.constantFrom<KubePolicy['policyTypes']>(
        ['Ingress'],
        ['Egress'],
        ['Ingress', 'Egress'],
      ),
      ingress: fc.array(rule, { maxLength: 2 }),
      egress: fc.array(rule, { maxLength: 2 }),
    })
    .map((r) => ({
      id: `kube.${namespace}.p${slot}`,
      namespace,
      podSelector: r.podSelector,
      policyTypes: r.types,
      ingress: r.ingress.map((x) => ({ from: x.peers, ports: x.ports })),
      egress: r.egress.map((x) => ({ to: x.peers, ports: x.ports })),
    }));
}

type Step =
  | { kind: 'policy'; slot: number; policy: KubePolicy | null }
  | { kind: 'pod'; i: number; ns: string; label: string; port: number; gone: boolean }
  | { kind: 'ns'; ns: string; team: string | null };

const SLOTS = 4;
const step: fc.Arbitrary<Step> = fc.oneof(
  fc
    .nat(SLOTS - 1)
    .chain((slot) =>
      fc
        .option(policy(slot), { freq: 4 })
        .map((p) => ({ kind: 'policy' as const, slot, policy: p })),
    ),
  fc.record({
    kind: fc.constant('pod' as const),
    i: fc.nat(5),
    ns: fc.constantFrom(...NAMESPACES),
    label,
    port: fc.constantFrom(80, 81),
    gone: fc.boolean(),
  }),
  fc.record({
    kind: fc.constant('ns' as const),
    ns: fc.constantFrom(...NAMESPACES),
    team: fc.option(label),
  }),
);

/** The world the events describe, kept to hand the full apply its final state. */
class World implements PolicySource {
  readonly policies = new Map<string, KubePolicy>();
  readonly addresses = new Map<string, AddressLike>();
  readonly namespaces = new Map<string, NamespaceLike>();
  listPolicies = () => Promise.resolve([...this.policies.values()]);
  listAddresses = () => Promise.resolve([...this.addresses.values()]);
  listNamespaces = () => Promise.resolve([...this.namespaces.values()]);
}

/** Romana's part of the kernel, in a form two equal states print the same. */
function kernelState(ns: TestNetns): string {
  const tables = ['iptables-save', 'ip6tables-save'].flatMap((save) => {
    const lines = ns.run([save, '-t', 'filter']).split('\n');
    const chains = lines
      .filter((l) => l.startsWith(':ROMANA-'))
      .map((l) => `${save} ${l.split(' ')[0]}`)
      .sort();
    const rules = lines.filter((l) => l.startsWith('-A ROMANA-')).map((l) => `${save} ${l}`);
    // Rules keep their order within a chain; chains are compared by name.
    const byChain = rules.map((l, i) => [l.split(' ')[2]!, i, l] as const);
    byChain.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] - b[1]));
    return [...chains, ...byChain.map((r) => r[2])];
  });
  const sets = ns
    .run(['ipset', 'save'])
    .split('\n')
    .filter((l) => / ROMANA6?-/.test(l))
    .map((l) => l.replace(/ (hashsize|bucketsize|initval) \S+/g, ''))
    .sort();
  return [...tables, ...sets].join('\n');
}

describe('PolicySync in Kubernetes mode on a real kernel', () => {
  let fast: TestNetns;
  const made: TestNetns[] = [];
  before(() => {
    fast = createNetns(uniqueNetnsName('np12-f'));
    made.push(fast);
  });
  after(() => {
    for (const ns of made) ns.remove();
  });

  it('events one sync at a time leave the kernel as a full apply of the final state', async () => {
    const log = () => undefined;
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 8 }), async (steps) => {
        const world = new World();
        for (const n of NAMESPACES) world.namespaces.set(n, { name: n, labels: {} });
        for (let i = 0; i < 6; i++) {
          const a = address(i, NAMESPACES[i % 3]!, LABELS[i % 3]!, 80);
          world.addresses.set(a.name, a);
        }
        const exec = new CountingExec(fast.exec);
        const sync = new PolicySync(exec, 'h1', () => BLOCKS, log, undefined, 'kubernetes', [4, 6]);
        await sync.refresh(world);
        await sync.sync();
        assert.ok(sync.healthy, 'the first full apply took');
        const reads = exec.programs.length;
        let revision = 1;
        for (const s of steps) {
          const e = event(world, s, revision++);
          sync.apply(e);
          await sync.sync();
          assert.ok(sync.healthy, `sync after ${JSON.stringify(s)}`);
        }
        const later = exec.programs.slice(reads);
        assert.deepEqual(
          later.filter((p) => p.endsWith('-save') || p === 'ipset save'),
          [],
          'the event path never reads the kernel back',
        );
        const full = createNetns(uniqueNetnsName('np12-b'));
        made.push(full);
        try {
          const reference = new PolicySync(
            full.exec,
            'h1',
            () => BLOCKS,
            log,
            undefined,
            'kubernetes',
            [4, 6],
          );
          await reference.refresh(world);
          await reference.sync();
          assert.ok(reference.healthy);
          assert.equal(kernelState(fast), kernelState(full));
        } finally {
          full.remove();
          made.pop();
        }
      }),
      { numRuns: 25 },
    );
  });
});

/** Applies a step to the world and returns the watch event that says so. */
function event(world: World, s: Step, revision: number) {
  if (s.kind === 'policy') {
    const id = `kube.${NAMESPACES[s.slot % NAMESPACES.length]}.p${s.slot}`;
    if (s.policy === null) world.policies.delete(id);
    else world.policies.set(id, s.policy);
    const type = s.policy === null ? ('delete' as const) : ('put' as const);
    return { revision, kind: 'policies' as const, type, id, value: s.policy };
  }
  if (s.kind === 'pod') {
    const a = address(s.i, s.ns, s.label, s.port);
    if (s.gone) world.addresses.delete(a.name);
    else world.addresses.set(a.name, a);
    const type = s.gone ? ('delete' as const) : ('put' as const);
    return { revision, kind: 'addresses' as const, type, id: a.name, value: s.gone ? null : a };
  }
  const n: NamespaceLike = { name: s.ns, labels: s.team === null ? {} : { team: s.team } };
  world.namespaces.set(s.ns, n);
  return { revision, kind: 'namespaces' as const, type: 'put' as const, id: s.ns, value: n };
}
