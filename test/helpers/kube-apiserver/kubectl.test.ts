/**
 * The test API server through kubectl 1.32, a client nobody here wrote: apply of RBAC objects
 * and a NetworkPolicy, get -o json, get --watch, label, delete. If kubectl accepts our answers,
 * the server has not drifted into what our own listener happens to expect.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, stringify } from 'yaml';
import { startKubeApiServer, type KubeApiServer } from './index.ts';
import { waitFor } from './testing.ts';

const KUBECTL = process.env['ROMANA_TEST_KUBECTL'] ?? '/usr/bin/kubectl';
const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');

let api: KubeApiServer;
let dir: string;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function kubectl(...args: string[]): Promise<Run> {
  const all = ['--kubeconfig', api.kubeconfigPath, '--cache-dir', path.join(dir, 'cache'), ...args];
  return new Promise((resolve) => {
    execFile(KUBECTL, all, { timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

async function ok(...args: string[]): Promise<string> {
  const r = await kubectl(...args);
  assert.equal(r.code, 0, `kubectl ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

type Obj = Record<string, unknown> & { metadata: Record<string, unknown> };

function fixture(name: string): Obj[] {
  const text = readFileSync(path.join(FIXTURES, name), 'utf8');
  return parseAllDocuments(text).map((d) => d.toJSON() as Obj);
}

/** The fields a manifest sets, read back from the server's copy. */
function sameContent(sent: Obj, got: Obj): void {
  for (const key of Object.keys(sent)) {
    if (key === 'metadata') continue;
    assert.deepEqual(got[key], sent[key], `${String(sent['kind'])} ${key}`);
  }
  assert.equal(got.metadata['name'], sent.metadata['name']);
  for (const [k, v] of Object.entries((sent.metadata['labels'] ?? {}) as object)) {
    assert.equal((got.metadata['labels'] as Record<string, string>)[k], v);
  }
}

