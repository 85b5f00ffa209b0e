/**
 * Exclusive ownership of a data directory: a `LOCK` file created with O_EXCL that names its
 * holder (pid, process start time, host). A lock whose holder is gone (the process died without
 * closing the store) is stale and taken over. The start time guards against pid reuse, which is
 * the common case in containers where romanad is always pid 1.
 *
 * Limit: two processes that find the same stale lock at the same instant can race; opening a
 * data dir from two processes at once is an operator error this only makes unlikely to go
 * unnoticed, not impossible.
 */
import { readFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { RomanaError } from '../errors.ts';

interface Holder {
  pid: number;
  start: string | null;
  host: string;
}

/** Directories locked by this process (a second open from the same process must fail too). */
const heldHere = new Set<string>();

/**
 * A held lock; `release` removes the lock file if it is still ours.
 *
 * @example
 * const lock = await lockDir('/var/lib/romana');
 * try { ... } finally { await lock.release(); }
 */
export interface DirLock {
  readonly path: string;
  release(): Promise<void>;
}

/**
 * Takes the lock of `dir` (which must exist) or fails with `Unavailable` naming the holder.
 *
 * @example await lockDir('./romana-data')
 */
export async function lockDir(dir: string): Promise<DirLock> {
  const real = await fs.realpath(dir);
  const lockPath = path.join(real, 'LOCK');
  const me: Holder = { pid: process.pid, start: startTime(process.pid), host: os.hostname() };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await fs.open(lockPath, 'wx');
      try {
        await fh.writeFile(JSON.stringify(me) + '\n');
        await fh.sync();
      } finally {
        await fh.close();
      }
      heldHere.add(real);
      return { path: lockPath, release: () => release(real, lockPath, me) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = await readHolder(lockPath);
    if (holder !== undefined && isAlive(holder, real)) {
      throw new RomanaError(
        'Unavailable',
        `data directory ${real} is in use by process ${holder.pid} on ${holder.host} (lock file ${lockPath}); stop that process or use another --store directory`,
        { resourceType: 'store', resourceId: real },
      );
    }
    // Stale (holder gone) or unreadable (torn write of a crashed opener): take it over.
    await fs.rm(lockPath, { force: true });
  }
  throw new RomanaError(
    'Unavailable',
    `could not take the lock ${lockPath}: it keeps reappearing`,
    {
      resourceType: 'store',
      resourceId: real,
    },
  );
}

async function release(real: string, lockPath: string, me: Holder): Promise<void> {
  if (!heldHere.has(real)) return;
  heldHere.delete(real);
  const holder = await readHolder(lockPath);
  if (holder?.pid === me.pid && holder.start === me.start) await fs.rm(lockPath, { force: true });
}

async function readHolder(lockPath: string): Promise<Holder | undefined> {
  try {
    const h = JSON.parse(await fs.readFile(lockPath, 'utf8')) as Partial<Holder>;
    if (typeof h.pid !== 'number' || typeof h.host !== 'string') return undefined;
    return { pid: h.pid, start: typeof h.start === 'string' ? h.start : null, host: h.host };
  } catch {
    return undefined;
  }
}

function isAlive(h: Holder, real: string): boolean {
  if (h.host !== os.hostname()) return true; // cannot check another machine: assume it is alive
  if (h.pid === process.pid) {
    // Same pid: either this very process holds it, or an earlier process that had our pid.
    return heldHere.has(real) && h.start === startTime(process.pid);
  }
  try {
    process.kill(h.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  const start = startTime(h.pid);
  return h.start === null || start === null || start === h.start;
}

/** Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat), if readable. */
function startTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null;
  } catch {
    return null;
  }
}
