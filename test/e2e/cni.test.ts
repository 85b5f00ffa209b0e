/**
 * The bundled CNI plugin (dist/romana-cni.cjs, built by `npm run build:cni`) run for real, as a
 * container runtime would: inside a "host" network namespace, with the CNI environment and the
 * configuration on stdin, against a real romanad. Pods are namespaces too. romanad listens on
 * the test's loopback; the host namespace reaches it through a Unix socket (socat in the host
 * namespace, a relay in the test), so no traffic leaves the namespaces the test creates.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request, startRomanad, type Romanad } from '../helpers/romanad.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const BUNDLE = path.join(ROOT, 'dist/romana-cni.cjs');
const PREFIX = `romana-cni-${process.pid}`;
const HOST_NS = `${PREFIX}-host`;
const HOST = 'cni-host';
const SOCK = path.join(tmpdir(), `${PREFIX}.sock`);
const NOT_A_NETNS = path.join(tmpdir(), `${PREFIX}-not-a-netns`);
const KUBE_SOCK = path.join(tmpdir(), `${PREFIX}-k8s.sock`);
const KUBECONFIG = path.join(tmpdir(), `${PREFIX}-kubeconfig`);
const GW = '172.142.0.1';

const namespaces: string[] = [];
let romanad: Romanad | undefined;
let relay: net.Server | undefined;
const socats: ChildProcess[] = [];
/** A stand-in Kubernetes API: pod k1 in team-a carries segment label "frontend". */
const kubeApi = http.createServer((req, res) => {
  const found = req.url === '/api/v1/namespaces/team-a/pods/k1';
  res.statusCode = found ? 200 : 404;
  res.setHeader('content-type', 'application/json');
  res.end(
    JSON.stringify(found ? { metadata: { labels: { 'romana.io/segment': 'frontend' } } } : {}),
  );
});

/** Forwards 127.0.0.1:<port> in the host namespace to the Unix socket `sock`. */
function forward(port: number, sock: string): void {
  socats.push(
    spawn(
      'nsenter',
      [
        `--net=/var/run/netns/${HOST_NS}`,
        'socat',
        `TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork`,
        `UNIX-CONNECT:${sock}`,
      ],
      { stdio: 'ignore' },
    ),
  );
}

