/**
 * Namespaces → tenants: romanad keeps each namespace's labels (`PUT /namespaces/{name}`), where
 * policies can select namespaces by label; a deleted namespace is deleted there too.
 */
import type { V1Namespace } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { RomanadClient } from '../client/index.ts';
import type { Informer } from './informer.ts';
import type { ListenerMetrics } from './metrics.ts';
import { sameJson } from './node-host.ts';
import { isStatus } from './node-sync.ts';
import type { Outcome } from './queue.ts';

export interface NamespaceSyncDeps {
  client: RomanadClient;
  namespaces: Informer<V1Namespace>;
  log: Logger;
  metrics: ListenerMetrics;
}

export class NamespaceSync {
  readonly #d: NamespaceSyncDeps;
  /** What romanad holds, as last read or written (undefined: unknown, read it). */
  readonly #known = new Map<string, Record<string, string> | null>();

  constructor(deps: NamespaceSyncDeps) {
    this.#d = deps;
  }

  /** Every key of a full sync: Kubernetes' namespaces and romanad's. */
  async keys(): Promise<string[]> {
    const names = new Set(this.#d.namespaces.list().map((n) => n.metadata?.name ?? ''));
    const list = await this.#d.client.listNamespaces();
    this.#known.clear();
    for (const ns of list) {
      this.#known.set(ns.name, ns.labels ?? {});
      names.add(ns.name);
    }
    names.delete('');
    return [...names];
  }

  async reconcile(name: string): Promise<Outcome> {
    const ns = this.#d.namespaces.get(name);
    const { client, log, metrics } = this.#d;
    if (ns === undefined || ns.status?.phase === 'Terminating') {
      if (ns !== undefined) return; // deleted once it is gone: its pods still hold addresses
      if (this.#known.get(name) === null) return;
      try {
        await client.deleteNamespace(name);
        log.info({ namespace: name }, 'namespace deleted in romanad');
        metrics.syncs.inc({ controller: 'namespaces', result: 'removed' });
      } catch (err) {
        if (!isStatus(err, 404)) throw err;
      }
      this.#known.set(name, null);
      return;
    }
    const labels = { ...(ns.metadata?.labels ?? {}) };
    const have = this.#known.get(name);
    if (have && sameJson(have, labels)) return;
    await client.putNamespace(name, labels);
    this.#known.set(name, labels);
    log.info({ namespace: name, labels }, 'namespace labels set in romanad');
    metrics.syncs.inc({ controller: 'namespaces', result: 'changed' });
  }
}
