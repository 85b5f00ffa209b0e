/**
 * The real `Run`: spawns a program, feeds it standard input, collects its output. `prefix`
 * runs every command through another one, e.g. `['nsenter', '--net=/var/run/netns/x']` to act
 * inside a network namespace.
 */
import { spawn } from 'node:child_process';
import type { Run } from './kernel-routes.ts';

export function spawnRun(prefix: string[] = []): Run {
  return (cmd, args, stdin) =>
    new Promise((resolve, reject) => {
      const [program, ...rest] = [...prefix, cmd, ...args];
      const child = spawn(program!, rest, { stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
      child.stdin.on('error', () => undefined);
      child.stdin.end(stdin ?? '');
    });
}
