/** The request log: one completed line per request with method and URL; writes are audited. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { call, type FaultyService, seededService } from '../../../test/helpers/service.ts';
import { buildApp } from './app.ts';
import { lazyChildLogger } from './request-log.ts';
import type { TokenEntry } from './auth.ts';

const ADMIN = 'admin-token-0123456789abcdef';
const READ = 'read-token-0123456789abcdef';
const TOKENS: TokenEntry[] = [
  { token: ADMIN, role: 'admin', name: 'ops' },
  { token: READ, role: 'read-only' },
];
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

type Line = Record<string, unknown>;

/** A stream handing each line written to it (without its newline) to `take`. */
function lineSink(take: (line: string) => void): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l !== '') take(l);
      done();
    },
  });
}

/** An app whose log lines land in `lines`. */
function logged(
  service: FaultyService,
  tokens: TokenEntry[],
  level = 'info',
): { app: FastifyInstance; lines: Line[] } {
  const lines: Line[] = [];
  const sink = lineSink((l) => lines.push(JSON.parse(l) as Line));
  const log = pino({ level }, sink);
  return { app: buildApp(service, { tokens, loggerInstance: log }), lines };
}

function completed(lines: Line[]): Line[] {
  return lines.filter((l) => l['msg'] === 'request completed');
}

describe('request log', () => {
  let service: FaultyService;
  before(async () => {
    service = await seededService();
  });
  after(async () => {
    await service.close();
  });

  test('one completed line per request, with method, URL, status and time; nothing else', async () => {
    const { app, lines } = logged(service, []);
    await call(app, 'GET', '/hosts?x=1');
    await app.close();
    assert.equal(lines.length, 1, JSON.stringify(lines));
    const [l] = completed(lines);
    assert.equal(l!['method'], 'GET');
    assert.equal(l!['url'], '/hosts?x=1');
    assert.equal(l!['statusCode'], 200);
    assert.equal(typeof l!['responseTime'], 'number');
    assert.equal(typeof l!['reqId'], 'string');
    assert.equal(l!['audit'], undefined, 'a read is not audited');
  });

  test('every write is audited at info: who, what and the result', async () => {
    const { app, lines } = logged(service, TOKENS);
    const a = await call(app, 'POST', '/hosts', { name: 'h7', ip: '192.168.0.7' }, bearer(ADMIN));
    assert.equal(a.status, 200, a.text);
    await call(app, 'POST', '/hosts', { name: 'h8', ip: '192.168.0.8' }, bearer(READ));
    await call(app, 'DELETE', '/hosts/nope', undefined, bearer(ADMIN));
    await call(app, 'POST', '/hosts', { name: 'h9', ip: '192.168.0.9' });
    await call(app, 'DELETE', '/hosts/h7', undefined, bearer(ADMIN));
    await app.close();
    const audits = completed(lines).map((l) => [l['level'], l['method'], l['url'], l['audit']]);
    assert.deepEqual(audits, [
      [
        30,
        'POST',
        '/hosts',
        { who: 'ops', role: 'admin', route: '/hosts', object: 'h7', status: 200 },
      ],
      [
        30,
        'POST',
        '/hosts',
        {
          who: 'token #2',
          role: 'read-only',
          route: '/hosts',
          status: 403,
          code: 'Forbidden',
        },
      ],
      [
        30,
        'DELETE',
        '/hosts/nope',
        {
          who: 'ops',
          role: 'admin',
          route: '/hosts/:name',
          object: 'nope',
          status: 404,
          code: 'NotFound',
        },
      ],
      [
        30,
        'POST',
        '/hosts',
        { who: 'anonymous', route: '/hosts', status: 401, code: 'Unauthorized' },
      ],
      [
        30,
        'DELETE',
        '/hosts/h7',
        { who: 'ops', role: 'admin', route: '/hosts/:name', object: 'h7', status: 200 },
      ],
    ]);
  });

  test('without tokens the writer is anonymous; a refused body names its code', async () => {
    const { app, lines } = logged(service, []);
    await call(app, 'POST', '/hosts', { name: 'h1', ip: '192.168.0.1' });
    await call(app, 'POST', '/hosts', { nmae: 'x' });
    await app.close();
    const audits = completed(lines).map((l) => l['audit'] as Record<string, unknown>);
    assert.equal(audits[0]!['who'], 'anonymous');
    assert.equal(audits[0]!['code'], 'AlreadyExists');
    assert.equal(audits[1]!['status'], 400);
    assert.equal(audits[1]!['code'], 'InvalidInput');
  });

  test('an allocation and a release log one line each, which carries the address', async () => {
    const { app, lines } = logged(service, []);
    const a = await call(app, 'POST', '/address', { name: 'log-a1', host: 'h1' });
    assert.equal(a.status, 200, a.text);
    const r = await call(app, 'DELETE', '/address?addressName=log-a1');
    assert.equal(r.status, 200, r.text);
    await app.close();
    assert.equal(lines.length, 2, JSON.stringify(lines));
    const [alloc, release] = completed(lines);
    const address = alloc!['address'] as Record<string, unknown>;
    assert.equal(address['name'], 'log-a1');
    assert.equal(JSON.stringify(address['ip']), a.text, 'the address answered');
    assert.deepEqual((alloc!['audit'] as Record<string, unknown>)['object'], 'log-a1');
    assert.deepEqual(release!['address'], address);
  });

  test('at warn, reads log nothing and writes still log nothing below warn', async () => {
    const { app, lines } = logged(service, [], 'warn');
    await call(app, 'GET', '/hosts');
    await call(app, 'DELETE', '/hosts/nope');
    await app.close();
    assert.deepEqual(lines, []);
  });
});

