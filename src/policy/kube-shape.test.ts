import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validatePolicies, validatePolicy } from './validate.ts';

const base = { id: 'kube.x.p', namespace: 'x', podSelector: {} };

function problems(input: unknown): string[] {
  const v = validatePolicy(input);
  return v.ok ? [] : v.problems;
}

describe('policies in Kubernetes form', () => {
  it('normal form: policyTypes defaulted as the API does, lists present, protocol explicit', () => {
    const v = validatePolicy({ ...base, ingress: [{ ports: [{ port: 80 }] }] });
    assert.ok(v.ok, JSON.stringify(v));
    assert.deepEqual(v.policy, {
      ...base,
      policyTypes: ['Ingress'],
      ingress: [{ from: [], ports: [{ protocol: 'TCP', port: 80 }] }],
      egress: [],
    });
    const e = validatePolicy({ ...base, egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/8' } }] }] });
    assert.ok(e.ok);
    assert.deepEqual((e.policy as { policyTypes: string[] }).policyTypes, ['Ingress', 'Egress']);
  });

  it('accepts every selector operator, ipBlock with except, named ports, endPort, SCTP', () => {
    const v = validatePolicy({
      ...base,
      description: 'all of it',
      podSelector: { matchExpressions: [{ key: 'pod', operator: 'In', values: ['a', 'b'] }] },
      policyTypes: ['Egress', 'Ingress'],
      ingress: [
        {
          from: [
            {
              namespaceSelector: { matchExpressions: [{ key: 'ns', operator: 'Exists' }] },
              podSelector: {},
            },
            {
              podSelector: {
                matchExpressions: [
                  { key: 'x', operator: 'DoesNotExist' },
                  { key: 'y', operator: 'NotIn', values: ['1'] },
                ],
              },
            },
          ],
          ports: [{ protocol: 'SCTP', port: 'serve-80' }],
        },
      ],
      egress: [
        {
          to: [{ ipBlock: { cidr: '10.0.0.0/16', except: ['10.0.1.0/24'] } }],
          ports: [{ protocol: 'UDP', port: 80, endPort: 90 }],
        },
      ],
    });
    assert.ok(v.ok, JSON.stringify(v));
    assert.deepEqual((v.policy as { policyTypes: string[] }).policyTypes, ['Ingress', 'Egress']);
  });

  it('names every problem by its field path, unknown fields included', () => {
    const got = problems({
      ...base,
      namespace: 'X_',
      podSelector: { matchLabel: {} },
      policyTypes: ['ingress'],
      ingress: [
        {
          from: [
            { ipBlock: { cidr: '10.0.0.1/8', except: ['11.0.0.0/24'] } },
            {},
            { ipBlock: { cidr: '10.0.0.0/8' }, podSelector: {} },
            {
              podSelector: {
                matchExpressions: [
                  { key: 'a', operator: 'In' },
                  { key: 'b', operator: 'Exists', values: ['x'] },
                  { key: 'c', operator: 'Has' },
                ],
              },
            },
          ],
          ports: [
            { protocol: 'tcp', port: 0 },
            { port: 'Bad_Name' },
            { port: 'http', endPort: 90 },
            { port: 90, endPort: 80 },
          ],
          extra: 1,
        },
      ],
    });
    const expect = [
      /^namespace: /,
      /^podSelector\.matchLabel: unknown field \(known: matchLabels, matchExpressions\)$/,
      /^policyTypes\[0\]: must be 'Ingress' or 'Egress'/,
      /^ingress\[0\]\.extra: unknown field/,
      /^ingress\[0\]\.from\[0\]\.ipBlock\.cidr: .*host bits/i,
      /^ingress\[0\]\.from\[1\]: empty peer/,
      /^ingress\[0\]\.from\[2\]: ipBlock cannot be combined/,
      /^ingress\[0\]\.from\[3\]\.podSelector\.matchExpressions\[0\]\.values: must not be empty with operator In$/,
      /^ingress\[0\]\.from\[3\]\.podSelector\.matchExpressions\[1\]\.values: must be empty with operator Exists$/,
      /^ingress\[0\]\.from\[3\]\.podSelector\.matchExpressions\[2\]\.operator: must be one of/,
      /^ingress\[0\]\.ports\[0\]\.protocol: must be one of TCP, UDP, SCTP, got the string 'tcp'$/,
      /^ingress\[0\]\.ports\[0\]\.port: must be a port number 1-65535 or a port name, got 0$/,
      /^ingress\[0\]\.ports\[1\]\.port: must be a port name/,
      /^ingress\[0\]\.ports\[2\]\.endPort: needs a numeric port/,
      /^ingress\[0\]\.ports\[3\]\.endPort: must be at least port 90, got 80$/,
    ];
    for (const re of expect)
      assert.ok(
        got.some((p) => re.test(p)),
        `${re} in\n${got.join('\n')}`,
      );
  });

  it('an except outside its cidr, and a missing podSelector, are refused', () => {
    const got = problems({ id: 'p', namespace: 'x', ingress: [] });
    assert.ok(got.length > 0);
    const e = problems({
      ...base,
      egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/16', except: ['10.1.0.0/24'] } }] }],
    });
    assert.deepEqual(e, [
      'egress[0].to[0].ipBlock.except[0]: must be strictly inside 10.0.0.0/16, got 10.1.0.0/24',
    ]);
  });

  it('label keys and values follow the Kubernetes syntax', () => {
    const got = problems({
      ...base,
      podSelector: { matchLabels: { 'bad key': 'v', 'ok.io/k': '-x', k: 3 } },
    });
    assert.equal(got.length, 3, got.join('\n'));
    assert.ok(got.every((p) => p.startsWith('podSelector.matchLabels["')));
  });

  it('2.x and Kubernetes forms mix in one list, problems prefixed with the index', () => {
    const two = {
      id: 'r',
      applied_to: [{ tenant_id: 't' }],
      ingress: [{ peers: [{ peer: 'any' }], rules: [{ protocol: 'tcp' }] }],
    };
    assert.ok(validatePolicies([two, base]).ok);
    const bad = validatePolicies([two, { ...base, egress: 3 }]);
    assert.deepEqual(bad.ok ? [] : bad.problems, ['[1].egress: must be an array, got number 3']);
  });
});
