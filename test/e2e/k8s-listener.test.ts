/**
 * romana-listener end to end: a real romanad (admin token), the test Kubernetes API server and
 * the real listener process. Nodes → hosts (tags, refused label change with an Event, deletion
 * with and without addresses, hosts it did not create left alone), namespaces and pods with
 * labels following edits within 1 s, address GC (grace, finished pods, never a live pod's
 * address under random churn), Services → VIPs (auto and fixed, move on NotReady, freed).
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { RomanadApiError, RomanadClient } from '../../src/client/index.ts';
import { LISTENER_RBAC, allows } from '../../src/k8s/rbac.ts';
import { startKubeApiServer, type KubeApiServer } from '../helpers/kube-apiserver/index.ts';
import { startListener, until, type ListenerProcess } from '../helpers/listener.ts';
import { startRomanad, type Romanad } from '../helpers/romanad.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const TOKEN = 'k8s-listener-e2e-admin-token-0001';
const GRACE_MS = 2000;
const NODE_GRACE_MS = 3000;

let romanad: Romanad;
let api: KubeApiServer;
let listener: ListenerProcess;
let client: RomanadClient;

function nodeObj(name: string, ip: string, labels: Record<string, string>) {
  return { apiVersion: 'v1', kind: 'Node', metadata: { name, labels }, spec: {} };
}

/** Creates a Node with an InternalIP, Ready. */
function addNode(name: string, ip: string, labels: Record<string, string> = {}): void {
  const n = api.create(nodeObj(name, ip, labels));
  setNodeStatus(n.metadata.name!, ip, true);
}

function setNodeStatus(name: string, ip: string, ready: boolean): void {
  const n = api.get('v1', 'Node', name)!;
  api.updateStatus({
    ...n,
    status: {
      addresses: [
        { type: 'Hostname', address: name },
        { type: 'InternalIP', address: ip },
      ],
      conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }],
    },
  });
}

function setLabels(kind: string, name: string, labels: Record<string, string>, ns?: string) {
  const o = api.get('v1', kind, name, ns)!;
  api.update({ ...o, metadata: { ...o.metadata, labels } });
}

/** A running pod on `node`, and its address as the CNI plugin allocates it. */
async function addPod(ns: string, name: string, node: string, labels: Record<string, string> = {}) {
  const pod = api.create({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns, labels },
    spec: {
      nodeName: node,
      containers: [{ name: 'c', image: 'x', ports: [{ name: 'http', containerPort: 8080 }] }],
    },
  });
  setPodPhase(ns, name, 'Running');
  const uid = pod.metadata.uid!;
  const address = `${name}.${ns}.${uid.replace(/-/g, '').slice(0, 8).padEnd(8, '0')}`;
  const ip = await client.allocate({
    name: address,
    host: node,
    tenant: ns,
    pod: { namespace: ns, name, uid },
  });
  return { uid, address, ip };
}

function setPodPhase(ns: string, name: string, phase: string): void {
  const p = api.get('v1', 'Pod', name, ns)!;
  api.updateStatus({ ...p, status: { ...(p['status'] as object), phase } });
}

async function addressOf(name: string) {
  try {
    return await client.getAddress(name);
  } catch (err) {
    if (err instanceof RomanadApiError && err.status === 404) return undefined;
    throw err;
  }
}

async function hostOf(name: string) {
  return (await client.listHosts()).hosts.find((h) => h.name === name);
}

before(async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'k8s-listener-'));
  const tokens = path.join(dir, 'tokens.yaml');
  writeFileSync(tokens, `- { token: ${TOKEN}, role: admin, name: listener }\n`);
  chmodSync(tokens, 0o600);
  const tokenFile = path.join(dir, 'token');
  writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  romanad = await startRomanad([
    '--store',
    'memory:',
    '--initial-topology-file',
    path.join(ROOT, 'examples/topology.json'),
    '--token-file',
    tokens,
  ]);
  client = new RomanadClient({ baseUrl: romanad.url, token: TOKEN });
  api = await startKubeApiServer({ bookmarkMs: 500 });
  api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } });
  listener = await startListener([
    ...['--kubeconfig', api.kubeconfigPath, '--romanad-url', romanad.url],
    ...['--token-file', tokenFile, '--log-level', 'info'],
    ...['--gc-grace', `${GRACE_MS}ms`, '--node-grace', `${NODE_GRACE_MS}ms`],
    ...['--resync-interval', '2s', '--vip-cidr', '192.168.99.0/29'],
    ...['--lease-duration', '2s', '--renew-deadline', '1500ms', '--retry-period', '200ms'],
  ]);
  await until(
    'the listener leads',
    async () => (await listener.metric('romana_listener_leader')) === 1,
  );
  await until('ready', async () => (await fetch(`${listener.url}/readyz`)).status === 200);
});

