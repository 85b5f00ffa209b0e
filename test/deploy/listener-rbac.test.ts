/**
 * The listener's RBAC, checked against what the real listener asks: romana.yaml is applied with
 * kubectl to the test API server, the RBAC objects are read back from it, the listener runs with
 * the Deployment's own arguments against romanad and that API server through a short scenario
 * (node, namespace, pod, Service with a VIP, a refused label change, Service deleted, stop),
 * and every request in the server's log must be allowed by the listener's bound rules, while
 * every granted verb must have been used (except the documented allowlist).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import {
  startKubeApiServer,
  type KubeApiServer,
  type KubeObject,
} from '../helpers/kube-apiserver/index.ts';
import { startListener, type ListenerProcess } from '../helpers/listener.ts';
import { request, startRomanad, type Romanad } from '../helpers/romanad.ts';
import { expandArgs, find, KUBE, readObjects, type K8sObject, type Workload } from './manifests.ts';
import { grantsOf, uncovered, unused, type ApiRequest, type Grant } from './rbac.ts';

const run = promisify(execFile);
const LISTENER = { name: 'romana-listener', namespace: 'romana-system' };
const ADMIN = '3f9a0c51d2e84b7f9a61c0de55b2a7e1';

/** Granted but not asked for by the listener: nothing (its NetworkPolicy sync reads those). */
const ALLOWLIST: string[] = [];

