/**
 * The one family of typed errors used by every part of Romana, and the one catalogue of their
 * codes with each code's HTTP status (`ERROR_CATALOGUE`). Callers switch on `code`, never on
 * message text; the HTTP layer takes statuses from the catalogue (see `httpStatusOf`).
 */

/** One entry of the error catalogue. */
export interface ErrorSpec {
  /** The HTTP status romanad answers with for this code. */
  readonly status: number;
  /**
   * Every status the API may answer with this code (the main one first): `InvalidInput` is
   * also 405, 413, 414, 415 and 422 (`semantic`). docs/api.md lists each pair; a test checks.
   */
  readonly statuses: readonly number[];
  /** What the code means to a caller, one line. */
  readonly meaning: string;
}

/**
 * The catalogue: every stable error code, as it appears in API error bodies (`code`), with its
 * HTTP status. Codes are never renamed; callers switch on them, never on message text.
 *
 * @example ERROR_CATALOGUE.NotFound.status // 404
 */
export const ERROR_CATALOGUE = {
  InvalidInput: {
    status: 400,
    statuses: [400, 405, 413, 414, 415, 422],
    meaning: 'the request is malformed, or well-formed but cannot be applied (422)',
  },
  Unauthorized: { status: 401, statuses: [401], meaning: 'no or unknown bearer token' },
  Forbidden: { status: 403, statuses: [403], meaning: 'the token’s role may not do this' },
  NotFound: { status: 404, statuses: [404], meaning: 'no such object or path' },
  AlreadyExists: { status: 409, statuses: [409], meaning: 'an object of that name or IP exists' },
  Conflict: {
    status: 409,
    statuses: [409],
    meaning: 'the state does not allow it now, or a write lost a race too many times',
  },
  Compacted: {
    status: 409,
    statuses: [409],
    meaning: 'a watch resume revision older than the retained history: list again, then watch',
  },
  Internal: { status: 500, statuses: [500], meaning: 'a bug; the log has the details' },
  Unavailable: { status: 503, statuses: [503], meaning: 'the datastore cannot be read or written' },
  NoAvailableIP: { status: 507, statuses: [507], meaning: 'the address space is exhausted' },
} as const satisfies Record<string, ErrorSpec>;

/** Stable error codes, as they appear in API error bodies. */
export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/** Every code of the catalogue. */
export const ERROR_CODES = Object.keys(ERROR_CATALOGUE) as readonly ErrorCode[];

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

/**
 * A watch asked to resume from `from`, but the changes before `oldest` are no longer kept
 * (compacted): the caller must list the objects again and watch from what the list returns.
 *
 * @example compacted(5, 120).message // 'revision 5 is compacted: the oldest revision kept is 120; …'
 */
export function compacted(from: number, oldest: number, cause?: unknown): RomanaError {
  return new RomanaError(
    'Compacted',
    `revision ${from} is compacted: the oldest revision kept is ${oldest}; list the objects again and watch from the revision the list returns + 1`,
    { resourceType: 'revision', resourceId: String(from), cause },
  );
}

/** HTTP status of a typed error, from the catalogue; `InvalidInput` is 422 when `semantic`. */
export function httpStatusOf(err: RomanaError): number {
  if (err.code === 'InvalidInput' && err.semantic) return 422;
  return ERROR_CATALOGUE[err.code].status;
}

/** Type guard that also narrows to a given code. */
export function isRomanaError(err: unknown, code?: ErrorCode): err is RomanaError {
  return err instanceof RomanaError && (code === undefined || err.code === code);
}
