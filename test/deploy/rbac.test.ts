import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import fc from 'fast-check';
import { kustomize, type K8sObject } from './manifests.ts';
import { allows, grantsOf, uncovered, unused, type ApiRequest, type Grant } from './rbac.ts';

const LISTENER = { name: 'romana-listener', namespace: 'romana-system' };
let objects: K8sObject[];
let grants: Grant[];
before(() => {
  objects = kustomize('base');
  grants = grantsOf(objects, LISTENER);
});

describe("the listener's RBAC rules, read from the base", () => {
  it('come through the ClusterRoleBinding and the leader-election RoleBinding', () => {
    const via = new Set(grants.map((g) => g.via));
    assert.deepEqual([...via].sort(), [
      'ClusterRoleBinding romana-listener → ClusterRole romana-listener',
      'RoleBinding romana-listener-leader-election → Role romana-listener-leader-election',
    ]);
    assert.deepEqual(grantsOf(objects, { name: 'romana-agent', namespace: 'romana-system' }), []);
  });

  const covered: [string, ApiRequest][] = [
    ['list nodes', { verb: 'list', group: '', resource: 'nodes' }],
    ['watch pods everywhere', { verb: 'watch', group: '', resource: 'pods' }],
    ['watch namespaces', { verb: 'watch', group: '', resource: 'namespaces' }],
    [
      'patch a Service',
      { verb: 'patch', group: '', resource: 'services', namespace: 'web', name: 's' },
    ],
    [
      'patch a Service status',
      { verb: 'patch', group: '', resource: 'services', subresource: 'status', namespace: 'web' },
    ],
    [
      'watch EndpointSlices',
      { verb: 'watch', group: 'discovery.k8s.io', resource: 'endpointslices' },
    ],
    [
      'list NetworkPolicies',
      { verb: 'list', group: 'networking.k8s.io', resource: 'networkpolicies' },
    ],
    ['create an Event', { verb: 'create', group: '', resource: 'events', namespace: 'default' }],
    [
      'create the Lease',
      {
        verb: 'create',
        group: 'coordination.k8s.io',
        resource: 'leases',
        namespace: 'romana-system',
      },
    ],
    [
      'update the Lease',
      {
        verb: 'update',
        group: 'coordination.k8s.io',
        resource: 'leases',
        namespace: 'romana-system',
        name: 'romana-listener',
      },
    ],
    ['read the discovery document', { verb: 'get', nonResourceURL: '/apis' }],
  ];
  for (const [what, r] of covered) {
    it(`allow: ${what}`, () => assert.deepEqual(uncovered(grants, [r]), []));
  }

  const refused: [string, ApiRequest][] = [
    ['delete a pod', { verb: 'delete', group: '', resource: 'pods', namespace: 'web' }],
    ['update a node', { verb: 'update', group: '', resource: 'nodes', name: 'n1' }],
    ['get one node (informers list)', { verb: 'get', group: '', resource: 'nodes', name: 'n1' }],
    [
      'replace a Service',
      { verb: 'update', group: '', resource: 'services', namespace: 'web', name: 's' },
    ],
    ['patch an Event', { verb: 'patch', group: '', resource: 'events', namespace: 'default' }],
    ['list Secrets', { verb: 'list', group: '', resource: 'secrets' }],
    [
      'a Lease outside romana-system',
      { verb: 'create', group: 'coordination.k8s.io', resource: 'leases', namespace: 'default' },
    ],
    ['cluster-wide Leases', { verb: 'list', group: 'coordination.k8s.io', resource: 'leases' }],
    [
      'get a Service status',
      { verb: 'get', group: '', resource: 'services', subresource: 'status', namespace: 'web' },
    ],
    [
      'a Service proxy',
      { verb: 'get', group: '', resource: 'services', subresource: 'proxy', namespace: 'web' },
    ],
    [
      'pods in another group',
      { verb: 'list', group: 'metrics.k8s.io', resource: 'pods', namespace: 'web' },
    ],
    [
      'create NetworkPolicies',
      { verb: 'create', group: 'networking.k8s.io', resource: 'networkpolicies' },
    ],
    ['a non-resource URL', { verb: 'get', nonResourceURL: '/metrics' }],
  ];
  for (const [what, r] of refused) {
    it(`refuse: ${what}`, () => assert.deepEqual(uncovered(grants, [r]), [r]));
  }

  it('resourceNames restrict a rule to the names given; a nameless request is not covered', () => {
    const g: Grant = {
      rule: { apiGroups: [''], resources: ['configmaps'], verbs: ['get'], resourceNames: ['a'] },
      namespace: 'x',
      via: 'test',
    };
    const r = { verb: 'get', group: '', resource: 'configmaps', namespace: 'x' };
    assert.equal(allows(g, { ...r, name: 'a' }), true);
    assert.equal(allows(g, { ...r, name: 'b' }), false);
    assert.equal(allows(g, r), false);
  });

  it('least privilege: names the granted verbs no request used, except the allowlist', () => {
    const log: ApiRequest[] = [
      { verb: 'list', group: '', resource: 'nodes' },
      { verb: 'watch', group: '', resource: 'nodes' },
    ];
    const left = unused(grants, log, ['list core/pods']);
    assert.ok(!left.includes('list core/nodes') && !left.includes('watch core/nodes'));
    assert.ok(!left.includes('list core/pods'), 'allowlisted');
    assert.ok(left.includes('watch core/pods'));
    assert.ok(left.includes('patch core/services/status'));
    assert.ok(left.includes('create coordination.k8s.io/leases in romana-system'));
  });

  it('a wildcard rule allows every resource request; more grants never allow less', () => {
    const word = fc.constantFrom('', 'apps', 'pods', 'nodes', 'status', 'get', 'list', 'ns1');
    const req = fc.record(
      {
        verb: fc.constantFrom('get', 'list', 'watch', 'create', 'update', 'patch', 'delete'),
        group: word,
        resource: fc.constantFrom('pods', 'nodes', 'leases', 'services'),
        subresource: fc.constantFrom('status', 'scale'),
        namespace: word,
        name: word,
      },
      { requiredKeys: ['verb', 'group', 'resource'] },
    );
    const all: Grant = {
      rule: { apiGroups: ['*'], resources: ['*'], verbs: ['*'] },
      namespace: undefined,
      via: 'all',
    };
    fc.assert(
      fc.property(fc.array(req, { maxLength: 20 }), (reqs: ApiRequest[]) => {
        assert.deepEqual(uncovered([all], reqs), []);
        const left = uncovered(grants, reqs);
        assert.ok(left.every((r) => reqs.includes(r)));
        assert.deepEqual(uncovered([...grants, all], reqs), []);
        assert.deepEqual(
          uncovered(grants.slice(1), reqs).filter((r) => left.includes(r)),
          left,
        );
      }),
    );
  });
});
