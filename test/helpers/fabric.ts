/**
 * A small data centre in network namespaces: a bridge (its own namespace), hosts attached to
 * it on 192.168.77.0/24, romanad (a real process, with tokens) reached from every host at its
 * own 127.0.0.1:9600 through socat and a unix socket this process relays, a romana-agent per
 * host, and pods wired by the real romana-cni bundle. Nothing listens outside loopback and no
 * traffic leaves the namespaces; `close` removes every namespace and process.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { cniBundle } from './cni.ts';
import { createNetns, netnsPath, type TestNetns } from './netns.ts';
import { closeHttpServer, relayUnixToTcp, type Relay } from './relay.ts';
import { request, startRomanad, type Romanad } from './romanad.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
export const CNI_BUNDLE = path.join(ROOT, 'dist/romana-cni.cjs');
const AGENT = path.join(ROOT, 'bin/romana-agent.js');
const ADMIN = 'fabric-admin-token-0123456789';
const NODE = 'fabric-node-token-0123456789';

export interface Pod {
  name: string;
  ns: string;
  host: string;
  id: string;
  /** The pod's first address (IPv4 when it has one). */
  ip: string;
  /** Every address of the pod, IPv4 first (one per family). */
  ips: string[];
  tenant: string;
}

export interface FabricOptions {
  /** Hosts also get an IPv6 address (`hostIp6`) on the fabric, for dual-stack topologies. */
  ipv6?: boolean;
}

