/**
 * The rest of the test API server's contract, over raw HTTP: finalizers, namespace deletion,
 * history limits, initial-events bookmarks, deletecollection, discovery, OpenAPI, auth, and the
 * standalone command.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startKubeApiServer, type KubeApiServer, type KubeObject } from './index.ts';
import { waitFor } from './testing.ts';

let api: KubeApiServer;

before(async () => {
  api = await startKubeApiServer({ historyLimit: 5, bookmarkMs: 60_000, namespaceDeletionMs: 200 });
});
after(() => api.close());

async function call(
  method: string,
  url: string,
  body?: unknown,
  type = 'application/json',
): Promise<{ status: number; json: Record<string, unknown> }> {
  const init: RequestInit = { method, headers: { 'Content-Type': type } };
  if (body !== undefined) init.body = JSON.stringify(body);
  const res = await fetch(api.url + url, init);
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

const cm = (name: string, ns = 'default'): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: ns },
});

describe('deletion', () => {
  it('an object with finalizers is only marked; emptying them deletes it', async () => {
    api.create({
      ...cm('fin'),
      metadata: { name: 'fin', namespace: 'default', finalizers: ['x/y'] },
    });
    const del = await call('DELETE', '/api/v1/namespaces/default/configmaps/fin');
    assert.equal(del.status, 200);
    const marked = api.get('v1', 'ConfigMap', 'fin', 'default');
    assert.ok(marked?.metadata.deletionTimestamp !== undefined);
    const patched = await call(
      'PATCH',
      '/api/v1/namespaces/default/configmaps/fin',
      { metadata: { finalizers: null } },
      'application/merge-patch+json',
    );
    assert.equal(patched.status, 200);
    assert.equal(api.get('v1', 'ConfigMap', 'fin', 'default'), undefined);
  });

  it('a deleted namespace is Terminating, refuses new content, then goes with what is in it', async () => {
    api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'gone' } });
    api.create(cm('a', 'gone'));
    api.create(cm('b', 'gone'));
    api.create(cm('stays'));
    const del = await call('DELETE', '/api/v1/namespaces/gone');
    assert.equal(del.status, 200);
    assert.deepEqual(del.json['status'], { phase: 'Terminating' });
    assert.equal(api.list('v1', 'ConfigMap', 'gone').length, 2, 'contents stay for a while');
    const refused = await call('POST', '/api/v1/namespaces/gone/configmaps', cm('c', 'gone'));
    assert.equal(refused.status, 403);
    assert.equal(
      refused.json['message'],
      'configmaps "c" is forbidden: unable to create new content in namespace gone because it is being terminated',
    );
    await waitFor(() => api.get('v1', 'Namespace', 'gone') === undefined, 'the namespace to go');
    assert.deepEqual(api.list('v1', 'ConfigMap', 'gone'), []);
    assert.notEqual(api.get('v1', 'ConfigMap', 'stays', 'default'), undefined);
  });

  it('deletecollection deletes what the selector matches', async () => {
    api.create({ ...cm('l1'), metadata: { name: 'l1', namespace: 'default', labels: { g: 'x' } } });
    api.create({ ...cm('l2'), metadata: { name: 'l2', namespace: 'default', labels: { g: 'y' } } });
    const r = await call('DELETE', '/api/v1/namespaces/default/configmaps?labelSelector=g%3Dx');
    assert.equal(r.status, 200);
    assert.equal(api.get('v1', 'ConfigMap', 'l1', 'default'), undefined);
    assert.notEqual(api.get('v1', 'ConfigMap', 'l2', 'default'), undefined);
  });

  it('a delete with a stale uid precondition is 409 and deletes nothing', async () => {
    const r = await call('DELETE', '/api/v1/namespaces/default/configmaps/l2', {
      kind: 'DeleteOptions',
      apiVersion: 'v1',
      preconditions: { uid: 'not-the-uid' },
    });
    assert.equal(r.status, 409);
    assert.notEqual(api.get('v1', 'ConfigMap', 'l2', 'default'), undefined);
  });
});

describe('graceful pod deletion', () => {
  it('a bound pod is only marked until a delete with grace 0, as a kubelet sends', async () => {
    const g = await startKubeApiServer({ gracefulPodDeletion: true });
    try {
      const pod = (name: string, nodeName?: string): KubeObject => ({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, namespace: 'default' },
        spec: { containers: [{ name: 'c', image: 'x' }], ...(nodeName ? { nodeName } : {}) },
      });
      g.create(pod('bound', 'n1'));
      g.create(pod('unbound'));
      const url = `${g.url}/api/v1/namespaces/default/pods`;
      assert.equal((await fetch(`${url}/bound`, { method: 'DELETE' })).status, 200);
      assert.equal((await fetch(`${url}/unbound`, { method: 'DELETE' })).status, 200);
      assert.equal(g.get('v1', 'Pod', 'unbound', 'default'), undefined);
      const marked = g.get('v1', 'Pod', 'bound', 'default');
      assert.ok(marked?.metadata.deletionTimestamp !== undefined);
      assert.equal(marked.metadata['deletionGracePeriodSeconds'], 30);
      g.patch(
        'v1',
        'Pod',
        'bound',
        'default',
        { status: { phase: 'Succeeded' } },
        {
          subresource: 'status',
        },
      );
      const still = g.get('v1', 'Pod', 'bound', 'default');
      assert.deepEqual(
        still?.['status'],
        { phase: 'Succeeded' },
        'a status write does not delete it',
      );
      const del = await fetch(`${url}/bound`, {
        method: 'DELETE',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ kind: 'DeleteOptions', apiVersion: 'v1', gracePeriodSeconds: 0 }),
      });
      assert.equal(del.status, 200);
      assert.equal(g.get('v1', 'Pod', 'bound', 'default'), undefined);
    } finally {
      await g.close();
    }
  });
});

describe('history', () => {
  it('keeps only historyLimit changes: a watch from before them is 410, from within them is not', async () => {
    const start = api.store.revision;
    for (let i = 0; i < 7; i++) api.create(cm(`h${i}`));
    const old = await fetch(`${api.url}/api/v1/configmaps?watch=1&resourceVersion=${start}`);
    assert.equal(old.status, 410);
    await old.body?.cancel();
    const ctl = new AbortController();
    const recent = await fetch(
      `${api.url}/api/v1/configmaps?watch=1&resourceVersion=${api.store.revision - 5}`,
      { signal: ctl.signal },
    );
    assert.equal(recent.status, 200);
    ctl.abort();
  });

  it('sendInitialEvents ends the initial ADDED events with a bookmark so annotated', async () => {
    const ctl = new AbortController();
    const res = await fetch(
      `${api.url}/api/v1/namespaces?watch=1&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan`,
      { signal: ctl.signal },
    );
    const reader = res.body?.getReader();
    assert.ok(reader !== undefined);
    let text = '';
    while (!text.includes('BOOKMARK')) {
      const { value } = await reader.read();
      text += new TextDecoder().decode(value);
    }
    ctl.abort();
    const events = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; object: KubeObject });
    const last = events[events.length - 1];
    assert.deepEqual(
      events.slice(0, -1).map((e) => [e.type, e.object.metadata.name]),
      api.list('v1', 'Namespace').map((n) => ['ADDED', n.metadata.name]),
    );
    assert.equal(last?.type, 'BOOKMARK');
    assert.deepEqual(last?.object.metadata.annotations, { 'k8s.io/initial-events-end': 'true' });
  });
});

describe('discovery and errors', () => {
  it('serves /api, /apis, group/version lists with verbs, scope and short names, and /version', async () => {
    const apis = await call('GET', '/apis');
    const groups = (apis.json['groups'] as { name: string }[]).map((g) => g.name).sort();
    assert.deepEqual(groups, [
      'apps',
      'coordination.k8s.io',
      'discovery.k8s.io',
      'events.k8s.io',
      'networking.k8s.io',
      'rbac.authorization.k8s.io',
    ]);
    const v1 = await call('GET', '/api/v1');
    const res = v1.json['resources'] as Record<string, unknown>[];
    const nodes = res.find((r) => r['name'] === 'nodes');
    assert.equal(nodes?.['namespaced'], false);
    assert.deepEqual(nodes?.['shortNames'], ['no']);
    assert.ok(res.some((r) => r['name'] === 'pods/status'));
    const net = await call('GET', '/apis/networking.k8s.io/v1');
    const np = (net.json['resources'] as Record<string, unknown>[])[0];
    assert.deepEqual([np?.['kind'], np?.['shortNames']], ['NetworkPolicy', ['netpol']]);
    assert.equal((await call('GET', '/version')).json['minor'], '32');
  });

  it('answers an unknown path 404, a bad body 400, a protobuf body 415, each as a Status', async () => {
    const cases: [number, Promise<{ status: number; json: Record<string, unknown> }>][] = [
      [404, call('GET', '/api/v1/widgets')],
      [404, call('GET', '/apis/example.com/v1')],
      [400, call('POST', '/api/v1/nodes', [1, 2])],
      [415, call('POST', '/api/v1/nodes', {}, 'application/vnd.kubernetes.protobuf')],
      [400, call('POST', '/api/v1/namespaces/default/configmaps', cm('x', 'other'))],
    ];
    for (const [code, p] of cases) {
      const r = await p;
      assert.equal(r.status, code);
      assert.equal(r.json['kind'], 'Status');
      assert.equal(r.json['code'], code);
    }
  });

  it('with a token, refuses requests without it (401)', async () => {
    const locked = await startKubeApiServer({ token: 'sekret' });
    try {
      assert.equal((await fetch(`${locked.url}/api/v1/nodes`)).status, 401);
      const ok = await fetch(`${locked.url}/api/v1/nodes`, {
        headers: { Authorization: 'Bearer sekret' },
      });
      assert.equal(ok.status, 200);
      assert.match(readFileSync(locked.kubeconfigPath, 'utf8'), /token: "sekret"/);
    } finally {
      await locked.close();
    }
  });
});

describe('standalone', () => {
  it('npm run kube-apiserver answers --help, serves on the printed URL and writes the request log', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'k8sapi-cli-'));
    const log = path.join(dir, 'requests.jsonl');
    const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), 'cli.ts');
    const help = spawn(process.execPath, ['--import', 'tsx', cli, '--help']);
    let helpText = '';
    help.stdout.on('data', (d: Buffer) => (helpText += d.toString()));
    await new Promise((r) => help.on('close', r));
    assert.match(helpText, /--request-log FILE/);
    const child = spawn(process.execPath, ['--import', 'tsx', cli, '--request-log', log]);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await waitFor(() => /kubeconfig: /.test(out), 'the startup lines', 20_000);
      const url = /listening on (\S+)/.exec(out)?.[1] ?? '';
      const res = await fetch(`${url}/api/v1/namespaces/default/pods?labelSelector=a%3Db`);
      assert.equal(res.status, 200);
      const lines = readFileSync(log, 'utf8').trim().split('\n');
      assert.deepEqual(JSON.parse(lines[lines.length - 1] ?? ''), {
        verb: 'list',
        group: '',
        version: 'v1',
        resource: 'pods',
        namespace: 'default',
      });
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.on('close', r));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
