import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { KubeNamespace, KubePod, KubePolicy } from './kube-model.ts';
import { renderKube } from './kube-render.ts';
import { blockMembers, namedPortSetName, selectorSetName, type MemberChange } from './kube-sets.ts';
import type { IpSet } from './render-sets.ts';

const pod = (
  namespace: string,
  name: string,
  ip: string,
  labels: Record<string, string>,
): KubePod => ({
  namespace,
  name,
  ip,
  labels,
  ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
});
const blocks = [{ cidr: '10.0.0.0/28', tenant: 'x', segment: '', host: 'h1' }];

const policy: KubePolicy = {
  id: 'kube.x.web',
  namespace: 'x',
  podSelector: { matchLabels: { app: 'web' } },
  policyTypes: ['Ingress', 'Egress'],
  ingress: [
    {
      from: [
        { podSelector: { matchLabels: { app: 'fe' } } },
        { ipBlock: { cidr: '192.168.0.0/16', except: ['192.168.1.0/24'] } },
      ],
      ports: [
        { protocol: 'TCP', port: 'http' },
        { protocol: 'UDP', port: 53, endPort: 60 },
      ],
    },
  ],
  egress: [{ to: [], ports: [] }],
};

describe('Kubernetes-mode rendering', () => {
  const pods = [
    pod('x', 'w', '10.0.0.2', { app: 'web' }),
    pod('x', 'f', '10.0.0.3', { app: 'fe' }),
    pod('y', 'f', '10.0.0.20', { app: 'fe' }),
  ];
  const d = renderKube([policy], pods, [], blocks, 'h1');
  const set = (name: string) => d.sets.find((s) => s.name === name);

  it('one set per selector, ipBlock and named port, with their members', () => {
    const target = selectorSetName({
      namespace: 'x',
      podSelector: { matchLabels: { app: 'web' } },
    });
    const fe = selectorSetName({ namespace: 'x', podSelector: { matchLabels: { app: 'fe' } } });
    assert.deepEqual(set(target), { name: target, type: 'hash:ip', members: ['10.0.0.2'] });
    assert.deepEqual(
      set(fe)?.members,
      ['10.0.0.3'],
      'a podSelector peer is the policy namespace only',
    );
    assert.deepEqual(set(namedPortSetName('http', 'tcp'))?.members, [
      '10.0.0.2,tcp:8080',
      '10.0.0.20,tcp:8080',
      '10.0.0.3,tcp:8080',
    ]);
    const block = d.sets.find((s) => s.type === 'hash:net' && s.name.startsWith('ROMANA-KB-'));
    assert.deepEqual(block?.members, ['192.168.0.0/16', '192.168.1.0/24 nomatch']);
    assert.deepEqual(set('ROMANA-LOCAL-BLOCKS')?.members, ['10.0.0.0/28']);
  });

  it('ingress rules accept, egress rules go on to the ingress check, isolated pods drop', () => {
    const chain = (n: string) =>
      d.chains.find((c) => c.name === n)?.rules.map((r) => `${r.match} -j ${r.target}`);
    const target = selectorSetName({
      namespace: 'x',
      podSelector: { matchLabels: { app: 'web' } },
    });
    const ingress = chain('ROMANA-K-INGRESS')!;
    assert.equal(ingress[0], '-m set ! --match-set ROMANA-LOCAL-BLOCKS dst -j ACCEPT');
    assert.match(
      ingress[1]!,
      new RegExp(`^-m set --match-set ${target} dst -j ROMANA-KI-[0-9a-f]{16}$`),
    );
    assert.deepEqual(ingress.slice(2), [`-m set --match-set ${target} dst -j DROP`, ' -j ACCEPT']);
    const ki = chain(ingress[1]!.split(' -j ')[1]!)!;
    assert.equal(ki.length, 4, ki.join('\n'));
    assert.ok(
      ki.includes(
        `-p tcp -m set --match-set ${namedPortSetName('http', 'tcp')} dst,dst -m set --match-set ${selectorSetName({ namespace: 'x', podSelector: { matchLabels: { app: 'fe' } } })} src -j ACCEPT`,
      ),
    );
    assert.ok(ki.some((r) => r.startsWith('-p udp --dport 53:60 -m set --match-set ROMANA-KB-')));
    const egress = chain('ROMANA-K-EGRESS')!;
    assert.match(egress[0]!, /-j ROMANA-KE-[0-9a-f]{16}$/);
    assert.deepEqual(chain(egress[0]!.split(' -j ')[1]!), [' -j ROMANA-K-INGRESS']);
    assert.deepEqual(egress.slice(1), [
      `-m set --match-set ${target} src -j DROP`,
      ' -j ROMANA-K-INGRESS',
    ]);
  });

  it('a /0 ipBlock becomes two halves (hash:net cannot hold a /0)', () => {
    assert.deepEqual(blockMembers({ cidr: '0.0.0.0/0', except: ['10.0.0.0/8'] }), [
      '0.0.0.0/1',
      '128.0.0.0/1',
      '10.0.0.0/8 nomatch',
    ]);
  });

  it('2.x policies are left out in this mode, with the reason', () => {
    const skipped = [{ id: 'old', problems: ['a 2.x policy is not enforced in Kubernetes mode'] }];
    assert.deepEqual(renderKube([], [], [], blocks, 'h1', skipped).skipped, skipped);
  });
});

