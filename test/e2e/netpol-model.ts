/**
 * The upstream network-policy test model (kubernetes test/e2e/network/netpol) on a Romana
 * fabric: namespaces x, y, z with pods a, b, c each, spread over two hosts, every pod serving
 * TCP and UDP on 80 and 81; a probe of all 81 pairs from inside the pods, in parallel; the
 * oracle's truth table (src/policy/evaluate.ts) and a printed diff when they differ.
 */
import { spawn } from 'node:child_process';
import { RomanadClient } from '../../src/client/index.ts';
import { allowed } from '../../src/policy/evaluate.ts';
import type { KubeNamespace, KubePod, KubePolicy } from '../../src/policy/kube-model.ts';
import { Fabric, sleep, until } from '../helpers/fabric.ts';
import { netnsPath } from '../helpers/netns.ts';

export const NAMESPACES = ['x', 'y', 'z'] as const;
export const PODS = ['a', 'b', 'c'] as const;
export const PORTS = [80, 81] as const;
export const PROTOCOLS = ['TCP', 'UDP'] as const;

/** One probe: from pod to pod on port/protocol. */
export interface Probe {
  from: string;
  to: string;
  port: number;
  protocol: string;
}

/** A tiny prober run inside a pod: connects to every target at once, prints booleans. */
const PROBER = `
const net = require('net'), dgram = require('dgram');
const T = 1200, targets = JSON.parse(process.argv[1]);
const tcp = (ip, port) => new Promise((r) => {
  const s = net.connect({ host: ip, port, timeout: T }); let d = '';
  const end = (v) => { s.destroy(); r(v); };
  s.on('data', (b) => { d += b; if (d.includes('pong')) end(true); });
  s.on('timeout', () => end(false)); s.on('error', () => end(false));
  s.on('close', () => end(d.includes('pong')));
});
const udp = (ip, port) => new Promise((r) => {
  const s = dgram.createSocket('udp4'); let done = false;
  const end = (v) => { if (done) return; done = true; clearTimeout(t); try { s.close(); } catch {} r(v); };
  const t = setTimeout(() => end(false), T);
  s.on('message', (m) => end(String(m).includes('pong'))); s.on('error', () => end(false));
  s.send('ping', port, ip);
});
Promise.all(targets.map((x) => x.p === 'TCP' ? tcp(x.ip, x.port) : udp(x.ip, x.port)))
  .then((r) => process.stdout.write(JSON.stringify(r)));
`;

/** The model: the fabric, its 9 pods, their labels and namespaces' labels as romanad has them. */
export class Model {
  readonly f: Fabric;
  readonly client: RomanadClient;
  readonly pods = new Map<string, KubePod>();
  readonly namespaces = new Map<string, KubeNamespace>();
  readonly #addressOf = new Map<string, string>();
  readonly #policies = new Map<string, KubePolicy>();

  constructor(tag: string) {
    this.f = new Fabric(tag, ['h1', 'h2'], { use_policy: true });
    this.client = undefined as unknown as RomanadClient;
  }

  async start(): Promise<void> {
    const f = this.f;
    await f.start({
      networks: [{ name: 'pods', cidr: '10.66.0.0/16', block_mask: 28 }],
      topologies: [
        {
          networks: ['pods'],
          map: [
            { name: 'h1', groups: [{ name: 'h1', ip: f.hostIp('h1') }] },
            { name: 'h2', groups: [{ name: 'h2', ip: f.hostIp('h2') }] },
          ],
        },
      ],
    });
    (this as { client: RomanadClient }).client = new RomanadClient({
      baseUrl: f.romanad.url,
      token: 'fabric-admin-token-0123456789',
    });
    await f.startAgents(['--policy', '--policy-mode', 'kubernetes']);
    let i = 0;
    for (const ns of NAMESPACES) {
      for (const p of PODS) {
        const pod = await f.addPod(`${ns}${p}`, i++ % 2 === 0 ? 'h1' : 'h2', ns);
        this.pods.set(`${ns}/${p}`, {
          namespace: ns,
          name: p,
          ip: pod.ip,
          labels: { pod: p },
          ports: PORTS.flatMap((port) =>
            PROTOCOLS.map((proto) => ({
              name: `serve-${port}-${proto.toLowerCase()}`,
              port,
              protocol: proto,
            })),
          ),
        });
        for (const port of PORTS) {
          f.spawnInPod(`${ns}${p}`, ['socat', `TCP-LISTEN:${port},reuseaddr,fork`, 'SYSTEM:echo pong']);
          f.spawnInPod(`${ns}${p}`, ['socat', `UDP-LISTEN:${port},reuseaddr,fork`, 'SYSTEM:echo pong']);
        }
      }
    }
    const addresses = await this.client.listAddresses();
    for (const [key, pod] of this.pods) {
      const a = addresses.find((x) => x.ip === pod.ip);
      if (a === undefined) throw new Error(`no address for ${key}`);
      this.#addressOf.set(key, a.name);
    }
    for (const ns of NAMESPACES) await this.setNamespaceLabels(ns, { ns });
    for (const key of this.pods.keys()) await this.pushPod(key);
    for (const key of this.pods.keys()) {
      const name = `${key[0]}${key[2]}`;
      await until(`the servers in ${name}`, () => {
        const ss = String(f.inPod(name, ['ss', '-lntu']).stdout);
        return ss.split(':80 ').length >= 3 && ss.split(':81 ').length >= 3;
      });
    }
  }

