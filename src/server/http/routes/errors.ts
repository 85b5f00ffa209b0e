/**
 * The one error body of the API and the translation of every failure into it: our typed
 * errors (status from `httpStatusOf`), fastify's own errors (bad JSON, body too large,
 * unsupported media type, schema validation) and anything unexpected (500, details logged).
 */
import type { FastifyError } from 'fastify';
import { httpStatusOf, isRomanaError, RomanaError, type ErrorCode } from '../../../errors.ts';
import { showValue } from '../../../names.ts';
import { FORMATS } from './schemas.ts';

/** Where the error codes and statuses are documented. */
export const SEE_ALSO = 'docs/api.md#errors';

/**
 * The JSON body of every error response (2.x's `HttpError` plus `code`).
 *
 * @example
 * { "status_code": 404, "code": "NotFound", "details": "No host named 'h9'",
 *   "resource_type": "host", "resource_id": "h9", "see_also": "docs/api.md#errors" }
 */
export interface ErrorBody {
  status_code: number;
  code: ErrorCode;
  details: string;
  resource_type?: string;
  resource_id?: string;
  see_also: string;
}

/** The body of a typed error; `status` overrides the status derived from the code. */
export function errorBody(err: RomanaError, status = httpStatusOf(err)): ErrorBody {
  const body: ErrorBody = {
    status_code: status,
    code: err.code,
    details: err.message,
    see_also: SEE_ALSO,
  };
  if (err.resourceType !== undefined) body.resource_type = err.resourceType;
  if (err.resourceId !== undefined) body.resource_id = err.resourceId;
  return body;
}

/** A failure translated for the wire: status, body, and whether it is ours to log as a bug. */
export interface HttpFailure {
  status: number;
  body: ErrorBody;
  internal: boolean;
}

interface AjvError {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
  data?: unknown;
}

/** Fastify framework errors that are the client's fault, with the status we answer. */
export const FRAMEWORK_STATUS: Readonly<Record<string, number>> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 400,
  FST_ERR_CTP_EMPTY_JSON_BODY: 400,
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 400,
  FST_ERR_CTP_BODY_TOO_LARGE: 413,
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 415,
  FST_ERR_CTP_INVALID_TYPE: 400,
};

/** Maps any thrown value to a status and error body. */
export function toHttpFailure(err: unknown, requestId: string): HttpFailure {
  if (isRomanaError(err) && err.code !== 'Internal') {
    return { status: httpStatusOf(err), body: errorBody(err), internal: false };
  }
  const fe = err as Partial<FastifyError> & { validation?: AjvError[]; validationContext?: string };
  if (Array.isArray(fe.validation)) {
    const e = invalidFieldError(fe.validationContext ?? 'body', fe.validation);
    return { status: 400, body: errorBody(e), internal: false };
  }
  if (err instanceof SyntaxError || (fe.code !== undefined && fe.code in FRAMEWORK_STATUS)) {
    const status = (fe.code !== undefined ? FRAMEWORK_STATUS[fe.code] : undefined) ?? 400;
    const message =
      err instanceof SyntaxError && fe.code === undefined
        ? `body: not valid JSON (${err.message})`
        : namedPart(fe.message ?? 'Bad request', fe.code);
    const e = new RomanaError('InvalidInput', message, { resourceType: 'request' });
    return { status, body: errorBody(e, status), internal: false };
  }
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    const e = new RomanaError('InvalidInput', fe.message ?? 'Bad request');
    return { status: fe.statusCode, body: errorBody(e, fe.statusCode), internal: false };
  }
  const e = new RomanaError(
    'Internal',
    `Internal server error; the romanad log has the details under request id ${requestId}`,
  );
  return { status: 500, body: errorBody(e), internal: true };
}

/** fastify's own message about the body or its type, led by the part it is about. */
function namedPart(message: string, code: string | undefined): string {
  if (/^[\w-]+: /.test(message)) return message;
  return `${code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || code === 'FST_ERR_CTP_INVALID_TYPE' ? 'content-type' : 'body'}: ${message}`;
}

/**
 * One message for a failed schema validation, naming the field and the value, e.g.
 * `body.agent_port: must be integer, got "abc"`. Of several errors (a union), the one that
 * points deepest into the input is the most telling.
 */
export function invalidFieldError(context: string, errors: AjvError[]): RomanaError {
  const ranked = errors.filter((e) => e.keyword !== 'anyOf' && e.keyword !== 'oneOf');
  const list = ranked.length > 0 ? ranked : errors;
  // Deepest first; at one path, a branch whose type matched (its error is not `type`) tells
  // more than the branches whose type did not.
  const rank = (e: AjvError) => e.instancePath.length * 2 + (e.keyword === 'type' ? 0 : 1);
  let best = list[0]!;
  for (const e of list) if (rank(e) > rank(best)) best = e;
  const segments = best.instancePath.split('/').slice(1);
  const base =
    context + segments.map((k) => fieldKey(k.replace(/~1/g, '/').replace(/~0/g, '~'))).join('');
  let field = base;
  let message: string;
  switch (best.keyword) {
    case 'required':
      field = `${base}${fieldKey(String(best.params['missingProperty']))}`;
      message = 'required';
      break;
    case 'additionalProperties':
      field = `${base}${fieldKey(String(best.params['additionalProperty']))}`;
      message = 'unknown field (a typo?)';
      break;
    case 'enum':
      message = `must be one of ${JSON.stringify(best.params['allowedValues'])}, got ${showValue(best.data)}`;
      break;
    case 'minProperties':
      message = `must not be empty, got ${showValue(best.data)}`;
      break;
    case 'format': {
      const problem = FORMATS[String(best.params['format'])]?.(String(best.data));
      message = problem ?? `${best.message ?? 'invalid'}, got ${showValue(best.data)}`;
      break;
    }
    case 'type':
      message = typeMessage(list, best);
      break;
    case 'propertyNames':
      message = `key ${showValue(best.params['propertyName'])} is not a valid label key`;
      break;
    default:
      message =
        best.instancePath === '' && (best.data === null || best.data === undefined)
          ? 'required, a JSON object'
          : `${best.message ?? 'invalid'}, got ${showValue(best.data)}`;
  }
  return new RomanaError('InvalidInput', `${field}: ${message}`);
}

/** A failed `type`: every type of a union at that path (e.g. `must be null or integer`). */
function typeMessage(list: AjvError[], best: AjvError): string {
  if (best.instancePath === '' && (best.data === null || best.data === undefined)) {
    return 'required, a JSON object';
  }
  const types = new Set(
    list
      .filter((e) => e.keyword === 'type' && e.instancePath === best.instancePath)
      .map((e) => String(e.params['type'])),
  );
  return `must be ${[...types].join(' or ')}, got ${showValue(best.data)}`;
}

/** `.key` for a plain key, `["key"]` (JSON-escaped) for one holding other characters. */
export function fieldKey(key: string): string {
  return /^[\w$-]+$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}
