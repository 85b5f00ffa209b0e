/**
 * The object store behind the test API server: objects keyed by resource, namespace and name;
 * one global resourceVersion counter (like etcd's revision) stamped on every write; a bounded
 * history of changes that watches replay from, and watchers that see every change as it lands.
 *
 * Versions at or below `compactedRevision` are gone: a watch from an older version is refused
 * with 410 Expired, which is what sends informers back to a full list.
 */
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { applyDefaults, keepOnUpdate, validateObject } from './defaults.ts';
import { findResource, groupVersion, type ResourceInfo } from './resources.ts';
import { checkPreconditions, clone, type DeleteOptions, type KubeObject } from './objects.ts';
import { alreadyExists, conflict, expired, forbidden, notFound } from './status.ts';

export {
  asKubeObject,
  clone,
  type DeleteOptions,
  type KubeObject,
  type ObjectMeta,
} from './objects.ts';

export type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** One write, as watches see it. `previous` is the object before (MODIFIED, DELETED). */
export interface Change {
  type: ChangeType;
  revision: number;
  info: ResourceInfo;
  object: KubeObject;
  previous: KubeObject | undefined;
}

/** Someone following changes of every resource (the HTTP layer filters per watch). */
export interface Watcher {
  deliver(change: Change): void;
  /** History up to `revision` is gone; `force`: end the watch with an Expired ERROR anyway. */
  compacted(revision: number, force: boolean): void;
}

export interface StoreOptions {
  /** How many changes to keep for watches to replay (default 10000). */
  historyLimit?: number;
  /** Pods bound to a node wait for a second delete with grace 0 (default: deleted at once). */
  gracefulPods?: boolean;
  /** How long a deleted namespace stays Terminating before it and its contents go (1000). */
  namespaceDeletionMs?: number;
}

function isNamespace(info: ResourceInfo): boolean {
  return info.group === '' && info.resource === 'namespaces';
}

/** Which part of an object an update may change. */
export type UpdateScope = 'main' | 'status';

function resKey(info: ResourceInfo): string {
  return `${info.group}/${info.version}/${info.resource}`;
}