export interface CniRun {
  code: number | null;
  out: string;
  err: string;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Fabric {
  readonly prefix: string;
  readonly hosts: string[];
  readonly dir = mkdtempSync(path.join(tmpdir(), 'romana-fabric-'));
  readonly pods = new Map<string, Pod>();
  readonly #processes: ChildProcess[] = [];
  readonly #namespaces: TestNetns[] = [];
  #romanad: Romanad | undefined;
  #relay: Relay | undefined;
  /** A stand-in Kubernetes API that answers pod lookups (labels by `namespace/name`). */
  #kube: http.Server | undefined;
  readonly #labels = new Map<string, Record<string, string>>();
  #port = 0;
  #cniConf: Record<string, unknown>;
  readonly #options: FabricOptions;

  constructor(
    prefix: string,
    hosts: string[],
    cniConf: Record<string, unknown> = {},
    options: FabricOptions = {},
  ) {
    this.prefix = prefix;
    this.hosts = hosts;
    this.#cniConf = cniConf;
    this.#options = options;
  }

  nsOf(host: string): string {
    return `${this.prefix}-${host}`;
  }

  hostIp(host: string): string {
    return `192.168.77.${11 + this.hosts.indexOf(host)}`;
  }

  /** The host's IPv6 address on the fabric (with `ipv6`), fd00:77::/64. */
  hostIp6(host: string): string {
    return `fd00:77::${11 + this.hosts.indexOf(host)}`;
  }

  get romanad(): Romanad {
    return this.#romanad!;
  }

  admin(method: string, p: string, body?: unknown): ReturnType<typeof request> {
    return request(`http://127.0.0.1:${this.#port}${p}`, method, body, { token: ADMIN });
  }

  /**
   * Starts romanad on a port of its own choosing (port 0): the hosts reach it through the relay,
   * which follows the port across restarts, so no probed port can be taken by another test.
   */
  async startRomanad(): Promise<void> {
    this.#romanad = await startRomanad([
      '--store',
      `embedded:${this.dir}/data`,
      '--token-file',
      path.join(this.dir, 'tokens.yaml'),
    ]);
    this.#port = Number(new URL(this.#romanad.url).port);
  }

  /** Makes the stand-in Kubernetes API know a pod (with a segment label when given). */
  registerPod(namespace: string, name: string, segment?: string): void {
    this.#labels.set(
      `${namespace}/${name}`,
      segment === undefined ? {} : { 'romana.io/segment': segment },
    );
  }

  /** Creates a namespace that `close` removes. */
  addNamespace(name: string): void {
    this.#addNs(name);
  }

  #addNs(name: string): TestNetns {
    const ns = createNetns(name);
    this.#namespaces.push(ns);
    return ns;
  }

  /** Builds the fabric and starts romanad; `topology` is posted once it runs. */
  async start(topology: unknown): Promise<void> {
    cniBundle(); // rebuilt when older than its sources
    writeFileSync(
      path.join(this.dir, 'tokens.yaml'),
      `- {token: ${ADMIN}, role: admin}\n- {token: ${NODE}, role: node}\n`,
      { mode: 0o600 },
    );
    writeFileSync(path.join(this.dir, 'node.token'), `${NODE}\n`);
    writeFileSync(path.join(this.dir, 'rt_tables'), '');
    await this.startRomanad();
    const sock = path.join(this.dir, 'romanad.sock');
    this.#relay = await relayUnixToTcp(sock, () => this.#port);
    const kubeSock = path.join(this.dir, 'kube.sock');
    this.#kube = http.createServer((req, res) => {
      const m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/?]+)/.exec(req.url ?? '');
      const labels = m ? this.#labels.get(`${m[1]}/${m[2]}`) : undefined;
      res.statusCode = labels ? 200 : 404;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(labels ? { metadata: { labels } } : { kind: 'Status', code: 404 }));
    });
    await new Promise<void>((r) => this.#kube!.listen(kubeSock, r));
    writeFileSync(
      path.join(this.dir, 'kubeconfig'),
      'current-context: c\nclusters: [{name: k, cluster: {server: "http://127.0.0.1:6443"}}]\n' +
        'contexts: [{name: c, context: {cluster: k}}]\n',
    );
    const sw = `${this.prefix}-sw`;
    const bridge = this.#addNs(sw);
    bridge.ip('link', 'add', 'br0', 'type', 'bridge');
    bridge.ip('link', 'set', 'br0', 'up');
    for (const h of this.hosts) {
      const hostNs = this.#addNs(this.nsOf(h));
      bridge.addVeth({
        name: `p-${h}`,
        peer: 'eth0',
        peerNs: hostNs.name,
        peerAddress: `${this.hostIp(h)}/24`,
      });
      bridge.ip('link', 'set', `p-${h}`, 'master', 'br0');
      if (this.#options.ipv6) {
        // No DAD: the address works at once (the fabric is ours, nothing else claims it).
        hostNs.ip('addr', 'add', `${this.hostIp6(h)}/64`, 'dev', 'eth0', 'nodad');
      }
      for (const [port, to] of [
        [9600, sock],
        [6443, kubeSock],
      ] as const) {
        this.#processes.push(
          hostNs.spawn(
            ['socat', `TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork`, `UNIX-CONNECT:${to}`],
            { stdio: 'ignore' },
          ),
        );
      }
    }
    const r = await this.admin('POST', '/topology', topology);
    if (r.status !== 200) throw new Error(`topology: ${r.status} ${JSON.stringify(r.body)}`);
  }

  /** Starts romana-agent in every host; resolves once every host has routes. */
  async startAgents(extra: string[] = []): Promise<void> {
    for (const h of this.hosts) {
      this.#processes.push(
        spawn(
          'nsenter',
          [
            `--net=${netnsPath(this.nsOf(h))}`,
            process.execPath,
            AGENT,
            '--hostname',
            h,
            '--romanad-url',
            'http://127.0.0.1:9600',
            '--token-file',
            path.join(this.dir, 'node.token'),
            '--provision-iface',
            '--provision-sysctls',
            '--rt-tables-file',
            path.join(this.dir, 'rt_tables'),
            '--metrics-port',
            '0',
            '--resync-interval',
            '2',
            '--link-name',
            'eth0',
            '--log-level',
            'warn',
            ...extra,
          ],
          { stdio: ['ignore', 'ignore', 'inherit'] },
        ),
      );
    }
  }

  cni(
    command: string,
    host: string,
    id: string,
    podNs?: string,
    tenant = 'team',
    podName = id,
    extraConf: Record<string, unknown> = {},
  ): Promise<CniRun> {
    const env: NodeJS.ProcessEnv = {
      PATH: process.env['PATH'],
      CNI_COMMAND: command,
      CNI_CONTAINERID: id,
      CNI_IFNAME: 'eth0',
      CNI_PATH: '/opt/cni/bin',
      CNI_ARGS: `K8S_POD_NAMESPACE=${tenant};K8S_POD_NAME=${podName};K8S_POD_INFRA_CONTAINER_ID=${id}`,
    };
    if (podNs !== undefined) env['CNI_NETNS'] = netnsPath(podNs);
    const conf = {
      cniVersion: '1.0.0',
      name: 'romana',
      type: 'romana',
      romana_host_name: host,
      romanad_url: 'http://127.0.0.1:9600',
      token_file: path.join(this.dir, 'node.token'),
      kubernetes_config: path.join(this.dir, 'kubeconfig'),
      ...this.#cniConf,
      ...extraConf,
    };
    const child = spawn(
      'nsenter',
      [`--net=${netnsPath(this.nsOf(host))}`, process.execPath, CNI_BUNDLE],
      { env },
    );
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.stdin.end(JSON.stringify(conf));
    return new Promise((resolve) => child.on('close', (code) => resolve({ code, out, err })));
  }

  /**
   * ADD of a pod (Kubernetes namespace = `tenant`, label romana.io/segment = `segment` when
   * given; Kubernetes pod name `podName`) in its own network namespace; retries while the agent has not made its chains yet.
   */
  async addPod(
    name: string,
    host: string,
    tenant = 'team',
    segment?: string,
    podName = name,
  ): Promise<Pod> {
    const ns = `${this.prefix}-${name}`;
    this.#addNs(ns);
    const id = `${name.padEnd(8, '0')}beef`;
    this.registerPod(tenant, podName, segment);
    let r: CniRun = { code: null, out: '', err: '' };
    for (let i = 0; i < 50; i++) {
      r = await this.cni('ADD', host, id, ns, tenant, podName);
      if (r.code === 0) break;
      await sleep(200);
    }
    if (r.code !== 0) throw new Error(`ADD ${name} on ${host}: ${r.out} ${r.err}`);
    const ips = (JSON.parse(r.out) as { ips: Array<{ address: string }> }).ips.map(
      (a) => a.address.split('/')[0]!,
    );
    const pod = { name, ns, host, id, ip: ips[0]!, ips, tenant };
    this.pods.set(name, pod);
    return pod;
  }

  /** Runs a command inside a pod. */
  inPod(pod: string, argv: string[]): ReturnType<typeof spawnSync> {
    return spawnSync('nsenter', [`--net=${netnsPath(this.pods.get(pod)!.ns)}`, ...argv], {
      encoding: 'utf8',
      timeout: 10_000,
    });
  }

  /** Starts a long-lived process inside a pod (stopped by `close`). */
  spawnInPod(pod: string, argv: string[]): ChildProcess {
    const p = spawn('nsenter', [`--net=${netnsPath(this.pods.get(pod)!.ns)}`, ...argv], {
      stdio: 'ignore',
    });
    this.#processes.push(p);
    return p;
  }

  ping(from: string, to: string): boolean {
    return this.inPod(from, ['ping', '-c', '1', '-W', '1', this.pods.get(to)!.ip]).status === 0;
  }

  /** Routes of table 10 (`romana`) on `host`, `dst via gateway`, of one family (IPv4 by default). */
  table10(host: string, family: 4 | 6 = 4): string[] {
    const args = ['-n', this.nsOf(host), `-${family}`, 'route', 'show', 'table', '10'];
    const r = spawnSync('ip', args, { encoding: 'utf8' });
    return r.stdout
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => l.replace(/\s+dev \S+.*$/, '').trim())
      .sort();
  }

  /** Ends every process, namespace and file of the fabric; never waits on a connection. */
  async close(): Promise<void> {
    for (const p of this.#processes) if (p.exitCode === null) p.kill('SIGKILL');
    await this.#relay?.close();
    if (this.#kube) await closeHttpServer(this.#kube);
    await this.#romanad?.stop('SIGKILL');
    for (const ns of this.#namespaces.reverse()) ns.remove();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Waits until `check` holds. */
export async function until(what: string, check: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}
