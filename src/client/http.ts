/**
 * One JSON request over node:http or node:https, nothing else: no retries, no dependency.
 * Resolves with the status and the parsed body; rejects only when no HTTP answer came.
 */
import http from 'node:http';
import https from 'node:https';
import { RomanadUnreachableError } from './errors.ts';
import { exchange } from './lean-http.ts';

/** Transport settings shared by every request of a client. */
export interface TransportOptions {
  /** Bearer token sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** CA certificate(s) (PEM) trusted for `https:` URLs, in addition to the system's. */
  ca?: string | Buffer;
  /** Give up (unreachable) when no answer came within this many ms; none by default. */
  timeoutMs?: number;
  /** Agent to reuse connections (e.g. `new http.Agent({ keepAlive: true })`). */
  agent?: http.Agent;
  /**
   * Send each plain `http:` request over a bare socket (lean-http.ts, one connection per
   * request) instead of node:http, whose loading is most of a short-lived program's request
   * time (the CLI's). Not for `https:` or with an `agent`, which go through node:http(s).
   */
  bareSocket?: boolean;
}

/** An HTTP answer: status, body parsed when JSON (raw text otherwise, `null` when empty). */
export interface HttpAnswer {
  status: number;
  body: unknown;
}

/**
 * Sends one request. `body` is JSON-encoded when not undefined.
 *
 * @throws RomanadUnreachableError when no HTTP answer was received.
 * @example const { status, body } = await sendJson(new URL('http://127.0.0.1:9600/hosts'), 'GET');
 */
export function sendJson(
  url: URL,
  method: string,
  body: unknown,
  opts: TransportOptions = {},
): Promise<HttpAnswer> {
  const data = body === undefined ? undefined : JSON.stringify(body);
  const headers: Record<string, string | number> = { accept: 'application/json' };
  if (data !== undefined) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = Buffer.byteLength(data);
  }
  if (opts.token) headers['authorization'] = `Bearer ${opts.token}`;
  const tls = url.protocol === 'https:';
  const where = url.origin;
  if (opts.bareSocket && url.protocol === 'http:' && !opts.agent && plainHeaders(headers)) {
    const head = [
      `${method} ${url.pathname}${url.search} HTTP/1.1`,
      `Host: ${url.host}`,
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
      // node:http says a body-less POST, PUT or PATCH has an empty body: so does this.
      ...(data === undefined && !NO_BODY_METHODS.has(method) ? ['content-length: 0'] : []),
    ].join('\r\n');
    return exchange(url, head, data, opts.timeoutMs).then(
      (a) => ({ status: a.status, body: parseBody(a.text, a.contentType) }),
      (e: Error) => Promise.reject(new RomanadUnreachableError(where, reasonOf(e), e)),
    );
  }
  return new Promise((resolve, reject) => {
    const req = (tls ? https : http).request(
      url,
      {
        method,
        headers,
        ...(opts.agent ? { agent: opts.agent } : {}),
        ...(tls && opts.ca ? { ca: opts.ca } : {}),
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('error', (e) => reject(new RomanadUnreachableError(where, reasonOf(e), e)));
        res.on('end', () => {
          const type = res.headers['content-type'] ?? '';
          resolve({ status: res.statusCode ?? 0, body: parseBody(text, type) });
        });
      },
    );
    if (opts.timeoutMs !== undefined) {
      req.setTimeout(opts.timeoutMs, () =>
        req.destroy(new Error(`no answer within ${opts.timeoutMs} ms`)),
      );
    }
    req.on('error', (e) => reject(new RomanadUnreachableError(where, reasonOf(e), e)));
    req.end(data);
  });
}

/** The methods node:http sends without a Content-Length when they have no body. */
const NO_BODY_METHODS = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT']);

/**
 * Header values of printable ASCII: anything else goes through node:http, which refuses a
 * line break (a token holding one, say) and sends other bytes as Latin-1.
 */
function plainHeaders(headers: Record<string, string | number>): boolean {
  return Object.values(headers).every((v) => /^[\t\x20-\x7e]*$/.test(String(v)));
}

function parseBody(text: string, contentType: string): unknown {
  if (text === '') return null;
  if (!contentType.includes('json')) return text;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function reasonOf(e: Error): string {
  const code = (e as NodeJS.ErrnoException).code;
  return code && !e.message.includes(code) ? `${code} ${e.message}` : e.message;
}
