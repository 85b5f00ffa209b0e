/**
 * The two ways a call to romanad can fail: romanad answered with an error body
 * (`RomanadApiError`), or romanad could not be reached at all (`RomanadUnreachableError`).
 * Callers switch on the class and on `code`, never on message text.
 */

/** The error body romanad sends with every non-2xx answer (docs/api.md#errors). */
export interface ApiErrorBody {
  status_code: number;
  code: string;
  details: string;
  resource_type?: string;
  resource_id?: string;
  see_also?: string;
}

/**
 * romanad refused the request: carries the HTTP status and the body's `code` and `details`.
 *
 * @example
 * try { await client.getHost('h9'); } catch (e) {
 *   if (e instanceof RomanadApiError && e.code === 'NotFound') console.log('no such host');
 * }
 */
export class RomanadApiError extends Error {
  /** HTTP status of the answer, e.g. 404. */
  readonly status: number;
  /** Stable error code from the body, e.g. `NotFound` (`HTTP` when the body was not an error body). */
  readonly code: string;
  /** The server's human message. */
  readonly details: string;
  readonly resourceType: string | undefined;
  readonly resourceId: string | undefined;
  /** Method and URL of the failed request, e.g. `GET http://127.0.0.1:9600/hosts/h9`. */
  readonly request: string;

  constructor(status: number, body: unknown, request: string) {
    const e = errorBodyOf(status, body);
    super(`${status} ${e.code}: ${e.details}`);
    this.name = 'RomanadApiError';
    this.status = status;
    this.code = e.code;
    this.details = e.details;
    this.resourceType = e.resource_type;
    this.resourceId = e.resource_id;
    this.request = request;
  }
}

/**
 * No answer from romanad: connection refused, DNS failure, TLS failure, timeout, or an answer
 * that is not HTTP. `url` is the URL that was tried.
 *
 * @example
 * catch (e) { if (e instanceof RomanadUnreachableError) console.error(`cannot reach ${e.url}`); }
 */
export class RomanadUnreachableError extends Error {
  readonly url: string;

  constructor(url: string, reason: string, cause?: unknown) {
    super(`cannot reach romanad at ${url}: ${reason}`, cause === undefined ? undefined : { cause });
    this.name = 'RomanadUnreachableError';
    this.url = url;
  }
}

function errorBodyOf(status: number, body: unknown): ApiErrorBody {
  if (typeof body === 'object' && body !== null) {
    const b = body as Record<string, unknown>;
    if (typeof b['code'] === 'string' && typeof b['details'] === 'string') {
      return {
        status_code: status,
        code: b['code'],
        details: b['details'],
        ...(typeof b['resource_type'] === 'string' ? { resource_type: b['resource_type'] } : {}),
        ...(typeof b['resource_id'] === 'string' ? { resource_id: b['resource_id'] } : {}),
      };
    }
  }
  const text = typeof body === 'string' ? body.trim().slice(0, 200) : JSON.stringify(body);
  return { status_code: status, code: 'HTTP', details: text || `HTTP status ${status}` };
}
