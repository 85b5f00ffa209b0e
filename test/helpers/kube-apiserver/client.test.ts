/**
 * The test API server as the official @kubernetes/client-node sees it: lists, selectors,
 * pagination, errors, writes, patches, Leases, Events and /status.
 */
import * as k8s from '@kubernetes/client-node';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startKubeApiServer, type KubeApiServer } from './index.ts';
import { expectApiError } from './testing.ts';

let api: KubeApiServer;
let core: k8s.CoreV1Api;
let coord: k8s.CoordinationV1Api;
let net: k8s.NetworkingV1Api;

const MERGE = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
const STRATEGIC = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch);
const JSONPATCH = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch);

function pod(name: string, node: string, labels: Record<string, string>, ns = 'default') {
  return {
    metadata: { name, namespace: ns, labels },
    spec: {
      nodeName: node,
      containers: [
        { name: 'app', image: 'app:1', ports: [{ containerPort: 80, name: 'http' }] },
        { name: 'side', image: 'side:1' },
      ],
    },
  };
}

before(async () => {
  api = await startKubeApiServer();
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(api.kubeconfigPath);
  core = kc.makeApiClient(k8s.CoreV1Api);
  coord = kc.makeApiClient(k8s.CoordinationV1Api);
  net = kc.makeApiClient(k8s.NetworkingV1Api);
  await core.createNamespace({ body: { metadata: { name: 'shop', labels: { team: 'a' } } } });
  await core.createNamespacedPod({
    namespace: 'default',
    body: pod('web-1', 'n1', { app: 'web', tier: 'front' }),
  });
  await core.createNamespacedPod({
    namespace: 'default',
    body: pod('web-2', 'n2', { app: 'web' }),
  });
  await core.createNamespacedPod({
    namespace: 'shop',
    body: pod('db-1', 'n1', { app: 'db' }, 'shop'),
  });
});
after(() => api.close());

/** client-node answers class instances; compare their JSON. */
const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v)) as unknown;

const names = (l: { items: { metadata?: { name?: string } }[] }): string[] =>
  l.items.map((i) => i.metadata?.name ?? '').sort();

describe('lists through client-node', () => {
  it('a list carries its kind, apiVersion and a resourceVersion that is the latest write', async () => {
    const l = await core.listPodForAllNamespaces();
    assert.equal(l.kind, 'PodList');
    assert.equal(l.apiVersion, 'v1');
    assert.equal(l.metadata?.resourceVersion, String(api.store.revision));
    assert.deepEqual(names(l), ['db-1', 'web-1', 'web-2']);
  });

  it('lists one namespace, and every namespace with its name label', async () => {
    assert.deepEqual(names(await core.listNamespacedPod({ namespace: 'shop' })), ['db-1']);
    const ns = await core.readNamespace({ name: 'shop' });
    assert.deepEqual(ns.metadata?.labels, { team: 'a', 'kubernetes.io/metadata.name': 'shop' });
    assert.equal(ns.status?.phase, 'Active');
  });

  it('filters by label selector: =, ==, !=, in, notin, exists, !key', async () => {
    const cases: [string, string[]][] = [
      ['app=web', ['web-1', 'web-2']],
      ['app==db', ['db-1']],
      ['app!=web', ['db-1']],
      ['app in (db,web),tier', ['web-1']],
      ['app notin (web)', ['db-1']],
      ['!tier', ['db-1', 'web-2']],
      ['app=web,!tier', ['web-2']],
    ];
    for (const [labelSelector, want] of cases) {
      assert.deepEqual(
        names(await core.listPodForAllNamespaces({ labelSelector })),
        want,
        labelSelector,
      );
    }
  });

  it('filters by field selector: name, namespace, spec.nodeName, status.phase, = and !=', async () => {
    const cases: [string, string[]][] = [
      ['spec.nodeName=n1', ['db-1', 'web-1']],
      ['spec.nodeName!=n1', ['web-2']],
      ['metadata.namespace=shop', ['db-1']],
      ['metadata.name=web-2,spec.nodeName=n2', ['web-2']],
      ['status.phase=Pending', ['db-1', 'web-1', 'web-2']],
      ['status.phase=Running', []],
    ];
    for (const [fieldSelector, want] of cases) {
      assert.deepEqual(
        names(await core.listPodForAllNamespaces({ fieldSelector })),
        want,
        fieldSelector,
      );
    }
  });

  it('refuses a field the resource does not index, and a malformed label selector, with 400', async () => {
    const e1 = await expectApiError(() =>
      core.listPodForAllNamespaces({ fieldSelector: 'spec.foo=x' }),
    );
    assert.equal(e1.code, 400);
    assert.equal(e1.body['reason'], 'BadRequest');
    const e2 = await expectApiError(() =>
      core.listPodForAllNamespaces({ labelSelector: 'a in (' }),
    );
    assert.equal(e2.code, 400);
  });

  it('pages with limit and continue, every item exactly once', async () => {
    const seen: string[] = [];
    let cont: string | undefined;
    let pages = 0;
    do {
      const page = await core.listPodForAllNamespaces({ limit: 2, _continue: cont });
      seen.push(...page.items.map((p) => p.metadata?.name ?? ''));
      cont = page.metadata?._continue;
      if (cont !== undefined) assert.equal(page.metadata?.remainingItemCount, 1);
      pages++;
    } while (cont !== undefined && cont !== '');
    assert.equal(pages, 2);
    assert.deepEqual(seen.sort(), ['db-1', 'web-1', 'web-2']);
  });
});

