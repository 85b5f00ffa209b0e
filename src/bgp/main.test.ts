/**
 * The publisher program handles SIGHUP from its first moment: one arriving while it still
 * waits for romanad (an operator's reload, a log rotation) is logged and the process carries on,
 * instead of being ended by the signal's default action.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { it } from 'node:test';

const BIN = path.resolve(import.meta.dirname, '../../bin/romana-route-publisher.js');

/**
 * A loopback port nothing listens on: port 1 (tcpmux), which no test binds. (A port probed free
 * and closed again could be handed to another test's server meanwhile.)
 */
const CLOSED_PORT = 1;

it('a SIGHUP while romanad is not reachable yet does not end the publisher', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'romana-bg2-main-'));
  const argv = [
    ...[BIN, '--hostname', 'h1', '--romanad-url', `http://127.0.0.1:${CLOSED_PORT}`],
    ...['--config', path.join(dir, 'bird.conf'), '--socket', path.join(dir, 'bird.ctl')],
    ...['--local-as', '65100', '--metrics-port', '0', '--log-level', 'info'],
  ];
  const proc = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const tries = () => out.split('romanad is not reachable yet').length - 1;
  /** Resolves once `cond` holds; rejects if the process ends first. */
  const until = (what: string, cond: () => boolean) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (proc.exitCode !== null || proc.signalCode !== null)
          reject(new Error(`ended (${proc.exitCode ?? proc.signalCode}) before ${what}\n${out}`));
        else if (cond()) resolve();
        else setTimeout(check, 20);
      };
      check();
    });
  try {
    await until('the first attempt', () => tries() > 0);
    proc.kill('SIGHUP');
    await until('the SIGHUP is logged', () => out.includes('SIGHUP: rendering again'));
    const after = tries();
    await until('the next attempt', () => tries() > after);
    assert.deepEqual([proc.exitCode, proc.signalCode], [null, null], 'the publisher runs on');
  } finally {
    proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
