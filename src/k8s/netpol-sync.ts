/**
 * NetworkPolicies → Romana policies: each NetworkPolicy is stored in romanad as the policy
 * `kube.<namespace>.<name>` (`netpol.ts` converts), on creation and on every edit (2.x ignored
 * edits); a deleted NetworkPolicy's policy is deleted, and a full sync deletes `kube.` policies
 * that no NetworkPolicy has. One that Romana cannot enforce is refused with every problem, logged
 * and recorded as an Event on the NetworkPolicy; what romanad held for it stays.
 */
import type { CoreV1Api, V1NetworkPolicy } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { RomanadClient } from '../client/index.ts';
import type { Informer } from './informer.ts';
import type { ListenerMetrics } from './metrics.ts';
import { fromNetworkPolicy, KUBE_POLICY_PREFIX, kubePolicyId } from './netpol.ts';
import { sameJson } from './node-host.ts';
import { isStatus } from './node-sync.ts';
import type { Outcome } from './queue.ts';

export interface NetpolSyncDeps {
  client: RomanadClient;
  core: CoreV1Api;
  policies: Informer<V1NetworkPolicy>;
  log: Logger;
  metrics: ListenerMetrics;
}

export class NetpolSync {
  readonly #d: NetpolSyncDeps;
  /** What this process last stored per policy id (JSON), to skip identical writes. */
  readonly #stored = new Map<string, string>();
  /** Problems last reported per key, so that a refused policy is reported once. */
  readonly #refused = new Map<string, string>();

  constructor(deps: NetpolSyncDeps) {
    this.#d = deps;
  }

  /**
   * Every key of a full sync: each NetworkPolicy, and each `kube.` policy romanad holds. What
   * romanad holds is compared with what this process last stored: a policy deleted or changed
   * there by someone else is forgotten here, so its reconcile writes it again.
   */
  async keys(): Promise<string[]> {
    const keys = new Set(
      this.#d.policies.list().map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`),
    );
    const held = new Map<string, unknown>();
    for (const p of await this.#d.client.listPolicies()) {
      const id = p.id ?? '';
      if (!id.startsWith(KUBE_POLICY_PREFIX)) continue;
      held.set(id, p);
      if (!this.#known(id)) keys.add(`id:${id}`);
    }
    for (const [id, body] of this.#stored) {
      if (!held.has(id) || !sameJson(JSON.parse(body), held.get(id))) this.#stored.delete(id);
    }
    return [...keys];
  }

  #known(id: string): boolean {
    return this.#d.policies
      .list()
      .some((p) => kubePolicyId(p.metadata?.namespace ?? '', p.metadata?.name ?? '') === id);
  }

  async reconcile(key: string): Promise<Outcome> {
    if (key.startsWith('id:')) return this.#remove(key.slice(3));
    const [ns, name] = key.split('/') as [string, string];
    const np = this.#d.policies.get(name, ns);
    const id = kubePolicyId(ns, name);
    if (np === undefined) return this.#remove(id);
    const r = fromNetworkPolicy(np);
    if (!r.ok) {
      const problems = r.problems.join('; ');
      if (this.#refused.get(key) === problems) return;
      this.#refused.set(key, problems);
      this.#d.metrics.syncs.inc({ controller: 'networkpolicies', result: 'refused' });
      this.#d.log.warn({ networkPolicy: key, problems: r.problems }, 'NetworkPolicy refused');
      await this.#event(np, `Romana cannot enforce this NetworkPolicy: ${problems}`);
      return;
    }
    this.#refused.delete(key);
    const body = JSON.stringify(r.policy);
    if (this.#stored.get(id) === body) return;
    await this.#d.client.addPolicy(r.policy);
    this.#stored.set(id, body);
    this.#d.metrics.syncs.inc({ controller: 'networkpolicies', result: 'changed' });
    this.#d.log.info({ networkPolicy: key, id }, 'NetworkPolicy stored as a Romana policy');
  }

  async #remove(id: string): Promise<Outcome> {
    if (this.#known(id)) return;
    try {
      await this.#d.client.removePolicy(id);
      this.#d.log.info({ id }, 'NetworkPolicy gone: Romana policy deleted');
      this.#d.metrics.syncs.inc({ controller: 'networkpolicies', result: 'removed' });
    } catch (err) {
      if (!isStatus(err, 404)) throw err;
    }
    this.#stored.delete(id);
  }

  async #event(np: V1NetworkPolicy, message: string): Promise<void> {
    const namespace = np.metadata?.namespace ?? 'default';
    const now = new Date();
    try {
      await this.#d.core.createNamespacedEvent({
        namespace,
        body: {
          metadata: { generateName: `${np.metadata?.name}.`, namespace },
          involvedObject: {
            apiVersion: 'networking.k8s.io/v1',
            kind: 'NetworkPolicy',
            name: np.metadata?.name,
            namespace,
            uid: np.metadata?.uid,
          },
          reason: 'PolicyRefused',
          message: message.slice(0, 1024),
          type: 'Warning',
          source: { component: 'romana-listener' },
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      });
    } catch (err) {
      this.#d.metrics.errors.inc({ where: 'events' });
      this.#d.log.warn({ err: String(err) }, 'could not record the Event');
    }
  }
}
