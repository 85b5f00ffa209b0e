/**
 * What fastify and node's HTTP parser would otherwise answer in their own words: a URL that is
 * not valid percent-encoding (`/hosts/%ZZ`), a path parameter past the length limit, a request
 * the HTTP parser refuses (`content-length: abc`), and JSON nested deeper than we accept. Each
 * gets our error body (src/server/http/routes/errors.ts) and a 4xx.
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { RomanaError } from '../../../errors.ts';
import { errorBody } from './errors.ts';
import { FORMATS } from './schemas.ts';

/** Deepest nesting of arrays and objects accepted in a body (a topology group is two levels). */
export const MAX_JSON_DEPTH = 64;
/** Longest path parameter, in characters as sent (a 253-character name, percent-encoded). */
export const MAX_PARAM_LENGTH = 1024;

/** Ajv plugin that teaches the schemas' `format`s (see `FORMATS`). */
export function registerFormats<
  A extends {
    addFormat(name: string, f: { type: 'string'; validate: (s: string) => boolean }): unknown;
  },
>(ajv: A): A {
  for (const [name, problem] of Object.entries(FORMATS)) {
    ajv.addFormat(name, { type: 'string', validate: (s) => problem(s) === undefined });
  }
  return ajv;
}

function shorten(s: string): string {
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}

/** fastify's `frameworkErrors`: a bad URL (400) or a too long path parameter (414). */
export function frameworkErrors(
  err: Error & { code?: string },
  req: FastifyRequest,
  reply: FastifyReply,
): void {
  const path = shorten(req.raw.url ?? '');
  const [status, details] =
    err.code === 'FST_ERR_MAX_PARAM_LENGTH'
      ? [414, `path: a path segment is longer than ${MAX_PARAM_LENGTH} characters: ${path}`]
      : err.code === 'FST_ERR_BAD_URL'
        ? [400, `path: '${path}' is not valid percent-encoding`]
        : [400, `path: ${err.message}`];
  const e = new RomanaError('InvalidInput', details, { resourceType: 'URI', resourceId: path });
  void reply.status(status).type('application/json; charset=utf-8').send(errorBody(e, status));
}

/**
 * The HTTP server's `clientError`: a request node's parser refused before fastify saw it
 * (`content-length: abc`, a header too large, a timeout). Answered with our body, then closed.
 */
export function clientErrorHandler(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const status =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
  const what =
    status === 408
      ? 'the request was not received in time'
      : status === 431
        ? 'the request headers are too large'
        : `the request is not valid HTTP (${err.code ?? 'parse error'}: ${err.message})`;
  const body = JSON.stringify(
    errorBody(
      new RomanaError('InvalidInput', `request: ${what}`, { resourceType: 'request' }),
      status,
    ),
  );
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\n` +
        `Content-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

/**
 * Where a JSON text nests deeper than `max`, or `undefined`. Scans the text once (strings
 * skipped), so that a body of 10,000 brackets is refused before any recursive code sees it.
 *
 * @example jsonDepthProblem('[[[]]]', 2) // 'body: nested deeper than 2 levels (at character 2)'
 */
export function jsonDepthProblem(text: string, max = MAX_JSON_DEPTH): string | undefined {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return `body: nested deeper than ${max} levels (at character ${i})`;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return undefined;
}
