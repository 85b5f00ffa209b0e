/**
 * Reserved ports: never in the kernel's ephemeral range (where port 0 binds land), never the
 * same for two processes at once, and a dead process's reservation is taken over.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { claimPort, reservableRange, reservePort } from './ports.ts';

const LOCKS = path.join(tmpdir(), 'romana-test-ports');

describe('reservePort', () => {
  it('hands out ports below the ephemeral range, each locked to this process', async () => {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
      .trim()
      .split(/\s+/)
      .map(Number);
    const ports = await Promise.all(Array.from({ length: 20 }, () => reservePort()));
    assert.equal(new Set(ports).size, 20, 'no port handed out twice');
    const { lo, hi } = reservableRange();
    for (const p of ports) {
      assert.ok(p >= lo && p <= hi && p < low!, `${p} in ${lo}-${hi}, below ${low}`);
      assert.equal(readFileSync(path.join(LOCKS, String(p)), 'utf8'), String(process.pid));
    }
    // A port 0 bind never lands on one (the kernel picks from the ephemeral range).
    const s = net.createServer().listen(0, '127.0.0.1');
    await new Promise((r) => s.once('listening', r));
    const got = (s.address() as net.AddressInfo).port;
    s.close();
    assert.ok(got >= low!, `port 0 gave ${got}`);
  });

  it('never hands a port another live process holds; takes over a dead one’s', async () => {
    // Another process reserves 30 ports and prints them, then exits (its locks go with it).
    const script = `
      import { reservePort } from ${JSON.stringify(path.join(import.meta.dirname, 'ports.ts'))};
      const ports = [];
      for (let i = 0; i < 30; i++) ports.push(await reservePort());
      console.log(JSON.stringify(ports));
      setInterval(() => {}, 1000);`;
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    while (!out.includes('\n')) await new Promise((r) => setTimeout(r, 20));
    const theirs = JSON.parse(out) as number[];
    const mine = await Promise.all(Array.from({ length: 30 }, () => reservePort()));
    assert.deepEqual(
      mine.filter((p) => theirs.includes(p)),
      [],
      'none of the other process’s ports',
    );
    assert.equal(claimPort(theirs[0]!), false, 'held by a live process');
    // Killed (no exit handler): its locks stay, naming a dead pid; they can be taken over.
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    const lock = path.join(LOCKS, String(theirs[0]));
    assert.equal(readFileSync(lock, 'utf8'), String(child.pid), 'a stale lock is left');
    assert.equal(claimPort(theirs[0]!), true, 'taken over');
    assert.equal(readFileSync(lock, 'utf8'), String(process.pid));
    for (const p of theirs.slice(1)) rmSync(path.join(LOCKS, String(p)), { force: true });
  });
});
