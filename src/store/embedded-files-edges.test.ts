/**
 * The embedded store's file operations at more edges, on real files in a temporary directory
 * (milliseconds): damage that no intact record follows, a first-format log opened with nobody
 * listening for warnings, and a failed log that cannot be made appendable again (its path a
 * FIFO, which refuses to be cut): the file it opened is closed, the caller's is kept open.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { RomanaError } from '../errors.ts';
import { loadFiles, reclaimLog, replayLog } from './embedded-files.ts';
import { KvState } from './kv-state.ts';
import { LOG_MAGIC, LOG_MAGIC_V1, encodeFrame, encodeRecord, type LogRecord } from './wal.ts';
import { scanLog } from './wal-scan.ts';

const dirs: string[] = [];
async function freshDir(): Promise<string> {
  const d = await fs.mkdtemp(path.join(os.tmpdir(), 'm18c-files-'));
  dirs.push(d);
  return d;
}
after(async () => {
  await Promise.all(dirs.map((d) => fs.rm(d, { recursive: true, force: true })));
});

const rec = (revision: number): LogRecord => ({
  revision,
  changes: [{ key: `k${revision}`, value: `v${revision}` }],
});
const logOf = (...records: LogRecord[]) =>
  Buffer.concat([LOG_MAGIC, ...records.map((r) => encodeRecord(r))]);

/** The refusal of a damaged log: its whole message. */
async function refusal(dir: string): Promise<string> {
  const err = await replayLog(dir, new KvState(), false, undefined).catch((e: unknown) => e);
  assert.ok(err instanceof RomanaError, String(err));
  return err.message;
}

/** The files this process holds open whose path is `file`. */
async function openFds(file: string): Promise<string[]> {
  const out: string[] = [];
  for (const fd of await fs.readdir('/proc/self/fd')) {
    const target = await fs.readlink(`/proc/self/fd/${fd}`).catch(() => '');
    if (target === file) out.push(fd);
  }
  return out;
}

/** Files left open and closed by the garbage collector since `leaks()` began (Node warns). */
function leaks(): { stop(): string[] } {
  const seen: string[] = [];
  const onWarning = (w: Error) => {
    if (/on garbage collection/.test(w.message)) seen.push(w.message);
  };
  process.on('warning', onWarning);
  return {
    stop: () => {
      process.off('warning', onWarning);
      return seen;
    },
  };
}

describe('embedded store files, at the edges', () => {
  it('refuses damage that no intact record follows, saying only what is damaged', async () => {
    const dir = await freshDir();
    const file = path.join(dir, 'log');
    // The last record's payload changed: its checksum fails, and nothing comes after it.
    const bytes = logOf(rec(1), rec(2));
    const last = logOf(rec(1)).length;
    bytes[bytes.length - 2] = bytes[bytes.length - 2]! ^ 0xff;
    await fs.writeFile(file, bytes);
    const scan = scanLog(bytes);
    assert.equal(scan.tail.kind, 'damaged');
    const tail = scan.tail as Extract<typeof scan.tail, { kind: 'damaged' }>;
    assert.equal(tail.nextValid, undefined);
    const tailWords = `${file} is damaged at byte ${last}: ${tail.reason}; refusing to open it`;
    const msg = await refusal(dir);
    assert.ok(msg.includes(tailWords), msg);
    assert.doesNotMatch(msg, /intact records follow/);
    // Not a log at all: damaged at byte 0, and nothing to salvage after it.
    await fs.writeFile(file, Buffer.from('garbage, not a log at all'));
    assert.equal(
      await refusal(dir),
      `embedded store ${dir}: ${file} is damaged at byte 0: not a Romana log (bad magic); refusing to open it, as that would lose acknowledged writes. See 'romanad store check ${dir}', then 'romanad store repair ${dir}' keeps every intact record (the original files are kept in a backup)`,
    );
  });

  it('rewrites a first-format log with nobody listening for the warning', async () => {
    const dir = await freshDir();
    const file = path.join(dir, 'log');
    const v1 = (r: number) => encodeFrame(Buffer.from(JSON.stringify([r, `k${r}`, `v${r}`])));
    await fs.writeFile(file, Buffer.concat([LOG_MAGIC_V1, v1(1), v1(2)]));
    const { state, log, size } = await loadFiles(dir, {});
    await log.close();
    assert.equal(state.revision, 2);
    assert.equal(state.get('k2')?.value, 'v2');
    assert.ok((await fs.readFile(file)).equals(logOf(rec(1), rec(2))));
    assert.equal(size, logOf(rec(1), rec(2)).length);
  });

  it('closes the file it opened when the one at the path cannot be cut, keeping the caller’s', async () => {
    const dir = await freshDir();
    const file = path.join(dir, 'log');
    await fs.writeFile(file, logOf(rec(1)));
    const old = await fs.open(file, 'r+');
    // A rewrite left something at the path that takes no truncation.
    await fs.rm(file);
    execFileSync('mkfifo', [file]);
    const watch = leaks();
    await assert.rejects(reclaimLog(dir, old, 3), (e: NodeJS.ErrnoException) => {
      assert.equal(e.code, 'EINVAL');
      return true;
    });
    // Closed by reclaimLog itself: neither still open nor left to the garbage collector.
    assert.deepEqual(await openFds(file), [], 'the FIFO it opened is closed again');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(watch.stop(), []);
    assert.equal((await old.stat()).size, logOf(rec(1)).length, "the caller's file still open");
    await old.close();
  });

  it('keeps the caller’s file open when it is the one that cannot be cut', async () => {
    const dir = await freshDir();
    const file = path.join(dir, 'log');
    execFileSync('mkfifo', [file]);
    const log = await fs.open(file, 'r+');
    await assert.rejects(reclaimLog(dir, log, 0), (e: NodeJS.ErrnoException) => {
      assert.equal(e.code, 'EINVAL');
      return true;
    });
    assert.ok((await log.stat()).isFIFO(), 'still open');
    assert.equal((await openFds(file)).length, 1);
    await log.close();
  });
});
