import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fromNetworkPolicy, kubePolicyId } from './netpol.ts';

describe('NetworkPolicy -> Romana policy', () => {
  it('keeps the spec, names the policy kube.<namespace>.<name>, defaults policyTypes', () => {
    const r = fromNetworkPolicy({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { namespace: 'x', name: 'allow-web', labels: { a: 'b' }, resourceVersion: '7' },
      spec: {
        podSelector: { matchLabels: { app: 'web' } },
        ingress: [
          {
            _from: [
              { namespaceSelector: { matchLabels: { team: 'red' } }, podSelector: {} },
              { ipBlock: { cidr: '10.0.0.0/16', except: ['10.0.1.0/24'] } },
            ],
            ports: [{ port: 'http' }, { protocol: 'UDP', port: 53, endPort: 60 }],
          },
        ],
      },
    });
    assert.deepEqual(r, {
      ok: true,
      policy: {
        id: 'kube.x.allow-web',
        namespace: 'x',
        podSelector: { matchLabels: { app: 'web' } },
        policyTypes: ['Ingress'],
        ingress: [
          {
            from: [
              { namespaceSelector: { matchLabels: { team: 'red' } }, podSelector: {} },
              { ipBlock: { cidr: '10.0.0.0/16', except: ['10.0.1.0/24'] } },
            ],
            ports: [
              { protocol: 'TCP', port: 'http' },
              { protocol: 'UDP', port: 53, endPort: 60 },
            ],
          },
        ],
        egress: [],
      },
    });
  });

  it('reads `from` as the wire spells it, too', () => {
    const wire = {
      metadata: { namespace: 'x', name: 'w' },
      spec: { podSelector: {}, ingress: [{ from: [{ podSelector: {} }] }] },
    };
    const r = fromNetworkPolicy(wire as never);
    assert.ok(r.ok);
    assert.deepEqual(r.policy.ingress, [{ from: [{ podSelector: {} }], ports: [] }]);
  });

  it('egress rules and explicit policyTypes; nulls read as absent; no podSelector is {}', () => {
    const r = fromNetworkPolicy({
      metadata: { namespace: 'y', name: 'e' },
      spec: {
        policyTypes: ['Egress'],
        egress: [{ to: [{ podSelector: { matchLabels: { pod: 'a' } } }], ports: null as never }],
      } as never,
    });
    assert.ok(r.ok, JSON.stringify(r));
    assert.deepEqual(r.policy.podSelector, {});
    assert.deepEqual(r.policy.policyTypes, ['Egress']);
    assert.deepEqual(r.policy.egress, [
      { to: [{ podSelector: { matchLabels: { pod: 'a' } } }], ports: [] },
    ]);
  });

  it('a NetworkPolicy that cannot be enforced is refused with every problem, by field path', () => {
    const r = fromNetworkPolicy({
      metadata: { namespace: 'x', name: 'bad' },
      spec: {
        podSelector: {},
        ingress: [{ ports: [{ protocol: 'ICMP', port: 80 }] }],
        egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/33' } }] }],
      },
    });
    assert.equal(r.ok, false);
    assert.ok(!r.ok);
    assert.equal(r.id, 'kube.x.bad');
    assert.equal(r.problems.length, 2, r.problems.join('\n'));
    assert.match(
      r.problems[0]!,
      /^spec\.ingress\[0\]\.ports\[0\]\.protocol: must be one of TCP, UDP, SCTP/,
    );
    assert.match(r.problems[1]!, /^spec\.egress\[0\]\.to\[0\]\.ipBlock\.cidr: /);
    assert.deepEqual(
      fromNetworkPolicy({ metadata: { namespace: 'x' }, spec: { podSelector: {} } }),
      {
        ok: false,
        id: 'kube.x.',
        problems: ['metadata.name: is required'],
      },
    );
  });

  it('ids', () => {
    assert.equal(kubePolicyId('default', 'a.b'), 'kube.default.a.b');
  });
});
