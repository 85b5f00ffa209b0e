/**
 * The oracle against the examples of the Kubernetes documentation (NetworkPolicy concept page
 * and API reference), each case stated as the documentation states it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { allowed, selects } from './evaluate.ts';
import type { KubeNamespace, KubePod, KubePolicy } from './kube-model.ts';

const pod = (
  namespace: string,
  name: string,
  ip: string,
  labels: Record<string, string> = {},
  ports: KubePod['ports'] = [],
): KubePod => ({ namespace, name, ip, labels, ports });

// The reference's example: namespace default, db pods, a frontend, a pod of myproject.
const db = pod('default', 'db', '10.1.0.2', { role: 'db' }, [
  { name: 'redis', port: 6379, protocol: 'TCP' },
]);
const frontend = pod('default', 'fe', '10.1.0.3', { role: 'frontend' });
const other = pod('default', 'other', '10.1.0.4', { role: 'other' });
const mine = pod('myproject', 'm', '10.2.0.2', { app: 'x' });
const theirs = pod('theirs', 't', '10.3.0.2', { role: 'frontend' });
const pods = [db, frontend, other, mine, theirs];
const namespaces: KubeNamespace[] = [
  { name: 'default', labels: {} },
  { name: 'myproject', labels: { project: 'myproject' } },
  { name: 'theirs', labels: {} },
];

const testNetworkPolicy: KubePolicy = {
  id: 'kube.default.test-network-policy',
  namespace: 'default',
  podSelector: { matchLabels: { role: 'db' } },
  policyTypes: ['Ingress', 'Egress'],
  ingress: [
    {
      from: [
        { ipBlock: { cidr: '172.17.0.0/16', except: ['172.17.1.0/24'] } },
        { namespaceSelector: { matchLabels: { project: 'myproject' } } },
        { podSelector: { matchLabels: { role: 'frontend' } } },
      ],
      ports: [{ protocol: 'TCP', port: 6379 }],
    },
  ],
  egress: [
    { to: [{ ipBlock: { cidr: '10.0.0.0/24' } }], ports: [{ protocol: 'TCP', port: 5978 }] },
  ],
};

const check = (
  ps: KubePolicy[],
  from: KubePod | string | { ip: string },
  to: KubePod | string | { ip: string },
  port = 80,
  proto = 'TCP',
) => allowed(ps, pods, namespaces, from, to, port, proto);

describe('the NetworkPolicy oracle (API reference examples)', () => {
  it('with no policy every pod is non-isolated: everything is allowed', () => {
    assert.equal(check([], frontend, db), true);
    assert.equal(check([], { ip: '192.0.2.1' }, db, 9, 'UDP'), true);
  });

  it('test-network-policy: ingress to db on TCP 6379 from the block, myproject, or frontend pods', () => {
    const ps = [testNetworkPolicy];
    assert.equal(check(ps, frontend, db, 6379), true);
    assert.equal(
      check(ps, mine, db, 6379),
      true,
      'any pod of a namespace labelled project=myproject',
    );
    assert.equal(check(ps, { ip: '172.17.2.9' }, db, 6379), true);
    assert.equal(check(ps, { ip: '172.17.1.9' }, db, 6379), false, 'except');
    assert.equal(check(ps, other, db, 6379), false);
    assert.equal(
      check(ps, theirs, db, 6379),
      false,
      'a podSelector alone means the policy namespace',
    );
    assert.equal(check(ps, frontend, db, 6380), false);
    assert.equal(check(ps, frontend, db, 6379, 'UDP'), false);
  });

  it('test-network-policy: egress from db only to 10.0.0.0/24 on TCP 5978; other pods untouched', () => {
    const ps = [testNetworkPolicy];
    assert.equal(check(ps, db, { ip: '10.0.0.7' }, 5978), true);
    assert.equal(check(ps, db, { ip: '10.0.0.7' }, 80), false);
    assert.equal(check(ps, db, frontend, 80), false);
    assert.equal(check(ps, frontend, other, 80), true);
    assert.equal(check(ps, frontend, { ip: '8.8.8.8' }, 53, 'UDP'), true);
  });

  it('default deny all ingress: selected pods take nothing, egress is untouched', () => {
    const deny: KubePolicy = {
      id: 'd',
      namespace: 'default',
      podSelector: {},
      policyTypes: ['Ingress'],
    };
    assert.equal(check([deny], mine, db), false);
    assert.equal(check([deny], frontend, db), false);
    assert.equal(check([deny], db, mine), true);
  });

  it('allow all ingress overrides a default deny (union)', () => {
    const deny: KubePolicy = {
      id: 'd',
      namespace: 'default',
      podSelector: {},
      policyTypes: ['Ingress'],
    };
    const all: KubePolicy = {
      id: 'a',
      namespace: 'default',
      podSelector: {},
      ingress: [{ from: [], ports: [] }],
    };
    assert.equal(check([deny, all], theirs, db, 1, 'UDP'), true);
  });

  it('default deny egress; allow all egress; default deny all', () => {
    const denyEgress: KubePolicy = {
      id: 'e',
      namespace: 'default',
      podSelector: {},
      policyTypes: ['Egress'],
    };
    assert.equal(check([denyEgress], db, mine), false);
    assert.equal(
      check([denyEgress], mine, db),
      true,
      'ingress not isolated by an Egress-only policy',
    );
    const allEgress: KubePolicy = { ...denyEgress, id: 'ae', egress: [{ to: [], ports: [] }] };
    assert.equal(check([denyEgress, allEgress], db, mine), true);
    const denyAll: KubePolicy = {
      id: 'da',
      namespace: 'default',
      podSelector: {},
      policyTypes: ['Ingress', 'Egress'],
    };
    assert.equal(check([denyAll], db, frontend), false);
    assert.equal(check([denyAll], mine, db), false);
    assert.equal(check([denyAll], mine, theirs), true);
  });

  it('policyTypes defaulting: egress rules without policyTypes isolate egress too', () => {
    const p: KubePolicy = {
      id: 'p',
      namespace: 'default',
      podSelector: { matchLabels: { role: 'db' } },
      egress: [{ to: [{ podSelector: { matchLabels: { role: 'frontend' } } }], ports: [] }],
    };
    assert.equal(check([p], db, frontend), true);
    assert.equal(check([p], db, other), false);
    assert.equal(check([p], other, db), false, 'Ingress is always implied');
  });

  it('namespaceSelector AND podSelector in one peer; OR as two peers', () => {
    const and: KubePolicy = {
      id: 'and',
      namespace: 'default',
      podSelector: { matchLabels: { role: 'db' } },
      ingress: [
        {
          from: [{ namespaceSelector: {}, podSelector: { matchLabels: { role: 'frontend' } } }],
          ports: [],
        },
      ],
    };
    assert.equal(check([and], theirs, db), true, 'frontend pod in any namespace');
    assert.equal(check([and], mine, db), false);
    const or: KubePolicy = {
      ...and,
      id: 'or',
      ingress: [
        {
          from: [
            { namespaceSelector: { matchLabels: { project: 'myproject' } } },
            { podSelector: { matchLabels: { role: 'frontend' } } },
          ],
          ports: [],
        },
      ],
    };
    assert.equal(check([or], mine, db), true);
    assert.equal(check([or], frontend, db), true);
    assert.equal(check([or], theirs, db), false);
  });

  it('the kubernetes.io/metadata.name label names every namespace', () => {
    const p: KubePolicy = {
      id: 'n',
      namespace: 'default',
      podSelector: {},
      ingress: [
        {
          from: [
            { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'theirs' } } },
          ],
          ports: [],
        },
      ],
    };
    assert.equal(check([p], theirs, db), true);
    assert.equal(check([p], mine, db), false);
  });

  it('endPort: a range of ports, both ends included', () => {
    const p: KubePolicy = {
      id: 'r',
      namespace: 'default',
      podSelector: { matchLabels: { role: 'db' } },
      policyTypes: ['Egress'],
      egress: [
        {
          to: [{ ipBlock: { cidr: '10.0.0.0/24' } }],
          ports: [{ protocol: 'TCP', port: 32000, endPort: 32768 }],
        },
      ],
    };
    for (const [port, want] of [
      [31999, false],
      [32000, true],
      [32768, true],
      [32769, false],
    ] as const) {
      assert.equal(check([p], db, { ip: '10.0.0.1' }, port), want, String(port));
    }
  });

  it('named ports resolve on the destination pod, protocol included', () => {
    const p: KubePolicy = {
      id: 'np',
      namespace: 'default',
      podSelector: {},
      ingress: [{ from: [], ports: [{ protocol: 'TCP', port: 'redis' }] }],
    };
    assert.equal(check([p], mine, db, 6379), true);
    assert.equal(check([p], mine, db, 6379, 'UDP'), false);
    assert.equal(check([p], mine, frontend, 6379), false, 'frontend has no port named redis');
  });

  it('ipBlock never matches by label, and a pod selector never matches an outside address', () => {
    const p: KubePolicy = {
      id: 'b',
      namespace: 'default',
      podSelector: {},
      ingress: [
        { from: [{ ipBlock: { cidr: '10.2.0.0/16' } }, { namespaceSelector: {} }], ports: [] },
      ],
    };
    assert.equal(check([p], mine, db), true, 'mine by address and by namespace');
    assert.equal(check([p], { ip: '10.2.9.9' }, db), true);
    assert.equal(check([p], { ip: '10.9.9.9' }, db), false);
  });

  it('references by namespace/name resolve among the pods', () => {
    const deny: KubePolicy = {
      id: 'd',
      namespace: 'default',
      podSelector: {},
      policyTypes: ['Ingress'],
    };
    assert.equal(check([deny], 'myproject/m', 'default/db'), false);
    assert.throws(() => check([deny], 'nope/x', 'default/db'), /no pod nope\/x/);
  });
});

describe('label selectors', () => {
  it('operators as the API defines them (NotIn matches a missing key)', () => {
    const l = { env: 'prod', tier: 'web' };
    assert.equal(selects({}, {}), true);
    assert.equal(
      selects({ matchExpressions: [{ key: 'env', operator: 'In', values: ['prod', 'qa'] }] }, l),
      true,
    );
    assert.equal(
      selects({ matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['prod'] }] }, l),
      false,
    );
    assert.equal(
      selects({ matchExpressions: [{ key: 'x', operator: 'NotIn', values: ['prod'] }] }, l),
      true,
    );
    assert.equal(selects({ matchExpressions: [{ key: 'tier', operator: 'Exists' }] }, l), true);
    assert.equal(
      selects({ matchExpressions: [{ key: 'tier', operator: 'DoesNotExist' }] }, l),
      false,
    );
    assert.equal(
      selects(
        { matchLabels: { env: 'prod' }, matchExpressions: [{ key: 'x', operator: 'Exists' }] },
        l,
      ),
      false,
    );
  });
});
