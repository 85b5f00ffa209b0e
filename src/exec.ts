/**
 * The seam between Romana's node-side code and the host: running `ip`, `iptables-save`,
 * `iptables-restore`, `ipset` with a payload on stdin. The agent and the firewall code only see
 * `Exec` (the CNI plugin too), so tests can record commands (test/helpers/exec.ts), and kernel
 * tests can run everything inside a network namespace.
 */
import { spawn } from 'node:child_process';
import { RomanaError } from './errors.ts';

/**
 * What a finished command left behind. `code` is the exit status (127 when the program could
 * not be started, 128 + n when killed by signal n).
 *
 * @example const r: ExecResult = { code: 0, stdout: '', stderr: '' };
 */
export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs one program with arguments and optional stdin. Never throws for a non-zero exit: the
 * caller decides (see `runChecked`).
 *
 * @example
 * const r = await exec.run('ipset', ['save']);
 * if (r.code !== 0) console.error(r.stderr);
 */
export interface Exec {
  run(program: string, args: readonly string[], stdin?: string): Promise<ExecResult>;
}

/**
 * A host command that failed. `code` is `Internal`; the command line, exit status and stderr
 * are kept for the log and for `romana-agent plan`.
 *
 * @example
 * try { await runChecked(exec, 'iptables-restore', ['--noflush'], payload); }
 * catch (e) { if (e instanceof CommandFailedError) console.error(e.stderr); }
 */
export class CommandFailedError extends RomanaError {
  readonly command: string;
  readonly exitCode: number;
  readonly stderr: string;

  constructor(command: string, result: ExecResult) {
    const detail = result.stderr.trim().split('\n').slice(0, 5).join(' | ');
    super('Internal', `${command} failed with exit status ${result.code}: ${detail}`, {
      resourceType: 'command',
      resourceId: command,
    });
    this.name = 'CommandFailedError';
    this.command = command;
    this.exitCode = result.code;
    this.stderr = result.stderr;
  }
}

/**
 * Runs a command and returns its stdout; throws `CommandFailedError` on a non-zero exit.
 *
 * @example const text = await runChecked(exec, 'iptables-save', ['-t', 'filter']);
 */
export async function runChecked(
  exec: Exec,
  program: string,
  args: readonly string[],
  stdin?: string,
): Promise<string> {
  const r = await exec.run(program, args, stdin);
  if (r.code !== 0) throw new CommandFailedError([program, ...args].join(' '), r);
  return r.stdout;
}

/**
 * The real implementation: `node:child_process.spawn`, no shell, stdin written in full then
 * closed.
 *
 * @example const r = await new ProcessExec().run('iptables-save', ['-t', 'filter']);
 */
export class ProcessExec implements Exec {
  run(program: string, args: readonly string[], stdin?: string): Promise<ExecResult> {
    return new Promise((resolve) => {
      const child = spawn(program, args, { stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let spawnError: Error | undefined;
      child.stdout.on('data', (b: Buffer) => out.push(b));
      child.stderr.on('data', (b: Buffer) => err.push(b));
      child.on('error', (e) => {
        spawnError = e;
      });
      // A program that exits without reading its stdin makes the write fail with EPIPE; the
      // exit status tells the caller what happened.
      child.stdin.on('error', () => undefined);
      child.on('close', (code, signal) => {
        const stderr = Buffer.concat(err).toString('utf8');
        resolve({
          code: spawnError ? 127 : (code ?? 128 + signalNumber(signal)),
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: spawnError ? `${stderr}${spawnError.message}` : stderr,
        });
      });
      child.stdin.end(stdin ?? '');
    });
  }
}

function signalNumber(signal: NodeJS.Signals | null): number {
  const names: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
  return signal === null ? 0 : (names[signal] ?? 0);
}

/**
 * Wraps an `Exec` so every command runs inside a network namespace: `ns` is either a name under
 * /var/run/netns (what `ip netns add` makes) or a path to a namespace file (what a CNI runtime
 * passes, e.g. /proc/1234/ns/net). Uses `nsenter --net=<file> <program> …`; unlike
 * `ip netns exec` it does not remount /sys, which is cheaper. iptables, ipset and routes are
 * per namespace, so tests, benchmarks, `romana-agent --netns` and the CNI plugin's pod side never
 * touch another namespace's state.
 *
 * @example
 * const exec = inNetns(new ProcessExec(), 'romana-test-1a2b');
 * const pod = inNetns(new ProcessExec(), '/proc/1234/ns/net');
 */
export function inNetns(exec: Exec, ns: string): Exec {
  const file = ns.includes('/') ? ns : `/var/run/netns/${ns}`;
  return {
    run: (program, args, stdin) => exec.run('nsenter', [`--net=${file}`, program, ...args], stdin),
  };
}
