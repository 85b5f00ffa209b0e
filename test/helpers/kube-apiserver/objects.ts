/**
 * Kubernetes objects as plain JSON, and the checks every write path shares.
 */
import { ApiError, badRequest } from './status.ts';

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  [key: string]: unknown;
}

/** Any Kubernetes object as JSON. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [key: string]: unknown;
}

/** What a DELETE may say: preconditions, dry run, grace period. */
export interface DeleteOptions {
  uid?: string;
  resourceVersion?: string;
  dryRun?: boolean;
  gracePeriodSeconds?: number;
}

/** 409 when a DELETE's uid or resourceVersion precondition does not hold. */
export function checkPreconditions(old: KubeObject, options: DeleteOptions): void {
  const { uid, resourceVersion } = options;
  if (uid !== undefined && uid !== old.metadata.uid) {
    throw new ApiError(
      'Conflict',
      `Precondition failed: UID in precondition: ${uid}, UID in object meta: ${old.metadata.uid ?? ''}`,
    );
  }
  if (resourceVersion !== undefined && resourceVersion !== old.metadata.resourceVersion) {
    throw new ApiError(
      'Conflict',
      `Precondition failed: ResourceVersion in precondition: ${resourceVersion}, ResourceVersion in object meta: ${old.metadata.resourceVersion ?? ''}`,
    );
  }
}

export function clone<T>(v: T): T {
  return structuredClone(v);
}

/** A 400 for a body that is not an object with metadata. */
export function asKubeObject(body: unknown): KubeObject {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw badRequest('the body of the request was in an unknown format');
  }
  const o = body as Record<string, unknown>;
  const meta = o['metadata'];
  if (meta !== undefined && (meta === null || typeof meta !== 'object' || Array.isArray(meta))) {
    throw badRequest('metadata: must be an object');
  }
  return { ...o, metadata: (meta ?? {}) as ObjectMeta };
}