/** Polls `check` until it holds (every 50 ms), or fails naming `what`. */
async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  output: () => string = () => '',
  ms = 20_000,
) {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end)
      throw new Error(`timed out waiting for ${what}\n${output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const TOPOLOGY = {
  networks: [{ name: 'pods', cidr: '10.112.0.0/12', block_mask: 28 }],
  topologies: [
    {
      networks: ['pods'],
      map: [
        {
          name: 'zone-a',
          assignment: { zone: 'a' },
          groups: [
            { name: 'rack-a1', assignment: { rack: 'a1' } },
            { name: 'rack-a2', assignment: { rack: 'a2' } },
          ],
        },
        { name: 'unlabelled' },
      ],
    },
  ],
};

describe('the listener RBAC against the real listener', () => {
  let dir: string;
  let api: KubeApiServer;
  let romanad: Romanad;
  let listener: ListenerProcess | undefined;
  let grants: Grant[];
  let log: ApiRequest[] = [];
  // Not execFileSync: the API server runs in this process and must keep answering.
  const kubectl = async (...args: string[]) =>
    (await run('kubectl', ['--kubeconfig', api.kubeconfigPath, ...args], { encoding: 'utf8' }))
      .stdout;
  const inRomanad = async (p: string) =>
    (await request(romanad.url + p, 'GET', undefined, { token: ADMIN })).status;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'romana-deploy-rbac-'));
    api = await startKubeApiServer({ bookmarkMs: 200 });
    // As an operator would: apply, then read what the API server holds.
    const manifest = path.join(KUBE, 'romana.yaml');
    const applied = await kubectl('apply', '--validate=false', '-f', manifest);
    assert.match(applied, /clusterrole.rbac.authorization.k8s.io\/romana-listener created/);
    const again = await kubectl('apply', '--validate=false', '-f', manifest);
    assert.ok(
      again
        .trim()
        .split('\n')
        .every((l) => l.endsWith(' unchanged')),
      again,
    );
    const rbac = JSON.parse(
      await kubectl(
        'get',
        'clusterroles,clusterrolebindings,roles,rolebindings',
        '-A',
        '-o',
        'json',
      ),
    ) as { items: K8sObject[] };
    grants = grantsOf(rbac.items, LISTENER);
    writeFileSync(path.join(dir, 'tokens.yaml'), `- { token: ${ADMIN}, role: admin, name: t }\n`, {
      mode: 0o600,
    });
    writeFileSync(path.join(dir, 'admin-token'), ADMIN);
    writeFileSync(path.join(dir, 'topology.json'), JSON.stringify(TOPOLOGY));
    romanad = await startRomanad([
      '--store',
      'memory:',
      '--token-file',
      path.join(dir, 'tokens.yaml'),
      '--initial-topology-file',
      path.join(dir, 'topology.json'),
    ]);
  });
  after(async () => {
    await listener?.stop('SIGKILL');
    await romanad?.stop();
    await api?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs the listener with the Deployment arguments through a scenario', async () => {
    const dep = find(readObjects('romana.yaml'), 'Deployment', 'romana-listener') as Workload;
    const c = dep.spec.template.spec.containers[0]!;
    const u = new URL(romanad.url);
    const env = {
      ROMANAD_SERVICE_HOST: u.hostname,
      ROMANAD_SERVICE_PORT: u.port,
      POD_NAME: 'l-0',
      POD_IP: '127.0.0.1',
    };
    const args = expandArgs(c.args ?? [], env).map((a) =>
      a
        .replace(/^--token-file=.*/, `--token-file=${path.join(dir, 'admin-token')}`)
        .replace(/^--listen=.*/, '--listen=127.0.0.1:0'),
    );
    api.requests.length = 0; // from here on, only the listener's requests
    listener = await startListener([...args, `--kubeconfig=${api.kubeconfigPath}`]);
    const l = listener;
    const out = () => l.logs.map((x) => JSON.stringify(x)).join('\n');
    await waitFor(
      'the Lease',
      () =>
        api.get('coordination.k8s.io/v1', 'Lease', 'romana-listener', 'romana-system') !==
        undefined,
      out,
      60_000, // the first start may compile the sources (tsx) on a busy machine
    );

    api.create(node('n1', { 'topology.kubernetes.io/zone': 'a', 'romana.io/rack': 'a1' }));
    await waitFor('host n1 in romanad', async () => (await inRomanad('/hosts/n1')) === 200, out);
    api.create({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'web', labels: { team: 'w' } },
    });
    api.create(pod());
    api.create(service());
    api.create(endpointSlice());
    await waitFor(
      'the VIP in the Service',
      () => {
        const s = api.get('v1', 'Service', 's1', 'web') as
          { spec?: { externalIPs?: string[] } } | undefined;
        return s?.spec?.externalIPs?.includes('192.168.99.101') === true;
      },
      out,
    );
    // A rack change would move the host to another group: refused, recorded as an Event.
    const n1 = api.get('v1', 'Node', 'n1')!;
    n1.metadata.labels = { ...n1.metadata.labels, 'romana.io/rack': 'a2' };
    api.update(n1);
    await waitFor(
      'an Event about n1',
      () =>
        api
          .list('v1', 'Event')
          .some((e) => (e as { involvedObject?: { name?: string } }).involvedObject?.name === 'n1'),
      out,
    );
    api.delete('v1', 'Service', 's1', 'web');
    await waitFor(
      'the VIP freed',
      async () => (await inRomanad('/vips')) === 200 && (await vipCount()) === 0,
      out,
    );
    await listener.stop('SIGTERM'); // hands the Lease back
    log = api.requests.map((r) => ({ ...r }));
    assert.ok(log.length > 0, out());
  });

  it('allows every request the listener made, through the rules read back from the API server', () => {
    assert.ok(log.length > 0, 'the scenario ran');
    assert.deepEqual(uncovered(grants, log), []);
  });

  it('grants no verb the listener did not use, beyond the allowlist', () => {
    assert.ok(log.length > 0, 'the scenario ran');
    assert.deepEqual(unused(grants, log, ALLOWLIST), []);
  });

  async function vipCount(): Promise<number> {
    const r = await request(romanad.url + '/vips', 'GET', undefined, { token: ADMIN });
    return Array.isArray(r.body) ? r.body.length : -1;
  }
});

function node(name: string, labels: Record<string, string>): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels },
    status: {
      addresses: [{ type: 'InternalIP', address: '192.168.50.11' }],
      conditions: [{ type: 'Ready', status: 'True' }],
    },
  } as KubeObject;
}

function pod(): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p1', namespace: 'web', labels: { app: 'w' } },
    spec: {
      nodeName: 'n1',
      containers: [{ name: 'c', image: 'i', ports: [{ name: 'http', containerPort: 80 }] }],
    },
    status: { phase: 'Running', podIP: '10.112.0.2' },
  } as KubeObject;
}

function service(): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: 's1',
      namespace: 'web',
      annotations: { 'romana.io/vip': '{"ip": "192.168.99.101"}' },
    },
    spec: {
      type: 'LoadBalancer',
      loadBalancerClass: 'romana.io/vip',
      selector: { app: 'w' },
      ports: [{ port: 80 }],
    },
  } as KubeObject;
}

function endpointSlice(): KubeObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: 's1-abc', namespace: 'web', labels: { 'kubernetes.io/service-name': 's1' } },
    addressType: 'IPv4',
    endpoints: [{ addresses: ['10.112.0.2'], nodeName: 'n1', conditions: { ready: true } }],
    ports: [{ port: 80 }],
  } as KubeObject;
}
