/**
 * The original's enforcer golden fixtures (agent/enforcer/testdata, reference §6.3): the
 * listener's translations of the Kubernetes fixtures of romana/core listener/testdata, with the
 * ids found there (the same reconstruction as hash.test.ts).
 */
import type { Endpoint, RomanaPolicy as Policy, Rule } from './model.ts';
import type { RenderBlock } from './render-sets.ts';

const backend: Endpoint = { tenant_id: 'tenant-a', segment_id: 'backend' };
const frontend: Endpoint = { tenant_id: 'tenant-a', segment_id: 'frontend' };
const tcp80: Rule = { protocol: 'tcp', ports: [80] };

function kubePolicy(uid: string, target: Endpoint, peer: Endpoint, rule: Rule): Policy {
  return {
    id: `kube.tenant-a.pol1.${uid}`,
    direction: 'ingress',
    applied_to: [target],
    ingress: [{ peers: [peer], rules: [rule] }],
  };
}

/** Fixture name, policy, chain hash, and the `_X` and `_R` rules' match parts. */
export interface GoldenFixture {
  name: string;
  policy: Policy;
  hash: string;
  targetSet: string;
  peerMatch: string;
  ruleMatch: string;
}

const BACKEND_SET = 'ROMANA-446f0022c0a89d93';
const TENANT_A_SET = 'ROMANA-bc42e93f0aa666e1';
const FRONTEND_MATCH = '-m set --match-set ROMANA-78c82e6c585c36a6 src';

export const GOLDEN_FIXTURES: GoldenFixture[] = [
  {
    name: 'any-source',
    policy: kubePolicy(
      'd3122af3-a4cc-11e7-a1ea-068bf013416e',
      backend,
      { peer: 'any' },
      { ...tcp80, is_stateful: false },
    ),
    hash: '702122ee51ef3cb5',
    targetSet: BACKEND_SET,
    peerMatch: '',
    ruleMatch: '-p tcp --dport 80',
  },
  {
    name: 'demo-policy',
    policy: kubePolicy('a8e9618f-ab1d-11e7-a1ea-068bf013416e', backend, frontend, tcp80),
    hash: 'aca884e8b43cc0e7',
    targetSet: BACKEND_SET,
    peerMatch: FRONTEND_MATCH,
    ruleMatch: '-p tcp --dport 80',
  },
  {
    name: 'foreing-source-tenant',
    policy: kubePolicy(
      '0ef621c5-a4cd-11e7-a1ea-068bf013416e',
      backend,
      { tenant_id: 'kube-system' },
      tcp80,
    ),
    hash: 'b62df31062b6b496',
    targetSet: BACKEND_SET,
    peerMatch: '-m set --match-set ROMANA-fe6dda4923beb047 src',
    ruleMatch: '-p tcp --dport 80',
  },
  {
    name: 'no-rules',
    policy: kubePolicy('4bf9aba4-a4cd-11e7-a1ea-068bf013416e', backend, frontend, {
      protocol: 'any',
    }),
    hash: 'a70997e12148f097',
    targetSet: BACKEND_SET,
    peerMatch: FRONTEND_MATCH,
    ruleMatch: '',
  },
  {
    name: 'no-source-segment',
    policy: kubePolicy(
      '7bcdb586-a4cd-11e7-a1ea-068bf013416e',
      backend,
      { tenant_id: 'tenant-a' },
      tcp80,
    ),
    hash: 'd881c0948d2a25ec',
    targetSet: BACKEND_SET,
    peerMatch: `-m set --match-set ${TENANT_A_SET} src`,
    ruleMatch: '-p tcp --dport 80',
  },
  {
    name: 'no-target-segment',
    policy: kubePolicy(
      'a7cac6f1-a4cd-11e7-a1ea-068bf013416e',
      { tenant_id: 'tenant-a' },
      frontend,
      tcp80,
    ),
    hash: '1853ba0d91f85673',
    targetSet: TENANT_A_SET,
    peerMatch: FRONTEND_MATCH,
    ruleMatch: '-p tcp --dport 80',
  },
];

/** Blocks for the fixtures: tenant-a's backend and frontend on host1, more elsewhere. */
export const GOLDEN_BLOCKS: RenderBlock[] = [
  { cidr: '10.0.0.0/28', tenant: 'tenant-a', segment: 'backend', host: 'host1' },
  { cidr: '10.0.0.16/28', tenant: 'tenant-a', segment: 'frontend', host: 'host1' },
  { cidr: '10.0.1.0/28', tenant: 'tenant-a', segment: 'frontend', host: 'host2' },
  { cidr: '10.0.2.0/28', tenant: 'tenant-b', segment: 'default', host: 'host2' },
];

/** The demo-policy golden example of §6.3, character for character (plus the final newline). */
export const DEMO_POLICY_GOLDEN = `*filter
:ROMANA-FORWARD-IN - 
:ROMANA-P-aca884e8b43cc0e7 - 
:ROMANA-P-aca884e8b43cc0e7_X - 
:ROMANA-P-aca884e8b43cc0e7_R - 
-A ROMANA-FORWARD-IN  -j ROMANA-P-aca884e8b43cc0e7
-A ROMANA-P-aca884e8b43cc0e7 -m set --match-set ROMANA-446f0022c0a89d93 dst -j ROMANA-P-aca884e8b43cc0e7_X
-A ROMANA-P-aca884e8b43cc0e7_X -m set --match-set ROMANA-78c82e6c585c36a6 src -j ROMANA-P-aca884e8b43cc0e7_R
-A ROMANA-P-aca884e8b43cc0e7_R -p tcp --dport 80 -j ACCEPT
COMMIT
`;