describe('errors are Status bodies', () => {
  it('a missing object is 404 NotFound naming it', async () => {
    const e = await expectApiError(() => core.readNode({ name: 'nope' }));
    assert.equal(e.code, 404);
    assert.deepEqual(e.body, {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'nodes "nope" not found',
      reason: 'NotFound',
      details: { name: 'nope', kind: 'nodes' },
      code: 404,
    });
  });

  it('creating twice is 409 AlreadyExists; a pod in a missing namespace is 404', async () => {
    await core.createNode({ body: { metadata: { name: 'dup' } } });
    const e = await expectApiError(() => core.createNode({ body: { metadata: { name: 'dup' } } }));
    assert.equal(e.code, 409);
    assert.equal(e.body['reason'], 'AlreadyExists');
    assert.equal(e.body['message'], 'nodes "dup" already exists');
    const e2 = await expectApiError(() =>
      core.createNamespacedPod({ namespace: 'ghost', body: pod('p', 'n1', {}, 'ghost') }),
    );
    assert.equal(e2.code, 404);
    assert.equal(e2.body['message'], 'namespaces "ghost" not found');
  });

  it('an invalid name is 422 Invalid and stores nothing', async () => {
    const before = api.store.revision;
    const e = await expectApiError(() =>
      core.createNode({ body: { metadata: { name: 'Bad_Name' } } }),
    );
    assert.equal(e.code, 422);
    assert.equal(e.body['reason'], 'Invalid');
    assert.equal(api.store.revision, before);
  });
});

