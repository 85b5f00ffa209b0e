/**
 * Test and benchmark helpers: a real romanad process, and a small keep-alive JSON client.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '../..');

export interface Romanad {
  url: string;
  proc: ChildProcess;
  /** Stops the process (SIGTERM by default; SIGKILL for crash tests) and waits for it. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Starts `bin/romanad.js` (which runs the build in dist/, or the sources through tsx when the
 * build is older than them) with `args` on a free port and waits until it listens.
 */
export async function startRomanad(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<Romanad> {
  const entry = path.join(ROOT, 'bin/romanad.js');
  const proc = spawn(process.execPath, [entry, '--port', '0', '--log-level', 'warn', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    proc.once('exit', (code) => reject(new Error(`romanad exited with ${code}: ${err}`)));
  });
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
  return {
    url,
    proc,
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const done = new Promise((r) => proc.once('exit', r));
      proc.kill(signal);
      await done;
    },
  };
}

export const agent = new http.Agent({ keepAlive: true, maxSockets: 128 });

/** One JSON request; resolves with status and parsed body. */
export interface RequestOptions {
  /** Bearer token. */
  token?: string;
  /** CA certificate (PEM) trusted for https URLs. */
  ca?: Buffer;
}

/** One JSON request over http or https; resolves with status and parsed body. */
export function request(
  url: string,
  method: string,
  body?: unknown,
  opts: RequestOptions = {},
): Promise<{ status: number; body: unknown; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string | number> = {};
    if (data !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(data);
    }
    if (opts.token) headers['authorization'] = `Bearer ${opts.token}`;
    const tls = url.startsWith('https:');
    const req = (tls ? https : http).request(
      url,
      { method, headers, ...(tls ? { ca: opts.ca } : { agent }) },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          const json = (res.headers['content-type'] ?? '').includes('json');
          resolve({
            status: res.statusCode ?? 0,
            body: text === '' ? null : json ? JSON.parse(text) : text,
            headers: res.headers,
          });
        });
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

/** Processes still running; killed when the test process exits, pass or fail. */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});
