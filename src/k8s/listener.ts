/**
 * The listener's wiring: informers (nodes, namespaces, pods, services, EndpointSlices) and
 * romanad's mirror feed four keyed queues (nodes, namespaces, pods, VIPs). Every replica keeps
 * its caches warm; only the leader's queues run. On becoming leader, and every resync period,
 * every key is queued again, so a missed event is repaired by the next full sync.
 */
import {
  CoreV1Api,
  DiscoveryV1Api,
  NetworkingV1Api,
  type KubeConfig,
  type KubernetesObject,
  type V1EndpointSlice,
  type V1NetworkPolicy,
  type V1Namespace,
  type V1Node,
  type V1Pod,
  type V1Service,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { RomanadClient } from '../client/index.ts';
import type { TransportOptions } from '../client/http.ts';
import type { Cidr } from '../net/addr.ts';
import { Informer } from './informer.ts';
import type { ListenerMetrics } from './metrics.ts';
import { NamespaceSync } from './namespace-sync.ts';
import { NetpolSync } from './netpol-sync.ts';
import type { NodeHostOptions } from './node-host.ts';
import { NodeSync } from './node-sync.ts';
import { PodSync } from './pod-sync.ts';
import { WorkQueue, type Outcome } from './queue.ts';
import { RomanadMirror } from './romanad-mirror.ts';
import { VipSync } from './vip-sync.ts';

export interface ListenerOptions {
  kc: KubeConfig;
  client: RomanadClient;
  romanadUrl: string;
  transport: TransportOptions;
  log: Logger;
  metrics: ListenerMetrics;
  nodeHost: NodeHostOptions;
  gcGraceMs: number;
  nodeGraceMs: number;
  resyncMs: number;
  vipPool?: Cidr;
  /** Follow NetworkPolicies into romanad's `kube.` policies. */
  networkPolicies: boolean;
}

export class Listener {
  readonly informers: Informer<KubernetesObject>[] = [];
  readonly mirror: RomanadMirror;
  readonly #o: ListenerOptions;
  readonly #queues: WorkQueue[] = [];
  readonly #nodesQ: WorkQueue;
  readonly #nsQ: WorkQueue;
  readonly #podsQ: WorkQueue;
  readonly #vipsQ: WorkQueue;
  readonly #netpolQ: WorkQueue | undefined;
  readonly netpolSync: NetpolSync | undefined;
  readonly nodeSync: NodeSync;
  readonly nsSync: NamespaceSync;
  readonly podSync: PodSync;
  readonly vipSync: VipSync;
  #leading = false;
  #stopped = false;
  #resync: NodeJS.Timeout | undefined;

  constructor(o: ListenerOptions) {
    this.#o = o;
    const core = o.kc.makeApiClient(CoreV1Api);
    const discovery = o.kc.makeApiClient(DiscoveryV1Api);
    const { log, metrics } = o;
    this.mirror = new RomanadMirror({
      ...o.transport,
      client: o.client,
      baseUrl: o.romanadUrl,
      onHost: (name) => {
        this.#nodesQ.add(name);
        this.#vipsForAll();
      },
      onAddress: (now, prev) => {
        for (const k of this.podSync.addressChanged(now, prev)) this.#podsQ.add(k);
        const host = now?.host ?? prev?.host;
        if (host !== undefined && this.nodes.get(host) === undefined) this.#nodesQ.add(host);
      },
      onVip: (name) => {
        const v = this.mirror.vips.get(name);
        const k = v && VipSync.vipKey(v);
        if (k) this.#vipsQ.add(k);
      },
      onVipCidr: (vipCidr) => {
        if (o.vipPool !== undefined) return; // --vip-cidr wins
        log.info({ vipCidr }, "the topology's VIP pool changed");
        this.#vipsForAll();
      },
      onError: (err) => {
        metrics.errors.inc({ where: 'romanad-watch' });
        log.warn({ err: err.message }, 'romanad watch interrupted; resuming');
      },
    });
    const nodes = this.#informer<V1Node>(
      'nodes',
      '/api/v1/nodes',
      () => core.listNode(),
      (n) => {
        this.#nodesQ.add(n.metadata!.name!);
        this.#vipsForAll();
      },
    );
    const namespaces = this.#informer<V1Namespace>(
      'namespaces',
      '/api/v1/namespaces',
      () => core.listNamespace(),
      (n) => this.#nsQ.add(n.metadata!.name!),
    );
    const pods = this.#informer<V1Pod>(
      'pods',
      '/api/v1/pods',
      () => core.listPodForAllNamespaces(),
      (p) => this.#podsQ.add(`${p.metadata!.namespace}/${p.metadata!.name}`),
    );
    const services = this.#informer<V1Service>(
      'services',
      '/api/v1/services',
      () => core.listServiceForAllNamespaces(),
      (s) => this.#vipsQ.add(`${s.metadata!.namespace}/${s.metadata!.name}`),
    );
    const slices = this.#informer<V1EndpointSlice>(
      'endpointslices',
      '/apis/discovery.k8s.io/v1/endpointslices',
      () => discovery.listEndpointSliceForAllNamespaces(),
      (s) => {
        const k = VipSync.sliceKey(s);
        if (k) this.#vipsQ.add(k);
      },
    );
    this.nodes = nodes;
    if (o.networkPolicies) {
      const networking = o.kc.makeApiClient(NetworkingV1Api);
      const policies = this.#informer<V1NetworkPolicy>(
        'networkpolicies',
        '/apis/networking.k8s.io/v1/networkpolicies',
        () => networking.listNetworkPolicyForAllNamespaces(),
        (p) => this.#netpolQ?.add(`${p.metadata!.namespace}/${p.metadata!.name}`),
      );
      this.netpolSync = new NetpolSync({ client: o.client, core, policies, log, metrics });
      const sync = this.netpolSync;
      this.#netpolQ = this.#queue('networkpolicies', (k) => sync.reconcile(k));
    }
    const common = { client: o.client, log, metrics, mirror: this.mirror };
    this.nodeSync = new NodeSync({
      ...common,
      core,
      nodes,
      options: o.nodeHost,
      nodeGraceMs: o.nodeGraceMs,
    });
    this.nsSync = new NamespaceSync({ ...common, namespaces });
    this.podSync = new PodSync({ ...common, pods, gcGraceMs: o.gcGraceMs });
    this.vipSync = new VipSync({ ...common, core, services, slices, nodes, pool: o.vipPool });
    this.#nodesQ = this.#queue('nodes', (k) => this.nodeSync.reconcile(k));
    this.#nsQ = this.#queue('namespaces', (k) => this.nsSync.reconcile(k));
    this.#podsQ = this.#queue('pods', (k) => this.podSync.reconcile(k), 8);
    this.#vipsQ = this.#queue('vips', (k) => this.vipSync.reconcile(k), 1);
  }

  readonly nodes: Informer<V1Node>;

  #informer<T extends KubernetesObject>(
    name: string,
    path: string,
    list: () => Promise<{ items: T[]; metadata?: { resourceVersion?: string } }>,
    changed: (obj: T) => void,
  ): Informer<T> {
    const { log, metrics } = this.#o;
    const seen = (event: string) => (obj: T) => {
      metrics.objectsSeen.inc({ resource: name, event });
      changed(obj);
    };
    const inf = new Informer<T>(this.#o.kc, {
      name,
      path,
      list,
      onAdd: seen('add'),
      onUpdate: seen('update'),
      onDelete: seen('delete'),
      onList: () => {
        metrics.relists.inc({ resource: name });
        metrics.synced.set({ resource: name }, 1);
        log.info({ resource: name, resourceVersion: inf.resourceVersion }, 'informer listed');
      },
      onError: (err) => {
        metrics.errors.inc({ where: `informer-${name}` });
        log.warn({ resource: name, err: String(err) }, 'list/watch failed; resuming');
      },
    });
    this.informers.push(inf as unknown as Informer<KubernetesObject>);
    return inf;
  }

  #queue(name: string, reconcile: (key: string) => Promise<Outcome>, concurrency = 4): WorkQueue {
    const { log, metrics } = this.#o;
    const q = new WorkQueue(reconcile, {
      concurrency,
      onError: (key, err, attempt) => {
        metrics.errors.inc({ where: name });
        metrics.syncs.inc({ controller: name, result: 'error' });
        log.warn(
          { controller: name, key, attempt, err: String(err) },
          'reconcile failed; retrying',
        );
      },
    });
    this.#queues.push(q);
    return q;
  }

  /** A node or host changed: every VIP may have to move. */
  #vipsForAll(): void {
    if (!this.#leading) return;
    for (const k of this.vipSync.keys()) this.#vipsQ.add(k);
  }

  /** Why the listener is not ready, or undefined. */
  notReady(): string | undefined {
    const waiting = this.informers.filter((i) => !i.synced).map((i) => i.name);
    if (waiting.length > 0) return `informers not synced yet: ${waiting.join(', ')}`;
    if (!this.mirror.loaded) return "romanad's state not loaded yet";
    return undefined;
  }

  get leading(): boolean {
    return this.#leading;
  }

  /** Starts the informers and loads romanad's state (retrying until romanad answers or stop). */
  async start(): Promise<void> {
    for (const i of this.informers) i.start();
    for (let attempt = 1; ; attempt++) {
      if (this.#stopped) return;
      try {
        await this.mirror.start();
        break;
      } catch (err) {
        this.#o.metrics.errors.inc({ where: 'romanad' });
        this.#o.log.warn({ attempt, err: String(err) }, 'romanad not reachable yet; retrying');
        await new Promise((r) => setTimeout(r, Math.min(5000, 100 * 2 ** attempt)));
      }
    }
    this.podSync.rebuildIndex();
  }

  /** This replica now acts: once everything has synced, queue every key and work. */
  async lead(): Promise<void> {
    this.#leading = true;
    while (this.#leading && this.notReady() !== undefined) {
      await new Promise((r) => setTimeout(r, 20));
    }
    if (!this.#leading) return;
    for (const q of this.#queues) q.start();
    await this.fullSync();
    this.#resync = setInterval(() => {
      this.fullSync().catch((err: unknown) => {
        this.#o.metrics.errors.inc({ where: 'resync' });
        this.#o.log.warn({ err: String(err) }, 'full sync failed');
      });
    }, this.#o.resyncMs);
    this.#resync.unref();
  }

  /** This replica stops acting (reconciles in flight finish). */
  follow(): void {
    this.#leading = false;
    clearInterval(this.#resync);
    for (const q of this.#queues) q.stop();
  }

  async fullSync(): Promise<void> {
    for (const k of this.nodeSync.keys()) this.#nodesQ.add(k);
    for (const k of await this.nsSync.keys()) this.#nsQ.add(k);
    for (const k of this.podSync.keys()) this.#podsQ.add(k);
    for (const k of this.vipSync.keys()) this.#vipsQ.add(k);
    if (this.netpolSync) for (const k of await this.netpolSync.keys()) this.#netpolQ!.add(k);
  }

  /** Resolves once every queue is idle (for tests and the benchmark). */
  async idle(): Promise<void> {
    await Promise.all(this.#queues.map((q) => q.idle()));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.follow();
    this.mirror.stop();
    await Promise.all(this.informers.map((i) => i.stop()));
  }
}
