/** The dashboard's static files at /ui: public, typed, revalidated, and never outside dist/ui. */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { assertError, call, seededService } from '../../../../test/helpers/service.ts';
import { buildApp } from '../app.ts';
import { uiDirCandidates } from './ui.ts';

const READ = 'read-token-0123456789abcdef';
const PAGE = '<!doctype html><meta name="romanad-auth" content="none" /><title>t</title>';

/** One GET with the path exactly as given; the whole answer as text. */
function rawGet(port: number, target: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => {
      s.write(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    });
    let text = '';
    s.on('data', (d) => (text += d.toString()));
    s.on('end', () => resolve(text));
    s.on('error', reject);
  });
}

describe('GET /ui', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'romana-ui-'));
  const dir = path.join(root, 'ui');
  let app: FastifyInstance;
  let missing: FastifyInstance;
  let open: FastifyInstance;

  before(async () => {
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'index.html'), PAGE);
    writeFileSync(path.join(dir, 'app.js'), 'console.log(1)');
    writeFileSync(path.join(dir, 'app.css'), 'body{}');
    writeFileSync(path.join(dir, '.hidden.js'), 'secret');
    writeFileSync(path.join(dir, 'notes.md'), 'no type for this');
    mkdirSync(path.join(dir, 'sub'));
    writeFileSync(path.join(dir, 'sub', 'x.js'), 'nested');
    writeFileSync(path.join(root, 'secret.txt'), 'outside');
    const tokens = [{ token: READ, role: 'read-only' as const }];
    app = buildApp(await seededService(), { tokens, uiDir: dir });
    missing = buildApp(await seededService(), { tokens, uiDir: path.join(root, 'nothing') });
    open = buildApp(await seededService(), { uiDir: dir });
  });
  after(async () => {
    await app.close();
    await missing.close();
    await open.close();
    rmSync(root, { recursive: true, force: true });
  });

  test('the page and its assets need no token, while the data does', async () => {
    for (const url of ['/ui/', '/ui/index.html', '/ui/app.js', '/ui/app.css']) {
      assert.equal((await call(app, 'GET', url)).status, 200, url);
    }
    assertError(await call(app, 'GET', '/hosts'), 401, 'Unauthorized');
  });

  test('each file has its Content-Type, no-cache with an ETag, and nosniff', async () => {
    const types: Record<string, string> = {
      '/ui/': 'text/html; charset=utf-8',
      '/ui/app.js': 'text/javascript; charset=utf-8',
      '/ui/app.css': 'text/css; charset=utf-8',
    };
    for (const [url, type] of Object.entries(types)) {
      const a = await call(app, 'GET', url);
      assert.equal(a.headers['content-type'], type, url);
      assert.equal(a.headers['cache-control'], 'no-cache', url);
      assert.equal(a.headers['x-content-type-options'], 'nosniff', url);
      assert.match(String(a.headers.etag), /^W\/"[0-9a-f]+-[0-9a-f]+(-t)?"$/, url);
    }
    const page = await call(app, 'GET', '/ui/');
    assert.equal(page.text, PAGE.replace('"none"', '"token"'));
    assert.match(String(page.headers['content-security-policy']), /default-src 'self'/);
  });

  test('the page says whether romanad wants a token, and its ETag differs with that', async () => {
    const guarded = await call(app, 'GET', '/ui/');
    const free = await call(open, 'GET', '/ui/');
    assert.match(guarded.text, /<meta name="romanad-auth" content="token" \/>/);
    assert.equal(free.text, PAGE);
    assert.notEqual(guarded.headers.etag, free.headers.etag);
    assert.equal((await call(open, 'GET', '/ui/app.js')).text, 'console.log(1)');
  });

  test('a request carrying the current ETag is answered 304 without a body', async () => {
    const first = await call(app, 'GET', '/ui/app.js');
    const again = await app.inject({
      method: 'GET',
      url: '/ui/app.js',
      headers: { 'if-none-match': String(first.headers.etag) },
    });
    assert.equal(again.statusCode, 304);
    assert.equal(again.body, '');
    const stale = await app.inject({
      method: 'GET',
      url: '/ui/app.js',
      headers: { 'if-none-match': 'W/"0-0"' },
    });
    assert.equal(stale.statusCode, 200);
  });

  test('/ui redirects to /ui/ (keeping the query), so relative links resolve inside it', async () => {
    const a = await call(app, 'GET', '/ui');
    assert.equal(a.status, 302);
    assert.equal(a.headers.location, '/ui/');
    assert.equal((await call(app, 'GET', '/ui?x=1')).headers.location, '/ui/?x=1');
  });

  test('HEAD answers the headers of GET', async () => {
    const a = await app.inject({ method: 'HEAD', url: '/ui/app.css' });
    assert.equal(a.statusCode, 200);
    assert.equal(a.headers['content-type'], 'text/css; charset=utf-8');
  });

  test('no path reaches outside the folder, nor a hidden, nested or untyped file', async () => {
    const refused = [
      '/ui/../secret.txt',
      '/ui/..%2fsecret.txt',
      '/ui/%2e%2e%2fsecret.txt',
      '/ui/%2e%2e/secret.txt',
      '/ui/..%5csecret.txt',
      '/ui/sub/x.js',
      '/ui/sub%2fx.js',
      '/ui/.hidden.js',
      '/ui/notes.md',
      '/ui/nothing.js',
      '/ui/app.js%00.css',
      `/ui/${encodeURIComponent(path.join(root, 'secret.txt'))}`,
    ];
    for (const url of refused) {
      const a = await call(app, 'GET', url);
      // `/ui/../x` (or `%2e%2e`) is `/x` once the client normalises the path: no dashboard
      // path then, and unknown paths need a token (401 before 404).
      const inside = new URL(url, 'http://x').pathname.startsWith('/ui/');
      assert.equal(a.status, inside ? 404 : 401, url);
      assert.doesNotMatch(a.text, /outside|nested|console/, url);
    }
    // Sent as is, without the client normalising it, over a real socket.
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as { port: number };
    for (const raw of ['/ui/../secret.txt', '/ui/../../secret.txt', '/ui/./../secret.txt']) {
      const a = await rawGet(port, raw);
      assert.doesNotMatch(a, /outside/, raw);
      assert.match(a, /^HTTP\/1\.1 (401|404)/, raw);
    }
    const a = await call(app, 'GET', '/ui/nothing.js');
    assertError(a, 404, 'NotFound', /No file 'nothing\.js' in the dashboard/);
  });

  test('without a build, the answer is a 404 that says to run npm run build', async () => {
    for (const url of ['/ui/', '/ui/app.js']) {
      assertError(await call(missing, 'GET', url), 404, 'NotFound', /not built.*npm run build/);
    }
  });

  test('a build made or removed while romanad runs is seen at the next request', async () => {
    const late = path.join(root, 'late');
    const a = buildApp(await seededService(), { uiDir: late });
    try {
      assertError(await call(a, 'GET', '/ui/'), 404, 'NotFound', /npm run build/);
      mkdirSync(late);
      writeFileSync(path.join(late, 'index.html'), PAGE);
      assert.equal((await call(a, 'GET', '/ui/')).status, 200);
      rmSync(path.join(late, 'index.html'));
      assertError(await call(a, 'GET', '/ui/'), 404, 'NotFound', /npm run build/);
    } finally {
      await a.close();
    }
  });

  test('dist/ui is looked for beside the bundle, then beside bin/, then in the working directory', () => {
    const c = uiDirCandidates();
    assert.ok(c.includes(path.resolve('dist', 'ui')), c.join(', '));
    assert.ok(c.every((d) => d.endsWith(`${path.sep}ui`)));
  });
});
