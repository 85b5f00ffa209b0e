/**
 * Test helpers: a real `romana-listener` process (bin/romana-listener.js), and polling.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '../..');

export interface ListenerProcess {
  /** http://host:port of /metrics, /healthz, /readyz. */
  url: string;
  proc: ChildProcess;
  /** Every log line so far, parsed. */
  logs: Record<string, unknown>[];
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** A metric's value from /metrics (summed over label sets matching `labels`). */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
}

/** Starts the listener with `args` (plus `--listen 127.0.0.1:0`) and waits until it serves. */
export async function startListener(args: string[]): Promise<ListenerProcess> {
  const proc = spawn(
    process.execPath,
    [path.join(ROOT, 'bin/romana-listener.js'), '--listen', '127.0.0.1:0', ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
  const logs: Record<string, unknown>[] = [];
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    let buf = '';
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          const rec = JSON.parse(line) as Record<string, unknown>;
          logs.push(rec);
          const m = /listening on (\S+)/.exec(String(rec['msg']));
          if (m) resolve(m[1]!);
        } catch {
          // not JSON: ignore
        }
      }
    });
    proc.once('exit', (code) => reject(new Error(`romana-listener exited with ${code}: ${err}`)));
  });
  return {
    url,
    proc,
    logs,
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const done = new Promise((r) => proc.once('exit', r));
      proc.kill(signal);
      await done;
    },
    metric: async (name, labels = {}) => {
      const text = await (await fetch(`${url}/metrics`)).text();
      let sum = 0;
      for (const line of text.split('\n')) {
        const m = /^([a-zA-Z_:]+)(\{[^}]*\})? (\S+)$/.exec(line);
        if (!m || m[1] !== name) continue;
        const ls = m[2] ?? '';
        if (Object.entries(labels).every(([k, v]) => ls.includes(`${k}="${v}"`))) {
          sum += Number(m[3]);
        }
      }
      return sum;
    },
  };
}

/** Polls `cond` every 20 ms until it holds (or throws, naming `what`, after `ms`). */
export async function until<T>(
  what: string,
  cond: () => T | undefined | false | Promise<T | undefined | false>,
  ms = 10_000,
): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await cond();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) {
      throw new Error(
        `timed out after ${ms} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});
