/**
 * The upstream network-policy test model (kubernetes test/e2e/network/netpol) on a Romana
 * fabric: namespaces x, y, z with pods a, b, c each, spread over two hosts, every pod serving
 * TCP and UDP on 80 and 81; a probe of all 81 pairs from inside the pods, in parallel; the
 * oracle's truth table (src/policy/evaluate.ts) and a printed diff when they differ.
 */
import { spawn, type ChildProcess } from 'node:child_process';
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

/**
 * A prober living in a pod: reads one JSON list of targets per line, tries them all at once
 * (TCP connect and read, or a UDP datagram and its answer) until `timeout` seconds, and prints
 * one JSON list of booleans per line.
 */
const PROBER = `
import json, select, socket, sys, time
for line in sys.stdin:
    req = json.loads(line); timeout = req['timeout']; targets = req['targets']
    ok = [False] * len(targets); socks = {}
    for i, t in enumerate(targets):
        if t['p'] == 'TCP':
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM); s.setblocking(False)
            try: s.connect((t['ip'], t['port']))
            except BlockingIOError: pass
            except OSError: s.close(); continue
        else:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.setblocking(False)
            try: s.sendto(b'ping', (t['ip'], t['port']))
            except OSError: s.close(); continue
        socks[s] = i
    end = time.time() + timeout
    while socks and time.time() < end:
        r, _, _ = select.select(list(socks), [], [], max(0, end - time.time()))
        for s in r:
            i = socks.pop(s)
            try: ok[i] = b'pong' in s.recv(64)
            except OSError: pass
            s.close()
    for s in socks: s.close()
    sys.stdout.write(json.dumps(ok) + '\\n'); sys.stdout.flush()
`;

/**
 * The pod's server: TCP and UDP on every port given, answering `pong` to each connection or
 * datagram, all from one small process (one per pod; socat's forking UDP listener loses
 * datagrams that arrive together).
 */
const SERVER = `
import selectors, socket, sys
sel = selectors.DefaultSelector()
for port in map(int, sys.argv[1:]):
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.bind(('0.0.0.0', port)); t.listen(256); t.setblocking(False)
    sel.register(t, selectors.EVENT_READ, 'tcp')
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(('0.0.0.0', port)); u.setblocking(False)
    sel.register(u, selectors.EVENT_READ, 'udp')
while True:
    for key, _ in sel.select():
        s = key.fileobj
        try:
            if key.data == 'tcp':
                c, _ = s.accept(); c.setblocking(True); c.settimeout(1)
                c.sendall(b'pong\\n'); c.close()
            else:
                _, peer = s.recvfrom(2048); s.sendto(b'pong\\n', peer)
        except OSError:
            pass
`;

/** The model: the fabric, its 9 pods, their labels and namespaces' labels as romanad has them. */
export class Model {
  readonly f: Fabric;
  readonly client: RomanadClient;
  readonly pods = new Map<string, KubePod>();
  readonly namespaces = new Map<string, KubeNamespace>();
  readonly #addressOf = new Map<string, string>();
  readonly #policies = new Map<string, KubePolicy>();
  readonly #probers = new Map<string, Prober>();

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
        f.spawnInPod(`${ns}${p}`, ['python3', '-c', SERVER, ...PORTS.map(String)]);
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

