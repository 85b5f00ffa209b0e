/**
 * romanad as an operator meets it, as a real process: start-up errors that are one line and
 * exit 2 (a bad TLS file, an invalid initial topology, a token file others may read), and
 * SIGHUP re-reading the token file and the TLS certificate without a restart.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { request, startRomanad, type Romanad } from '../helpers/romanad.ts';
import { makeCerts, type TestCerts } from '../helpers/tls.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const OLD = 'old-token-0123456789abcdef';
const NEW = 'new-token-0123456789abcdef';

const cleanups: Array<() => void> = [];
after(() => {
  for (const c of cleanups) c();
});

function tempDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'niceties-romanad-'));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

function certs(): TestCerts {
  const c = makeCerts();
  cleanups.push(() => c.remove());
  return c;
}

/** Runs romanad to its exit (it must fail at start) and returns status and output. */
function startFails(args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(
    process.execPath,
    [path.join(ROOT, 'bin/romanad.js'), '--store', 'memory:', '--port', '0', ...args],
    { encoding: 'utf8', timeout: 30_000 },
  );
  return { status: r.status, stderr: r.stderr };
}

function assertOneLine(stderr: string, ...patterns: RegExp[]): void {
  const first = stderr.split('\n')[0]!;
  for (const p of patterns) assert.match(first, p, stderr);
  assert.doesNotMatch(stderr, /^\s+at /m, `a stack trace was printed:\n${stderr}`);
}

function tokenFile(dir: string, token: string, mode = 0o600): string {
  const file = path.join(dir, 'tokens.yaml');
  writeFileSync(file, `- {token: ${token}, role: admin, name: ops}\n`);
  chmodSync(file, mode);
  return file;
}

