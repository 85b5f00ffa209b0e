/**
 * The upstream network-policy test model (kubernetes test/e2e/network/netpol) on a Romana
 * fabric, driven as in a cluster: namespaces x, y, z and pods a, b, c in each (labels, named
 * container ports) are objects of the test Kubernetes API server, NetworkPolicies are created,
 * updated and deleted there, and the real listener process carries them into romanad, whose
 * agents on two hosts enforce them. The oracle (src/policy/evaluate.ts) reads the API server's
 * objects, never romanad's view; a probe of all 81 pairs runs from inside the pods, in
 * parallel, and a printed truth-table diff shows any disagreement.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { RomanadClient } from '../../src/client/index.ts';
import { fromNetworkPolicy } from '../../src/k8s/netpol.ts';
import { allowed } from '../../src/policy/evaluate.ts';
import type { KubeNamespace, KubePod, KubePolicy } from '../../src/policy/kube-model.ts';
import { Fabric, sleep, until } from '../helpers/fabric.ts';
import {
  startKubeApiServer,
  type KubeApiServer,
  type KubeObject,
} from '../helpers/kube-apiserver/index.ts';
import { startListener, until as waitUntil, type ListenerProcess } from '../helpers/listener.ts';
import { Prober, SERVER, type Probe } from './netpol-probe.ts';

export type { Probe } from './netpol-probe.ts';

export const NAMESPACES = ['x', 'y', 'z'] as const;
export const PODS = ['a', 'b', 'c'] as const;
export const PORTS = [80, 81] as const;
export const PROTOCOLS = ['TCP', 'UDP'] as const;

const ADMIN_TOKEN = 'fabric-admin-token-0123456789';
const NETPOL = 'networking.k8s.io/v1';

/** What the oracle sees: the API server's pods, namespaces and NetworkPolicies. */
interface Truth {
  pods: KubePod[];
  namespaces: KubeNamespace[];
  policies: KubePolicy[];
}

/** A Pod object of the model, as the kubelet would have it once running. */
function podObject(ns: string, name: string, node: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace: ns, name, labels: { pod: name } },
    spec: {
      nodeName: node,
      containers: [
        {
          name: 'serve',
          image: 'netpol-server',
          ports: PORTS.flatMap((port) =>
            PROTOCOLS.map((protocol) => ({
              name: `serve-${port}-${protocol.toLowerCase()}`,
              containerPort: port,
              protocol,
            })),
          ),
        },
      ],
    },
  };
}

/** A Pod object as the evaluator's pod (labels, IP from the status, named container ports). */
function asKubePod(o: KubeObject): KubePod {
  const spec = o['spec'] as { containers: { ports?: Record<string, unknown>[] }[] };
  const status = (o['status'] ?? {}) as { podIP?: string };
  return {
    namespace: o.metadata.namespace!,
    name: o.metadata.name!,
    ip: status.podIP ?? '',
    labels: { ...(o.metadata.labels ?? {}) },
    ports: spec.containers.flatMap((c) =>
      (c.ports ?? []).map((p) => ({
        name: String(p['name']),
        port: Number(p['containerPort']),
        protocol: String(p['protocol'] ?? 'TCP'),
      })),
    ),
  };
}

/** A NetworkPolicy object as the evaluator's policy: its spec as it is, nothing normalised. */
function asKubePolicy(o: KubeObject): KubePolicy {
  const ns = o.metadata.namespace!;
  return {
    id: `kube.${ns}.${o.metadata.name!}`,
    namespace: ns,
    ...(o['spec'] as object),
  } as KubePolicy;
}

/** The model: the fabric, the API server holding its 9 pods, and the listener between them. */
export class Model {
  readonly f: Fabric;
  readonly client: RomanadClient;
  /** The pods by `namespace/name`, with the IP the CNI plugin gave each. */
  readonly pods = new Map<string, { ip: string }>();
  readonly #probers = new Map<string, Prober>();
  readonly #dir = mkdtempSync(path.join(os.tmpdir(), 'netpol-model-'));
  #api: KubeApiServer | undefined;
  #listener: ListenerProcess | undefined;
  #truth: Truth | undefined;

  constructor(tag: string) {
    this.f = new Fabric(tag, ['h1', 'h2'], { use_policy: true });
    this.client = undefined as unknown as RomanadClient;
  }