  #prober(key: string): Prober {
    let p = this.#probers.get(key);
    if (p === undefined) {
      p = new Prober(`${this.f.prefix}-${key[0]}${key[2]}`);
      this.#probers.set(key, p);
    }
    return p;
  }

  async close(): Promise<void> {
    for (const p of this.#probers.values()) p.close();
    await this.f.close();
  }

  /** Sends a pod's labels and named ports to romanad. */
  async pushPod(key: string): Promise<void> {
    const pod = this.pods.get(key)!;
    await this.client.setAddressPod(this.#addressOf.get(key)!, {
      namespace: pod.namespace,
      name: pod.name,
      labels: pod.labels,
      ports: pod.ports.map((p) => ({ ...p, protocol: p.protocol as 'TCP' | 'UDP' | 'SCTP' })),
    });
  }

  async setPodLabels(key: string, labels: Record<string, string>): Promise<void> {
    this.pods.get(key)!.labels = labels;
    await this.pushPod(key);
  }

  async setNamespaceLabels(name: string, labels: Record<string, string>): Promise<void> {
    this.namespaces.set(name, { name, labels });
    await this.client.putNamespace(name, labels);
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
  async probe(
    ports: readonly number[],
    protocols: readonly string[],
    timeout = 1,
  ): Promise<Map<string, boolean>> {
    const out = new Map<string, boolean>();
    await Promise.all(
      [...this.pods.keys()].map(async (from) => {
        const probes: Probe[] = [];
        for (const to of this.pods.keys()) {
          for (const port of ports)
            for (const protocol of protocols) probes.push({ from, to, port, protocol });
        }
        const targets = probes.map((p) => ({
          ip: this.pods.get(p.to)!.ip,
          port: p.port,
          p: p.protocol,
        }));
        const result = await this.#prober(from).ask(targets, timeout);
        probes.forEach((p, i) => out.set(probeKey(p), result[i] === true));
      }),
    );
    return out;
  }

  /**
   * Probes until the kernel agrees with the oracle (policies and labels reach the agents
   * through romanad's watch), or fails with the table diff.
   */
  async expectModel(
    what: string,
    ports: readonly number[] = PORTS,
    protocols: readonly string[] = PROTOCOLS,
  ): Promise<void> {
    const end = Date.now() + 20_000;
    let got = new Map<string, boolean>();
    let diffs: string[] = [];
    for (;;) {
      got = await this.probe(ports, protocols);
      diffs = this.#diffs(got);
      // A probe that should pass but timed out may be the load of a shared machine: ask it
      // again, alone and with more time. A probe that passed but should not is never retried.
      if (diffs.length > 0 && diffs.every((k) => !got.get(k))) {
        const again = await this.#probeKeys(diffs, 3);
        for (const [k, v] of again) got.set(k, v);
        diffs = this.#diffs(got);
      }
      if (diffs.length === 0) return;
      if (Date.now() > end) break;
      await sleep(200);
    }
    throw new Error(
      `${what}: kernel and oracle differ on ${diffs.length} probes (${diffs.join(', ')})\n${this.table(got, ports, protocols)}`,
    );
  }

  #diffs(got: Map<string, boolean>): string[] {
    return [...got].filter(([key, ok]) => this.expected(parseKey(key)) !== ok).map(([k]) => k);
  }

  async #probeKeys(keys: string[], timeout: number): Promise<Map<string, boolean>> {
    const out = new Map<string, boolean>();
    const byFrom = new Map<string, Probe[]>();
    for (const k of keys) {
      const p = parseKey(k);
      byFrom.set(p.from, [...(byFrom.get(p.from) ?? []), p]);
    }
    await Promise.all(
      [...byFrom].map(async ([from, probes]) => {
        const targets = probes.map((p) => ({
          ip: this.pods.get(p.to)!.ip,
          port: p.port,
          p: p.protocol,
        }));
        const result = await this.#prober(from).ask(targets, timeout);
        probes.forEach((p, i) => out.set(probeKey(p), result[i] === true));
      }),
    );
    return out;
  }

  /** A truth table per port/protocol: rows from, columns to; `.` agree, `X`/`-` differ. */
  table(got: Map<string, boolean>, ports: readonly number[], protocols: readonly string[]): string {
    const keys = [...this.pods.keys()];
    const lines: string[] = [];
    for (const port of ports) {
      for (const protocol of protocols) {
        lines.push(
          `${protocol}/${port}  (. agree allowed, x agree blocked, A got allowed but oracle says blocked, B got blocked but oracle says allowed)`,
        );
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

function parseKey(key: string): Probe {
  const [from, to, port, protocol] = key.split(' ');
  return { from: from!, to: to!, port: Number(port), protocol: protocol! };
}

export function probeKey(p: Probe): string {
  return `${p.from} ${p.to} ${p.port} ${p.protocol}`;
}

/** A prober process in one pod, asked one batch at a time. */
class Prober {
  readonly #child: ChildProcess;
  #buffer = '';
  #waiting: ((line: string) => void)[] = [];

  constructor(netns: string) {
    this.#child = spawn('nsenter', [`--net=${netnsPath(netns)}`, 'python3', '-u', '-c', PROBER], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    this.#child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      this.#buffer += d;
      for (let nl = this.#buffer.indexOf('\n'); nl >= 0; nl = this.#buffer.indexOf('\n')) {
        const line = this.#buffer.slice(0, nl);
        this.#buffer = this.#buffer.slice(nl + 1);
        this.#waiting.shift()?.(line);
      }
    });
  }

  ask(targets: unknown[], timeout: number): Promise<boolean[]> {
    return new Promise((resolve) => {
      this.#waiting.push((line) => resolve(JSON.parse(line) as boolean[]));
      this.#child.stdin!.write(`${JSON.stringify({ targets, timeout })}\n`);
    });
  }

  close(): void {
    this.#child.kill('SIGKILL');
  }
}
