/**
 * Server-side printing: `kubectl get` without `-o` asks for `as=Table` and prints the columns
 * the server sends. This server sends NAME and AGE (as the real server does for resources
 * without their own printer), with each row's object as metadata only.
 */
import type { IncomingMessage } from 'node:http';
import type { ResourceInfo } from './resources.ts';
import type { KubeObject } from './store.ts';

/** True when the client accepts a meta.k8s.io Table. */
export function acceptsTable(req: IncomingMessage): boolean {
  return /as=Table/.test(req.headers.accept ?? '');
}

function age(created: string | undefined): string {
  if (created === undefined) return '<unknown>';
  const s = Math.max(0, Math.floor((Date.now() - Date.parse(created)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

const COLUMNS = [
  {
    name: 'Name',
    type: 'string',
    format: 'name',
    description: 'Name must be unique within a namespace.',
    priority: 0,
  },
  {
    name: 'Age',
    type: 'string',
    format: '',
    description: 'CreationTimestamp is the time the object was created.',
    priority: 0,
  },
];

/** A meta.k8s.io/v1 Table of `items`. */
export function toTable(
  _info: ResourceInfo,
  items: KubeObject[],
  metadata: Record<string, unknown>,
): Record<string, unknown> {
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata,
    columnDefinitions: COLUMNS,
    rows: items.map((o) => ({
      cells: [o.metadata.name ?? '', age(o.metadata.creationTimestamp)],
      object: {
        kind: 'PartialObjectMetadata',
        apiVersion: 'meta.k8s.io/v1',
        metadata: { ...o.metadata },
      },
    })),
  };
}
