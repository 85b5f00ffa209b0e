/**
 * File operations of the embedded store: loading the snapshot, replaying the log (cutting a torn
 * tail), and durable writes (temp file, fsync, rename, fsync the directory).
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { RomanaError } from '../errors.ts';
import type { KvState } from './kv-state.ts';
import { LOG_MAGIC, decodeFrames, decodeRecord, decodeSnapshot } from './wal.ts';

/**
 * Loads `dir/snapshot` into `state`, if there is one; a damaged snapshot is an error.
 *
 * @example await loadSnapshot('/var/lib/romana', state);
 */
export async function loadSnapshot(dir: string, state: KvState): Promise<void> {
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(path.join(dir, 'snapshot'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  let snap: ReturnType<typeof decodeSnapshot>;
  try {
    snap = decodeSnapshot(bytes);
  } catch (err) {
    throw new RomanaError(
      'Internal',
      `embedded store ${dir}: snapshot file is corrupt: ${(err as Error).message}`,
      {
        resourceType: 'store',
        resourceId: dir,
        cause: err,
      },
    );
  }
  for (const kv of snap.kvs) state.load(kv, snap.revision);
  state.setRevision(snap.revision);
}

/**
 * Replays `dir/log` onto `state` (cutting a torn tail) and returns it open for appending.
 *
 * @example const { log, size } = await replayLog(dir, state, console.warn);
 */
export async function replayLog(
  dir: string,
  state: KvState,
  onWarning: ((m: string) => void) | undefined,
): Promise<{ log: fs.FileHandle; size: number }> {
  const file = path.join(dir, 'log');
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    await writeFileDurably(dir, 'log', LOG_MAGIC);
    return { log: await fs.open(file, 'r+'), size: LOG_MAGIC.length };
  }
  if (bytes.length < LOG_MAGIC.length && LOG_MAGIC.subarray(0, bytes.length).equals(bytes)) {
    bytes = LOG_MAGIC; // crashed while creating the log: treat as empty
    await writeFileDurably(dir, 'log', LOG_MAGIC);
  }
  if (!bytes.subarray(0, LOG_MAGIC.length).equals(LOG_MAGIC)) {
    throw new RomanaError(
      'Internal',
      `embedded store ${dir}: ${file} is not a Romana log (bad magic)`,
    );
  }
  const { payloads, end } = decodeFrames(bytes, LOG_MAGIC.length);
  const base = state.revision;
  for (const p of payloads) {
    const rec = decodeRecord(p);
    if (rec.revision <= base) state.rememberOnly(rec.revision, rec.changes);
    else if (rec.revision === state.revision + 1) state.apply(rec.revision, rec.changes);
    else {
      throw new RomanaError(
        'Internal',
        `embedded store ${dir}: log jumps from revision ${state.revision} to ${rec.revision}`,
      );
    }
  }
  state.sealHistory();
  const log = await fs.open(file, 'r+');
  if (end < bytes.length) {
    await log.truncate(end);
    await log.sync();
    onWarning?.(
      `embedded store ${dir}: dropped ${bytes.length - end} bytes of incomplete log tail at offset ${end} (a write cut short by a crash; never acknowledged)`,
    );
  }
  return { log, size: end };
}

/**
 * Writes all of `bytes` at `position`.
 *
 * @example await writeAll(fh, frame, size);
 */
export async function writeAll(fh: fs.FileHandle, bytes: Buffer, position: number): Promise<void> {
  let off = 0;
  while (off < bytes.length) {
    const { bytesWritten } = await fh.write(bytes, off, bytes.length - off, position + off);
    off += bytesWritten;
  }
}

/**
 * Writes `name` in `dir` atomically and durably: temp file, fsync, rename, fsync the dir.
 *
 * @example await writeFileDurably(dir, 'snapshot', bytes);
 */
export async function writeFileDurably(dir: string, name: string, bytes: Buffer): Promise<void> {
  const tmp = path.join(dir, `${name}.tmp`);
  const fh = await fs.open(tmp, 'w');
  try {
    await writeAll(fh, bytes, 0);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.rename(tmp, path.join(dir, name));
  const d = await fs.open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}
