/**
 * romana-listener's availability, end to end (real romanad, test API server, real listener
 * processes): two replicas with one acting, the standby taking over when the leader is killed;
 * an API server restart (watches cut, history gone: 410) followed by a relist that neither
 * repeats work nor loses a change made meanwhile; a listener restart that picks up what changed
 * while it was down; a pod deleted while romanad was down (its CNI DEL lost), whose address the
 * garbage collector releases once romanad is back, and only that one.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RomanadClient } from '../../src/client/index.ts';
import { startKubeApiServer, type KubeApiServer } from '../helpers/kube-apiserver/index.ts';
import { startListener, until, type ListenerProcess } from '../helpers/listener.ts';
import { startRomanad, type Romanad } from '../helpers/romanad.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '../..');
const LEASE_MS = 2000;
const RETRY_MS = 200;

let romanad: Romanad;
let romanadArgs: string[];
let dataDir: string;
let api: KubeApiServer;
let client: RomanadClient;
const listeners: ListenerProcess[] = [];

function start(identity: string, gcGrace = '1h'): Promise<ListenerProcess> {
  return startListener([
    ...['--kubeconfig', api.kubeconfigPath, '--romanad-url', romanad.url],
    ...['--identity', identity, '--resync-interval', '1h', '--gc-grace', gcGrace],
    ...['--lease-duration', `${LEASE_MS}ms`, '--renew-deadline', '1500ms'],
    ...['--retry-period', `${RETRY_MS}ms`],
  ]).then((l) => {
    listeners.push(l);
    return l;
  });
}

function addNode(name: string, ip: string, labels: Record<string, string> = {}): void {
  api.create({ apiVersion: 'v1', kind: 'Node', metadata: { name, labels } });
  const n = api.get('v1', 'Node', name)!;
  api.updateStatus({
    ...n,
    status: {
      addresses: [{ type: 'InternalIP', address: ip }],
      conditions: [{ type: 'Ready', status: 'True' }],
    },
  });
}

function setNodeLabels(name: string, labels: Record<string, string>): void {
  const n = api.get('v1', 'Node', name)!;
  api.update({ ...n, metadata: { ...n.metadata, labels } });
}

const hostOf = async (name: string) =>
  (await client.listHosts()).hosts.find((h) => h.name === name);

/** romanad's count of write requests so far (from its own metrics). */
async function romanadWrites(): Promise<number> {
  const text = await (await fetch(`${romanad.url}/metrics`)).text();
  let n = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('romanad_http_requests_total{')) continue;
    if (/method="(POST|PUT|PATCH|DELETE)"/.test(line)) n += Number(line.split(' ').at(-1));
  }
  return n;
}

const leading = async (l: ListenerProcess) => (await l.metric('romana_listener_leader')) === 1;

/** A port free now, so that romanad can come back on the URL the listener knows. */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

before(async () => {
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'k8s-ha-romanad-'));
  romanadArgs = [
    ...['--store', `embedded:${dataDir}`, '--port', String(await freePort())],
    ...['--initial-topology-file', path.join(ROOT, 'examples/topology.json')],
  ];
  romanad = await startRomanad(romanadArgs);
  client = new RomanadClient({ baseUrl: romanad.url });
  api = await startKubeApiServer({ bookmarkMs: 300 });
});

