/**
 * Temporary directories for one test file, removed when the file's tests are done.
 *
 * @example
 * const tmpDir = tmpDirsRemovedAfter('romana-store-');
 * const dir = await tmpDir();
 */
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after } from 'node:test';

export function tmpDirsRemovedAfter(prefix: string): () => Promise<string> {
  const dirs: string[] = [];
  after(async () => {
    await Promise.all(dirs.map((d) => fs.rm(d, { recursive: true, force: true })));
  });
  return async () => {
    const d = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
    dirs.push(d);
    return d;
  };
}