describe('writes', () => {
  it('sets uid, creationTimestamp, generation and a fresh resourceVersion on every write', async () => {
    const n = await core.createNode({ body: { metadata: { name: 'w1', labels: { a: '1' } } } });
    assert.match(n.metadata?.uid ?? '', /^[0-9a-f-]{36}$/);
    assert.ok(n.metadata?.creationTimestamp instanceof Date);
    assert.equal(n.metadata?.generation, 1);
    const rv1 = Number(n.metadata?.resourceVersion);
    const n2 = await core.replaceNode({
      name: 'w1',
      body: { ...n, spec: { unschedulable: true } },
    });
    assert.ok(Number(n2.metadata?.resourceVersion) > rv1);
    assert.equal(n2.metadata?.generation, 2);
    assert.equal(n2.metadata?.uid, n.metadata?.uid);
  });

  it('an update that changes nothing writes nothing', async () => {
    const n = await core.readNode({ name: 'w1' });
    const again = await core.replaceNode({ name: 'w1', body: n });
    assert.equal(again.metadata?.resourceVersion, n.metadata?.resourceVersion);
  });

  it('merge patch: maps merge, null deletes a label, lists are replaced', async () => {
    await core.patchNode(
      { name: 'w1', body: { metadata: { labels: { b: '2', a: null } } } },
      MERGE,
    );
    const n = await core.readNode({ name: 'w1' });
    assert.deepEqual(n.metadata?.labels, { b: '2' });
  });

  it('strategic merge patch: containers merge by name, ports by containerPort', async () => {
    const body = {
      metadata: { labels: { tier: null, extra: 'x' } },
      spec: {
        containers: [
          { name: 'app', image: 'app:2', ports: [{ containerPort: 443, name: 'https' }] },
        ],
      },
    };
    const p = await core.patchNamespacedPod(
      { name: 'web-1', namespace: 'default', body },
      STRATEGIC,
    );
    assert.deepEqual(p.metadata?.labels, { app: 'web', extra: 'x' });
    const cs = p.spec?.containers ?? [];
    assert.deepEqual(
      cs.map((c) => [c.name, c.image]),
      [
        ['app', 'app:2'],
        ['side', 'side:1'],
      ],
    );
    assert.deepEqual(
      cs[0]?.ports?.map((x) => x.containerPort),
      [80, 443],
    );
  });

  it('json patch: add, replace, remove, and a failed test changes nothing', async () => {
    const ops = [
      { op: 'add', path: '/metadata/annotations', value: { 'romana.io/x': '1' } },
      { op: 'replace', path: '/spec/containers/1/image', value: 'side:2' },
      { op: 'remove', path: '/metadata/labels/extra' },
    ];
    const p = await core.patchNamespacedPod(
      { name: 'web-1', namespace: 'default', body: ops },
      JSONPATCH,
    );
    assert.deepEqual(p.metadata?.annotations, { 'romana.io/x': '1' });
    assert.equal(p.spec?.containers[1]?.image, 'side:2');
    assert.deepEqual(p.metadata?.labels, { app: 'web' });
    const rv = p.metadata?.resourceVersion;
    const bad = [{ op: 'test', path: '/spec/nodeName', value: 'elsewhere' }];
    const e = await expectApiError(() =>
      core.patchNamespacedPod({ name: 'web-1', namespace: 'default', body: bad }, JSONPATCH),
    );
    assert.equal(e.code, 422);
    const now = await core.readNamespacedPod({ name: 'web-1', namespace: 'default' });
    assert.equal(now.metadata?.resourceVersion, rv);
  });

  it('/status changes only the status; the main resource keeps the stored status', async () => {
    const n = await core.readNode({ name: 'w1' });
    const conditions = [{ type: 'Ready', status: 'True' }];
    const s = await core.replaceNodeStatus({
      name: 'w1',
      body: {
        ...n,
        metadata: { ...n.metadata, labels: { ignored: 'yes' } },
        status: { conditions },
      },
    });
    assert.deepEqual(plain(s.status?.conditions), conditions);
    assert.deepEqual(s.metadata?.labels, { b: '2' });
    const m = await core.replaceNode({ name: 'w1', body: { ...s, status: { conditions: [] } } });
    assert.deepEqual(plain(m.status?.conditions), conditions);
    const p = await core.patchNodeStatus(
      { name: 'w1', body: { status: { conditions: [{ type: 'Ready', status: 'False' }] } } },
      STRATEGIC,
    );
    assert.deepEqual(plain(p.status?.conditions), [{ type: 'Ready', status: 'False' }]);
  });

  it('dryRun=All answers as if written and stores nothing', async () => {
    const before = api.store.revision;
    const n = await core.createNode({ body: { metadata: { name: 'dry' } }, dryRun: 'All' });
    assert.equal(n.metadata?.name, 'dry');
    await core.deleteNode({ name: 'w1', dryRun: 'All' });
    assert.equal(api.store.revision, before);
    assert.equal(api.get('v1', 'Node', 'dry'), undefined);
    assert.notEqual(api.get('v1', 'Node', 'w1'), undefined);
  });

  it('delete answers 404 the second time', async () => {
    await core.deleteNode({ name: 'dup' });
    const e = await expectApiError(() => core.deleteNode({ name: 'dup' }));
    assert.equal(e.code, 404);
  });

  it('a Service gets a cluster IP and port defaults', async () => {
    const s = await core.createNamespacedService({
      namespace: 'default',
      body: {
        metadata: { name: 'web' },
        spec: { selector: { app: 'web' }, ports: [{ port: 80 }] },
      },
    });
    assert.equal(s.spec?.type, 'ClusterIP');
    assert.match(s.spec?.clusterIP ?? '', /^10\.96\./);
    assert.equal(s.spec?.ports?.[0]?.protocol, 'TCP');
    assert.equal(s.spec?.ports?.[0]?.targetPort, 80);
  });
});