describe('request log, written without the logger (RequestLineWriter)', () => {
  let service: FaultyService;
  before(async () => {
    service = await seededService();
  });
  after(async () => {
    await service.close();
  });

  /** The raw lines of an app logging at `level`, through the writer or through pino alone. */
  async function rawLines(
    level: string,
    writer: boolean,
    requests: (app: FastifyInstance) => Promise<void>,
  ): Promise<string[]> {
    const out: string[] = [];
    const sink = lineSink((l) => out.push(l));
    const base = { program: 'romanad-test', zone: 'z1' };
    const log = pino({ level, base }, sink);
    const requestLine = writer ? { base, write: (l: string) => void sink.write(l) } : undefined;
    const app = buildApp(service, {
      tokens: TOKENS,
      loggerInstance: log,
      ...(requestLine ? { requestLine } : {}),
    });
    await requests(app);
    await app.close();
    await new Promise((r) => setImmediate(r));
    // The clock and the time taken differ between the two runs; nothing else may.
    return out.map((l) =>
      l.replace(/"time":\d+/, '"time":0').replace(/"responseTime":[\d.e-]+/, '"responseTime":0'),
    );
  }

  const id = (n: number) => ({ 'x-request-id': `req-${n}` });
  const traffic = async (app: FastifyInstance) => {
    await call(app, 'GET', '/hosts?x=1', undefined, { ...bearer(READ), ...id(1) });
    await call(
      app,
      'POST',
      '/hosts',
      { name: 'w1', ip: '192.168.9.1' },
      { ...bearer(ADMIN), ...id(2) },
    );
    await call(
      app,
      'POST',
      '/address',
      { name: 'w-a1', host: 'w1' },
      { ...bearer(ADMIN), ...id(3) },
    );
    await call(app, 'DELETE', '/address?addressName=w-a1', undefined, {
      ...bearer(ADMIN),
      ...id(4),
    });
    await call(app, 'DELETE', '/hosts/nope', undefined, { ...bearer(ADMIN), ...id(5) });
    await call(app, 'POST', '/hosts', { nmae: 'x' }, { ...bearer(ADMIN), ...id(6) });
    await call(app, 'DELETE', '/hosts/w1', undefined, { ...bearer(ADMIN), ...id(7) });
  };

  test('writes the very lines pino writes, byte for byte but the time', async () => {
    const viaPino = await rawLines('info', false, traffic);
    const viaWriter = await rawLines('info', true, traffic);
    const done = (ls: string[]) => ls.filter((l) => l.includes('"msg":"request completed"'));
    assert.equal(done(viaPino).length, 7, viaPino.join('\n'));
    assert.deepEqual(viaWriter, viaPino);
    const alloc = JSON.parse(done(viaWriter)[2]!) as Record<string, unknown>;
    assert.equal(alloc['reqId'], 'req-3');
    assert.equal(alloc['zone'], 'z1');
    assert.equal((alloc['address'] as Record<string, unknown>)['name'], 'w-a1');
  });

  test('at warn, writes nothing either', async () => {
    assert.deepEqual(await rawLines('warn', true, traffic), []);
  });
});