after(async () => {
  await listener?.stop();
  await api?.close();
  await romanad?.stop();
});

describe('nodes → hosts', () => {
  it('registers a joining node as a host with its zone and rack as tags', async () => {
    addNode('n1', '192.168.0.11', { 'topology.kubernetes.io/zone': 'a', 'romana.io/rack': 'a1' });
    const h = await until('host n1', () => hostOf('n1'));
    assert.equal(h.ip, '192.168.0.11');
    assert.deepEqual(h.tags, { zone: 'a', rack: 'a1' });
    assert.equal(h.managed_by, 'romana-listener');
    const detail = await client.getHost('n1');
    assert.ok(
      detail.groups.some((g) => /rack-a1/.test(JSON.stringify(g))),
      `placed by its rack: ${JSON.stringify(detail.groups)}`,
    );
  });

  it('follows an accepted label change (a region added)', async () => {
    setLabels('Node', 'n1', {
      'topology.kubernetes.io/zone': 'a',
      'romana.io/rack': 'a1',
      'topology.kubernetes.io/region': 'eu',
    });
    await until('region tag', async () => (await hostOf('n1'))?.tags?.['region'] === 'eu');
  });

  it('keeps the old tags when romanad refuses a rack change, and records why on the Node', async () => {
    setLabels('Node', 'n1', { 'topology.kubernetes.io/zone': 'a', 'romana.io/rack': 'a2' });
    const ev = await until('an Event on n1', () =>
      api
        .list('v1', 'Event', 'default')
        .find((e) => (e['involvedObject'] as { name?: string }).name === 'n1'),
    );
    assert.equal(ev['reason'], 'HostTagsRefused');
    assert.equal(ev['type'], 'Warning');
    assert.match(String(ev['message']), /rack-a1 needs/);
    assert.deepEqual((await hostOf('n1'))!.tags, { zone: 'a', rack: 'a1', region: 'eu' });
    const refused = listener.logs.find((l) =>
      /refused the node's new labels/.test(String(l['msg'])),
    );
    assert.ok(refused, 'the refusal is logged');
    setLabels('Node', 'n1', { 'topology.kubernetes.io/zone': 'a', 'romana.io/rack': 'a1' });
    await until('region gone', async () => (await hostOf('n1'))?.tags?.['region'] === undefined);
  });

  it("removes a deleted node's host at once when it holds no address", async () => {
    addNode('n4', '192.168.0.14');
    await until('host n4', () => hostOf('n4'));
    api.delete('v1', 'Node', 'n4');
    await until('n4 removed', async () => (await hostOf('n4')) === undefined, 3000);
  });

  it("keeps a deleted node's host while a pod address remains, then releases it after the grace", async () => {
    addNode('n3', '192.168.0.13', { 'topology.kubernetes.io/zone': 'b' });
    await until('host n3', () => hostOf('n3'));
    const p = await addPod('shop', 'on-n3', 'n3');
    const t0 = Date.now();
    api.delete('v1', 'Node', 'n3');
    await new Promise((r) => setTimeout(r, NODE_GRACE_MS / 2));
    assert.ok(await hostOf('n3'), 'the host stays during the grace period');
    await until('n3 removed', async () => (await hostOf('n3')) === undefined, NODE_GRACE_MS * 3);
    assert.ok(Date.now() - t0 >= NODE_GRACE_MS - 100);
    assert.equal(await addressOf(p.address), undefined);
    api.delete('v1', 'Pod', 'on-n3', 'shop');
  });

  it('never removes a host it did not create', async () => {
    await client.addHost({ name: 'bare-metal-1', ip: '192.168.0.99' });
    // First shown to act: a host marked as the listener's, with no node behind it, added after
    // the foreign one, is removed (the listener saw both, and kept only the foreign one).
    await client.addHost({ name: 'n-orphan', ip: '192.168.0.98', managed_by: 'romana-listener' });
    await until('the orphan removed', async () => (await hostOf('n-orphan')) === undefined);
    assert.ok(await hostOf('bare-metal-1'));
    await new Promise((r) => setTimeout(r, 2500)); // and past a full sync (every 2 s)
    assert.ok(await hostOf('bare-metal-1'));
  });
});