describe('Leases, Events, NetworkPolicies', () => {
  it('a Lease update with a stale resourceVersion is 409 Conflict', async () => {
    const ns = 'kube-system';
    const l = await coord.createNamespacedLease({
      namespace: ns,
      body: {
        metadata: { name: 'romana-listener' },
        spec: { holderIdentity: 'a', leaseDurationSeconds: 15 },
      },
    });
    const won = await coord.replaceNamespacedLease({
      name: 'romana-listener',
      namespace: ns,
      body: { ...l, spec: { ...l.spec, holderIdentity: 'b' } },
    });
    assert.equal(won.spec?.holderIdentity, 'b');
    const e = await expectApiError(() =>
      coord.replaceNamespacedLease({
        name: 'romana-listener',
        namespace: ns,
        body: { ...l, spec: { ...l.spec, holderIdentity: 'c' } },
      }),
    );
    assert.equal(e.code, 409);
    assert.equal(e.body['reason'], 'Conflict');
    assert.equal(
      e.body['message'],
      'Operation cannot be fulfilled on leases.coordination.k8s.io "romana-listener": the object has been modified; please apply your changes to the latest version and try again',
    );
    const now = await coord.readNamespacedLease({ name: 'romana-listener', namespace: ns });
    assert.equal(now.spec?.holderIdentity, 'b');
  });

  it('an Event is created with generateName and found by its involved object', async () => {
    const ev = await core.createNamespacedEvent({
      namespace: 'default',
      body: {
        metadata: { generateName: 'n1.' },
        involvedObject: { kind: 'Node', name: 'n1', apiVersion: 'v1' },
        reason: 'TagsRefused',
        message: 'zone change would break group placement',
        type: 'Warning',
        source: { component: 'romana-listener' },
      },
    });
    assert.match(ev.metadata?.name ?? '', /^n1\.[a-z0-9]{5}$/);
    const l = await core.listNamespacedEvent({
      namespace: 'default',
      fieldSelector: 'involvedObject.name=n1,involvedObject.kind=Node,reason=TagsRefused',
    });
    assert.deepEqual(names(l), [ev.metadata?.name ?? '']);
  });

  it('stores a NetworkPolicy as sent', async () => {
    const spec: k8s.V1NetworkPolicySpec = {
      podSelector: { matchLabels: { app: 'db' } },
      policyTypes: ['Ingress'],
      ingress: [
        {
          _from: [{ podSelector: { matchLabels: { app: 'web' } } }],
          ports: [{ port: 5432, protocol: 'TCP' }],
        },
      ],
    };
    await net.createNamespacedNetworkPolicy({
      namespace: 'shop',
      body: { metadata: { name: 'db' }, spec },
    });
    const raw = api.get('networking.k8s.io/v1', 'NetworkPolicy', 'db', 'shop');
    // client-node names the field `_from` in TypeScript and sends it as `from`.
    const { _from, ...rule } = spec.ingress?.[0] ?? {};
    assert.deepEqual(raw?.['spec'], { ...spec, ingress: [{ from: _from, ...rule }] });
  });
});

describe('request log', () => {
  it('records each request with its RBAC verb, group, resource, subresource, namespace, name', async () => {
    api.requests.length = 0;
    await coord.readNamespacedLease({ name: 'romana-listener', namespace: 'kube-system' });
    await core.patchNodeStatus({ name: 'w1', body: { status: {} } }, MERGE);
    await core.listPodForAllNamespaces();
    assert.deepEqual(api.requests, [
      {
        verb: 'get',
        group: 'coordination.k8s.io',
        version: 'v1',
        resource: 'leases',
        namespace: 'kube-system',
        name: 'romana-listener',
      },
      {
        verb: 'patch',
        group: '',
        version: 'v1',
        resource: 'nodes',
        subresource: 'status',
        name: 'w1',
      },
      { verb: 'list', group: '', version: 'v1', resource: 'pods' },
    ]);
  });
});
