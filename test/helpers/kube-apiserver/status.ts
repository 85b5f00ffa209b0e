/**
 * `Status` bodies, the way the real API server words them. Every failed request answers with
 * one of these; handlers throw an `ApiError` and the HTTP layer writes it.
 */
import type { ResourceInfo } from './resources.ts';

export type Reason =
  | 'NotFound'
  | 'AlreadyExists'
  | 'Conflict'
  | 'Invalid'
  | 'BadRequest'
  | 'MethodNotAllowed'
  | 'Forbidden'
  | 'UnsupportedMediaType'
  | 'Expired'
  | 'Gone'
  | 'InternalError';

const CODES: Record<Reason, number> = {
  NotFound: 404,
  AlreadyExists: 409,
  Conflict: 409,
  Invalid: 422,
  BadRequest: 400,
  MethodNotAllowed: 405,
  Forbidden: 403,
  UnsupportedMediaType: 415,
  Expired: 410,
  Gone: 410,
  InternalError: 500,
};

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  causes?: { reason: string; message: string; field: string }[];
}

/** A failure with the Status body to send. */
export class ApiError extends Error {
  readonly code: number;
  constructor(
    readonly reason: Reason,
    message: string,
    readonly details?: StatusDetails,
  ) {
    super(message);
    this.code = CODES[reason];
  }

  /** The JSON body: kind Status, status Failure. */
  status(): Record<string, unknown> {
    const body: Record<string, unknown> = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
    };
    if (this.details !== undefined) body['details'] = this.details;
    body['code'] = this.code;
    return body;
  }
}

/** `group` is set only for non-core resources, as the real server does. */
function detailsFor(info: ResourceInfo, name: string): StatusDetails {
  const d: StatusDetails = { name };
  if (info.group !== '') d.group = info.group;
  d.kind = info.resource;
  return d;
}

/** `pods "x" not found` (`leases.coordination.k8s.io "x" not found` outside the core group). */
export function qualified(info: ResourceInfo): string {
  return info.group === '' ? info.resource : `${info.resource}.${info.group}`;
}

export function notFound(info: ResourceInfo, name: string): ApiError {
  return new ApiError('NotFound', `${qualified(info)} "${name}" not found`, detailsFor(info, name));
}

export function alreadyExists(info: ResourceInfo, name: string): ApiError {
  return new ApiError(
    'AlreadyExists',
    `${qualified(info)} "${name}" already exists`,
    detailsFor(info, name),
  );
}

export function conflict(info: ResourceInfo, name: string): ApiError {
  return new ApiError(
    'Conflict',
    `Operation cannot be fulfilled on ${qualified(info)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    detailsFor(info, name),
  );
}

export function invalid(
  info: ResourceInfo,
  name: string,
  field: string,
  value: unknown,
  why: string,
): ApiError {
  const message = `Invalid value: ${JSON.stringify(value)}: ${why}`;
  return new ApiError('Invalid', `${info.kind} "${name}" is invalid: ${field}: ${message}`, {
    ...detailsFor(info, name),
    kind: info.kind,
    causes: [{ reason: 'FieldValueInvalid', message, field }],
  });
}

export function forbidden(info: ResourceInfo, name: string, why: string): ApiError {
  return new ApiError(
    'Forbidden',
    `${qualified(info)} "${name}" is forbidden: ${why}`,
    detailsFor(info, name),
  );
}

export function badRequest(message: string): ApiError {
  return new ApiError('BadRequest', message);
}

/** A watch or continue token whose resourceVersion history was compacted away. */
export function expired(message: string): ApiError {
  return new ApiError('Expired', message);
}

export function pathNotFound(): ApiError {
  return new ApiError('NotFound', 'the server could not find the requested resource', {});
}
