/**
 * The seam to host commands (`ip`, `nsenter`, `iptables`): a function that runs a program with
 * standard input and collects its output. Tests and the plugin use the spawning one.
 */
import { spawn } from 'node:child_process';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export type Exec = (argv: string[], stdin?: string) => Promise<ExecResult>;

/**
 * Spawns `argv[0]` with the rest as arguments; never rejects on a non-zero exit (the caller
 * reads `code`), only when the program cannot start.
 *
 * @example
 * const { code, stderr } = await spawnExec(['ip', '-batch', '-'], 'link set lo up\n');
 */
export const spawnExec: Exec = (argv, stdin) =>
  new Promise((resolve, reject) => {
    const [program, ...args] = argv;
    const child = spawn(program!, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    child.stdin.on('error', () => undefined);
    child.stdin.end(stdin ?? '');
  });