describe('namespaces and pods', () => {
  it("keeps a namespace's labels in romanad and deletes it with the namespace", async () => {
    api.create({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'tmp', labels: { team: 'a' } },
    });
    await until('tmp', async () => (await client.listNamespaces()).find((n) => n.name === 'tmp'));
    setLabels('Namespace', 'tmp', { team: 'b' });
    await until(
      'team b',
      async () => (await client.getNamespace('tmp')).labels['team'] === 'b',
      1000,
    );
    api.delete('v1', 'Namespace', 'tmp');
    await until(
      'tmp gone',
      async () => !(await client.listNamespaces()).some((n) => n.name === 'tmp'),
    );
  });

  it("links a pod's address to the pod, and its labels follow edits within 1 s", async () => {
    addNode('n2', '192.168.0.12', { 'topology.kubernetes.io/zone': 'b', 'romana.io/rack': 'b1' });
    await until('host n2', () => hostOf('n2'));
    const p = await addPod('shop', 'web-0', 'n2', { app: 'web' });
    const linked = await until('labels', async () => {
      const a = await addressOf(p.address);
      return a?.pod?.labels['app'] === 'web' && a.pod.ports.length === 1 ? a : undefined;
    });
    assert.deepEqual(linked.pod!.ports, [{ name: 'http', port: 8080, protocol: 'TCP' }]);
    for (const version of ['v2', 'v3']) {
      const t0 = Date.now();
      setLabels('Pod', 'web-0', { app: 'web', version }, 'shop');
      await until(
        `label ${version}`,
        async () => (await addressOf(p.address))?.pod?.labels['version'] === version,
        1000,
      );
      assert.ok(Date.now() - t0 < 1000);
    }
  });
});

describe('address GC', () => {
  it("releases a leaked address after the grace period, a finished pod's at once", async () => {
    const leaked = await addPod('shop', 'leak', 'n2');
    const done = await addPod('shop', 'job', 'n2');
    api.delete('v1', 'Pod', 'leak', 'shop'); // as if its CNI DEL never reached romanad
    const t0 = Date.now();
    setPodPhase('shop', 'job', 'Succeeded');
    await until(
      'finished pod released',
      async () => (await addressOf(done.address)) === undefined,
      1500,
    );
    assert.ok(await addressOf(leaked.address), 'not before the grace period');
    await until(
      'leak released',
      async () => (await addressOf(leaked.address)) === undefined,
      GRACE_MS * 3,
    );
    assert.ok(Date.now() - t0 >= GRACE_MS - 100, `released after ${Date.now() - t0} ms`);
    const line = await until('the release logged', () =>
      listener.logs.find(
        (l) =>
          l['msg'] === 'address released by the garbage collector' &&
          l['address'] === leaked.address,
      ),
    );
    assert.deepEqual((line['pod'] as { name?: string }).name, 'leak');
    assert.ok((await listener.metric('romana_listener_gc_released_total')) >= 2);
  });

  it("never releases a live pod's address under random pod churn", async () => {
    let n = 0;
    const op = fc.constantFrom('create', 'delete', 'recreate', 'finish');
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(op, fc.nat(3)), { minLength: 4, maxLength: 12 }),
        async (ops) => {
          const run = n++;
          /** pod name → its current incarnation (address, and whether it is still alive). */
          const all: { name: string; address: string; alive: boolean }[] = [];
          const current = new Map<string, (typeof all)[number]>();
          /** Finished pods stay in the API until deleted (as a Job's do). */
          const finished = new Set<string>();
          for (const [kind, i] of ops) {
            const name = `churn-${run}-${i}`;
            const cur = current.get(name);
            // a finished pod keeps its name in the API until it is deleted
            const taken = cur !== undefined || finished.has(name);
            if (kind === 'create' && !taken) {
              const p = await addPod('shop', name, 'n2');
              current.set(name, { name, address: p.address, alive: true });
              all.push(current.get(name)!);
            } else if ((kind === 'delete' || kind === 'recreate') && taken) {
              api.delete('v1', 'Pod', name, 'shop');
              if (cur) cur.alive = false;
              current.delete(name);
              finished.delete(name);
              if (kind === 'recreate') {
                const p = await addPod('shop', name, 'n2');
                current.set(name, { name, address: p.address, alive: true });
                all.push(current.get(name)!);
              }
            } else if (kind === 'finish' && cur) {
              setPodPhase('shop', name, 'Failed');
              cur.alive = false;
              current.delete(name);
              finished.add(name);
            }
            await new Promise((r) => setTimeout(r, 50));
          }
          // every dead one is due after the grace: wait for them all to go (a loaded machine
          // may lag), then no live one may have gone
          await new Promise((r) => setTimeout(r, GRACE_MS + 200));
          const dead = all.filter((p) => !p.alive);
          await until(
            'every dead pod address released',
            async () => {
              for (const p of dead) if (await addressOf(p.address)) return false;
              return true;
            },
            GRACE_MS * 5,
          );
          for (const p of all.filter((x) => x.alive)) {
            assert.ok(
              await addressOf(p.address),
              `live pod ${p.name}'s address ${p.address} was released`,
            );
          }
          for (const name of [...current.keys(), ...finished])
            api.delete('v1', 'Pod', name, 'shop');
        },
      ),
      { numRuns: 3, endOnFailure: true, verbose: 2 },
    );
  });
});

