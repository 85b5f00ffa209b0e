/**
 * The API fuzz test of src/server/http/fuzz.test.ts against a real romanad process on its
 * embedded store, over HTTP (node's own parser, the real store's revisions): the same mutated
 * bodies, odd paths and raw bodies; never a 5xx, every 400/422 names its field, and after every
 * refusal `/readyz`'s revision and every list romanad serves are unchanged. `FUZZ_E2E_RUNS`
 * (default 60 per property, 840 cases in all, about 40 s) sets the count; the in-process test
 * runs 3,500.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { request as httpRequest } from 'node:http';
import path from 'node:path';
import { after, before, describe } from 'node:test';
import {
  CUT_OFF,
  describeCounts,
  type FuzzCounts,
  fuzzChecker,
  fuzzTests,
} from '../helpers/api-fuzz.ts';
import { agent, request, startRomanad, type Romanad } from '../helpers/romanad.ts';

const RUNS = Number(process.env['FUZZ_E2E_RUNS'] ?? 60);
const LISTS = [
  '/hosts',
  '/addresses',
  '/policies',
  '/topology',
  '/blocks',
  '/vips',
  '/blackouts',
  '/networks',
  '/namespaces',
];

const dir = mkdtempSync(path.join(tmpdir(), 'romanad-fuzz-'));
let d: Romanad;
const counts: FuzzCounts = { cases: 0, accepted: 0, refused: new Map() };

before(async () => {
  const topology = path.join(dir, 'topology.json');
  writeFileSync(
    topology,
    JSON.stringify({
      networks: [{ name: 'net1', cidr: '10.0.0.0/24', block_mask: 28 }],
      topologies: [{ networks: ['net1'], map: [{ name: 'rack-1' }, { name: 'rack-2' }] }],
    }),
  );
  d = await startRomanad([
    '--store',
    `embedded:${path.join(dir, 'store')}`,
    '--initial-topology-file',
    topology,
  ]);
  const ok = async (p: string, method: string, body: unknown) => {
    const r = await request(`${d.url}${p}`, method, body);
    if (r.status !== 200) throw new Error(`${method} ${p}: ${r.status} ${JSON.stringify(r.body)}`);
  };
  await ok('/hosts', 'POST', { name: 'h1', ip: '192.168.0.1' });
  await ok('/address', 'POST', {
    name: 'a1',
    host: 'h1',
    pod: { namespace: 'shop', name: 'web-0' },
  });
});

after(async () => {
  await d?.stop();
  rmSync(dir, { recursive: true, force: true });
  console.log(describeCounts('romanad fuzz', counts));
});

/** romanad's default body limits: 8 MiB for topology documents, 1 MiB for the rest. */
function bodyLimit(target: string): number {
  return target.startsWith('/topology') ? 8 * 1024 * 1024 : 1024 * 1024;
}

/**
 * One request over the keep-alive agent: `target` (path and query) goes as given, odd
 * percent-encoding included, and the answer comes back as text.
 */
function send(
  method: string,
  target: string,
  payload: string | undefined,
  contentType: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = {};
    if (payload !== undefined) {
      headers['content-type'] = contentType;
      headers['content-length'] = Buffer.byteLength(payload);
    }
    const { hostname, port } = new URL(d.url);
    let ended = false;
    // romanad refuses a body above its limit from the Content-Length and closes the
    // connection; the rest of the body then meets a reset that can swallow the 413, before
    // its headers arrive or while its body is read.
    const failed = (err: NodeJS.ErrnoException) => {
      const over = payload !== undefined && Buffer.byteLength(payload) > bodyLimit(target);
      if (!ended && over && (err.code === 'EPIPE' || err.code === 'ECONNRESET')) {
        resolve({ status: CUT_OFF, body: '' });
      } else reject(err);
    };
    const req = httpRequest({ hostname, port, method, path: target, headers, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('error', failed);
      res.on('end', () => {
        ended = true;
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on('error', failed);
    req.end(payload);
  });
}

const check = fuzzChecker(
  {
    send,
    observe: async () => {
      const ready = await send('GET', '/readyz', undefined, '');
      const lists = await Promise.all(LISTS.map((p) => send('GET', p, undefined, '')));
      // /readyz carries the store revision; /hosts carries it too, and is compared as a read.
      return {
        revision: (JSON.parse(ready.body) as { revision: number }).revision,
        reads: lists.map((l) => `${l.status} ${l.body}`).join('\n'),
      };
    },
  },
  counts,
);

describe('a romanad process under fuzzing: no 5xx, every refusal names its field and changes nothing', () => {
  fuzzTests(check, RUNS);
});
