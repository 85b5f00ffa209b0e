/**
 * romana-listener on real kernels: the test Kubernetes API server, a real romanad, the real
 * listener process, and a three-host namespace fabric (test/helpers/fabric.ts) with a real
 * romana-agent per host and pods wired by the real romana-cni bundle, which reads each pod from
 * the same API server (through a relay, as a node reaches its cluster's API).
 *
 * - Nodes join → the listener registers their hosts with zone/rack tags → the agents route the
 *   pods; a label change is followed, or refused with an Event; a deleted Node's host goes once
 *   its pods are gone.
 * - A Service's VIP is held by the node of its ready endpoint; traffic from a pod on a third host
 *   reaches it; when that node goes NotReady and the endpoint moves, the VIP follows within 10 s
 *   (the time is printed); deleting the Service frees it from romanad and from the link.
 */
import assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { RomanadApiError, RomanadClient } from '../../src/client/index.ts';
import { Fabric, sleep } from '../helpers/fabric.ts';
import { startKubeApiServer, type KubeApiServer } from '../helpers/kube-apiserver/index.ts';
import { startListener, until, type ListenerProcess } from '../helpers/listener.ts';
import { netnsHandle } from '../helpers/netns.ts';
import { relayUnixToTcp, type Relay } from '../helpers/relay.ts';

const TAG = `kf${process.pid % 100000}`;
const HOSTS = ['kf1', 'kf2', 'kf3'];
const NS = 'kf-shop';
/** Where each host reaches the test API server (its own loopback, in its own namespace). */
const KUBE_PORT = 6444;
/** The port of the responders on the hosts that may hold a VIP (their own namespaces). */
const SVC_PORT = 8099;
const VIP_POOL = '192.168.77.200/29';
const LABELS: Record<string, Record<string, string>> = {
  kf1: { 'topology.kubernetes.io/zone': 'a', 'romana.io/rack': 'a1' },
  kf2: { 'topology.kubernetes.io/zone': 'a', 'romana.io/rack': 'a1' },
  kf3: { 'topology.kubernetes.io/zone': 'b', 'romana.io/rack': 'b1' },
};
/** Pod → host. */
const PODS: Record<string, string> = { 'kf-a': 'kf1', 'kf-b': 'kf2', 'kf-c': 'kf3' };

const dir = mkdtempSync(path.join(tmpdir(), 'romana-kf-'));
const hostKubeconfig = path.join(dir, 'host-kubeconfig');
const f = new Fabric(TAG, HOSTS, { kubernetes_config: hostKubeconfig });
let api: KubeApiServer;
let relay: Relay | undefined;
let listener: ListenerProcess | undefined;
let client: RomanadClient;
const procs: ChildProcess[] = [];

function setReady(node: string, ready: boolean): void {
  api.patch(
    'v1',
    'Node',
    node,
    undefined,
    {
      status: {
        addresses: [
          { type: 'Hostname', address: node },
          { type: 'InternalIP', address: f.hostIp(node) },
        ],
        conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }],
      },
    },
    { subresource: 'status' },
  );
}

function setNodeLabels(node: string, labels: Record<string, string>): void {
  const n = api.get('v1', 'Node', node)!;
  api.update({ ...n, metadata: { ...n.metadata, labels } });
}

async function hostOf(name: string) {
  return (await client.listHosts()).hosts.find((h) => h.name === name);
}

async function addressOf(name: string) {
  try {
    return await client.getAddress(name);
  } catch (err) {
    if (err instanceof RomanadApiError && err.status === 404) return undefined;
    throw err;
  }
}

/** The address name romana-cni gives pod `name` (see Fabric.addPod's container id). */
const addressName = (name: string) => `${name}.${NS}.${name.padEnd(8, '0').slice(0, 8)}`;

/** As kubelet does: the Pod exists on its node, then the CNI ADD, then its IP in the status. */
async function startPod(name: string, node: string): Promise<string> {
  api.create({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS, labels: { app: name } },
    spec: {
      nodeName: node,
      containers: [{ name: 'c', image: 'x', ports: [{ name: 'web', containerPort: SVC_PORT }] }],
    },
  });
  const pod = await f.addPod(name, node, NS);
  api.patch(
    'v1',
    'Pod',
    name,
    NS,
    { status: { phase: 'Running', podIP: pod.ip } },
    {
      subresource: 'status',
    },
  );
  return pod.ip;
}

/** The holder's name as its responder answers a TCP connection from `pod` to `ip`, or ''. */
function askVia(pod: string, ip: string): string {
  const r = f.inPod(pod, [
    'socat',
    '-t',
    '2',
    '-T',
    '3',
    'STDIO',
    `TCP:${ip}:${SVC_PORT},connect-timeout=1`,
  ]);
  return r.status === 0 ? String(r.stdout).trim() : '';
}