async function until(what: string, check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Collects romanad's JSON log lines (stdout). */
function logsOf(d: Romanad): Array<Record<string, unknown>> {
  const lines: Array<Record<string, unknown>> = [];
  let buf = '';
  d.proc.stdout!.on('data', (c: Buffer) => {
    buf += c.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    for (const l of parts) if (l.startsWith('{')) lines.push(JSON.parse(l));
  });
  return lines;
}

/** A fresh TLS connection (no pooling) trusting only `ca`; resolves to the status or the error. */
function fetchTls(url: string, ca: string): Promise<number | string> {
  return new Promise((resolve) => {
    const req = https.get(`${url}/healthz`, { ca: readFileSync(ca), agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

describe('romanad start-up errors are one line and exit 2', { concurrency: true }, () => {
  it('names a --tls-cert file that is not a certificate', () => {
    const dir = tempDir();
    const bad = path.join(dir, 'bad.pem');
    writeFileSync(bad, 'not a certificate\n');
    const c = certs();
    const r = startFails(['--tls-cert', bad, '--tls-key', c.serverKey]);
    assert.equal(r.status, 2, r.stderr);
    assertOneLine(r.stderr, /--tls-cert/, new RegExp(bad.replace(/[.]/g, '\\.')), /certificate/);
  });

  it('names a --tls-key that does not match the certificate', () => {
    const a = certs();
    const r = startFails(['--tls-cert', a.serverCert, '--tls-key', a.clientKey]);
    assert.equal(r.status, 2, r.stderr);
    assertOneLine(r.stderr, /--tls-key/, /client\.key/, /does not match/);
  });

  it('names an --initial-topology-file holding an IPv6 network with too large blocks, and the field', () => {
    const dir = tempDir();
    const file = path.join(dir, 'v6.json');
    writeFileSync(
      file,
      JSON.stringify({
        networks: [{ name: 'v6', cidr: '2001:db8::/48', block_mask: 56 }],
        topologies: [{ networks: ['v6'], map: [{ name: 'g', groups: [] }] }],
      }),
    );
    const r = startFails(['--initial-topology-file', file]);
    assert.equal(r.status, 2, r.stderr);
    assertOneLine(
      r.stderr,
      /--initial-topology-file/,
      /v6\.json/,
      /networks\[0\]\.block_mask/,
      /56/,
    );
  });

  it('refuses a token file that group or others may read, naming the file and its mode', () => {
    const dir = tempDir();
    const file = tokenFile(dir, OLD, 0o644);
    const r = startFails(['--token-file', file]);
    assert.equal(r.status, 2, r.stderr);
    assertOneLine(r.stderr, /--token-file/, /tokens\.yaml/, /mode 0644/, /chmod 600/);
  });

  it('accepts such a token file with --allow-readable-token-file', async () => {
    const dir = tempDir();
    const file = tokenFile(dir, OLD, 0o644);
    const d = await startRomanad([
      '--store',
      'memory:',
      '--token-file',
      file,
      '--allow-readable-token-file',
    ]);
    try {
      assert.equal((await request(`${d.url}/hosts`, 'GET', undefined, { token: OLD })).status, 200);
    } finally {
      await d.stop();
    }
  });
});

describe('SIGHUP re-reads credentials', () => {
  it('swaps the token file; a bad new file keeps the old tokens and logs why', async () => {
    const dir = tempDir();
    const file = tokenFile(dir, OLD);
    const d = await startRomanad(['--store', 'memory:', '--token-file', file]);
    const logs = logsOf(d);
    const status = async (t: string) =>
      (await request(`${d.url}/hosts`, 'GET', undefined, { token: t })).status;
    try {
      assert.equal(await status(OLD), 200);
      assert.equal(await status(NEW), 401);
      tokenFile(dir, NEW);
      d.proc.kill('SIGHUP');
      await until('the new token is accepted', async () => (await status(NEW)) === 200);
      assert.equal(await status(OLD), 401);

      // A world-readable file and a broken file are refused; the current tokens stay.
      for (const [text, mode, why] of [
        [`- {token: ${OLD}, role: admin}\n`, 0o644, /mode 0644/],
        ['- {token: short, role: admin}\n', 0o600, /at least 16 characters/],
      ] as const) {
        writeFileSync(file, text);
        chmodSync(file, mode);
        const before = logs.length;
        d.proc.kill('SIGHUP');
        await until('the reload is logged', async () => logs.length > before);
        const line = logs.slice(before).find((l) => l['msg'] === 'SIGHUP: credentials re-read');
        assert.ok(line, JSON.stringify(logs.slice(before)));
        const tokens = line['tokens'] as { result: string; error: string };
        assert.equal(tokens.result, 'kept');
        assert.match(tokens.error, why);
        assert.equal(await status(NEW), 200);
        assert.equal(await status(OLD), 401);
      }
      assert.equal(d.proc.exitCode, null, 'romanad must still run');
    } finally {
      await d.stop();
    }
  });

  it('swaps the TLS certificate for new connections; a bad new file keeps the old one', async () => {
    const dir = tempDir();
    const a = certs();
    const b = certs();
    const cert = path.join(dir, 'tls.pem');
    const key = path.join(dir, 'tls.key');
    copyFileSync(a.serverCert, cert);
    copyFileSync(a.serverKey, key);
    const d = await startRomanad(['--store', 'memory:', '--tls-cert', cert, '--tls-key', key]);
    const logs = logsOf(d);
    try {
      assert.equal(await fetchTls(d.url, a.ca), 200);
      assert.notEqual(await fetchTls(d.url, b.ca), 200);
      copyFileSync(b.serverCert, cert);
      copyFileSync(b.serverKey, key);
      d.proc.kill('SIGHUP');
      await until(
        'the new certificate is served',
        async () => (await fetchTls(d.url, b.ca)) === 200,
      );
      assert.notEqual(await fetchTls(d.url, a.ca), 200);

      writeFileSync(cert, 'garbage\n');
      const before = logs.length;
      d.proc.kill('SIGHUP');
      await until('the refused reload is logged', async () => logs.length > before);
      const tls = logs[before]!['tls'] as { result: string; error: string };
      assert.equal(tls.result, 'kept');
      assert.match(tls.error, /--tls-cert: '.*tls\.pem' is not a PEM certificate/);
      assert.equal(await fetchTls(d.url, b.ca), 200);
      assert.equal(d.proc.exitCode, null, 'romanad must still run');
    } finally {
      await d.stop();
    }
  });
});
