/**
 * File operations of the embedded store: loading the snapshot, replaying the log (cutting a torn
 * tail, refusing damage), and durable writes (temp file, fsync, rename, fsync the directory).
 */
import { writeSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { RomanaError } from '../errors.ts';
import { KvState } from './kv-state.ts';
import { LOG_MAGIC, encodeRecord, snapshotFramesOf } from './wal.ts';
import { scanLog, scanSnapshot, type LogTail } from './wal-scan.ts';

/**
 * The error of a damaged store file: names the file and the byte offset, and says how to
 * recover. One line, so that romanad can print it as its last word.
 *
 * @example throw damagedFile(dir, path.join(dir, 'log'), 4096, 'a record that fails its checksum');
 */
export function damagedFile(dir: string, file: string, offset: number, what: string): RomanaError {
  return new RomanaError(
    'Internal',
    `embedded store ${dir}: ${file} is damaged at byte ${offset}: ${what}; refusing to open it, as that would lose acknowledged writes. See 'romanad store check ${dir}', then 'romanad store repair ${dir}' keeps every intact record (the original files are kept in a backup)`,
    { resourceType: 'store', resourceId: file },
  );
}

/**
 * Reads the store's files in `dir` (locked by the caller) after a crash or a clean stop:
 * removes temp files, loads the snapshot, replays the log.
 *
 * @example const { state, log, size } = await loadFiles(dir, options);
 */
export async function loadFiles(
  dir: string,
  options: { historyRevisions?: number; onWarning?: (m: string) => void },
): Promise<{ state: KvState; log: fs.FileHandle; size: number; offsets: RecordOffsets }> {
  for (const f of await fs.readdir(dir)) {
    if (f.endsWith('.tmp')) await fs.rm(path.join(dir, f), { force: true });
  }
  const state = new KvState(options);
  const hadSnapshot = await loadSnapshot(dir, state);
  return { state, ...(await replayLog(dir, state, hadSnapshot, options.onWarning)) };
}

/**
 * The bytes of a store file, or `undefined` when it does not exist; any other failure is
 * an error naming the file.
 *
 * @example const bytes = await readStoreFile(path.join(dir, 'log'));
 */
export async function readStoreFile(file: string): Promise<Buffer | undefined> {
  try {
    return await fs.readFile(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') return undefined;
    throw new Error(`cannot read ${file}: ${e.message}`, { cause: err });
  }
}

/**
 * Loads `dir/snapshot` into `state`, if there is one; a damaged snapshot is an error.
 * Returns whether there was one.
 *
 * @example await loadSnapshot('/var/lib/romana', state);
 */
export async function loadSnapshot(dir: string, state: KvState): Promise<boolean> {
  const file = path.join(dir, 'snapshot');
  const bytes = await readStoreFile(file);
  if (bytes === undefined) return false;
  const snap = scanSnapshot(bytes);
  if (!snap.complete || snap.revision === undefined) {
    const d = snap.damaged[0]!;
    throw damagedFile(dir, file, d.offset, `the snapshot holds ${d.reason}`);
  }
  for (const kv of snap.kvs) state.load(kv, snap.revision);
  state.setRevision(snap.revision);
  return true;
}

function tailProblem(tail: Extract<LogTail, { kind: 'damaged' }>): string {
  const after =
    tail.nextValid === undefined ? '' : `, and intact records follow at byte ${tail.nextValid}`;
  return `${tail.reason}${after}`;
}

/**
 * Replays `dir/log` onto `state` and returns it open for appending. A torn tail (a write cut
 * short by a crash, never acknowledged) is cut away with a warning; damage is refused. A log of
 * the first format is rewritten in the current one.
 *
 * @example const { log, size } = await replayLog(dir, state, true, console.warn);
 */
export async function replayLog(
  dir: string,
  state: KvState,
  hadSnapshot: boolean,
  onWarning: ((m: string) => void) | undefined,
): Promise<{ log: fs.FileHandle; size: number; offsets: RecordOffsets }> {
  const file = path.join(dir, 'log');
  const bytes = (await readStoreFile(file)) ?? Buffer.alloc(0);
  const scan = scanLog(bytes);
  if (scan.tail.kind === 'damaged')
    throw damagedFile(dir, file, scan.tail.offset, tailProblem(scan.tail));
  const base = state.revision;
  for (const { offset, record: rec } of scan.records) {
    if (rec.revision <= base) state.rememberOnly(rec.revision, rec.changes);
    else if (rec.revision === state.revision + 1) state.apply(rec.revision, rec.changes);
    else {
      const why = hadSnapshot ? '' : ' (the snapshot file is missing)';
      throw damagedFile(
        dir,
        file,
        offset,
        `the log jumps from revision ${state.revision} to ${rec.revision}${why}`,
      );
    }
  }
  state.sealHistory();
  const offsets = new RecordOffsets(state.historyLimit);
  if (scan.version === 2) for (const r of scan.records) offsets.add(r.record.revision, r.offset);
  if (scan.end === 0 || scan.version === 1) {
    // New, cut inside its magic by a crash, or of the first format: write it afresh.
    const records = scan.records.map((r) => encodeRecord(r.record));
    await writeFileDurably(dir, 'log', Buffer.concat([LOG_MAGIC, ...records]));
    if (scan.version === 1)
      onWarning?.(`embedded store ${dir}: rewrote ${file} in the current format`);
  }
  const log = await fs.open(file, 'r+');
  if (scan.tail.kind === 'torn') {
    if (scan.version === 2) {
      await log.truncate(scan.end);
      await log.sync();
    }
    onWarning?.(
      `embedded store ${dir}: dropped ${scan.tail.bytes} bytes of torn log tail at offset ${scan.tail.offset} of ${file} (a write cut short by a crash; never acknowledged)`,
    );
  }
  const size = scan.version === 2 && scan.end > 0 ? scan.end : (await log.stat()).size;
  return { log, size, offsets };
}

/**
 * Makes the log appendable again after a failed write: cuts whatever the failed write left past
 * `size` and proves that the file takes writes (4 KiB of zeros written, synced and cut again; a
 * crash in between leaves a zero tail, which the next open drops as torn). When the path no
 * longer names the open file (a log rewrite renamed its new file in place, then failed), the
 * file at the path is taken, whole. Throws while the cause of the failure persists.
 *
 * @example const { log, size } = await reclaimLog(dir, oldLog, durableSize);
 */
export async function reclaimLog(
  dir: string,
  log: fs.FileHandle,
  size: number,
): Promise<{ log: fs.FileHandle; size: number }> {
  const file = path.join(dir, 'log');
  for (const tmp of ['log.tmp', 'snapshot.tmp']) await fs.rm(path.join(dir, tmp), { force: true });
  const [open, named] = await Promise.all([log.stat(), fs.stat(file)]);
  let fh = log;
  let end = size;
  if (open.ino !== named.ino || open.dev !== named.dev) {
    fh = await fs.open(file, 'r+');
    end = named.size;
  }
  try {
    await fh.truncate(end);
    await fh.datasync();
    await writeAll(fh, Buffer.alloc(4096), end);
    await fh.datasync();
    await fh.truncate(end);
    await fh.datasync();
  } catch (err) {
    if (fh !== log) await fh.close();
    throw err;
  }
  return { log: fh, size: end };
}

/**
 * The error of a failed write of the log or snapshot: names the file and the cause, says that
 * writes are refused until a retry writes the log again.
 *
 * @example throw logWriteFailed(dir, 'log', err, 2000);
 */
export function logWriteFailed(
  dir: string,
  file: 'log' | 'snapshot',
  err: unknown,
  retryMs: number,
): RomanaError {
  const msg = `embedded store ${dir}: cannot write ${path.join(dir, file)} (${(err as Error).message}); writes are refused until the log can be written again (retried every ${retryMs / 1000} s at most); transactions in flight were not acknowledged`;
  return new RomanaError('Unavailable', msg, {
    resourceType: 'store',
    resourceId: dir,
    cause: err,
  });
}

/**
 * Writes `state` as the new snapshot (temp file, fsync, rename), yielding to other work between
 * chunks while encoding; returns the revision it holds.
 *
 * @example const revision = await writeSnapshot(dir, state);
 */
export async function writeSnapshot(dir: string, state: KvState): Promise<number> {
  const view = state.snapshotView();
  const parts: Buffer[] = [];
  try {
    for (const frame of snapshotFramesOf(view)) {
      parts.push(frame);
      await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    view.close();
  }
  await writeFileDurably(dir, 'snapshot', parts);
  return view.revision;
}

/**
 * Where the log's recent records start, by revision, for at most `limit` records: a log
 * rewrite keeps the records a watch may still resume from, copied as they were written.
 *
 * @example
 * const o = new RecordOffsets(1000);
 * o.add(7, 4096);
 * o.from(5) // 4096: the first record at revision 5 or later
 */
export class RecordOffsets {
  readonly limit: number;
  #revs: number[] = [];
  #offsets: number[] = [];
  #head = 0;

  constructor(limit: number) {
    this.limit = Math.max(1, limit);
  }

  /** A record of `revision` appended at `offset` (after every record added before). */
  add(revision: number, offset: number): void {
    this.#revs.push(revision);
    this.#offsets.push(offset);
    if (this.#revs.length - this.#head > this.limit) this.#head++;
    if (this.#head > 1024 && this.#head * 2 > this.#revs.length) {
      this.#revs = this.#revs.slice(this.#head);
      this.#offsets = this.#offsets.slice(this.#head);
      this.#head = 0;
    }
  }

  /** Offset of the first record known at `revision` or later; `undefined` when none is. */
  from(revision: number): number | undefined {
    for (let i = this.#head; i < this.#revs.length; i++) {
      if (this.#revs[i]! >= revision) return this.#offsets[i];
    }
    return undefined;
  }

  /** The log was rewritten: the bytes from `from` on now start at `to`; records before are gone. */
  moved(from: number, to: number): void {
    const revs: number[] = [];
    const offsets: number[] = [];
    for (let i = this.#head; i < this.#revs.length; i++) {
      if (this.#offsets[i]! < from) continue;
      revs.push(this.#revs[i]!);
      offsets.push(this.#offsets[i]! - from + to);
    }
    this.#revs = revs;
    this.#offsets = offsets;
    this.#head = 0;
  }

  /** Forgets every record (their places in the log are no longer known). */
  clear(): void {
    this.moved(Infinity, 0);
  }
}

/** A new log being written as `log.tmp`: a copy of the old one's bytes from `from` on. */
export interface LogRewrite {
  fh: fs.FileHandle;
  /** Where the copy starts in the old log. */
  from: number;
  /** Where the first record past the snapshot is in the old log. */
  after: number;
  /** Where it has reached in the old log. */
  copied: number;
}

/**
 * Starts a log rewrite: `log.tmp` holds the log magic then bytes `from` to `to` of `log`, made
 * durable. Runs beside the writer (only bytes already durable are read), which goes on
 * appending; `finishLogRewrite` copies the rest and puts the new log in place.
 *
 * @example const rw = await startLogRewrite(dir, log, { from, after, to: durableSize });
 */
export async function startLogRewrite(
  dir: string,
  log: fs.FileHandle,
  { from, after, to }: { from: number; after: number; to: number },
): Promise<LogRewrite> {
  const fh = await fs.open(path.join(dir, 'log.tmp'), 'w');
  try {
    await writeAll(fh, LOG_MAGIC, 0);
    await copyRange(log, fh, from, to, LOG_MAGIC.length);
    await fh.datasync();
  } catch (err) {
    await fh.close().catch(() => undefined);
    throw err;
  }
  return { fh, from, after, copied: to };
}

/**
 * Ends a log rewrite, with no write to `log` in flight: copies what was appended since (up to
 * `end`), makes it durable and renames it in place; returns the new log, open for appending.
 *
 * @example ({ log, size } = await finishLogRewrite(dir, log, rw, logSize));
 */
export async function finishLogRewrite(
  dir: string,
  log: fs.FileHandle,
  rw: LogRewrite,
  end: number,
): Promise<{ log: fs.FileHandle; size: number }> {
  const size = LOG_MAGIC.length + (end - rw.from);
  try {
    await copyRange(log, rw.fh, rw.copied, end, LOG_MAGIC.length + (rw.copied - rw.from));
    await rw.fh.datasync();
  } finally {
    await rw.fh.close();
  }
  await installFile(dir, 'log');
  return { log: await fs.open(path.join(dir, 'log'), 'r+'), size };
}

/** Copies bytes `from` to `to` of `src` into `dst` at `at`, a MiB at a time. */
async function copyRange(
  src: fs.FileHandle,
  dst: fs.FileHandle,
  from: number,
  to: number,
  at: number,
): Promise<void> {
  if (to <= from) return;
  const buf = Buffer.allocUnsafe(Math.min(1 << 20, to - from));
  for (let pos = from; pos < to;) {
    const { bytesRead } = await src.read(buf, 0, Math.min(buf.length, to - pos), pos);
    if (bytesRead === 0) throw new Error(`the log ends at byte ${pos}, before byte ${to}`);
    await writeAll(dst, buf.subarray(0, bytesRead), at + (pos - from));
    pos += bytesRead;
  }
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
 * `writeAll` for a small batch of log frames, done on the calling thread: a write of a few
 * kilobytes into the page cache takes microseconds, while handing it to the thread pool costs
 * more than that in wake-ups (the fdatasync after it stays asynchronous).
 *
 * @example appendNow(log, frames, size);
 */
export function appendNow(fh: fs.FileHandle, bytes: Buffer, position: number): void {
  for (let off = 0; off < bytes.length;) {
    off += writeSync(fh.fd, bytes, off, bytes.length - off, position + off);
  }
}

/**
 * Writes `name` in `dir` atomically and durably: temp file, fsync, rename, fsync the dir.
 * `bytes` may come in parts, written one after the other (a large file is not copied into one
 * buffer first: 26 MB took 80-120 ms to join here).
 *
 * @example await writeFileDurably(dir, 'snapshot', bytes);
 */
export async function writeFileDurably(
  dir: string,
  name: string,
  bytes: Buffer | readonly Buffer[],
): Promise<void> {
  const tmp = path.join(dir, `${name}.tmp`);
  const fh = await fs.open(tmp, 'w');
  try {
    let at = 0;
    for (const part of Buffer.isBuffer(bytes) ? [bytes] : bytes) {
      await writeAll(fh, part, at);
      at += part.length;
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  await installFile(dir, name);
}

/** Renames `name.tmp` to `name` in `dir`, durably (the directory synced). */
async function installFile(dir: string, name: string): Promise<void> {
  await fs.rename(path.join(dir, `${name}.tmp`), path.join(dir, name));
  const d = await fs.open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}