after(async () => {
  for (const l of listeners) await l.stop('SIGKILL');
  await api?.close();
  await romanad?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('two listener replicas', () => {
  let a: ListenerProcess;
  let b: ListenerProcess;

  it('exactly one acts', async () => {
    a = await start('replica-a');
    await until('a leads', () => leading(a));
    b = await start('replica-b');
    await until('b ready', async () => (await fetch(`${b.url}/readyz`)).status === 200);
    addNode('h1', '192.168.1.1', { 'topology.kubernetes.io/zone': 'a' });
    await until('host h1', () => hostOf('h1'));
    // The standby saw the node too (its informers run): it had something to act on.
    const seen = (l: ListenerProcess) =>
      l.metric('romana_listener_objects_seen_total', { resource: 'nodes' });
    await until('b sees the node', async () => (await seen(b)) >= 1);
    await new Promise((r) => setTimeout(r, 3 * RETRY_MS));
    assert.equal(await leading(b), false);
    const acted = (l: ListenerProcess) => l.logs.some((x) => x['msg'] === 'host registered');
    assert.deepEqual([acted(a), acted(b)], [true, false]);
  });

  it('when the leader is killed, the standby takes over within lease duration + retry period', async () => {
    const t0 = Date.now();
    await a.stop('SIGKILL'); // no hand-back: the Lease must expire
    await until('b leads', () => leading(b), LEASE_MS * 3);
    const took = Date.now() - t0;
    assert.ok(took <= LEASE_MS + 3 * RETRY_MS + 500, `took over after ${took} ms`);
    addNode('h2', '192.168.1.2');
    await until('host h2 by b', () => hostOf('h2'));
    const lease = api.get('coordination.k8s.io/v1', 'Lease', 'romana-listener', 'kube-system')!;
    assert.equal((lease['spec'] as { holderIdentity: string }).holderIdentity, 'replica-b');
  });
});

describe('restarts', () => {
  it('an API server restart makes the listener relist, with no work repeated and none lost', async () => {
    const l = listeners.at(-1)!;
    const relists = await l.metric('romana_listener_relists_total');
    const writes = await romanadWrites();
    await api.stopListening();
    addNode('h3', '192.168.1.3'); // made while the listener cannot see
    api.restart(); // history dropped: its watches' resume points are gone (410)
    await api.startListening();
    await until('all five informers relisted', async () =>
      (await l.metric('romana_listener_relists_total')) >= relists + 5 ? true : undefined,
    );
    await until('host h3', () => hostOf('h3'));
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await romanadWrites(), writes + 1, 'one write: h3; nothing else repeated');
  });

  it('a restarted listener picks up what changed while it was down', async () => {
    for (const l of listeners) await l.stop('SIGTERM');
    setNodeLabels('h1', {
      'topology.kubernetes.io/zone': 'a',
      'topology.kubernetes.io/region': 'eu',
    });
    addNode('h4', '192.168.1.4');
    api.delete('v1', 'Node', 'h2');
    // the Lease was handed back on SIGTERM: no wait for it to expire
    const lease = api.get('coordination.k8s.io/v1', 'Lease', 'romana-listener', 'kube-system');
    assert.equal((lease?.['spec'] as { holderIdentity?: string }).holderIdentity, '');
    const c = await start('replica-c');
    const t0 = Date.now(); // once it runs: its start takes long on a loaded machine
    await until('c leads', () => leading(c), 2 * LEASE_MS);
    assert.ok(Date.now() - t0 < LEASE_MS, 'handed back, not expired');
    await until('h4 registered', () => hostOf('h4'));
    await until('h1 tags', async () => (await hostOf('h1'))?.tags?.['region'] === 'eu');
    await until('h2 removed', async () => (await hostOf('h2')) === undefined);
  });
});

describe('romanad down', () => {
  async function addPod(name: string) {
    const pod = api.create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: 'gc', labels: { app: name } },
      spec: { nodeName: 'h1', containers: [{ name: 'c', image: 'x' }] },
    });
    const p = api.get('v1', 'Pod', name, 'gc')!;
    api.updateStatus({ ...p, status: { phase: 'Running' } });
    const uid = pod.metadata.uid!;
    const address = `${name}.gc.${uid.replace(/-/g, '').slice(0, 8)}`;
    await client.allocate({
      name: address,
      host: 'h1',
      tenant: 'gc',
      pod: { namespace: 'gc', name, uid },
    });
    return address;
  }
  const held = async (address: string) =>
    (await client.listAddresses()).find((a) => a.name === address);

  it("a pod deleted while romanad was down: its address is released once romanad is back, a live pod's is not", async () => {
    for (const l of listeners) await l.stop('SIGTERM');
    const d = await start('replica-d', '1s');
    await until('d leads', () => leading(d), 3 * LEASE_MS);
    api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'gc' } });
    const leaked = await addPod('leaked');
    const live = await addPod('live');
    await until('both linked', async () =>
      (await held(leaked))?.pod?.labels?.['app'] === 'leaked' &&
      (await held(live))?.pod?.labels?.['app'] === 'live'
        ? true
        : undefined,
    );
    await romanad.stop();
    const t0 = Date.now();
    api.delete('v1', 'Pod', 'leaked', 'gc'); // its CNI DEL cannot reach romanad
    await until('the listener to notice romanad is gone', async () =>
      (await d.metric('romana_listener_errors_total', { where: 'romanad-watch' })) > 0
        ? true
        : undefined,
    );
    romanad = await startRomanad(romanadArgs);
    assert.ok(await held(leaked), 'the leaked address survived the restart');
    await until(
      'the leaked address released',
      async () => (await held(leaked)) === undefined,
      30_000, // the listener's retries back off up to 10 s while romanad is away
    );
    assert.ok(Date.now() - t0 >= 1000, 'not before the grace period');
    assert.ok(await held(live), "the live pod's address is kept");
    const line = await until('the release logged', () =>
      d.logs.find(
        (l) => l['msg'] === 'address released by the garbage collector' && l['address'] === leaked,
      ),
    );
    assert.equal((line['pod'] as { name?: string }).name, 'leaked');
  });
});