  /** Sends a pod's labels and named ports to romanad. */
  async pushPod(key: string): Promise<void> {
    const pod = this.pods.get(key)!;
    await this.client.call('PUT', `/addresses/${encodeURIComponent(this.#addressOf.get(key)!)}/pod`, {
      body: { namespace: pod.namespace, name: pod.name, labels: pod.labels, ports: pod.ports },
    });
  }

  async setPodLabels(key: string, labels: Record<string, string>): Promise<void> {
    this.pods.get(key)!.labels = labels;
    await this.pushPod(key);
  }

  async setNamespaceLabels(name: string, labels: Record<string, string>): Promise<void> {
    this.namespaces.set(name, { name, labels });
    await this.client.call('PUT', `/namespaces/${name}`, { body: { labels } });
  }

  /** Makes `policies` the whole set of policies in romanad. */
  async setPolicies(policies: KubePolicy[]): Promise<void> {
    const want = new Map(policies.map((p) => [p.id, p]));
    for (const p of policies) await this.client.addPolicy(p);
    for (const id of this.#policies.keys()) {
      if (!want.has(id)) await this.client.removePolicy(id);
    }
    this.#policies.clear();
    for (const [id, p] of want) this.#policies.set(id, p);
  }

  /** The oracle's answer for one probe; a pod's traffic to itself never leaves it. */
  expected(p: Probe): boolean {
    if (p.from === p.to) return true;
    const pods = [...this.pods.values()];
    const ns = [...this.namespaces.values()];
    return allowed([...this.#policies.values()], pods, ns, p.from, p.to, p.port, p.protocol);
  }

  /** Probes every pair on the given ports and protocols, from all 9 pods at once. */
  async probe(ports: readonly number[], protocols: readonly string[]): Promise<Map<string, boolean>> {
    const out = new Map<string, boolean>();
    await Promise.all(
      [...this.pods.keys()].map(async (from) => {
        const probes: Probe[] = [];
        for (const to of this.pods.keys()) {
          for (const port of ports) for (const protocol of protocols) probes.push({ from, to, port, protocol });
        }
        const targets = probes.map((p) => ({ ip: this.pods.get(p.to)!.ip, port: p.port, p: p.protocol }));
        const result = await runIn(`${this.f.prefix}-${from[0]}${from[2]}`, targets);
        probes.forEach((p, i) => out.set(probeKey(p), result[i] === true));
      }),
    );
    return out;
  }

  /**
   * Probes until the kernel agrees with the oracle (policies and labels reach the agents
   * through romanad's watch), or fails with the table diff.
   */
  async expectModel(what: string, ports: readonly number[] = PORTS, protocols: readonly string[] = PROTOCOLS): Promise<void> {
    const end = Date.now() + 20_000;
    let diffs: string[] = [];
    for (;;) {
      const got = await this.probe(ports, protocols);
      diffs = [];
      for (const [key, ok] of got) {
        const [from, to, port, protocol] = key.split(' ');
        const want = this.expected({ from: from!, to: to!, port: Number(port), protocol: protocol! });
        if (want !== ok) diffs.push(key);
      }
      if (diffs.length === 0) return;
      if (Date.now() > end) break;
      await sleep(300);
    }
    const got = await this.probe(ports, protocols);
    throw new Error(`${what}: kernel and oracle differ on ${diffs.length} probes\n${this.table(got, ports, protocols)}`);
  }

  /** A truth table per port/protocol: rows from, columns to; `.` agree, `X`/`-` differ. */
  table(got: Map<string, boolean>, ports: readonly number[], protocols: readonly string[]): string {
    const keys = [...this.pods.keys()];
    const lines: string[] = [];
    for (const port of ports) {
      for (const protocol of protocols) {
        lines.push(`${protocol}/${port}  (. agree allowed, x agree blocked, A got allowed but oracle says blocked, B got blocked but oracle says allowed)`);
        lines.push(`      ${keys.join(' ')}`);
        for (const from of keys) {
          const row = keys.map((to) => {
            const p = { from, to, port, protocol };
            const want = this.expected(p);
            const have = got.get(probeKey(p));
            const c = have === want ? (want ? '.' : 'x') : have ? 'A' : 'B';
            return ` ${c} `;
          });
          lines.push(`${from}  ${row.join('')}`);
        }
      }
    }
    return lines.join('\n');
  }
}

export function probeKey(p: Probe): string {
  return `${p.from} ${p.to} ${p.port} ${p.protocol}`;
}

function runIn(netns: string, targets: unknown[]): Promise<boolean[]> {
  return new Promise((resolve, reject) => {
    const child = spawn('nsenter', [`--net=${netnsPath(netns)}`, process.execPath, '-e', PROBER, JSON.stringify(targets)]);
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`prober in ${netns}: ${code} ${err}`));
      else resolve(JSON.parse(out) as boolean[]);
    });
  });
}