function now(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

const SUFFIX_CHARS = 'bcdfghjklmnpqrstvwxz2456789';

function randomSuffix(): string {
  let s = '';
  for (let i = 0; i < 5; i++) s += SUFFIX_CHARS[Math.floor(Math.random() * SUFFIX_CHARS.length)];
  return s;
}

/** Everything but metadata and status: what `generation` counts changes of. */
function specPart(obj: KubeObject): Record<string, unknown> {
  const { metadata: _m, status: _s, apiVersion: _a, kind: _k, ...rest } = obj;
  return rest;
}

export class Store {
  #objects = new Map<string, Map<string, KubeObject>>();
  #revision = 0;
  #compacted = 0;
  #history: Change[] = [];
  #historyLimit: number;
  #gracefulPods: boolean;
  #namespaceDeletionMs: number;
  #timers = new Set<NodeJS.Timeout>();
  #watchers = new Set<Watcher>();

  constructor(options: StoreOptions = {}) {
    this.#historyLimit = options.historyLimit ?? 10_000;
    this.#gracefulPods = options.gracefulPods ?? false;
    this.#namespaceDeletionMs = options.namespaceDeletionMs ?? 1000;
  }

  /** The latest resourceVersion handed out. */
  get revision(): number {
    return this.#revision;
  }

  /** Watches from a version below this are answered 410 Expired. */
  get compactedRevision(): number {
    return this.#compacted;
  }

  #bucket(info: ResourceInfo): Map<string, KubeObject> {
    const key = resKey(info);
    let b = this.#objects.get(key);
    if (b === undefined) {
      b = new Map();
      this.#objects.set(key, b);
    }
    return b;
  }

  /** The stored object (a copy), or undefined. */
  get(info: ResourceInfo, namespace: string, name: string): KubeObject | undefined {
    const o = this.#bucket(info).get(`${info.namespaced ? namespace : ''}/${name}`);
    return o === undefined ? undefined : clone(o);
  }

  /** Copies of the objects of one resource (in one namespace if given), in key order. */
  list(info: ResourceInfo, namespace?: string): KubeObject[] {
    return this.view(info, namespace).map((o) => clone(o));
  }

  /**
   * The stored objects themselves (not copies), in key order: for serializing big lists
   * quickly. Stored objects are never changed in place (a write stores a new object), so a
   * view stays as it was; callers must not change it either.
   */
  view(info: ResourceInfo, namespace?: string): readonly KubeObject[] {
    const out: [string, KubeObject][] = [];
    for (const [key, o] of this.#bucket(info)) {
      if (namespace !== undefined && info.namespaced && o.metadata.namespace !== namespace) {
        continue;
      }
      out.push([key, o]);
    }
    out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return out.map(([, o]) => o);
  }

  /** 404 when the namespace is missing, 403 when it is being terminated. */
  #checkNamespace(info: ResourceInfo, namespace: string, name: string): void {
    const nsInfo = findResource('', 'v1', 'namespaces');
    if (nsInfo === undefined) return;
    const ns = this.#bucket(nsInfo).get(`/${namespace}`);
    if (ns === undefined) throw notFound(nsInfo, namespace);
    if (ns.metadata.deletionTimestamp !== undefined) {
      const why = `unable to create new content in namespace ${namespace} because it is being terminated`;
      throw forbidden(info, name, why);
    }
  }

  #commit(
    type: ChangeType,
    info: ResourceInfo,
    obj: KubeObject,
    prev: KubeObject | undefined,
    dryRun: boolean,
  ): KubeObject {
    if (dryRun) return clone(obj);
    this.#revision++;
    obj.metadata.resourceVersion = String(this.#revision);
    const key = `${obj.metadata.namespace ?? ''}/${obj.metadata.name ?? ''}`;
    if (type === 'DELETED') this.#bucket(info).delete(key);
    else this.#bucket(info).set(key, obj);
    const change: Change = {
      type,
      revision: this.#revision,
      info,
      object: obj,
      previous: prev,
    };
    this.#history.push(change);
    // Trimmed in batches (up to a quarter over the limit), so a write costs O(1) on average.
    if (this.#history.length > this.#historyLimit + Math.max(1, this.#historyLimit >> 2)) {
      const dropped = this.#history.splice(0, this.#history.length - this.#historyLimit);
      const last = dropped[dropped.length - 1];
      if (last !== undefined) this.#setCompacted(last.revision, false);
    }
    for (const w of this.#watchers) w.deliver(change);
    return clone(obj);
  }

  /** Stores a new object; namespaced objects need their namespace to exist. */
  create(info: ResourceInfo, namespace: string, input: KubeObject, dryRun = false): KubeObject {
    const obj = clone(input);
    obj.apiVersion = groupVersion(info);
    obj.kind = info.kind;
    const meta = obj.metadata;
    if ((meta.name === undefined || meta.name === '') && meta.generateName) {
      meta.name = meta.generateName + randomSuffix();
    }
    if (info.namespaced) meta.namespace = namespace;
    else delete meta.namespace;
    validateObject(info, obj);
    const name = meta.name ?? '';
    if (info.namespaced) this.#checkNamespace(info, namespace, name);
    if (this.#bucket(info).has(`${meta.namespace ?? ''}/${name}`)) {
      throw alreadyExists(info, name);
    }
    meta.uid = randomUUID();
    meta.creationTimestamp = now();
    meta.generation = 1;
    delete meta.deletionTimestamp;
    delete meta.resourceVersion;
    applyDefaults(info, obj);
    return this.#commit('ADDED', info, obj, undefined, dryRun);
  }

  /**
   * Replaces an object. A resourceVersion in `input` must match the stored one (409 Conflict).
   * Scope 'main' keeps the stored status where the resource has a status subresource; scope
   * 'status' changes only the status. An update that changes nothing writes nothing.
   */
  update(
    info: ResourceInfo,
    namespace: string,
    input: KubeObject,
    scope: UpdateScope,
    dryRun = false,
  ): KubeObject {
    const name = input.metadata.name ?? '';
    const ns = info.namespaced ? namespace : '';
    const old = this.#bucket(info).get(`${ns}/${name}`);
    if (old === undefined) throw notFound(info, name);
    const rv = input.metadata.resourceVersion;
    if (rv !== undefined && rv !== '' && rv !== old.metadata.resourceVersion) {
      throw conflict(info, name);
    }
    if (input.metadata.uid !== undefined && input.metadata.uid !== old.metadata.uid) {
      throw conflict(info, name);
    }
    let next: KubeObject;
    if (scope === 'status') {
      next = clone(old);
      if (input['status'] === undefined) delete next['status'];
      else next['status'] = clone(input['status']);
    } else {
      next = clone(input);
      next.metadata = { ...clone(input.metadata) };
      if (info.status) {
        if (old['status'] === undefined) delete next['status'];
        else next['status'] = clone(old['status']);
      }
    }
    next.apiVersion = old.apiVersion;
    next.kind = old.kind;
    for (const k of ['uid', 'creationTimestamp', 'namespace', 'name', 'generateName'] as const) {
      if (old.metadata[k] === undefined) delete next.metadata[k];
      else next.metadata[k] = old.metadata[k];
    }
    const meta: Record<string, unknown> = next.metadata;
    for (const k of ['deletionTimestamp', 'deletionGracePeriodSeconds']) {
      if (old.metadata[k] !== undefined) meta[k] = old.metadata[k];
    }
    next.metadata.generation = old.metadata.generation ?? 1;
    if (!isDeepStrictEqual(specPart(old), specPart(next))) next.metadata.generation++;
    next.metadata.resourceVersion = old.metadata.resourceVersion;
    keepOnUpdate(info, next);
    validateObject(info, next);
    if (isDeepStrictEqual(old, next)) return clone(old);
    const graceOver = (next.metadata['deletionGracePeriodSeconds'] ?? 0) === 0;
    if (
      next.metadata.deletionTimestamp !== undefined &&
      !next.metadata.finalizers?.length &&
      graceOver
    ) {
      return this.#commit('DELETED', info, next, clone(old), dryRun);
    }
    return this.#commit('MODIFIED', info, next, clone(old), dryRun);
  }

  /**
   * Deletes an object (a namespace after a while, see #terminateNamespace). An object with finalizers is only
   * marked with a deletionTimestamp; it goes when an update empties its finalizers. With
   * `gracefulPods`, a pod bound to a node is also only marked (deletionGracePeriodSeconds from
   * the request, else its terminationGracePeriodSeconds, else 30), as for a real kubelet: it
   * goes with a second delete whose gracePeriodSeconds is 0, which is what the kubelet sends.
   */
  delete(
    info: ResourceInfo,
    namespace: string,
    name: string,
    options: DeleteOptions = {},
  ): KubeObject {
    const dryRun = options.dryRun ?? false;
    const ns = info.namespaced ? namespace : '';
    const old = this.#bucket(info).get(`${ns}/${name}`);
    if (old === undefined) throw notFound(info, name);
    checkPreconditions(old, options);
    if (isNamespace(info)) return this.#terminateNamespace(info, old, dryRun);
    const grace = this.#graceSeconds(info, old, options.gracePeriodSeconds);
    const finalizing = old.metadata.finalizers !== undefined && old.metadata.finalizers.length > 0;
    if (!finalizing && grace === 0) return this.#commit('DELETED', info, clone(old), old, dryRun);
    if (old.metadata.deletionTimestamp !== undefined && (finalizing || grace !== 0)) {
      return clone(old);
    }
    const next = clone(old);
    next.metadata.deletionTimestamp = new Date(Date.now() + grace * 1000)
      .toISOString()
      .replace(/\.\d+Z$/, 'Z');
    next.metadata['deletionGracePeriodSeconds'] = grace;
    return this.#commit('MODIFIED', info, next, clone(old), dryRun);
  }

  /** 0 unless graceful pod deletion applies to this object. */
  #graceSeconds(info: ResourceInfo, obj: KubeObject, requested: number | undefined): number {
    if (!this.#gracefulPods || info.group !== '' || info.resource !== 'pods') return 0;
    const spec = (obj['spec'] ?? {}) as Record<string, unknown>;
    if (typeof spec['nodeName'] !== 'string' || spec['nodeName'] === '') return 0;
    if (requested !== undefined) return requested;
    const own = spec['terminationGracePeriodSeconds'];
    return typeof own === 'number' ? own : 30;
  }

  /**
   * A deleted namespace turns Terminating at once; its contents and then the namespace go
   * after `namespaceDeletionMs`, as the namespace controller would do it.
   */
  #terminateNamespace(info: ResourceInfo, old: KubeObject, dryRun: boolean): KubeObject {
    if (old.metadata.deletionTimestamp !== undefined) return clone(old);
    const next = clone(old);
    next.metadata.deletionTimestamp = now();
    next['status'] = { phase: 'Terminating' };
    const marked = this.#commit('MODIFIED', info, next, clone(old), dryRun);
    if (dryRun) return marked;
    const name = old.metadata.name ?? '';
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.#deleteContents(name);
      const current = this.#bucket(info).get(`/${name}`);
      if (current !== undefined) this.#commit('DELETED', info, clone(current), current, false);
    }, this.#namespaceDeletionMs);
    this.#timers.add(timer);
    return marked;
  }

  /** Cancels pending namespace deletions (for shutting down). */
  dispose(): void {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
  }

  #deleteContents(namespace: string): void {
    for (const [key, bucket] of this.#objects) {
      const [group, version, resource] = key.split('/') as [string, string, string];
      const info = findResource(group, version, resource);
      if (info === undefined || !info.namespaced) continue;
      for (const o of [...bucket.values()]) {
        if (o.metadata.namespace !== namespace) continue;
        const next = clone(o);
        delete next.metadata.finalizers;
        this.#commit('DELETED', info, next, clone(o), false);
      }
    }
  }

  /**
   * The retained changes of one resource after `revision`, oldest first. Throws 410 Expired
   * when changes after `revision` may have been dropped.
   */
  changesSince(info: ResourceInfo, revision: number): Change[] {
    if (revision < this.#compacted) {
      throw expired(`too old resource version: ${revision} (${this.#compacted})`);
    }
    const key = resKey(info);
    return this.#history.filter((c) => c.revision > revision && resKey(c.info) === key);
  }

  subscribe(w: Watcher): () => void {
    this.#watchers.add(w);
    return () => this.#watchers.delete(w);
  }

  #setCompacted(revision: number, force: boolean): void {
    this.#compacted = Math.max(this.#compacted, revision);
    for (const w of [...this.#watchers]) w.compacted(this.#compacted, force);
  }

  /**
   * Drops the whole history: a watch from any version before now gets 410. With `bump`, the
   * revision moves on by one first, so even a client that saw the latest change must relist
   * (what a restarted API server with an empty watch cache does to its clients).
   * With `expireWatches`, every running watch also ends with an ERROR 410 event.
   */
  compact(options: { bump?: boolean; expireWatches?: boolean } = {}): void {
    if (options.bump === true) this.#revision++;
    this.#history = [];
    this.#setCompacted(this.#revision, options.expireWatches === true);
  }
}