/** Applies member changes to rendered sets (what `ipset -exist restore` does to the kernel). */
function patched(sets: IpSet[], changes: MemberChange[]): Map<string, string[]> {
  const out = new Map(sets.map((s) => [s.name, new Set(s.members)]));
  for (const c of changes) {
    const members = out.get(c.set)!;
    if (c.op === 'add') members.add(c.member);
    else members.delete(c.member);
  }
  return new Map([...out].map(([k, v]) => [k, [...v].sort()]));
}

const asMap = (sets: IpSet[]) => new Map(sets.map((s) => [s.name, [...s.members].sort()]));

describe('set patches for pod and namespace changes', () => {
  const label = fc.constantFrom('a', 'b', 'c');
  const nsName = fc.constantFrom('x', 'y', 'z');
  const labels = fc.record({ pod: label }, { requiredKeys: [] });
  const pods = fc
    .uniqueArray(fc.record({ ns: nsName, labels, port: fc.constantFrom(80, 81) }), { maxLength: 6 })
    .map((ps) =>
      ps.map((p, i): KubePod => ({
        namespace: p.ns,
        name: `p${i}`,
        ip: `10.0.0.${i + 1}`,
        labels: p.labels,
        ports: [{ name: 'web', port: p.port, protocol: 'TCP' }],
      })),
    );
  const nsLabels = fc.record({ team: label }, { requiredKeys: [] });
  const policies: KubePolicy[] = [
    {
      id: 'a',
      namespace: 'x',
      podSelector: { matchLabels: { pod: 'a' } },
      policyTypes: ['Ingress'],
      ingress: [
        {
          from: [
            {
              namespaceSelector: { matchLabels: { team: 'b' } },
              podSelector: { matchExpressions: [{ key: 'pod', operator: 'NotIn', values: ['c'] }] },
            },
          ],
          ports: [{ protocol: 'TCP', port: 'web' }],
        },
      ],
    },
    {
      id: 'b',
      namespace: 'y',
      podSelector: {},
      policyTypes: ['Egress'],
      egress: [
        {
          to: [
            { namespaceSelector: { matchExpressions: [{ key: 'team', operator: 'Exists' }] } },
            { podSelector: { matchLabels: { pod: 'b' } } },
          ],
          ports: [],
        },
      ],
    },
  ];
  const namespaces = (m: Record<string, Record<string, string>>): KubeNamespace[] =>
    Object.entries(m).map(([name, l]) => ({ name, labels: l }));

  it('a pod started, stopped or relabelled: the patched sets equal a full render', () => {
    fc.assert(
      fc.property(
        pods,
        fc.nat(),
        labels,
        fc.constantFrom('start', 'stop', 'relabel'),
        fc.dictionary(nsName, nsLabels),
        (ps, pick, newLabels, what, nsl) => {
          const ns = namespaces(nsl);
          const nsMap = new Map(ns.map((n) => [n.name, n.labels]));
          const extra: KubePod = {
            namespace: 'x',
            name: 'new',
            ip: '10.0.1.1',
            labels: newLabels,
            ports: [{ name: 'web', port: 80, protocol: 'TCP' }],
          };
          const before = what === 'start' ? ps : [...ps, extra];
          const i = pick % before.length;
          const old = before[i]!;
          const now = what === 'relabel' ? { ...old, labels: newLabels } : undefined;
          const after =
            what === 'start'
              ? [...ps, extra]
              : before.flatMap((p, j) => (j !== i ? [p] : now ? [now] : []));
          const first = renderKube(policies, before, ns, [], 'h1');
          const changes =
            what === 'start'
              ? first.index.podChanged(undefined, extra, nsMap)
              : first.index.podChanged(old, now, nsMap);
          assert.deepEqual(
            patched(first.sets, changes),
            asMap(renderKube(policies, after, ns, [], 'h1').sets),
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a namespace relabelled: the patched sets equal a full render', () => {
    fc.assert(
      fc.property(
        pods,
        nsName,
        nsLabels,
        fc.dictionary(nsName, nsLabels),
        (ps, name, newLabels, nsl) => {
          const before = new Map(Object.entries(nsl));
          const after = new Map(before).set(name, newLabels);
          const first = renderKube(policies, ps, namespaces(Object.fromEntries(before)), [], 'h1');
          const changes = first.index.namespaceChanged(name, ps, before, after);
          const full = renderKube(policies, ps, namespaces(Object.fromEntries(after)), [], 'h1');
          assert.deepEqual(patched(first.sets, changes), asMap(full.sets));
        },
      ),
      { numRuns: 300 },
    );
  });
});