describe('Services → VIPs', () => {
  const slice = (svc: string, nodes: string[]) => ({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: `${svc}-x1`,
      namespace: 'shop',
      labels: { 'kubernetes.io/service-name': svc },
    },
    addressType: 'IPv4',
    endpoints: nodes.map((n, i) => ({
      addresses: [`10.112.9.${i + 1}`],
      nodeName: n,
      conditions: { ready: true },
    })),
  });

  it('gives an auto VIP from the pool on a ready node, in externalIPs and the LoadBalancer status', async () => {
    api.create({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name: 'web',
        namespace: 'shop',
        annotations: { 'romana.io/vip': '{"auto":true}' },
      },
      spec: { type: 'LoadBalancer', loadBalancerClass: 'romana.io/vip', ports: [{ port: 80 }] },
    });
    api.create(slice('web', ['n1', 'n2']));
    const vip = await until('VIP web.shop', async () =>
      (await client.listVips()).find((v) => v.name === 'web.shop'),
    );
    assert.equal(vip.ip, '192.168.99.1');
    assert.ok(['n1', 'n2'].includes(vip.host));
    assert.equal(vip.namespace, 'shop');
    await until('externalIPs and ingress', () => {
      const s = api.get('v1', 'Service', 'web', 'shop')!;
      const spec = s['spec'] as { externalIPs?: string[] };
      const status = s['status'] as { loadBalancer?: { ingress?: { ip: string }[] } };
      return spec.externalIPs?.[0] === vip.ip && status.loadBalancer?.ingress?.[0]?.ip === vip.ip;
    });
  });

  it('moves the VIP within 10 s when its node goes NotReady', async () => {
    const before = (await client.getVip('web.shop')).host;
    const other = before === 'n1' ? 'n2' : 'n1';
    const t0 = Date.now();
    setNodeStatus(before, before === 'n1' ? '192.168.0.11' : '192.168.0.12', false);
    await until('VIP moved', async () => (await client.getVip('web.shop')).host === other, 10_000);
    assert.ok(Date.now() - t0 < 10_000);
    setNodeStatus(before, before === 'n1' ? '192.168.0.11' : '192.168.0.12', true);
  });

  it('moves the VIP when its node loses its ready endpoints', async () => {
    const before = (await client.getVip('web.shop')).host;
    const other = before === 'n1' ? 'n2' : 'n1';
    const s = api.get('discovery.k8s.io/v1', 'EndpointSlice', 'web-x1', 'shop')!;
    const endpoints = (
      s['endpoints'] as { nodeName: string; conditions: { ready: boolean } }[]
    ).map((e) => ({ ...e, conditions: { ready: e.nodeName !== before } }));
    api.update({ ...s, endpoints });
    await until(
      'VIP moved off',
      async () => (await client.getVip('web.shop')).host === other,
      10_000,
    );
  });

  it('gives a fixed VIP under the 2.x key, and frees VIPs with the annotation or the Service', async () => {
    api.create({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name: 'db',
        namespace: 'shop',
        annotations: { romanavip: '{"ip":"192.168.77.7"}' },
      },
      spec: { ports: [{ port: 5432 }] },
    });
    api.create(slice('db', ['n2']));
    const vip = await until('VIP db.shop', async () =>
      (await client.listVips()).find((v) => v.name === 'db.shop'),
    );
    assert.deepEqual([vip.ip, vip.host], ['192.168.77.7', 'n2']);
    const svc = api.get('v1', 'Service', 'db', 'shop')!;
    api.update({ ...svc, metadata: { ...svc.metadata, annotations: {} } });
    await until(
      'db VIP freed',
      async () => !(await client.listVips()).some((v) => v.name === 'db.shop'),
    );
    await until('externalIPs cleared', () => {
      const s = api.get('v1', 'Service', 'db', 'shop')!;
      return ((s['spec'] as { externalIPs?: string[] }).externalIPs ?? []).length === 0;
    });
    api.delete('v1', 'Service', 'web', 'shop');
    await until(
      'web VIP freed',
      async () => !(await client.listVips()).some((v) => v.name === 'web.shop'),
    );
  });
});

