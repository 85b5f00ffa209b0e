/**
 * The watch stream over a real loopback socket: ndjson lines, heartbeats, resuming from a
 * revision, errors before and during the stream, and closing from either end.
 */
import assert from 'node:assert/strict';
import { get, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import {
  assertError,
  call,
  type FaultyService,
  H1_REVISION,
  seededService,
} from '../../../test/helpers/service.ts';
import { compacted } from '../../errors.ts';
import { buildApp, type AppOptions } from './app.ts';
import { parseKinds } from './routes/watch.ts';

interface Line {
  [k: string]: unknown;
}

/** An open stream: its response and its lines as they arrive. */
class Client {
  readonly lines: Line[] = [];
  ended = false;
  #waiters: Array<() => void> = [];

  constructor(readonly res: IncomingMessage) {
    let buf = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      buf += chunk;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        this.lines.push(JSON.parse(buf.slice(0, i)) as Line);
        buf = buf.slice(i + 1);
      }
      this.#wake();
    });
    res.on('end', () => {
      this.ended = true;
      this.#wake();
    });
    res.on('close', () => {
      this.ended = true;
      this.#wake();
    });
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  /** Waits until `pred` holds (re-checked on every chunk), or fails after 3 s. */
  async until(pred: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + 3000;
    while (!pred()) {
      const left = deadline - Date.now();
      if (left <= 0)
        assert.fail(`timed out waiting for ${what}; lines: ${JSON.stringify(this.lines)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  close(): void {
    this.res.destroy();
  }
}

function open(base: string, path: string, headers: Record<string, string> = {}): Promise<Client> {
  return new Promise((resolve, reject) => {
    get(`${base}${path}`, { headers }, (res) => resolve(new Client(res))).on('error', reject);
  });
}

let service: FaultyService;
let app: FastifyInstance;
let base: string;

async function start(opts: AppOptions = {}): Promise<void> {
  service = await seededService();
  app = buildApp(service, { watchHeartbeatMs: 60_000, ...opts });
  await app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
}

async function stop(): Promise<void> {
  await app.close();
  await service.close();
}

describe('GET /watch', () => {
  beforeEach(() => start());
  afterEach(stop);

  test('streams application/x-ndjson: current state first, then each change as one line', async () => {
    const c = await open(base, '/watch?kinds=blocks,hosts');
    assert.equal(c.res.statusCode, 200);
    assert.equal(c.res.headers['content-type'], 'application/x-ndjson');
    assert.ok(c.res.headers['x-request-id']);
    await c.until(() => c.lines.length >= 1, 'the initial host');
    assert.deepEqual(c.lines[0], {
      revision: H1_REVISION,
      kind: 'hosts',
      type: 'put',
      id: 'h1',
      value: service.listHosts().hosts[0],
    });
    const r = H1_REVISION;
    assert.equal((await call(app, 'POST', '/address', { name: 'pod-a', host: 'h1' })).status, 200); // r+1
    const policy = {
      id: 'p1',
      applied_to: [{ tenant_id: 't' }],
      ingress: [{ peers: [{ peer: 'any' }], rules: [{ protocol: 'tcp', ports: [80] }] }],
    };
    assert.equal((await call(app, 'POST', '/policies', policy)).status, 200); // r+2, not watched
    // Removing a host with force: the host is fenced (r+3), its block freed (r+4), then it goes (r+5).
    assert.equal((await call(app, 'DELETE', '/hosts/h1?force=true')).status, 200);
    await c.until(() => c.lines.length >= 5, 'the block and host events');
    assert.deepEqual(
      c.lines.map((l) => [l['revision'], l['kind'], l['type'], l['id']]),
      [
        [r, 'hosts', 'put', 'h1'],
        [r + 1, 'blocks', 'put', '10.0.0.0/28'],
        [r + 3, 'hosts', 'put', 'h1'],
        [r + 4, 'blocks', 'put', '10.0.0.0/28'],
        [r + 5, 'hosts', 'delete', 'h1'],
      ],
    );
    assert.equal((c.lines[1]!['value'] as Record<string, unknown>)['allocated_ip_count'], 1);
    assert.equal((c.lines[3]!['value'] as Record<string, unknown>)['allocated_ip_count'], 0);
    assert.equal(c.lines[4]!['value'], null);
    c.close();
  });

  test('?revision=N resumes with every change from N on, inclusive', async () => {
    const r = H1_REVISION;
    await call(app, 'POST', '/address', { name: 'pod-a', host: 'h1' }); // revision r+1
    await call(app, 'POST', '/address', { name: 'pod-b', host: 'h1' }); // revision r+2
    const c = await open(base, `/watch?kinds=blocks&revision=${r + 2}`);
    await c.until(() => c.lines.length >= 1, 'the replayed event');
    assert.deepEqual(
      c.lines.map((l) => l['revision']),
      [r + 2],
    );
    await call(app, 'DELETE', '/address?addressName=pod-a');
    await c.until(() => c.lines.length >= 2, 'the live event');
    assert.equal(c.lines[1]!['revision'], r + 3);
    c.close();
  });

  test('closing the HTTP request closes the service watch', async () => {
    const c = await open(base, '/watch');
    await c.until(() => service.openWatches === 1, 'the service watch');
    assert.match(await metricsText(), /romanad_watch_streams 1/);
    c.close();
    const deadline = Date.now() + 3000;
    while (service.openWatches > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));
    assert.equal(service.openWatches, 0);
    assert.match(await metricsText(), /romanad_watch_streams 0/);
  });

  test('a compacted revision is a 409 before the stream starts', async () => {
    // A service that keeps only 4 events for resumes, and more changes than that since 1.
    const small = await seededService({ eventCapacity: 4 });
    const smallApp = buildApp(small);
    try {
      for (const name of ['pod-a', 'pod-b', 'pod-c'])
        assert.equal((await call(smallApp, 'POST', '/address', { name, host: 'h1' })).status, 200);
      const a = await call(smallApp, 'GET', '/watch?revision=1');
      assertError(a, 409, 'Compacted', /compacted/);
      assert.equal(small.openWatches, 0);
    } finally {
      await smallApp.close();
      await small.close();
    }
  });

  test('an error during the stream is sent as an {"error": ...} line, then the stream ends', async () => {
    const c = await open(base, '/watch?kinds=hosts');
    await c.until(() => c.lines.length >= 1 && service.openWatches === 1, 'the stream');
    service.breakWatches(compacted(2, 3));
    await c.until(() => c.ended, 'the end of the stream');
    const last = c.lines.at(-1)!;
    assert.deepEqual(last, {
      error: {
        status_code: 409,
        code: 'Compacted',
        details: compacted(2, 3).message,
        resource_type: 'revision',
        resource_id: '2',
        see_also: 'docs/api.md#errors',
      },
    });
  });

  test('an unexpected error mid-stream is reported as Internal without its details', async () => {
    const c = await open(base, '/watch?kinds=hosts');
    await c.until(() => service.openWatches === 1, 'the stream');
    service.breakWatches(new Error('store exploded at /secret/path'));
    await c.until(() => c.ended, 'the end of the stream');
    const err = c.lines.at(-1)!['error'] as Record<string, unknown>;
    assert.equal(err['code'], 'Internal');
    assert.doesNotMatch(String(err['details']), /secret/);
  });

  test('bad kinds or revision are a 400 naming the value', async () => {
    assertError(
      await call(app, 'GET', '/watch?kinds=blocks,vipz'),
      400,
      'InvalidInput',
      /'vipz' is not one of/,
    );
    assertError(
      await call(app, 'GET', '/watch?revision=-1'),
      400,
      'InvalidInput',
      /querystring\.revision.*"-1"/,
    );
    assertError(
      await call(app, 'GET', '/watch?since=3'),
      400,
      'InvalidInput',
      /querystring\.since: unknown field/,
    );
  });

  test('closing the app ends open streams', async () => {
    const c = await open(base, '/watch');
    await c.until(() => service.openWatches === 1, 'the stream');
    await app.close();
    await c.until(() => c.ended, 'the end of the stream');
    assert.equal(service.openWatches, 0);
  });
});

describe('heartbeats and slow clients', () => {
  afterEach(stop);

  test('a heartbeat line with the current revision comes every interval', async () => {
    await start({ watchHeartbeatMs: 40 });
    const c = await open(base, '/watch?kinds=policies');
    await c.until(
      () => c.lines.filter((l) => l['heartbeat'] === true).length >= 2,
      'two heartbeats',
    );
    assert.deepEqual(c.lines[0], { heartbeat: true, revision: service.revision() });
    c.close();
  });

  test('a client that does not read is cut once its backlog passes the limit', async () => {
    await start({ watchMaxBufferBytes: 64 * 1024 });
    const c = await open(base, '/watch?kinds=hosts');
    c.res.pause();
    await new Promise((r) => setTimeout(r, 50));
    const big = { k: 'x'.repeat(200_000) };
    for (let i = 0; i < 40 && service.openWatches > 0; i++) {
      await service.patchHost('h1', { k8s_info: { ...big, i } });
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal(service.openWatches, 0, 'the slow stream was cut');
    c.close();
  });
});

test('parseKinds: every kind by default, duplicates folded, unknown ones refused', () => {
  assert.deepEqual(parseKinds(undefined), [
    'blocks',
    'hosts',
    'policies',
    'vips',
    'topology',
    'addresses',
    'namespaces',
  ]);
  assert.deepEqual(parseKinds('hosts, blocks,hosts'), ['hosts', 'blocks']);
  assert.throws(() => parseKinds('hosts,'), /'' is not one of/);
});

async function metricsText(): Promise<string> {
  return (await call(app, 'GET', '/metrics')).text;
}
