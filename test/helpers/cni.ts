/**
 * A harness for running the bundled CNI plugin (dist/romana-cni.cjs, built by
 * `npm run build:cni`) for real, as a container runtime would: inside a "host" network namespace,
 * with the CNI environment and the configuration on stdin, against a real romanad. Pods are
 * namespaces too. romanad listens on the test's loopback; the host namespace reaches it through a
 * Unix socket (socat in the host namespace, a relay in the test), so no traffic leaves the
 * namespaces the test creates. Used by test/e2e/cni-*.test.ts; each file makes its own harness,
 * with its own namespaces, sockets and romanad.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freshBundle, type BundleSpec } from './bundle.ts';
import { createNetns, netnsHandle, netnsPath, type TestNetns } from './netns.ts';
import { closeHttpServer, relayUnixToTcp, type Relay } from './relay.ts';
import { reservePort } from './ports.ts';
import { request, startRomanad, type Romanad } from './romanad.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const CNI_BUNDLE: BundleSpec = {
  root: ROOT,
  output: path.join(ROOT, 'dist/romana-cni.cjs'),
  buildScript: path.join(ROOT, 'scripts/build.mjs'),
  name: 'romana-cni',
  srcDir: path.join(ROOT, 'src'),
  fix: 'npm run build:cni',
};
let bundleChecked = false;

/**
 * The path of the bundled plugin (dist/romana-cni.cjs), rebuilt first when it is missing or
 * older than a source it may be built from (checked once per process), so that an e2e test
 * never runs yesterday's plugin. Throws, saying what to run, when the rebuild fails.
 *
 * @example spawn(process.execPath, [cniBundle()], { env });
 */
export function cniBundle(): string {
  if (!bundleChecked) freshBundle(CNI_BUNDLE);
  bundleChecked = true;
  return CNI_BUNDLE.output;
}

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  out: Record<string, unknown> | undefined;
}

export interface Pod {
  ns: string;
  path: string;
  id: string;
  name: string;
  run: Run;
}

export interface CniHarness {
  /** Prefix of every namespace and file the harness makes. */
  PREFIX: string;
  /** The "host" network namespace the plugin runs in. */
  HOST_NS: string;
  /** The host's name in romanad. */
  HOST: string;
  /** A regular file that is no network namespace. */
  NOT_A_NETNS: string;
  /** A kubeconfig pointing at the stand-in Kubernetes API. */
  KUBECONFIG: string;
  /** The pods' gateway, on the host namespace's loopback. */
  GW: string;
  /** Starts romanad, the relays and the host namespace; resolves with romanad. */
  start(): Promise<Romanad>;
  /** Stops romanad (the plugin then finds nothing listening). */
  stopRomanad(): Promise<void>;
  /** Starts romanad again on the same port (keeping its data with a durable store). */
  restartRomanad(): Promise<Romanad>;
  /** Stops everything `start` started and deletes every namespace and file. */
  stop(): Promise<void>;
  baseConf(cniVersion?: string): Record<string, unknown>;
  /** Runs the bundled plugin in the host namespace. */
  cni(
    command: string,
    opts?: {
      conf?: Record<string, unknown>;
      containerId?: string;
      netns?: string;
      ifname?: string;
      args?: string;
      stdin?: string;
    },
  ): Promise<Run>;
  /** ADD for pod `n` (its own namespace), Kubernetes-style. */
  addPod(n: string, cniVersion?: string, extra?: Record<string, unknown>): Promise<Pod>;
  addressOf(name: string): Promise<{ status: number; ip?: string }>;
  hostLinks(): string[];
  ipOf(run: Run): string;
  inNs(ns: string, argv: string[]): string;
  json<T>(ns: string, argv: string[]): T;
}

/**
 * A harness whose namespaces and files are named after `label` and this process; romanad runs
 * with `romanadArgs` (by default the memory store).
 */
