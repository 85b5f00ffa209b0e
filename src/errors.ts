/**
 * The one family of typed errors used by every part of Romana. Callers switch on `code`,
 * never on message text; the HTTP layer maps codes to statuses once (see `httpStatusOf`).
 */

/** Stable error codes, as they appear in API error bodies. */
export type ErrorCode =
  | 'InvalidInput'
  | 'NotFound'
  | 'AlreadyExists'
  | 'NoAvailableIP'
  | 'Conflict'
  | 'Unavailable'
  | 'Unauthorized'
  | 'Forbidden'
  | 'Internal';

export interface RomanaErrorOptions {
  /** Kind of object the error is about, e.g. `host`, `address`, `network`. */
  resourceType?: string;
  /** Identifier of that object, e.g. the host name. */
  resourceId?: string;
  /**
   * For `InvalidInput`: `true` when the input was well-formed but cannot be applied
   * (an invalid topology or policy: HTTP 422), `false` for malformed or missing fields (400).
   */
  semantic?: boolean;
  /**
   * `true` when the same request may succeed if simply tried again (a transaction lost a race
   * with another writer); `false` (the default) when the answer is definitive.
   */
  retryable?: boolean;
  cause?: unknown;
}

/**
 * Base class of every error Romana raises on purpose.
 *
 * @example
 * throw new RomanaError('NotFound', "No host named 'h9'", { resourceType: 'host', resourceId: 'h9' });
 */
export class RomanaError extends Error {
  readonly code: ErrorCode;
  readonly resourceType: string | undefined;
  readonly resourceId: string | undefined;
  readonly semantic: boolean;
  /** Whether trying again may succeed (see `RomanaErrorOptions.retryable`). */
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: RomanaErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RomanaError';
    this.code = code;
    this.resourceType = options.resourceType;
    this.resourceId = options.resourceId;
    this.semantic = options.semantic ?? false;
    this.retryable = options.retryable ?? false;
  }
}

/** Malformed or missing fields (400). */
export function invalidInput(message: string, options: RomanaErrorOptions = {}): RomanaError {
  return new RomanaError('InvalidInput', message, options);
}

/** Well-formed input that cannot be applied, e.g. an invalid topology (422). */
export function invalidTopology(message: string, options: RomanaErrorOptions = {}): RomanaError {
  return new RomanaError('InvalidInput', message, {
    resourceType: 'topology',
    ...options,
    semantic: true,
  });
}

export function notFound(
  resourceType: string,
  resourceId: string,
  message: string,
  options: RomanaErrorOptions = {},
): RomanaError {
  return new RomanaError('NotFound', message, { ...options, resourceType, resourceId });
}

export function alreadyExists(
  resourceType: string,
  resourceId: string,
  message: string,
): RomanaError {
  return new RomanaError('AlreadyExists', message, { resourceType, resourceId });
}

/** The address space a request may draw from is exhausted (507). */
export function noAvailableIp(message = 'No available IP.'): RomanaError {
  return new RomanaError('NoAvailableIP', message, { resourceType: 'address' });
}

/** HTTP status for each code; `InvalidInput` splits into 400 and 422 on `semantic`. */
export function httpStatusOf(err: RomanaError): number {
  switch (err.code) {
    case 'InvalidInput':
      return err.semantic ? 422 : 400;
    case 'NotFound':
      return 404;
    case 'AlreadyExists':
    case 'Conflict':
      return 409;
    case 'NoAvailableIP':
      return 507;
    case 'Unavailable':
      return 503;
    case 'Unauthorized':
      return 401;
    case 'Forbidden':
      return 403;
    case 'Internal':
      return 500;
  }
}

/** Type guard that also narrows to a given code. */
export function isRomanaError(err: unknown, code?: ErrorCode): err is RomanaError {
  return err instanceof RomanaError && (code === undefined || err.code === code);
}