describe('lazyChildLogger', () => {
  /** A pino logger into `lines`, counting the children made of it. */
  function parentLogger(level: string) {
    const lines: Line[] = [];
    const sink = lineSink((l) => lines.push(JSON.parse(l) as Line));
    const log = pino({ level }, sink);
    let children = 0;
    const parent = Object.assign(Object.create(log) as FastifyBaseLogger, {
      child: (b: Record<string, unknown>, o?: Record<string, unknown>) => {
        children++;
        return log.child(b, o);
      },
    });
    return { parent, lines, children: () => children };
  }
  const flushed = () => new Promise((r) => setImmediate(r));

  test('makes the child at its first line at or above the level, once, with the bindings', async () => {
    const { parent, lines, children } = parentLogger('info');
    const log = lazyChildLogger(parent, { reqId: 'r1' }, {});
    assert.equal(log.level, 'info');
    log.debug({ a: 0 }, 'below the level');
    log.trace('below the level');
    assert.equal(children(), 0, 'a line below the level makes no child');
    log.info({ a: 1 }, 'first');
    log.warn('second');
    log.child({ sub: 's' }).error('third');
    await flushed();
    assert.equal(children(), 1);
    assert.deepEqual(
      lines.map((l) => [l['msg'], l['reqId'], l['a'], l['sub']]),
      [
        ['first', 'r1', 1, undefined],
        ['second', 'r1', undefined, undefined],
        ['third', 'r1', undefined, 's'],
      ],
    );
  });

  test("takes the route's own level, and a level set on it", async () => {
    const { parent, lines } = parentLogger('info');
    const log = lazyChildLogger(parent, { reqId: 'r2' }, { level: 'debug' });
    assert.equal(log.level, 'debug');
    log.debug('shown at debug');
    log.level = 'error';
    log.warn('hidden at error');
    await flushed();
    assert.deepEqual(
      lines.map((l) => l['msg']),
      ['shown at debug'],
    );
  });
});

describe('logDestination', () => {
  test('writes every line in order, also those of the turn in which the process exits', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'romana-log-dest-'));
    try {
      const file = path.join(dir, 'log');
      // 3 turns of 700 lines, then 100 more and an immediate exit.
      const script = `
        import { openSync } from 'node:fs';
        import { pino } from 'pino';
        import { logDestination } from ${JSON.stringify(path.join(import.meta.dirname, 'request-log.ts'))};
        const log = pino({ base: null }, logDestination(openSync(${JSON.stringify(file)}, 'w')));
        let n = 0;
        for (let turn = 0; turn < 3; turn++) {
          for (let i = 0; i < 700; i++) log.info({ n: n++ }, 'x'.repeat(i % 50));
          await new Promise((r) => setTimeout(r, 5));
        }
        for (let i = 0; i < 100; i++) log.info({ n: n++ }, 'last');
        process.exit(0);`;
      execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        cwd: path.join(import.meta.dirname, '../../..'),
      });
      const lines = readFileSync(file, 'utf8').split('\n');
      assert.equal(lines.pop(), '', 'the file ends with a whole line');
      assert.deepEqual(
        lines.map((l) => (JSON.parse(l) as { n: number }).n),
        Array.from({ length: 2200 }, (_, i) => i),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
