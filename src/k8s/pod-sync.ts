/**
 * Pods → endpoints, and address garbage collection. Each key is a pod (`namespace/name`); its
 * reconcile looks at every romanad address linked to that pod name and either keeps the link in
 * step with the pod (labels, uid, container ports) or, when the pod is gone or finished,
 * releases the address (`gc.ts` decides; each release is logged with its pod and counted).
 */
import type { V1Pod } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { RomanadClient } from '../client/index.ts';
import { gcVerdict, podOfAddressName, TERMINAL_PHASES, type PodRef } from './gc.ts';
import type { Informer } from './informer.ts';
import type { ListenerMetrics } from './metrics.ts';
import { isStatus } from './node-sync.ts';
import { podLink, sameLink } from './pod-link.ts';
import type { Outcome } from './queue.ts';
import type { AddressRecord, RomanadMirror } from './romanad-mirror.ts';

export interface PodSyncDeps {
  client: RomanadClient;
  pods: Informer<V1Pod>;
  mirror: RomanadMirror;
  log: Logger;
  metrics: ListenerMetrics;
  /** How long an address stays after its pod was last seen (default 5 min). */
  gcGraceMs: number;
  now?: () => number;
}

/** The pod key (`namespace/name`) an address belongs to, if it is a pod's. */
export function podKeyOf(a: AddressRecord): string | undefined {
  const ref: PodRef | undefined = a.pod ?? podOfAddressName(a.name);
  return ref ? `${ref.namespace}/${ref.name}` : undefined;
}

export class PodSync {
  readonly #d: PodSyncDeps;
  readonly #now: () => number;
  /** Address names by pod key. */
  readonly #byPod = new Map<string, Set<string>>();
  /** When each address was first seen without its pod. */
  readonly #missingSince = new Map<string, number>();

  constructor(deps: PodSyncDeps) {
    this.#d = deps;
    this.#now = deps.now ?? Date.now;
  }

  /** Rebuilds the index from the mirror (after it loaded or started over). */
  rebuildIndex(): void {
    this.#byPod.clear();
    for (const a of this.#d.mirror.addresses.values()) this.addressChanged(a, undefined);
  }

  /** Keeps the index in step with one address change; returns the pod keys concerned. */
  addressChanged(now: AddressRecord | undefined, prev: AddressRecord | undefined): string[] {
    const keys: string[] = [];
    const before = prev && podKeyOf(prev);
    if (before !== undefined) {
      this.#byPod.get(before)?.delete(prev!.name);
      if (this.#byPod.get(before)?.size === 0) this.#byPod.delete(before);
      keys.push(before);
    }
    const after = now && podKeyOf(now);
    if (after !== undefined) {
      let set = this.#byPod.get(after);
      if (set === undefined) this.#byPod.set(after, (set = new Set()));
      set.add(now!.name);
      if (after !== before) keys.push(after);
    }
    if (now === undefined && prev !== undefined) this.#missingSince.delete(prev.name);
    return keys;
  }

  /** Every key of a full sync: pods that have addresses (pods without one have nothing to do). */
  keys(): string[] {
    return [...this.#byPod.keys()];
  }

  async reconcile(key: string): Promise<Outcome> {
    const names = [...(this.#byPod.get(key) ?? [])];
    if (names.length === 0) return;
    const slash = key.indexOf('/');
    const pod = this.#d.pods.get(key.slice(slash + 1), key.slice(0, slash));
    let again: number | undefined;
    for (const name of names) {
      const a = this.#d.mirror.addresses.get(name);
      if (a === undefined) continue;
      const next = await this.#one(a, pod);
      if (next !== undefined) again = Math.min(again ?? Infinity, next);
    }
    return again === undefined ? undefined : { againInMs: Math.max(0, again) };
  }

  /** One address of the pod: link, keep, release, or wait (returns ms to wait). */
  async #one(a: AddressRecord, pod: V1Pod | undefined): Promise<number | undefined> {
    const facts = pod && { uid: pod.metadata?.uid ?? '', phase: pod.status?.phase };
    const now = this.#now();
    const v = gcVerdict(a.pod, facts, this.#missingSince.get(a.name), now, this.#d.gcGraceMs);
    if (v.kind === 'wait') {
      if (!this.#missingSince.has(a.name)) this.#missingSince.set(a.name, now);
      return v.atMs - now;
    }
    this.#missingSince.delete(a.name);
    if (v.kind === 'release') return this.#release(a, v.why, pod);
    // kept: a pod address whose pod exists, or an address not linked yet whose name is a pod's
    if (pod === undefined) return undefined;
    if (a.pod === undefined && TERMINAL_PHASES.has(pod.status?.phase ?? '')) return undefined;
    const want = podLink(pod);
    if (sameLink(a.pod, want)) return undefined;
    await this.#d.client.setAddressPod(a.name, want);
    this.#d.metrics.syncs.inc({ controller: 'pods', result: 'changed' });
    this.#d.log.debug(
      { address: a.name, pod: `${want.namespace}/${want.name}` },
      'address linked to its pod',
    );
    return undefined;
  }

  async #release(a: AddressRecord, why: string, pod: V1Pod | undefined): Promise<undefined> {
    try {
      await this.#d.client.releaseAddress(a.name);
    } catch (err) {
      if (!isStatus(err, 404)) throw err;
      return undefined; // released meanwhile (a CNI DEL)
    }
    const reason =
      pod === undefined
        ? 'pod-gone'
        : pod.metadata?.uid !== a.pod?.uid
          ? 'pod-replaced'
          : 'pod-finished';
    this.#d.metrics.gcReleases.inc({ reason });
    this.#d.log.info(
      { address: a.name, ip: a.ip, host: a.host, pod: a.pod, reason, why },
      'address released by the garbage collector',
    );
    return undefined;
  }
}
