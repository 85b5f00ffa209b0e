/**
 * Nodes → hosts: keeps romanad's host of each Node in step (address, tags from labels,
 * `k8s_info`), removes the host of a deleted Node once no address remains on it (or after a
 * grace period, releasing them), and never touches a host it did not create.
 */
import type { CoreV1Api, V1Node } from '@kubernetes/client-node';
import { RomanadApiError, type RomanadClient } from '../client/index.ts';
import type { Logger } from 'pino';
import type { Informer } from './informer.ts';
import type { ListenerMetrics } from './metrics.ts';
import {
  MANAGED_BY,
  goneNodeAction,
  hostAction,
  hostOfNode,
  type NodeHostOptions,
} from './node-host.ts';
import type { Outcome } from './queue.ts';
import type { RomanadMirror } from './romanad-mirror.ts';

export interface NodeSyncDeps {
  client: RomanadClient;
  core: CoreV1Api;
  nodes: Informer<V1Node>;
  mirror: RomanadMirror;
  log: Logger;
  metrics: ListenerMetrics;
  options: NodeHostOptions;
  /** How long a deleted node's host waits for its addresses to go before they are released. */
  nodeGraceMs: number;
  now?: () => number;
}

export class NodeSync {
  readonly #d: NodeSyncDeps;
  readonly #now: () => number;
  /** Tags romanad refused, by host: not sent again until the labels change. */
  readonly #refused = new Map<string, Record<string, string>>();
  /** When each node was first seen gone. */
  readonly #goneSince = new Map<string, number>();

  constructor(deps: NodeSyncDeps) {
    this.#d = deps;
    this.#now = deps.now ?? Date.now;
  }