  get api(): KubeApiServer {
    return this.#api!;
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
      token: ADMIN_TOKEN,
    });
    this.#api = await startKubeApiServer({ bookmarkMs: 500 });
    await f.startAgents(['--policy', '--policy-mode', 'kubernetes']);
    let i = 0;
    for (const ns of NAMESPACES) {
      this.api.create({
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: ns, labels: { ns } },
      });
      for (const p of PODS) {
        const host = i++ % 2 === 0 ? 'h1' : 'h2';
        const obj = this.api.create(podObject(ns, p, host));
        const pod = await f.addPod(`${ns}${p}`, host, ns, undefined, p);
        this.api.updateStatus({
          ...obj,
          status: { phase: 'Running', podIP: pod.ip, podIPs: [{ ip: pod.ip }] },
        });
        this.pods.set(`${ns}/${p}`, { ip: pod.ip });
        f.spawnInPod(`${ns}${p}`, ['python3', '-c', SERVER, ...PORTS.map(String)]);
      }
    }
    await this.#startListener();
    await this.#settled('the pods and namespaces');
    for (const key of this.pods.keys()) {
      const name = `${key[0]}${key[2]}`;
      await until(`the servers in ${name}`, () => {
        const ss = String(f.inPod(name, ['ss', '-lntu']).stdout);
        return ss.split(':80 ').length >= 3 && ss.split(':81 ').length >= 3;
      });
    }
  }

  async #startListener(): Promise<void> {
    const tokenFile = path.join(this.#dir, 'token');
    writeFileSync(tokenFile, `${ADMIN_TOKEN}\n`);
    chmodSync(tokenFile, 0o600);
    this.#listener = await startListener([
      ...['--kubeconfig', this.api.kubeconfigPath, '--romanad-url', this.f.romanad.url],
      ...['--token-file', tokenFile, '--log-level', 'info', '--no-leader-elect'],
    ]);
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
    await this.#listener?.stop();
    await this.#api?.close();
    await this.f.close();
    rmSync(this.#dir, { recursive: true, force: true });
  }

  /** Replaces a pod's labels in the API server; resolves once romanad has them. */
  async setPodLabels(key: string, labels: Record<string, string>): Promise<void> {
    const [ns, name] = key.split('/') as [string, string];
    const o = this.api.get('v1', 'Pod', name, ns)!;
    this.api.update({ ...o, metadata: { ...o.metadata, labels } });
    await this.#settled(`pod ${key} labels ${JSON.stringify(labels)}`);
  }

  /** Replaces a namespace's labels in the API server; resolves once romanad has them. */
  async setNamespaceLabels(name: string, labels: Record<string, string>): Promise<void> {
    const o = this.api.get('v1', 'Namespace', name)!;
    this.api.update({ ...o, metadata: { ...o.metadata, labels } });
    await this.#settled(`namespace ${name} labels ${JSON.stringify(labels)}`);
  }

  /**
   * Makes `policies` the whole set of NetworkPolicies in the API server (created, updated or
   * deleted there), and resolves once the listener has carried them into romanad.
   */
  async setPolicies(policies: KubePolicy[]): Promise<void> {
    const want = new Map<string, KubePolicy>();
    for (const p of policies) want.set(p.id.slice(`kube.${p.namespace}.`.length), p);
    const have = this.api.list(NETPOL, 'NetworkPolicy');
    for (const o of have) {
      const ns = o.metadata.namespace!;
      const p = want.get(o.metadata.name!);
      if (p === undefined || p.namespace !== ns)
        this.api.delete(NETPOL, 'NetworkPolicy', o.metadata.name!, ns);
    }
    for (const [name, p] of want) {
      const { id: _id, namespace, ...spec } = p;
      const old = this.api.get(NETPOL, 'NetworkPolicy', name, namespace);
      const obj = {
        apiVersion: NETPOL,
        kind: 'NetworkPolicy',
        metadata: { namespace, name },
        spec,
      };
      if (old === undefined) this.api.create(obj);
      else this.api.update({ ...obj, metadata: old.metadata });
    }
    await this.#settled(`${policies.length} policies`);
  }

  /** The API server's objects, as the evaluator takes them. */
  #readTruth(): Truth {
    return {
      pods: this.api.list('v1', 'Pod').map(asKubePod),
      namespaces: this.api
        .list('v1', 'Namespace')
        .map((o) => ({ name: o.metadata.name!, labels: { ...(o.metadata.labels ?? {}) } })),
      policies: this.api.list(NETPOL, 'NetworkPolicy').map(asKubePolicy),
    };
  }

  /**
   * Waits until romanad holds what the API server holds (the listener applied it): every
   * NetworkPolicy as its `kube.` policy and no other, every pod's labels and ports on its
   * address, every namespace's labels.
   */
  async #settled(what: string): Promise<void> {
    await waitUntil(
      `the listener to apply ${what}`,
      async () => {
        const [policies, addresses, namespaces] = await Promise.all([
          this.client.listPolicies(),
          this.client.listAddresses(),
          this.client.listNamespaces(),
        ]);
        const want = this.api.list(NETPOL, 'NetworkPolicy').map((o) => {
          const r = fromNetworkPolicy(o as never);
          if (!r.ok) throw new Error(`${r.id} refused: ${r.problems.join('; ')}`);
          return r.policy;
        });
        const held = policies.filter((p) => p.id?.startsWith('kube.'));
        if (held.length !== want.length) return false;
        for (const w of want) {
          const h = held.find((p) => p.id === w.id);
          if (
            h === undefined ||
            !isDeepStrictEqual(JSON.parse(JSON.stringify(h)), JSON.parse(JSON.stringify(w)))
          )
            return false;
        }
        for (const o of this.api.list('v1', 'Pod')) {
          const pod = asKubePod(o);
          const a = addresses.find((x) => x.ip === pod.ip);
          if (!isDeepStrictEqual(a?.pod?.labels ?? {}, pod.labels)) return false;
          if ((a?.pod?.ports ?? []).length !== pod.ports.length) return false;
        }
        for (const ns of NAMESPACES) {
          const o = this.api.get('v1', 'Namespace', ns)!;
          const h = namespaces.find((n) => n.name === ns);
          if (!isDeepStrictEqual(h?.labels ?? {}, o.metadata.labels ?? {})) return false;
        }
        return true;
      },
      15_000,
    );
  }

  /** The oracle's answer for one probe; a pod's traffic to itself never leaves it. */
  expected(p: Probe): boolean {
    if (p.from === p.to) return true;
    const t = (this.#truth ??= this.#readTruth());
    return allowed(t.policies, t.pods, t.namespaces, p.from, p.to, p.port, p.protocol);
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
    this.#truth = this.#readTruth();
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
