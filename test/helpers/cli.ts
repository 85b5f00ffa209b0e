/**
 * The real `bin/romana.js`, spawned with a clean environment, for the CLI's end-to-end tests
 * (test/e2e/cli-*.test.ts): run a command, or run one expected to succeed or to fail.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const BIN = path.join(ROOT, 'bin/romana.js');
/** romanad with the memory store and the example topology. */
export const ROMANAD_ARGS = [
  '--store',
  'memory:',
  '--initial-topology-file',
  'examples/topology.json',
];

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface Cli {
  /** The empty HOME (a fresh temporary directory) every command runs with. */
  home: string;
  /** Runs `romana args` with a clean environment (no ROMANA_*, an empty HOME). */
  romana(args: string[], opts?: { stdin?: string; env?: NodeJS.ProcessEnv }): Promise<Run>;
  /** Runs a command expected to succeed; returns stdout. */
  ok(args: string[], stdin?: string, env?: NodeJS.ProcessEnv): Promise<string>;
  /** Runs a command expected to fail with `code`; returns its one stderr line. */
  fails(code: number, args: string[], stdin?: string, env?: NodeJS.ProcessEnv): Promise<string>;
  /** Deletes `home`. */
  remove(): void;
}

/** Makes a fresh HOME and the commands that run `romana` with it. */
export function makeCli(): Cli {
  const HOME = mkdtempSync(path.join(tmpdir(), 'romana-cli-'));

  function romana(
    args: string[],
    opts: { stdin?: string; env?: NodeJS.ProcessEnv } = {},
  ): Promise<Run> {
    return new Promise((resolve, reject) => {
      const env = { PATH: process.env['PATH'], HOME, ...opts.env };
      const proc = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env });
      let stdout = '';
      let stderr = '';
      proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      proc.on('error', reject);
      proc.on('close', (code) => resolve({ code, stdout, stderr }));
      proc.stdin.end(opts.stdin ?? '');
    });
  }

  async function ok(args: string[], stdin?: string, env?: NodeJS.ProcessEnv): Promise<string> {
    const r = await romana(args, {
      ...(stdin === undefined ? {} : { stdin }),
      ...(env ? { env } : {}),
    });
    assert.equal(r.code, 0, `romana ${args.join(' ')}: exit ${r.code}, stderr: ${r.stderr}`);
    assert.equal(r.stderr, '');
    return r.stdout;
  }

  async function fails(
    code: number,
    args: string[],
    stdin?: string,
    env?: NodeJS.ProcessEnv,
  ): Promise<string> {
    const r = await romana(args, {
      ...(stdin === undefined ? {} : { stdin }),
      ...(env ? { env } : {}),
    });
    assert.equal(r.code, code, `romana ${args.join(' ')}: exit ${r.code}, stderr: ${r.stderr}`);
    assert.equal(r.stdout, '', 'nothing on stdout');
    assert.match(r.stderr, /^romana: [^\n]+\n$/, 'one line on stderr');
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    return r.stderr;
  }

  return {
    home: HOME,
    romana,
    ok,
    fails,
    remove: () => rmSync(HOME, { recursive: true, force: true }),
  };
}
