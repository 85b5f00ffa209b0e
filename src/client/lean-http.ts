/**
 * One plain-HTTP/1.1 exchange over a bare TCP socket (node:net), for a program that sends one
 * request and exits: loading node:http costs more than the rest of `romana host list` (about
 * a fifth of a bare `node -e 0` start). The request says `Connection: close`; the answer is
 * read whole: framed by Content-Length, chunked, or ended by the server closing (HTTP/1.0).
 * 1xx interim answers are skipped. TLS and connection reuse are node:http(s)'s (http.ts).
 */
import { connect } from 'node:net';

/** A parsed answer: status, the Content-Type header ('' when none), the body as UTF-8 text. */
export interface RawAnswer {
  status: number;
  contentType: string;
  text: string;
}

/** Thrown for bytes that are not an HTTP/1.x answer, or an answer cut short. */
export class BadAnswer extends Error {
  readonly code: string;

  constructor(message: string, code = 'HPE_INVALID') {
    super(message);
    this.name = 'BadAnswer';
    this.code = code;
  }
}

const HANG_UP = 'socket hang up';
/** Answers that never have a body, whatever their headers say (RFC 9112, 6.3). */
const NO_BODY = new Set([204, 304]);

/**
 * Sends `head` (the request line and headers, without the blank line) and `body` to `url`'s
 * host and port; resolves with the answer, rejects with the socket's error, a `BadAnswer`, or
 * a timeout error after `timeoutMs` without traffic.
 */
export function exchange(
  url: URL,
  head: string,
  body: string | undefined,
  timeoutMs: number | undefined,
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const socket = connect({ host, port: Number(url.port || 80) });
    const chunks: Buffer[] = [];
    let settled = false;
    const settle = (fn: () => RawAnswer | undefined) => {
      if (settled) return;
      let answer: RawAnswer | undefined;
      try {
        answer = fn();
      } catch (e) {
        settled = true;
        socket.destroy();
        reject(e as Error);
        return;
      }
      if (answer === undefined) return;
      settled = true;
      socket.destroy();
      resolve(answer);
    };
    if (timeoutMs !== undefined) {
      socket.setTimeout(timeoutMs, () =>
        settle(() => {
          throw new Error(`no answer within ${timeoutMs} ms`);
        }),
      );
    }
    socket.on('error', (e) =>
      settle(() => {
        throw e;
      }),
    );
    let received = 0;
    let need: number | undefined; // the whole answer's length, once its head says it
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      received += c.length;
      settle(() => {
        // Only an answer framed by Content-Length can end before the server closes.
        if (need === undefined && chunks.length <= 4) need = lengthFramed(Buffer.concat(chunks));
        if (need === undefined || received < need) return undefined;
        return parseAnswer(Buffer.concat(chunks), false);
      });
    });
    socket.on('end', () => settle(() => parseAnswer(Buffer.concat(chunks), true)));
    socket.on('close', () =>
      settle(() => {
        throw Object.assign(new Error(HANG_UP), { code: 'ECONNRESET' });
      }),
    );
    socket.write(`${head}\r\nConnection: close\r\n\r\n${body ?? ''}`);
  });
}

/**
 * For the first bytes of an answer whose final head is complete and which has a Content-Length
 * (and no chunking): the length of the whole answer, head included.
 */
function lengthFramed(bytes: Buffer): number | undefined {
  let start = 0;
  for (;;) {
    const end = bytes.indexOf('\r\n\r\n', start);
    if (end < 0) return undefined;
    const { status, headers } = parseHead(bytes.toString('latin1', start, end));
    if (status >= 100 && status < 200) {
      start = end + 4;
      continue;
    }
    if (NO_BODY.has(status)) return end + 4;
    const length = headers.get('content-length');
    if (length === undefined || headers.has('transfer-encoding')) return undefined;
    return end + 4 + Number(length);
  }
}

/**
 * Parses a whole answer (`ended`: the server has closed, so a body without framing ends here).
 * Returns undefined when more bytes are needed.
 *
 * @throws BadAnswer for bytes that are not HTTP/1.x, or an answer cut short at the end.
 */
export function parseAnswer(bytes: Buffer, ended: boolean): RawAnswer | undefined {
  let start = 0;
  for (;;) {
    const end = bytes.indexOf('\r\n\r\n', start);
    if (end < 0) {
      if (ended) throw new BadAnswer(HANG_UP, 'ECONNRESET');
      return undefined;
    }
    const { status, headers } = parseHead(bytes.toString('latin1', start, end));
    start = end + 4;
    if (status >= 100 && status < 200) continue; // 100 Continue and the like: the answer follows
    const contentType = headers.get('content-type') ?? '';
    if (NO_BODY.has(status)) return { status, contentType, text: '' };
    const te = headers.get('transfer-encoding');
    const length = headers.get('content-length');
    let body: Buffer | undefined;
    if (te !== undefined && /(^|,)\s*chunked\s*$/i.test(te)) body = dechunk(bytes, start, ended);
    else if (length !== undefined) {
      const n = Number(length);
      if (bytes.length - start < n) {
        if (ended) throw new BadAnswer(HANG_UP, 'ECONNRESET');
        return undefined;
      }
      body = bytes.subarray(start, start + n);
    } else if (ended) body = bytes.subarray(start);
    if (body === undefined) return undefined;
    return { status, contentType, text: body.toString('utf8') };
  }
}

/** The status and the headers (names in lower case; repeated ones joined by `, `). */
function parseHead(text: string): { status: number; headers: Map<string, string> } {
  const lines = text.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(lines[0]!);
  if (m === null) throw new BadAnswer(`not an HTTP/1.x answer: ${JSON.stringify(lines[0])}`);
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i <= 0) throw new BadAnswer(`bad header line ${JSON.stringify(line)}`);
    const name = line.slice(0, i).trim().toLowerCase();
    const value = line.slice(i + 1).trim();
    const had = headers.get(name);
    headers.set(name, had === undefined ? value : `${had}, ${value}`);
  }
  const length = headers.get('content-length');
  if (length !== undefined && !/^\d+$/.test(length)) {
    throw new BadAnswer(`bad Content-Length ${JSON.stringify(length)}`);
  }
  return { status: Number(m[1]), headers };
}

/** The body of a chunked answer from `start`; undefined when incomplete and not ended. */
function dechunk(bytes: Buffer, start: number, ended: boolean): Buffer | undefined {
  const parts: Buffer[] = [];
  let at = start;
  for (;;) {
    const eol = bytes.indexOf('\r\n', at);
    if (eol < 0) break;
    const size = bytes.toString('latin1', at, eol).split(';')[0]!.trim();
    if (!/^[0-9a-fA-F]+$/.test(size)) throw new BadAnswer(`bad chunk size ${JSON.stringify(size)}`);
    const n = parseInt(size, 16);
    if (n === 0) return Buffer.concat(parts); // trailers, if any, are not read
    if (bytes.length < eol + 2 + n + 2) break;
    parts.push(bytes.subarray(eol + 2, eol + 2 + n));
    at = eol + 2 + n + 2;
  }
  if (ended) throw new BadAnswer(HANG_UP, 'ECONNRESET');
  return undefined;
}