export function cniHarness(
  label: string,
  romanadArgs: string[] = ['--store', 'memory:'],
): CniHarness {
  const PREFIX = `romana-cni-${label}-${process.pid}`;
  const HOST_NS = `${PREFIX}-host`;
  const HOST = 'cni-host';
  const SOCK = path.join(tmpdir(), `${PREFIX}.sock`);
  const NOT_A_NETNS = path.join(tmpdir(), `${PREFIX}-not-a-netns`);
  const KUBE_SOCK = path.join(tmpdir(), `${PREFIX}-k8s.sock`);
  const KUBECONFIG = path.join(tmpdir(), `${PREFIX}-kubeconfig`);
  const GW = '172.142.0.1';

  const namespaces: TestNetns[] = [];
  let romanad: Romanad | undefined;
  let relay: Relay | undefined;
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
      netnsHandle(HOST_NS).spawn(
        ['socat', `TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork`, `UNIX-CONNECT:${sock}`],
        { stdio: 'ignore' },
      ),
    );
  }

  function netns(name: string): string {
    const ns = createNetns(name);
    namespaces.push(ns);
    return ns.path;
  }

  function inNs(ns: string, argv: string[]): string {
    return netnsHandle(ns).run(argv);
  }

  function json<T>(ns: string, argv: string[]): T {
    return JSON.parse(inNs(ns, ['ip', '-j', ...argv])) as T;
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
    const bundle = cniBundle();
    const child = spawn('nsenter', [`--net=${netnsPath(HOST_NS)}`, process.execPath, bundle], {
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

  async function addPod(
    n: string,
    cniVersion = '1.1.0',
    extra: Record<string, unknown> = {},
  ): Promise<Pod> {
    const ns = `${PREFIX}-${n}`;
    const p = existsSync(netnsPath(ns)) ? netnsPath(ns) : netns(ns);
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

  async function start(): Promise<Romanad> {
    // A reserved port: a restart comes back on it (see restartRomanad).
    romanad = await startRomanad([...romanadArgs, '--port', String(await reservePort())]);
    const topo = await request(`${romanad.url}/topology`, 'POST', {
      networks: [{ name: 'pods', cidr: '10.200.0.0/16', block_mask: 28 }],
      topologies: [
        {
          networks: ['pods'],
          map: [{ name: 'rack', groups: [{ name: HOST, ip: '192.168.77.1' }] }],
        },
      ],
    });
    assert.equal(topo.status, 200, JSON.stringify(topo.body));
    const port = new URL(romanad.url).port;
    rmSync(SOCK, { force: true });
    relay = await relayUnixToTcp(SOCK, () => Number(port));
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
    return romanad;
  }

  async function stopRomanad(): Promise<void> {
    await romanad?.stop();
  }

  async function restartRomanad(): Promise<Romanad> {
    await romanad?.stop();
    romanad = await startRomanad([...romanadArgs, '--port', new URL(romanad!.url).port]);
    return romanad;
  }

  async function stop(): Promise<void> {
    for (const socat of socats) {
      if (socat.exitCode !== null || socat.signalCode !== null) continue;
      const done = new Promise((r) => socat.once('exit', r));
      socat.kill('SIGTERM');
      await done;
    }
    await relay?.close();
    await closeHttpServer(kubeApi);
    await romanad?.stop();
    for (const ns of namespaces.reverse()) ns.remove();
    rmSync(SOCK, { force: true });
    rmSync(NOT_A_NETNS, { force: true });
    rmSync(KUBE_SOCK, { force: true });
    rmSync(KUBECONFIG, { force: true });
  }

  return {
    PREFIX,
    HOST_NS,
    HOST,
    NOT_A_NETNS,
    KUBECONFIG,
    GW,
    start,
    stopRomanad,
    restartRomanad,
    stop,
    baseConf,
    cni,
    addPod,
    addressOf,
    hostLinks,
    ipOf,
    inNs,
    json,
  };
}