/** The /32 addresses on a host's primary link. */
function linkVips(host: string): string[] {
  const out = netnsHandle(f.nsOf(host)).ip('-json', 'addr', 'show', 'dev', 'eth0');
  return (JSON.parse(out) as Array<{ addr_info: Array<{ local: string; prefixlen: number }> }>)
    .flatMap((l) => l.addr_info)
    .filter((a) => a.prefixlen === 32)
    .map((a) => a.local);
}

/** A host's MAC on the fabric. */
function macOf(host: string): string {
  const out = netnsHandle(f.nsOf(host)).ip('-json', 'link', 'show', 'eth0');
  return (JSON.parse(out) as Array<{ address: string }>)[0]!.address;
}

/** The MAC a host's neighbour table holds for `ip`, if any. */
function neighOf(host: string, ip: string): string | undefined {
  const out = netnsHandle(f.nsOf(host)).ip('-json', 'neigh', 'show', ip, 'dev', 'eth0');
  return (JSON.parse(out) as Array<{ lladdr?: string }>)[0]?.lladdr;
}

function slice(svc: string, node: string, podIp: string, pod: string) {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${svc}-kf0`, namespace: NS, labels: { 'kubernetes.io/service-name': svc } },
    addressType: 'IPv4',
    ports: [{ name: 'web', port: SVC_PORT, protocol: 'TCP' }],
    endpoints: [
      {
        addresses: [podIp],
        nodeName: node,
        targetRef: { kind: 'Pod', namespace: NS, name: pod },
        conditions: { ready: true },
      },
    ],
  };
}

before(async () => {
  api = await startKubeApiServer({ bookmarkMs: 500 });
  const kubeSock = path.join(dir, 'kube.sock');
  relay = await relayUnixToTcp(kubeSock, () => api.port);
  writeFileSync(
    hostKubeconfig,
    `current-context: c\nclusters: [{name: k, cluster: {server: "http://127.0.0.1:${KUBE_PORT}"}}]\n` +
      'contexts: [{name: c, context: {cluster: k}}]\n',
  );
  await f.start({
    networks: [{ name: 'pods', cidr: '10.66.0.0/16', block_mask: 28 }],
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
          {
            name: 'zone-b',
            assignment: { zone: 'b' },
            groups: [{ name: 'rack-b1', assignment: { rack: 'b1' } }],
          },
        ],
      },
    ],
  });
  for (const h of HOSTS) {
    const ns = netnsHandle(f.nsOf(h));
    procs.push(
      ns.spawn(
        [
          'socat',
          `TCP-LISTEN:${KUBE_PORT},bind=127.0.0.1,reuseaddr,fork`,
          `UNIX-CONNECT:${kubeSock}`,
        ],
        { stdio: 'ignore' },
      ),
    );
  }
  const tokens = parse(readFileSync(path.join(f.dir, 'tokens.yaml'), 'utf8')) as Array<{
    token: string;
    role: string;
  }>;
  const admin = tokens.find((t) => t.role === 'admin')!.token;
  const tokenFile = path.join(dir, 'admin.token');
  writeFileSync(tokenFile, `${admin}\n`, { mode: 0o600 });
  client = new RomanadClient({ baseUrl: f.romanad.url, token: admin });
  api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  listener = await startListener([
    ...['--kubeconfig', api.kubeconfigPath, '--romanad-url', f.romanad.url],
    ...['--token-file', tokenFile, '--log-level', 'info', '--no-leader-elect'],
    ...['--gc-grace', '60s', '--node-grace', '60s', '--resync-interval', '2s'],
    ...['--vip-cidr', VIP_POOL],
  ]);
  await until('the listener ready', async () => (await fetch(`${listener!.url}/readyz`)).ok);
});

after(async () => {
  await listener?.stop('SIGKILL');
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  await relay?.close();
  await api?.close();
  await f.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('Kubernetes on a three-host fabric', { timeout: 120_000 }, () => {
  it('nodes join, the listener registers their hosts with tags, and the agents route their pods', async () => {
    for (const h of HOSTS) {
      api.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: h, labels: LABELS[h] } });
      setReady(h, true);
    }
    for (const h of HOSTS) {
      // romanad's GET /hosts may show a host while it is being added, before its commit and
      // without managed_by (a read of the uncommitted placement): wait for the committed one.
      const host = await until(`host ${h}`, async () => {
        const x = await hostOf(h);
        return x?.managed_by !== undefined ? x : undefined;
      });
      assert.equal(host.ip, f.hostIp(h));
      assert.equal(host.managed_by, 'romana-listener');
      assert.deepEqual(host.tags, {
        zone: LABELS[h]!['topology.kubernetes.io/zone'],
        rack: LABELS[h]!['romana.io/rack'],
      });
      const groups = JSON.stringify((await client.getHost(h)).groups);
      assert.ok(
        groups.includes(`rack-${LABELS[h]!['romana.io/rack']}`),
        `${h} placed by rack: ${groups}`,
      );
    }
    await f.startAgents();
    for (const [pod, node] of Object.entries(PODS)) await startPod(pod, node);
    // The listener linked each address to its Pod (uid and labels from the API server).
    for (const pod of Object.keys(PODS)) {
      // romana-cni read its pod from this API server (a get by name: the listener only lists).
      assert.ok(
        api.requests.some(
          (r) => r.verb === 'get' && r.resource === 'pods' && r.namespace === NS && r.name === pod,
        ),
        `romana-cni asked the API server for pod ${pod}`,
      );
      const uid = api.get('v1', 'Pod', pod, NS)!.metadata.uid;
      const a = await until(`${pod}'s address linked`, async () => {
        const x = await addressOf(addressName(pod));
        return x?.pod?.uid === uid ? x : undefined;
      });
      assert.equal(a.host, PODS[pod]);
      assert.equal(a.ip, f.pods.get(pod)!.ip);
      assert.deepEqual(a.pod!.labels, { app: pod });
    }
    // Each host routes toward every other host that holds a block, through that host's address.
    await until('every host routes the pods of the others', () =>
      HOSTS.every((h) =>
        HOSTS.filter((o) => o !== h).every((o) =>
          f.table10(h).some((l) => l.endsWith(`via ${f.hostIp(o)}`)),
        ),
      ),
    );
    for (const from of Object.keys(PODS)) {
      for (const to of Object.keys(PODS)) {
        if (from === to) continue;
        let ok = false;
        for (let i = 0; i < 20 && !ok; i++) {
          ok = f.ping(from, to);
          if (!ok) await sleep(200);
        }
        assert.ok(ok, `${from} (${PODS[from]}) cannot reach ${to} (${PODS[to]})`);
      }
    }
  });

  it('follows an accepted label change and refuses a rack move with an Event on the Node', async () => {
    setNodeLabels('kf3', { ...LABELS['kf3'], 'topology.kubernetes.io/region': 'eu' });
    await until('kf3 tagged eu', async () => (await hostOf('kf3'))?.tags?.['region'] === 'eu');
    setNodeLabels('kf2', { ...LABELS['kf2'], 'romana.io/rack': 'a2' });
    const ev = await until('an Event on kf2', () =>
      api
        .list('v1', 'Event', 'default')
        .find((e) => (e['involvedObject'] as { name?: string }).name === 'kf2'),
    );
    assert.equal(ev['reason'], 'HostTagsRefused');
    assert.equal(ev['type'], 'Warning');
    assert.deepEqual((await hostOf('kf2'))!.tags, { zone: 'a', rack: 'a1' });
    assert.ok(f.ping('kf-c', 'kf-b') && f.ping('kf-a', 'kf-b'), 'kf2 still routed');
    setNodeLabels('kf2', LABELS['kf2']!);
  });

  it('a VIP follows its ready endpoint: traffic from a third host reaches it, before and after failover', async () => {
    for (const h of ['kf1', 'kf2']) {
      procs.push(
        netnsHandle(f.nsOf(h)).spawn(
          ['socat', `TCP-LISTEN:${SVC_PORT},reuseaddr,fork`, `SYSTEM:echo ${h}`],
          { stdio: 'ignore' },
        ),
      );
    }
    api.create({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name: 'kf-web',
        namespace: NS,
        annotations: { 'romana.io/vip': '{"auto":true}' },
      },
      spec: { selector: { app: 'kf-a' }, ports: [{ name: 'web', port: SVC_PORT }] },
    });
    api.create(slice('kf-web', 'kf1', f.pods.get('kf-a')!.ip, 'kf-a'));
    const vip = await until('VIP kf-web placed', async () =>
      (await client.listVips()).find((v) => v.name === `kf-web.${NS}`),
    );
    assert.equal(vip.host, 'kf1');
    assert.equal(vip.ip, '192.168.77.201', 'the first address of the pool');
    await until('kf1 holds the VIP', () => linkVips('kf1').includes(vip.ip));
    await until('kf-c (on kf3) reaches the VIP on kf1', () => askVia('kf-c', vip.ip) === 'kf1');
    await until('the VIP in the Service', () => {
      const svc = api.get('v1', 'Service', 'kf-web', NS)!;
      return (svc['spec'] as { externalIPs?: string[] }).externalIPs?.join() === vip.ip;
    });

    // kf1 dies as far as the fabric knows (its switch port goes down, so it can neither answer
    // nor forward), goes NotReady, and its endpoint moves to kf2's pod.
    const sw = netnsHandle(`${TAG}-sw`);
    const t0 = Date.now();
    sw.ip('link', 'set', 'p-kf1', 'down');
    try {
      setReady('kf1', false);
      const s = api.get('discovery.k8s.io/v1', 'EndpointSlice', 'kf-web-kf0', NS)!;
      api.update({
        ...s,
        endpoints: slice('kf-web', 'kf2', f.pods.get('kf-b')!.ip, 'kf-b').endpoints,
      });
      const left = () => Math.max(1, 10_000 - (Date.now() - t0));
      await until(
        'romanad to move the VIP to kf2',
        async () => (await client.getVip(`kf-web.${NS}`)).host === 'kf2',
        left(),
      );
      const tRomanad = Date.now() - t0;
      await until('kf2 to hold the VIP', () => linkVips('kf2').includes(vip.ip), left());
      const tLink = Date.now() - t0;
      await until('kf-c to reach the VIP on kf2', () => askVia('kf-c', vip.ip) === 'kf2', left());
      const tTraffic = Date.now() - t0;
      for (const [metric, value] of [
        ['vip_failover_romanad', tRomanad],
        ['vip_failover_link', tLink],
        ['vip_failover_traffic', tTraffic],
      ] as const) {
        console.log(JSON.stringify({ bench: 'k8s-fabric', metric, value, unit: 'ms' }));
      }
      assert.ok(tTraffic < 10_000, `traffic reached the new holder after ${tTraffic} ms`);
      // kf3 learnt the move from kf2's gratuitous ARP (kf1 could not have forwarded anything).
      assert.equal(neighOf('kf3', vip.ip), macOf('kf2'));
      await until('kf1 to let the VIP go', () => !linkVips('kf1').includes(vip.ip), 5000);
    } finally {
      sw.ip('link', 'set', 'p-kf1', 'up');
      setReady('kf1', true);
    }
    await until(
      'a pod on the old holder reaches the VIP on kf2',
      () => askVia('kf-a', vip.ip) === 'kf2',
    );
  });

  it('a fixed VIP is reachable where its endpoint is; deleting the Services frees both VIPs', async () => {
    const fixed = '192.168.77.199';
    api.create({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name: 'kf-db',
        namespace: NS,
        annotations: { 'romana.io/vip': `{"ip":"${fixed}"}` },
      },
      spec: { ports: [{ name: 'web', port: SVC_PORT }] },
    });
    api.create(slice('kf-db', 'kf1', f.pods.get('kf-a')!.ip, 'kf-a'));
    await until('kf1 to hold the fixed VIP', () => linkVips('kf1').includes(fixed));
    await until('kf-c reaches the fixed VIP on kf1', () => askVia('kf-c', fixed) === 'kf1');
    const auto = (await client.getVip(`kf-web.${NS}`)).ip;
    for (const svc of ['kf-db', 'kf-web']) api.delete('v1', 'Service', svc, NS);
    await until('both VIPs gone from romanad', async () =>
      (await client.listVips()).every((v) => !v.name.endsWith(`.${NS}`)),
    );
    await until('both VIPs gone from the links', () =>
      HOSTS.every((h) => !linkVips(h).includes(fixed) && !linkVips(h).includes(auto)),
    );
    assert.equal(askVia('kf-c', auto), '', 'nothing answers the freed VIP');
  });

  it("a deleted Node's host stays while its pod holds an address, and goes once the pod is gone", async () => {
    const kf2Routes = () =>
      ['kf1', 'kf3'].some((h) => f.table10(h).some((l) => l.endsWith(`via ${f.hostIp('kf2')}`)));
    assert.ok(kf2Routes(), 'kf2 is routed before');
    api.delete('v1', 'Node', 'kf2');
    await until('the listener to hold kf2 for its pod', () =>
      listener!.logs.some(
        (l) =>
          l['node'] === 'kf2' &&
          /host stays until its addresses are released/.test(String(l['msg'])),
      ),
    );
    assert.ok(await hostOf('kf2'), 'the host stays while kf-b holds an address');
    const p = f.pods.get('kf-b')!;
    const del = await f.cni('DEL', p.host, p.id, p.ns, p.tenant, p.name);
    assert.equal(del.code, 0, del.err);
    api.delete('v1', 'Pod', 'kf-b', NS);
    await until('kf2 removed', async () => (await hostOf('kf2')) === undefined, 5000);
    await until('kf2 unrouted on kf1 and kf3', () => !kf2Routes());
    assert.ok(f.ping('kf-a', 'kf-c') && f.ping('kf-c', 'kf-a'), 'the other pods still talk');
  });
});