before(async () => {
  api = await startKubeApiServer();
  dir = mkdtempSync(path.join(os.tmpdir(), 'k8sapi-kubectl-'));
});
after(async () => {
  await api.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('kubectl apply and get', () => {
  it('applies ServiceAccount, ClusterRole and ClusterRoleBinding and reads them back equal', async () => {
    const out = await ok('apply', '--validate=false', '-f', path.join(FIXTURES, 'rbac.yaml'));
    assert.match(out, /serviceaccount\/romana-listener created/);
    assert.match(out, /clusterrole.rbac.authorization.k8s.io\/romana-listener created/);
    assert.match(out, /clusterrolebinding.rbac.authorization.k8s.io\/romana-listener created/);
    const list = JSON.parse(
      await ok('get', '-f', path.join(FIXTURES, 'rbac.yaml'), '-o', 'json'),
    ) as {
      items: Obj[];
    };
    const sent = fixture('rbac.yaml');
    assert.equal(list.items.length, sent.length);
    sent.forEach((s, i) => sameContent(s, list.items[i] as Obj));
    const again = await ok('apply', '--validate=false', '-f', path.join(FIXTURES, 'rbac.yaml'));
    assert.match(again, /clusterrole.rbac.authorization.k8s.io\/romana-listener unchanged/);
  });

  it('applies a NetworkPolicy, then an edited one, and get -o json shows exactly the edit', async () => {
    const file = path.join(FIXTURES, 'netpol.yaml');
    assert.match(await ok('apply', '--validate=false', '-f', file), /created/);
    const [sent] = fixture('netpol.yaml');
    assert.ok(sent !== undefined);
    sameContent(sent, JSON.parse(await ok('get', 'netpol', 'db-from-web', '-o', 'json')) as Obj);
    const edited = structuredClone(sent);
    const spec = edited['spec'] as { ingress: { from: unknown[]; ports: unknown[] }[] };
    spec.ingress[0]?.from.splice(1, 1);
    spec.ingress[0]?.ports.push({ protocol: 'TCP', port: 5433 });
    const editedFile = path.join(dir, 'netpol-edited.json');
    writeFileSync(editedFile, JSON.stringify(edited));
    assert.match(await ok('apply', '--validate=false', '-f', editedFile), /configured/);
    sameContent(edited, JSON.parse(await ok('get', 'netpol', 'db-from-web', '-o', 'json')) as Obj);
    const stored = api.get('networking.k8s.io/v1', 'NetworkPolicy', 'db-from-web', 'default');
    assert.deepEqual(stored?.['spec'], edited['spec']);
  });

  it('create -f works with kubectl validation on, since the server declares fieldValidation', async () => {
    const file = path.join(dir, 'cm.json');
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c1' }, data: { k: 'v' } };
    writeFileSync(file, JSON.stringify(cm));
    assert.match(await ok('create', '-f', file), /configmap\/c1 created/);
    assert.deepEqual(api.get('v1', 'ConfigMap', 'c1', 'default')?.['data'], { k: 'v' });
    const logged = api.requests.find((r) => r.verb === 'create' && r.resource === 'configmaps');
    assert.deepEqual(logged, {
      verb: 'create',
      group: '',
      version: 'v1',
      resource: 'configmaps',
      namespace: 'default',
    });
  });

  it("kubectl's generators (create namespace, configmap, secret, serviceaccount) work: their protobuf is read", async () => {
    assert.match(await ok('create', 'namespace', 'gen'), /namespace\/gen created/);
    await ok('create', 'configmap', 'c2', '-n', 'gen', '--from-literal=k=v');
    await ok('create', 'secret', 'generic', 's2', '-n', 'gen', '--from-literal=pw=secret');
    await ok('create', 'serviceaccount', 'robot', '-n', 'gen');
    const ns = api.get('v1', 'Namespace', 'gen');
    assert.deepEqual(ns?.metadata.labels, { 'kubernetes.io/metadata.name': 'gen' });
    assert.equal(ns?.metadata.generateName, undefined);
    assert.deepEqual(api.get('v1', 'ConfigMap', 'c2', 'gen')?.['data'], { k: 'v' });
    const secret = api.get('v1', 'Secret', 's2', 'gen');
    assert.deepEqual(secret?.['data'], { pw: Buffer.from('secret').toString('base64') });
    assert.equal(secret?.['type'], 'Opaque');
    assert.notEqual(api.get('v1', 'ServiceAccount', 'robot', 'gen'), undefined);
    const other = await kubectl('create', 'deployment', 'd', '--image=x', '-n', 'gen');
    assert.notEqual(other.code, 0);
    assert.match(other.stderr, /use kubectl create -f or apply -f/);
  });

  it('prints a table for plain get, by short name', async () => {
    const out = await ok('get', 'ns');
    assert.match(out, /^NAME\s+AGE\n/);
    assert.match(out, /\nkube-system\s+\d+s\n/);
  });
});

describe('kubectl label, watch and delete', () => {
  it('labels a node and removes the label', async () => {
    api.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1', labels: { a: '1' } } });
    await ok('label', 'node', 'n1', 'topology.kubernetes.io/zone=z1');
    assert.deepEqual(api.get('v1', 'Node', 'n1')?.metadata.labels, {
      a: '1',
      'topology.kubernetes.io/zone': 'z1',
    });
    await ok('label', 'node', 'n1', 'a-');
    assert.deepEqual(api.get('v1', 'Node', 'n1')?.metadata.labels, {
      'topology.kubernetes.io/zone': 'z1',
    });
    const refused = await kubectl('label', 'node', 'n1', 'topology.kubernetes.io/zone=z2');
    assert.notEqual(refused.code, 0, 'kubectl refuses to overwrite without --overwrite');
  });

  it('get nodes --watch -o json sees a change made through the API', async () => {
    const args = ['--kubeconfig', api.kubeconfigPath, '--cache-dir', path.join(dir, 'cache')];
    const child = spawn(KUBECTL, [...args, 'get', 'nodes', '--watch', '-o', 'json']);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await waitFor(() => out.includes('"name": "n1"'), 'the initial node', 10_000);
      const n = api.get('v1', 'Node', 'n1');
      assert.ok(n !== undefined);
      const changed = api.update({ ...n, metadata: { ...n.metadata, labels: { watched: 'yes' } } });
      const rv = changed.metadata.resourceVersion ?? '';
      await waitFor(() => out.includes(`"resourceVersion": "${rv}"`), 'the change', 10_000);
      const objects = out.split(/\n(?=\{)/).map((t) => JSON.parse(t) as Obj);
      const last = objects[objects.length - 1];
      assert.deepEqual(last?.metadata['labels'], { watched: 'yes' });
    } finally {
      child.kill();
    }
  });

  it('delete -f of a namespace and its contents deletes them all, as on a real cluster', async () => {
    const file = path.join(dir, 'ns.yaml');
    const docs = [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'romana-x' } },
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'sa', namespace: 'romana-x' } },
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm', namespace: 'romana-x' } },
    ];
    writeFileSync(file, docs.map((d) => stringify(d)).join('---\n'));
    await ok('apply', '-f', file);
    const out = await ok('delete', '-f', file);
    assert.match(out, /namespace "romana-x" deleted/);
    assert.match(out, /configmap "cm" deleted/);
    assert.equal(api.get('v1', 'Namespace', 'romana-x'), undefined, 'kubectl waited for it to go');
  });

  it('deletes by file and by name; a second delete and a get say NotFound', async () => {
    await ok('delete', '-f', path.join(FIXTURES, 'netpol.yaml'));
    assert.equal(
      api.get('networking.k8s.io/v1', 'NetworkPolicy', 'db-from-web', 'default'),
      undefined,
    );
    assert.match(await ok('delete', 'node', 'n1'), /node "n1" deleted/);
    const gone = await kubectl('get', 'node', 'n1');
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /Error from server \(NotFound\): nodes "n1" not found/);
  });
});