describe('NetworkPolicies → Romana policies', () => {
  const np = (name: string, spec: Record<string, unknown>) => ({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name, namespace: 'shop' },
    spec,
  });
  const policy = async (id: string) => (await client.listPolicies()).find((p) => p.id === id);

  it('stores a NetworkPolicy, follows its edits (2.x ignored them) and deletes it with it', async () => {
    api.create(np('allow-web', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{}] }));
    const p = await until('kube.shop.allow-web', () => policy('kube.shop.allow-web'));
    assert.deepEqual((p as { podSelector?: unknown }).podSelector, { matchLabels: { app: 'web' } });
    const o = api.get('networking.k8s.io/v1', 'NetworkPolicy', 'allow-web', 'shop')!;
    api.update({ ...o, spec: { podSelector: { matchLabels: { app: 'db' } }, ingress: [{}] } });
    await until('edit followed', async () => {
      const q = (await policy('kube.shop.allow-web')) as {
        podSelector?: { matchLabels?: Record<string, string> };
      };
      return q?.podSelector?.matchLabels?.['app'] === 'db';
    });
    // Changed, then deleted, in romanad behind the listener's back: a full sync puts it back.
    const db = (q: unknown) =>
      (q as { podSelector?: { matchLabels?: Record<string, string> } } | undefined)?.podSelector
        ?.matchLabels?.['app'] === 'db';
    await client.addPolicy({ ...(await policy('kube.shop.allow-web')), podSelector: {} });
    assert.equal(db(await policy('kube.shop.allow-web')), false);
    await until('a changed policy repaired by the resync', async () =>
      db(await policy('kube.shop.allow-web')),
    );
    await client.removePolicy('kube.shop.allow-web');
    await until('a deleted policy put back by the resync', async () =>
      db(await policy('kube.shop.allow-web')),
    );
    api.delete('networking.k8s.io/v1', 'NetworkPolicy', 'allow-web', 'shop');
    await until('deleted', async () => (await policy('kube.shop.allow-web')) === undefined);
    // A kube. policy no NetworkPolicy has is removed by the full sync; other policies stay.
    await client.addPolicy({ id: 'kube.shop.orphan', namespace: 'shop', podSelector: {} });
    await client.addPolicy({ id: 'team.shop.kept', namespace: 'shop', podSelector: {} });
    await until('the orphan removed', async () => (await policy('kube.shop.orphan')) === undefined);
    assert.ok(await policy('team.shop.kept'), 'a policy outside kube. is not the listener’s');
    await client.removePolicy('team.shop.kept');
  });

  it('refuses a NetworkPolicy Romana cannot enforce, with an Event saying why', async () => {
    api.create(
      np('bad', { podSelector: {}, ingress: [{ ports: [{ protocol: 'ICMP', port: 80 }] }] }),
    );
    const ev = await until('an Event on the NetworkPolicy', () =>
      api
        .list('v1', 'Event', 'shop')
        .find((e) => (e['involvedObject'] as { name?: string }).name === 'bad'),
    );
    assert.equal(ev['reason'], 'PolicyRefused');
    assert.match(String(ev['message']), /spec\.ingress\[0\]\.ports\[0\]\.protocol/);
    assert.equal(await policy('kube.shop.bad'), undefined);
    // The refused one disables no other: one created after it is stored as usual.
    api.create(np('good', { podSelector: {}, ingress: [{}] }));
    await until('kube.shop.good beside the refused one', () => policy('kube.shop.good'));
    assert.equal(await policy('kube.shop.bad'), undefined);
    api.delete('networking.k8s.io/v1', 'NetworkPolicy', 'good', 'shop');
    await until('good deleted', async () => (await policy('kube.shop.good')) === undefined);
  });
});

describe('RBAC', () => {
  it('every call the listener made is covered by LISTENER_RBAC, and every rule was used', () => {
    const used = new Set<string>();
    for (const r of api.requests) {
      if (r.resource === undefined) continue; // discovery: the listener asks none
      const resource = r.subresource ? `${r.resource}/${r.subresource}` : r.resource;
      const key = `${r.verb} ${r.group ?? ''}/${resource}`;
      assert.ok(allows(LISTENER_RBAC, r.group ?? '', resource, r.verb), `not granted: ${key}`);
      used.add(key);
    }
    const granted = LISTENER_RBAC.flatMap((rule) =>
      rule.resources.flatMap((res) => rule.verbs.map((v) => `${v} ${rule.apiGroup}/${res}`)),
    );
    assert.deepEqual(
      granted.filter((g) => !used.has(g)),
      [],
      'granted but never used',
    );
  });
});
