/**
 * Services → VIPs. A Service annotated `romana.io/vip` (or a 2.x key) gets a VIP in romanad,
 * named `<service>.<namespace>`, held by a Ready node that has a ready endpoint of the Service;
 * when that node stops qualifying the VIP moves. The Service gets the address in
 * `spec.externalIPs` (and, for `type: LoadBalancer` with `loadBalancerClass: romana.io/vip`, in
 * `status.loadBalancer.ingress`). Removing the annotation or the Service frees the VIP.
 */
import {
  PatchStrategy,
  setHeaderOptions,
  type CoreV1Api,
  type V1EndpointSlice,
  type V1Node,
  type V1Service,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { RomanadClient } from '../client/index.ts';
import type { Vip } from '../client/types.ts';
import type { Cidr } from '../net/addr.ts';
import type { Informer } from './informer.ts';
import type { ListenerMetrics } from './metrics.ts';
import { isStatus } from './node-sync.ts';
import type { Outcome } from './queue.ts';
import type { RomanadMirror } from './romanad-mirror.ts';
import {
  LB_CLASS,
  nodeReady,
  parseVipAnnotation,
  pickPoolIp,
  placeVip,
  vipCandidates,
  vipName,
  vipPool,
} from './vip.ts';

export interface VipSyncDeps {
  client: RomanadClient;
  core: CoreV1Api;
  services: Informer<V1Service>;
  slices: Informer<V1EndpointSlice>;
  nodes: Informer<V1Node>;
  mirror: RomanadMirror;
  log: Logger;
  metrics: ListenerMetrics;
  /** `--vip-cidr`: wins over the topology's `vip_cidr` (read from the mirror). */
  pool?: Cidr;
}

const SERVICE_LABEL = 'kubernetes.io/service-name';
const MERGE = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export class VipSync {
  readonly #d: VipSyncDeps;
  /** VIPs written by this process, ahead of the mirror catching up. */
  readonly #written = new Map<string, Vip>();
  /** Last problem logged per service, so that a bad annotation is logged once. */
  readonly #problems = new Map<string, string>();

  constructor(deps: VipSyncDeps) {
    this.#d = deps;
  }

  /** The service key of an EndpointSlice. */
  static sliceKey(s: V1EndpointSlice): string | undefined {
    const svc = s.metadata?.labels?.[SERVICE_LABEL];
    return svc ? `${s.metadata?.namespace ?? 'default'}/${svc}` : undefined;
  }

  /** The service key of a romanad VIP, when it follows the `<service>.<namespace>` rule. */
  static vipKey(v: Vip): string | undefined {
    const ns = v.namespace;
    if (!ns || !v.name.endsWith(`.${ns}`)) return undefined;
    return `${ns}/${v.name.slice(0, -ns.length - 1)}`;
  }

  /** Every key of a full sync: annotated services and the VIPs named after a service. */
  keys(): string[] {
    const keys = new Set<string>();
    for (const s of this.#d.services.list()) {
      if (parseVipAnnotation(s.metadata?.annotations).kind !== 'none') {
        keys.add(`${s.metadata?.namespace}/${s.metadata?.name}`);
      }
    }
    for (const v of this.#d.mirror.vips.values()) {
      const k = VipSync.vipKey(v);
      if (k) keys.add(k);
    }
    return [...keys];
  }

  async reconcile(key: string): Promise<Outcome> {
    const [ns, name] = key.split('/') as [string, string];
    const svc = this.#d.services.get(name, ns);
    const vname = vipName(ns, name);
    const have = this.#current(vname);
    const req = svc ? parseVipAnnotation(svc.metadata?.annotations) : { kind: 'none' as const };
    if (req.kind === 'invalid') {
      if (this.#problems.get(key) !== req.problem) {
        this.#problems.set(key, req.problem);
        this.#d.log.warn(
          { service: key, problem: req.problem },
          'VIP annotation refused; VIP unchanged',
        );
      }
      return;
    }
    this.#problems.delete(key);
    if (req.kind === 'none') return this.#free(key, vname, have, svc);
    const ip = req.kind === 'fixed' ? req.ip : this.#poolIp(vname, have);
    if (ip === undefined) {
      this.#d.log.warn(
        { service: key, pool: this.pool()?.toString() },
        this.pool()
          ? 'the VIP pool is full'
          : "auto VIP but no pool: neither --vip-cidr nor the topology's vip_cidr",
      );
      return { againInMs: 30_000 };
    }
    const host = placeVip(vname, have?.host, this.#candidates(ns, name));
    if (host === undefined && have === undefined) return; // no ready endpoint yet
    const target = host ?? have!.host;
    if (have?.ip !== ip || have.host !== target) {
      try {
        const v = await this.#d.client.putVip(vname, { ip, host: target, namespace: ns });
        this.#written.set(vname, v);
      } catch (err) {
        if (!isStatus(err, 409) && !isStatus(err, 422)) throw err;
        this.#d.log.warn({ service: key, ip, err: String(err) }, 'romanad refused the VIP');
        this.#d.metrics.syncs.inc({ controller: 'vips', result: 'refused' });
        return { againInMs: 10_000 };
      }
      this.#d.log.info(
        { service: key, vip: vname, ip, host: target, from: have?.host },
        have ? 'VIP moved' : 'VIP placed',
      );
      this.#d.metrics.syncs.inc({ controller: 'vips', result: 'changed' });
    }
    await this.#publish(svc!, ip, have?.ip);
  }

  #current(vname: string): Vip | undefined {
    const m = this.#d.mirror.vips.get(vname);
    const w = this.#written.get(vname);
    if (w && (!m || m.ip !== w.ip || m.host !== w.host)) return w;
    return m;
  }

  /** The pool of auto VIPs: `--vip-cidr`, else the topology's `vip_cidr`. */
  pool(): Cidr | undefined {
    const topology = this.#d.mirror.vipCidr;
    if (this.#d.pool === undefined && this.#topologyPool?.text !== topology) {
      this.#topologyPool = { text: topology, cidr: vipPool(undefined, topology) };
    }
    return this.#d.pool ?? this.#topologyPool?.cidr;
  }

  #topologyPool: { text: string | undefined; cidr: Cidr | undefined } | undefined;

  #poolIp(vname: string, have: Vip | undefined): string | undefined {
    const pool = this.pool();
    if (pool === undefined) return undefined;
    const used = new Set<string>();
    for (const v of this.#d.mirror.vips.values()) if (v.name !== vname) used.add(v.ip);
    for (const v of this.#written.values()) if (v.name !== vname) used.add(v.ip);
    return pickPoolIp(pool, used, have?.ip);
  }

  #candidates(ns: string, name: string): string[] {
    const slices = this.#d.slices
      .list(ns)
      .filter((s) => s.metadata?.labels?.[SERVICE_LABEL] === name);
    const ready = new Set(
      this.#d.nodes
        .list()
        .filter(nodeReady)
        .map((n) => n.metadata?.name ?? ''),
    );
    return vipCandidates(slices, ready, new Set(this.#d.mirror.hosts.keys()));
  }

  /** The annotation or the Service is gone: the address leaves the Service, then the VIP goes. */
  async #free(key: string, vname: string, have: Vip | undefined, svc: V1Service | undefined) {
    if (have === undefined || VipSync.vipKey(have) !== key) return;
    if (svc) await this.#publish(svc, undefined, have.ip);
    try {
      await this.#d.client.removeVip(vname);
    } catch (err) {
      if (!isStatus(err, 404)) throw err;
    }
    this.#written.delete(vname);
    this.#d.log.info({ service: key, vip: vname, ip: have.ip }, 'VIP freed');
    this.#d.metrics.syncs.inc({ controller: 'vips', result: 'removed' });
  }

  /** Puts `ip` (instead of `old`) in the Service's externalIPs and, for our LB class, status. */
  async #publish(svc: V1Service, ip: string | undefined, old: string | undefined): Promise<void> {
    const name = svc.metadata!.name!;
    const namespace = svc.metadata!.namespace!;
    const current = svc.spec?.externalIPs ?? [];
    const want = current.filter((a) => a !== old && a !== ip);
    if (ip !== undefined) want.push(ip);
    if (want.length !== current.length || want.some((a, i) => a !== current[i])) {
      const body = {
        metadata: { resourceVersion: svc.metadata?.resourceVersion },
        spec: { externalIPs: want.length > 0 ? want : null },
      };
      await this.#d.core.patchNamespacedService({ name, namespace, body }, MERGE);
    }
    if (svc.spec?.type !== 'LoadBalancer' || svc.spec.loadBalancerClass !== LB_CLASS) return;
    const ingress = svc.status?.loadBalancer?.ingress ?? [];
    const wantIngress = ip === undefined ? [] : [{ ip }];
    if (
      ingress.length === wantIngress.length &&
      ingress.every((g, i) => g.ip === wantIngress[i]!.ip)
    ) {
      return;
    }
    await this.#d.core.patchNamespacedServiceStatus(
      { name, namespace, body: { status: { loadBalancer: { ingress: wantIngress } } } },
      MERGE,
    );
  }
}
