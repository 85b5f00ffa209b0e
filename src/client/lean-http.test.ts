/**
 * The bare-socket transport (lean-http.ts) against node:http as the oracle: a raw TCP server
 * answers each request as a generated case says (status, an interim 100 first or not, framing
 * by Content-Length, chunks or close, any UTF-8 body cut anywhere into writes), and sendJson
 * must resolve with the same answer, and the server must receive the same request, either way.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { RomanadUnreachableError } from './errors.ts';
import { sendJson, type TransportOptions } from './http.ts';

interface Case {
  status: number;
  interim: boolean;
  framing: 'length' | 'chunked' | 'close' | 'short';
  contentType: string | undefined;
  body: string;
  cuts: number[];
}

/** What the server received: method, target, the headers the client chose, body. */
interface Seen {
  method: string;
  target: string;
  headers: Record<string, string>;
  body: string;
}

const cases = new Map<string, Case>();
const seen = new Map<string, Seen>();
let base = '';
const sockets = new Set<Socket>();
const server = createServer((s) => {
  sockets.add(s);
  s.on('close', () => sockets.delete(s));
  let buf = Buffer.alloc(0);
  s.on('data', (c: Buffer) => {
    buf = Buffer.concat([buf, c]);
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0) return;
    const lines = buf.toString('latin1', 0, end).split('\r\n');
    const headers: Record<string, string> = {};
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
    }
    const length = Number(headers['content-length'] ?? 0);
    if (buf.length < end + 4 + length) return;
    const [method, target] = lines[0]!.split(' ') as [string, string];
    const id = new URL(target, 'http://x').searchParams.get('case')!;
    const chosen = ['accept', 'authorization', 'content-type', 'content-length', 'host'];
    seen.set(id, {
      method,
      target: target.replace(`case=${id}&`, ''),
      headers: Object.fromEntries(chosen.filter((h) => h in headers).map((h) => [h, headers[h]!])),
      body: buf.toString('utf8', end + 4, end + 4 + length),
    });
    void answer(s, cases.get(id)!);
  });
});

/** Writes the answer `c` describes, in pieces cut at `c.cuts`, then closes. */
async function answer(s: Socket, c: Case): Promise<void> {
  const body = Buffer.from(c.body);
  const head = [`HTTP/1.1 ${c.status} X`];
  if (c.contentType !== undefined) head.push(`Content-Type: ${c.contentType}`);
  let payload = body;
  if (c.framing === 'length') head.push(`Content-Length: ${body.length}`);
  if (c.framing === 'short') head.push(`Content-Length: ${body.length + 5}`);
  if (c.framing === 'close') head.push('Connection: close');
  if (c.framing === 'chunked') {
    head.push('Transfer-Encoding: chunked');
    const mid = Math.floor(body.length / 2);
    const parts = [body.subarray(0, mid), body.subarray(mid)].filter((p) => p.length > 0);
    payload = Buffer.concat([
      ...parts.flatMap((p) => [
        Buffer.from(`${p.length.toString(16)};x=y\r\n`),
        p,
        Buffer.from('\r\n'),
      ]),
      Buffer.from('0\r\n\r\n'),
    ]);
  }
  const interim = c.interim ? 'HTTP/1.1 100 Continue\r\n\r\n' : '';
  const all = Buffer.concat([Buffer.from(`${interim}${head.join('\r\n')}\r\n\r\n`), payload]);
  let at = 0;
  for (const cut of [...c.cuts.map((x) => Math.floor(x * all.length)), all.length].sort(
    (a, b) => a - b,
  )) {
    if (cut <= at) continue;
    s.write(all.subarray(at, cut));
    at = cut;
    await new Promise((r) => setImmediate(r));
  }
  s.end();
}

before(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  for (const s of sockets) s.destroy();
  server.close();
});

let next = 0;
/** sendJson's answer, or the class and nothing else of its error. */
async function outcome(c: Case, method: string, body: unknown, opts: TransportOptions) {
  const id = String(next++);
  cases.set(id, c);
  const url = new URL(`${base}/things/a%20b?case=${id}&q=%C3%A9`);
  try {
    return { answer: await sendJson(url, method, body, opts), seen: seen.get(id) };
  } catch (e) {
    return { error: (e as Error).constructor.name, seen: seen.get(id) };
  }
}

// 204 and 304 never have a body (node:http refuses bytes after their head as a bad answer), and
// a server never frames one in chunks (RFC 9112 6.1): the chunked terminator after a 204 makes
// node:http's answer depend on whether it arrives with the head, so such a case has no oracle.
const caseArb: fc.Arbitrary<Case> = fc
  .record({
    status: fc.integer({ min: 200, max: 599 }),
    interim: fc.boolean(),
    framing: fc.constantFrom('length', 'chunked', 'close', 'short'),
    contentType: fc.constantFrom(undefined, 'application/json; charset=utf-8', 'text/plain'),
    body: fc.oneof(fc.json(), fc.string({ unit: 'grapheme', maxLength: 300 })),
    cuts: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 4 }),
  })
  .map((c) =>
    c.status === 204 || c.status === 304
      ? { ...c, body: '', framing: c.framing === 'chunked' ? 'length' : c.framing }
      : c,
  );

describe('sendJson over a bare socket', () => {
  it('gives what node:http gives, and sends the same request, for any answer', async () => {
    const agent = new http.Agent({ keepAlive: false }); // node:http, one connection each
    await fc.assert(
      fc.asyncProperty(
        caseArb,
        fc.constantFrom('GET', 'POST', 'DELETE'),
        fc.option(fc.jsonValue(), { nil: undefined }),
        fc.option(fc.string({ unit: fc.constantFrom('a', 'Z', '9', '.', '-', '_') }), {
          nil: undefined,
        }),
        async (c, method, body, token) => {
          const t = token === undefined ? {} : { token };
          const lean = await outcome(c, method, body, { ...t, bareSocket: true, timeoutMs: 5000 });
          const node = await outcome(c, method, body, { ...t, agent, timeoutMs: 5000 });
          assert.deepEqual(lean, node);
        },
      ),
      { numRuns: 150 },
    );
    agent.destroy();
  });

  it('is unreachable, naming the cause, for a refused connection or a silent server', async () => {
    const refused = sendJson(new URL('http://127.0.0.1:1/hosts'), 'GET', undefined, {
      bareSocket: true,
    });
    await assert.rejects(refused, (e: Error) => {
      assert.ok(e instanceof RomanadUnreachableError);
      assert.match(e.message, /^cannot reach romanad at http:\/\/127\.0\.0\.1:1: .*ECONNREFUSED/);
      return true;
    });
    const held: Socket[] = [];
    const silent = createServer((s) => void held.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as AddressInfo).port;
    try {
      const t0 = Date.now();
      const late = sendJson(new URL(`http://127.0.0.1:${port}/hosts`), 'GET', undefined, {
        bareSocket: true,
        timeoutMs: 200,
      });
      await assert.rejects(late, /: no answer within 200 ms$/);
      assert.ok(Date.now() - t0 < 5000);
    } finally {
      for (const s of held) s.destroy();
      silent.close();
    }
  });

  it('leaves a header node:http refuses to node:http (a token with a line break)', async () => {
    const c: Case = {
      status: 200,
      interim: false,
      framing: 'length',
      contentType: undefined,
      body: '',
      cuts: [],
    };
    const lean = await outcome(c, 'GET', undefined, { token: 'a\r\nX-Evil: 1', bareSocket: true });
    assert.deepEqual(lean, { error: 'TypeError', seen: undefined });
  });
});