function netns(name: string): string {
  execFileSync('ip', ['netns', 'add', name]);
  namespaces.push(name);
  execFileSync('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return `/var/run/netns/${name}`;
}

function inNs(ns: string, argv: string[]): string {
  return execFileSync('nsenter', [`--net=/var/run/netns/${ns}`, ...argv], { encoding: 'utf8' });
}

function json<T>(ns: string, argv: string[]): T {
  return JSON.parse(inNs(ns, ['ip', '-j', ...argv])) as T;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  out: Record<string, unknown> | undefined;
}

function baseConf(cniVersion = '1.1.0'): Record<string, unknown> {
  return {
    cniVersion,
    name: 'romana-test',
    type: 'romana',
    romana_host_name: HOST,
    romanad_url: 'http://127.0.0.1:9600',
    mtu: 1400,
  };
}

/** Runs the bundled plugin in the host namespace. */
function cni(
  command: string,
  opts: {
    conf?: Record<string, unknown>;
    containerId?: string;
    netns?: string;
    ifname?: string;
    args?: string;
    stdin?: string;
  } = {},
): Promise<Run> {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'],
    CNI_COMMAND: command,
    CNI_PATH: '/opt/cni/bin',
    CNI_IFNAME: opts.ifname ?? 'eth0',
  };
  if (opts.containerId !== undefined) env['CNI_CONTAINERID'] = opts.containerId;
  if (opts.netns !== undefined) env['CNI_NETNS'] = opts.netns;
  if (opts.args !== undefined) env['CNI_ARGS'] = opts.args;
  const child = spawn('nsenter', [`--net=/var/run/netns/${HOST_NS}`, process.execPath, BUNDLE], {
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdin.end(opts.stdin ?? JSON.stringify(opts.conf ?? baseConf()));
  return new Promise((resolve) =>
    child.on('close', (code) =>
      resolve({
        code,
        stdout,
        stderr,
        out: stdout.trim() ? (JSON.parse(stdout) as Record<string, unknown>) : undefined,
      }),
    ),
  );
}

/** ADD for pod `n` (its own namespace), Kubernetes-style. */
async function addPod(
  n: string,
  cniVersion = '1.1.0',
  extra: Record<string, unknown> = {},
): Promise<{ ns: string; path: string; id: string; name: string; run: Run }> {
  const ns = `${PREFIX}-${n}`;
  const p = existsSync(`/var/run/netns/${ns}`) ? `/var/run/netns/${ns}` : netns(ns);
  const id = `${n.padEnd(8, '0')}c0ffee`;
  const run = await cni('ADD', {
    conf: { ...baseConf(cniVersion), ...extra },
    containerId: id,
    netns: p,
    args: `IgnoreUnknown=1;K8S_POD_NAMESPACE=team-a;K8S_POD_NAME=${n};K8S_POD_INFRA_CONTAINER_ID=${id}`,
  });
  return { ns, path: p, id, name: `${n}.team-a.${id.slice(0, 8)}`, run };
}

async function addressOf(name: string): Promise<{ status: number; ip?: string }> {
  const r = await request(`${romanad!.url}/address?addressName=${name}`, 'GET');
  return { status: r.status, ip: (r.body as { ip?: string } | null)?.ip };
}

function hostLinks(): string[] {
  return json<{ ifname: string }[]>(HOST_NS, ['link', 'show']).map((l) => l.ifname);
}

function ipOf(run: Run): string {
  const ips = run.out?.['ips'] as { address: string }[];
  return ips[0]!.address.split('/')[0]!;
}

before(async () => {
  romanad = await startRomanad(['--store', 'memory:']);
  const topo = await request(`${romanad.url}/topology`, 'POST', {
    networks: [{ name: 'pods', cidr: '10.200.0.0/16', block_mask: 28 }],
    topologies: [
      { networks: ['pods'], map: [{ name: 'rack', groups: [{ name: HOST, ip: '192.168.77.1' }] }] },
    ],
  });
  assert.equal(topo.status, 200, JSON.stringify(topo.body));
  const port = new URL(romanad.url).port;
  relay = net.createServer((s) => {
    const up = net.connect(Number(port), '127.0.0.1');
    s.pipe(up).pipe(s);
    s.on('error', () => up.destroy());
    up.on('error', () => s.destroy());
  });
  rmSync(SOCK, { force: true });
  await new Promise<void>((r) => relay!.listen(SOCK, r));
  netns(HOST_NS);
  // What romana-agent provides on a node: the gateway address and forwarding.
  inNs(HOST_NS, ['ip', 'addr', 'add', `${GW}/32`, 'dev', 'lo']);
  inNs(HOST_NS, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  forward(9600, SOCK);
  rmSync(KUBE_SOCK, { force: true });
  await new Promise<void>((r) => kubeApi.listen(KUBE_SOCK, r));
  forward(6443, KUBE_SOCK);
  writeFileSync(
    KUBECONFIG,
    'current-context: c\nclusters: [{name: k, cluster: {server: "http://127.0.0.1:6443"}}]\n' +
      'contexts: [{name: c, context: {cluster: k}}]\n',
  );
  for (let i = 0; i < 100; i++) {
    if ((await cni('STATUS')).code === 0) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  writeFileSync(NOT_A_NETNS, 'not a namespace');
});

after(async () => {
  for (const socat of socats) {
    if (socat.exitCode !== null || socat.signalCode !== null) continue;
    const done = new Promise((r) => socat.once('exit', r));
    socat.kill('SIGTERM');
    await done;
  }
  await new Promise((r) => (relay ? relay.close(r) : r(undefined)));
  await new Promise((r) => (kubeApi.listening ? kubeApi.close(r) : r(undefined)));
  await romanad?.stop();
  for (const ns of namespaces.reverse()) {
    try {
      execFileSync('ip', ['netns', 'del', ns]);
    } catch {
      // already gone
    }
  }
  rmSync(SOCK, { force: true });
  rmSync(NOT_A_NETNS, { force: true });
  rmSync(KUBE_SOCK, { force: true });
  rmSync(KUBECONFIG, { force: true });
});

describe('romana-cni, the bundled plugin against a real romanad', () => {
  it('VERSION lists every supported version, in the version asked for', async () => {
    const r = await cni('VERSION', { stdin: '{"cniVersion":"0.4.0"}' });
    assert.equal(r.code, 0);
    assert.deepEqual(r.out, {
      cniVersion: '0.4.0',
      supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'],
    });
  });

  it('STATUS succeeds when romanad knows the host, and answers 50 when it does not', async () => {
    const ok = await cni('STATUS');
    assert.equal(ok.code, 0, ok.stdout);
    assert.equal(ok.stdout, '');
    const bad = await cni('STATUS', { conf: { ...baseConf(), romana_host_name: 'nobody' } });
    assert.equal(bad.code, 1);
    assert.equal(bad.out?.['code'], 50);
    const old = await cni('STATUS', { conf: baseConf('1.0.0') });
    assert.equal(old.out?.['code'], 1);
  });

  it('refuses bad input with the spec codes and prints nothing but the error', async () => {
    const notJson = await cni('ADD', { stdin: '{', containerId: 'x1', netns: '/var/run/netns/x' });
    assert.equal(notJson.out?.['code'], 6);
    const oldVersion = await cni('ADD', {
      conf: baseConf('0.2.0'),
      containerId: 'x1',
      netns: '/var/run/netns/x',
    });
    assert.equal(oldVersion.out?.['code'], 1);
    const noId = await cni('ADD', { netns: '/var/run/netns/x' });
    assert.equal(noId.out?.['code'], 4);
    assert.match(String(noId.out?.['msg']), /CNI_CONTAINERID/);
    const badMtu = await cni('ADD', {
      conf: { ...baseConf(), mtu: 'big' },
      containerId: 'x1',
      netns: '/var/run/netns/x',
    });
    assert.equal(badMtu.out?.['code'], 7);
  });

  const versions = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'];
  const pods: Awaited<ReturnType<typeof addPod>>[] = [];

  it('ADD answers in each cniVersion and wires eth0 with the /32 and the default route', async () => {
    for (const [i, v] of versions.entries()) {
      const pod = await addPod(`p${i}`, v);
      pods.push(pod);
      const { run } = pod;
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.equal(run.out?.['cniVersion'], v);
      const ip = (run.out?.['ips'] as Record<string, unknown>[])[0]!;
      assert.match(String(ip['address']), /^10\.200\.\d+\.\d+\/32$/);
      assert.equal(ip['gateway'], GW);
      assert.equal(ip['interface'], 1);
      assert.equal(ip['version'], v.startsWith('0.') ? '4' : undefined);
      const ifs = run.out?.['interfaces'] as Record<string, unknown>[];
      assert.equal(ifs[0]!['name'], `romana-${pod.id.slice(0, 8)}`);
      assert.equal(ifs[1]!['name'], 'eth0');
      assert.equal(ifs[1]!['sandbox'], pod.path);
      assert.equal(ifs[1]!['mtu'], v === '1.1.0' ? 1400 : undefined);
      assert.deepEqual(run.out?.['routes'], [{ dst: '0.0.0.0/0', gw: GW }]);

      const [eth0] = json<{ mtu: number; addr_info: { local: string; prefixlen: number }[] }[]>(
        pod.ns,
        ['-4', 'addr', 'show', 'dev', 'eth0'],
      );
      assert.equal(eth0!.mtu, 1400);
      assert.deepEqual(
        eth0!.addr_info.map((a) => `${a.local}/${a.prefixlen}`),
        [ip['address']],
      );
      const [def] = json<{ gateway: string; dev: string }[]>(pod.ns, ['route', 'show', 'default']);
      assert.equal(def!.gateway, GW);
      assert.equal((await addressOf(pod.name)).ip, ipOf(run));
      const [hostRoute] = json<{ dev: string }[]>(HOST_NS, [
        'route',
        'show',
        'exact',
        `${ipOf(run)}/32`,
      ]);
      assert.equal(hostRoute!.dev, `romana-${pod.id.slice(0, 8)}`);
    }
  });

  it('with a kubeconfig, the segment is the pod label read from Kubernetes', async () => {
    const pod = await addPod('k1', '1.0.0', { kubernetes_config: KUBECONFIG });
    assert.equal(pod.run.code, 0, pod.run.stdout + pod.run.stderr);
    const a = await request(`${romanad!.url}/address?addressName=${pod.name}`, 'GET');
    assert.equal((a.body as { segment: string; tenant: string }).segment, 'frontend');
    assert.equal((a.body as { segment: string; tenant: string }).tenant, 'team-a');
    const del = await cni('DEL', {
      containerId: pod.id,
      netns: pod.path,
      args: `K8S_POD_NAMESPACE=team-a;K8S_POD_NAME=k1;K8S_POD_INFRA_CONTAINER_ID=${pod.id}`,
    });
    assert.equal(del.code, 0);
  });

  it('two pods on the host ping each other', () => {
    inNs(pods[0]!.ns, ['ping', '-c', '1', '-W', '2', ipOf(pods[1]!.run)]);
    inNs(pods[4]!.ns, ['ping', '-c', '1', '-W', '2', ipOf(pods[2]!.run)]);
  });

  it('a repeated ADD returns the same address and keeps it', async () => {
    const again = await addPod('p1', '1.0.0');
    assert.equal(again.run.code, 0, again.run.stdout + again.run.stderr);
    assert.equal(ipOf(again.run), ipOf(pods[1]!.run));
    assert.equal((await addressOf(again.name)).ip, ipOf(pods[1]!.run));
    inNs(pods[0]!.ns, ['ping', '-c', '1', '-W', '2', ipOf(again.run)]);
  });

  it('CHECK passes on a wired pod and fails once a route is gone', async () => {
    const pod = pods[3]!;
    const conf = { ...baseConf('1.0.0'), prevResult: pod.run.out };
    const check = () =>
      cni('CHECK', {
        conf,
        containerId: pod.id,
        netns: pod.path,
        args: `K8S_POD_NAMESPACE=team-a;K8S_POD_NAME=p3;K8S_POD_INFRA_CONTAINER_ID=${pod.id}`,
      });
    const ok = await check();
    assert.equal(ok.code, 0, ok.stdout);
    assert.equal(ok.stdout, '');
    inNs(pod.ns, ['ip', 'route', 'del', 'default']);
    const broken = await check();
    assert.equal(broken.out?.['code'], 102);
    assert.match(String(broken.out?.['details']), /default route/);
    const old = await cni('CHECK', {
      conf: { ...conf, cniVersion: '0.3.1' },
      containerId: pod.id,
      netns: pod.path,
    });
    assert.equal(old.out?.['code'], 1);
  });

  it('DEL releases the address and removes the veth; DEL again succeeds', async () => {
    const pod = pods[3]!;
    const del = () =>
      cni('DEL', {
        containerId: pod.id,
        netns: pod.path,
        args: `K8S_POD_NAMESPACE=team-a;K8S_POD_NAME=p3;K8S_POD_INFRA_CONTAINER_ID=${pod.id}`,
      });
    const first = await del();
    assert.equal(first.code, 0);
    assert.equal(first.stdout, '');
    assert.equal((await addressOf(pod.name)).status, 404);
    assert.ok(!hostLinks().includes(`romana-${pod.id.slice(0, 8)}`));
    const listed = await request(`${romanad!.url}/addresses?host=${HOST}`, 'GET');
    assert.ok(!(listed.body as { name: string }[]).some((a) => a.name === pod.name));
    const second = await del();
    assert.equal(second.code, 0);
    assert.equal(second.stdout, '');
    const unknown = await cni('DEL', { containerId: 'never-added' });
    assert.equal(unknown.code, 0);
  });

  it('a failure half-way leaves no address allocated and no veth behind', async () => {
    const before = (await request(`${romanad!.url}/addresses?host=${HOST}`, 'GET')).body;
    const links = hostLinks();
    const missing = await cni('ADD', {
      containerId: 'f1f1f1f1aa',
      netns: `/var/run/netns/${PREFIX}-missing`,
    });
    assert.equal(missing.out?.['code'], 4);
    // Exists but is no namespace: fails after the allocation, which is then released.
    const notNs = await cni('ADD', { containerId: 'f2f2f2f2aa', netns: NOT_A_NETNS });
    assert.equal(notNs.out?.['code'], 101, notNs.stdout);
    // Divert rules without the agent's chains: fails after the veth is made.
    const noChains = await addPod('f3', '1.1.0', { use_policy: true });
    assert.equal(noChains.run.out?.['code'], 101, noChains.run.stdout);
    assert.match(String(noChains.run.out?.['details']), /ROMANA/);
    assert.deepEqual((await request(`${romanad!.url}/addresses?host=${HOST}`, 'GET')).body, before);
    assert.deepEqual(hostLinks(), links);
    assert.deepEqual(
      json<{ ifname: string }[]>(noChains.ns, ['link', 'show']).map((l) => l.ifname),
      ['lo'],
    );
  });

  it('with use_policy, ADD installs the divert rules and DEL removes them', async () => {
    for (const chain of [
      'ROMANA-INPUT',
      'ROMANA-FORWARD-OUT',
      'ROMANA-FORWARD-IN',
      'ROMANA-OUTPUT',
    ]) {
      inNs(HOST_NS, ['iptables', '-w', '-N', chain]);
    }
    const pod = await addPod('q1', '1.1.0', { use_policy: true });
    assert.equal(pod.run.code, 0, pod.run.stdout + pod.run.stderr);
    const veth = `romana-${pod.id.slice(0, 8)}`;
    const rules = () =>
      inNs(HOST_NS, ['iptables', '-w', '-S'])
        .split('\n')
        .filter((l) => l.includes(veth));
    assert.deepEqual(rules().sort(), [
      `-A FORWARD -i ${veth} -j ROMANA-FORWARD-OUT`,
      `-A FORWARD -o ${veth} -j ROMANA-FORWARD-IN`,
      `-A INPUT -i ${veth} -j ROMANA-INPUT`,
      `-A OUTPUT -o ${veth} -j ROMANA-OUTPUT`,
    ]);
    const again = await addPod('q1', '1.1.0', { use_policy: true });
    assert.equal(again.run.code, 0);
    assert.equal(rules().length, 4);
    const del = await cni('DEL', {
      conf: { ...baseConf(), use_policy: true },
      containerId: pod.id,
      netns: pod.path,
      args: `K8S_POD_NAMESPACE=team-a;K8S_POD_NAME=q1;K8S_POD_INFRA_CONTAINER_ID=${pod.id}`,
    });
    assert.equal(del.code, 0);
    assert.deepEqual(rules(), []);
  });

  it('GC releases addresses of containers not in the valid list, and nothing else', async () => {
    const manual = await request(`${romanad!.url}/address`, 'POST', {
      name: 'manual-1',
      host: HOST,
    });
    assert.equal(manual.status, 200);
    const keep = pods.filter((_, i) => i !== 3 && i !== 4);
    const gc = await cni('GC', {
      conf: {
        ...baseConf(),
        'cni.dev/valid-attachments': keep.map((p) => ({ containerID: p.id, ifname: 'eth0' })),
      },
    });
    assert.equal(gc.code, 0, gc.stdout);
    assert.equal(gc.stdout, '');
    const names = (
      (await request(`${romanad!.url}/addresses?host=${HOST}`, 'GET')).body as {
        name: string;
      }[]
    ).map((a) => a.name);
    assert.deepEqual(names.sort(), [...keep.map((p) => p.name), 'manual-1'].sort());
    assert.ok(!hostLinks().includes(`romana-${pods[4]!.id.slice(0, 8)}`));
  });
});
