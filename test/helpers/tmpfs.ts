/**
 * A small real tmpfs for tests of a full disk and of files made immutable (`chattr +i`).
 * Needs root (mount) like the namespace tests.
 */
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { ProcessExec, runChecked } from '../../src/exec.ts';

const exec = new ProcessExec();

export interface Tmpfs {
  dir: string;
  /** Fills the file system to the last byte with a filler file. */
  fill(): Promise<void>;
  /** Removes the filler: space is back. */
  unfill(): Promise<void>;
  /** Sets or clears the immutable attribute of a file. */
  immutable(file: string, on: boolean): Promise<void>;
  /** Clears attributes, unmounts and removes the mount point. */
  unmount(): Promise<void>;
}

/**
 * Mounts a tmpfs of `size` (e.g. '2m') on a fresh directory whose name includes `tag`.
 *
 * @example const t = await mountTmpfs('storage'); try { ... } finally { await t.unmount(); }
 */
export async function mountTmpfs(tag: string, size = '2m'): Promise<Tmpfs> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), `romana-${tag}-tmpfs-`));
  await runChecked(exec, 'mount', ['-t', 'tmpfs', '-o', `size=${size}`, `romana-${tag}`, dir]);
  const filler = path.join(dir, 'filler');
  const marked = new Set<string>();
  return {
    dir,
    async fill() {
      const chunk = Buffer.alloc(1 << 20, 1);
      const fh = await fs.open(filler, 'a');
      try {
        for (;;) await fh.write(chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      } finally {
        await fh.close();
      }
      // The last pages: write byte by byte blocks until nothing fits.
      const small = await fs.open(filler, 'a');
      try {
        for (;;) await small.write(Buffer.alloc(512, 1));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      } finally {
        await small.close();
      }
    },
    async unfill() {
      await fs.rm(filler, { force: true });
    },
    async immutable(file: string, on: boolean) {
      await runChecked(exec, 'chattr', [on ? '+i' : '-i', file]);
      if (on) marked.add(file);
      else marked.delete(file);
    },
    async unmount() {
      for (const f of marked) await exec.run('chattr', ['-i', f]);
      await runChecked(exec, 'umount', ['-l', dir]);
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}