  /** Every key to reconcile in a full sync: each node, and each host the listener made. */
  keys(): string[] {
    const names = new Set(this.#d.nodes.list().map((n) => n.metadata?.name ?? ''));
    for (const h of this.#d.mirror.hosts.values())
      if (h.managed_by === MANAGED_BY) names.add(h.name);
    names.delete('');
    return [...names];
  }

  async reconcile(name: string): Promise<Outcome> {
    const node = this.#d.nodes.get(name);
    if (node === undefined) return this.#gone(name);
    this.#goneSince.delete(name);
    const r = hostOfNode(node, this.#d.options);
    if ('problem' in r) {
      this.#d.log.warn({ node: name, problem: r.problem }, 'node not registered as a host');
      this.#d.metrics.syncs.inc({ controller: 'nodes', result: 'skipped' });
      return;
    }
    const have = this.#d.mirror.hosts.get(name);
    const action = hostAction(r.host, have, this.#refused.get(name));
    const { client, log } = this.#d;
    switch (action.kind) {
      case 'none':
        return;
      case 'foreign':
        log.debug({ node: name }, 'host exists and was not created by the listener: left as it is');
        return;
      case 'ip-changed':
        log.warn(
          { node: name, from: action.from, to: action.to },
          "the node's address changed; a host's address cannot change: remove the host to re-register it",
        );
        return;
      case 'add':
        try {
          await client.addHost({ ...action.host, managed_by: MANAGED_BY });
          log.info({ node: name, ip: action.host.ip, tags: action.host.tags }, 'host registered');
        } catch (err) {
          if (isStatus(err, 409)) return { againInMs: 200 }; // the mirror has not seen it yet
          if (isStatus(err, 422)) return this.#refusedAdd(node, err as RomanadApiError);
          throw err;
        }
        break;
      case 'patch':
        try {
          await client.patchHost(name, {
            ...(action.tags ? { tags: action.tags } : {}),
            ...(action.k8s_info ? { k8s_info: action.k8s_info } : {}),
          });
          this.#refused.delete(name);
          log.info({ node: name, ...action, kind: undefined }, 'host updated');
        } catch (err) {
          if (!isStatus(err, 422) || action.tags === undefined) throw err;
          await this.#refusedTags(node, action.tags, have?.tags ?? {}, err as RomanadApiError);
          if (action.k8s_info) return { againInMs: 0 };
        }
        break;
    }
    this.#d.metrics.syncs.inc({ controller: 'nodes', result: 'changed' });
  }

  async #refusedTags(
    node: V1Node,
    tags: Record<string, string>,
    kept: Record<string, string>,
    err: RomanadApiError,
  ): Promise<void> {
    const name = node.metadata!.name!;
    this.#refused.set(name, tags);
    this.#d.metrics.syncs.inc({ controller: 'nodes', result: 'refused' });
    this.#d.log.warn(
      { node: name, wanted: tags, kept, reason: err.details },
      "romanad refused the node's new labels: the host keeps its old tags",
    );
    await this.#event(
      node,
      'HostTagsRefused',
      `Romana kept host ${name}'s tags ${JSON.stringify(kept)}: romanad refused ${JSON.stringify(tags)}: ${err.details}`,
    );
  }

  async #refusedAdd(node: V1Node, err: RomanadApiError): Promise<Outcome> {
    const name = node.metadata!.name!;
    this.#d.log.warn({ node: name, reason: err.details }, 'romanad refused to register the node');
    this.#d.metrics.syncs.inc({ controller: 'nodes', result: 'refused' });
    await this.#event(
      node,
      'HostRefused',
      `Romana could not register host ${name}: ${err.details}`,
    );
    return { againInMs: 60_000 };
  }

  /** Records a Warning Event on the Node (in `default`, where Node events go). */
  async #event(node: V1Node, reason: string, message: string): Promise<void> {
    const now = new Date();
    const name = node.metadata!.name!;
    try {
      await this.#d.core.createNamespacedEvent({
        namespace: 'default',
        body: {
          metadata: { generateName: `${name}.`, namespace: 'default' },
          involvedObject: { apiVersion: 'v1', kind: 'Node', name, uid: node.metadata?.uid },
          reason,
          message: message.slice(0, 1024),
          type: 'Warning',
          source: { component: 'romana-listener' },
          reportingComponent: 'romana-listener',
          reportingInstance: process.env['HOSTNAME'] ?? 'romana-listener',
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      });
    } catch (err) {
      this.#d.metrics.errors.inc({ where: 'events' });
      this.#d.log.warn({ node: name, reason, err: String(err) }, 'could not record the Event');
    }
  }

  async #gone(name: string): Promise<Outcome> {
    const host = this.#d.mirror.hosts.get(name);
    if (host === undefined) {
      this.#goneSince.delete(name);
      return;
    }
    let since = this.#goneSince.get(name);
    if (since === undefined) this.#goneSince.set(name, (since = this.#now()));
    const addresses = this.#d.mirror.addressesOn(name);
    const a = goneNodeAction(host, addresses.length, since, this.#now(), this.#d.nodeGraceMs);
    if (a.kind === 'keep') return;
    if (a.kind === 'wait') {
      this.#d.log.info(
        { node: name, addresses: addresses.length, waitMs: a.ms },
        'node deleted; its host stays until its addresses are released',
      );
      return { againInMs: Math.min(a.ms, 10_000) };
    }
    try {
      const removed = await this.#d.client.removeHost(name, a.kind === 'force-remove');
      this.#d.log.info(
        { node: name, released: removed.releasedAddresses },
        a.kind === 'force-remove'
          ? 'node deleted; grace period over: host removed, its addresses released'
          : 'node deleted: host removed',
      );
    } catch (err) {
      if (isStatus(err, 404)) return;
      if (isStatus(err, 409)) return { againInMs: 1000 }; // an address came meanwhile
      throw err;
    }
    this.#goneSince.delete(name);
    this.#d.metrics.syncs.inc({ controller: 'nodes', result: 'removed' });
  }
}

export function isStatus(err: unknown, status: number): boolean {
  return err instanceof RomanadApiError && err.status === status;
}
