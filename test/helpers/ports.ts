/**
 * Ports for programs that cannot bind port 0 and say which port they got (etcd, the agent's
 * metrics), and for servers that must come back on the same port after a restart.
 *
 * A port "probed free" (bound to port 0, closed, handed out) can be handed by the kernel to any
 * other process binding port 0 meanwhile. A reserved port cannot: it is taken from below the
 * kernel's ephemeral range (`net.ipv4.ip_local_port_range`), where the kernel never picks a port
 * on its own, and claimed with a lock file that every test process honours (created with
 * O_EXCL, holding the owner's pid; a dead owner's lock is taken over). The reservation lasts
 * until the process exits.
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

const LOCKS = path.join(tmpdir(), 'romana-test-ports');
/** How many ports below the ephemeral range may be handed out. */
const WINDOW = 4000;
const held = new Set<string>();

process.once('exit', () => {
  for (const f of held) rmSync(f, { force: true });
});

/** The ports reservations come from: just below the ephemeral range. */
export function reservableRange(rangeFile = '/proc/sys/net/ipv4/ip_local_port_range'): {
  lo: number;
  hi: number;
} {
  const [low] = readFileSync(rangeFile, 'utf8').trim().split(/\s+/).map(Number);
  if (low === undefined || !Number.isInteger(low) || low - WINDOW < 1024) {
    throw new Error(
      `ip_local_port_range starts at ${low}: no room below it for ${WINDOW} test ports`,
    );
  }
  return { lo: low - WINDOW, hi: low - 1 };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Claims the lock of `port` for this process; false when another live process holds it. */
export function claimPort(port: number): boolean {
  mkdirSync(LOCKS, { recursive: true, mode: 0o1777 });
  const file = path.join(LOCKS, String(port));
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      held.add(file);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let owner = NaN;
      try {
        owner = Number(readFileSync(file, 'utf8'));
      } catch {
        continue; // removed meanwhile: try again
      }
      // A lock being written has no pid yet: leave it to its writer.
      if (!Number.isInteger(owner) || owner <= 0 || alive(owner)) return false;
      rmSync(file, { force: true });
    }
  }
  return false;
}

function bindable(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen({ port, host, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/**
 * A port of `host` (127.0.0.1 by default) that no other test process is handed until this one
 * exits, and that the kernel never hands to a program binding port 0.
 *
 * @example const port = await reservePort(); spawn('etcd', ['--listen-client-urls', `http://127.0.0.1:${port}`]);
 */
export async function reservePort(host = '127.0.0.1'): Promise<number> {
  mkdirSync(LOCKS, { recursive: true, mode: 0o1777 });
  const { lo, hi } = reservableRange();
  const span = hi - lo + 1;
  const start = Math.floor(Math.random() * span);
  for (let i = 0; i < span; i++) {
    const port = lo + ((start + i) % span);
    if (!claimPort(port)) continue;
    // Something outside the tests (a service with a fixed port) may sit there: skip it, keeping
    // the lock so that nobody else tries it again.
    if (await bindable(port, host)) return port;
  }
  throw new Error(`no free port left in ${lo}-${hi} (locks in ${LOCKS})`);
}
