/**
 * The embedded store's file operations one by one, on real files in a temporary directory (no
 * store opened, milliseconds each): the errors' exact words, loading a snapshot, replaying a log
 * (history below the snapshot, a jump, damage, a torn tail cut), making a failed log writable
 * again, and the durable writes.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { RomanaError } from '../errors.ts';
import {
  damagedFile,
  loadFiles,
  loadSnapshot,
  logWriteFailed,
  readStoreFile,
  reclaimLog,
  replayLog,
  finishLogRewrite,
  RecordOffsets,
  startLogRewrite,
  writeAll,
  writeFileDurably,
  writeSnapshot,
} from './embedded-files.ts';
import { KvState } from './kv-state.ts';
import { LOG_MAGIC, LOG_MAGIC_V1, encodeFrame, encodeRecord, type LogRecord } from './wal.ts';
import { scanLog } from './wal-scan.ts';

const dirs: string[] = [];
async function freshDir(): Promise<string> {
  const d = await fs.mkdtemp(path.join(os.tmpdir(), 'm17b-files-'));
  dirs.push(d);
  return d;
}
after(async () => {
  await Promise.all(dirs.map((d) => fs.rm(d, { recursive: true, force: true })));
});

const rec = (revision: number, key = `k${revision}`): LogRecord => ({
  revision,
  changes: [{ key, value: `v${revision}` }],
});
const logOf = (...records: LogRecord[]) =>
  Buffer.concat([LOG_MAGIC, ...records.map((r) => encodeRecord(r))]);

/** A state at `revision` holding k1..k`revision`, as replaying their records makes it. */
function stateAt(revision: number): KvState {
  const s = new KvState();
  for (let r = 1; r <= revision; r++) s.apply(r, rec(r).changes);
  return s;
}

describe('embedded store files', () => {
  it('words a damaged file and a failed write exactly, naming file, offset and cause', () => {
    const d = damagedFile('/d', '/d/log', 4096, 'a record that fails its checksum');
    assert.ok(d instanceof RomanaError);
    assert.equal(d.code, 'Internal');
    assert.equal(d.resourceType, 'store');
    assert.equal(d.resourceId, '/d/log');
    assert.equal(
      d.message,
      "embedded store /d: /d/log is damaged at byte 4096: a record that fails its checksum; refusing to open it, as that would lose acknowledged writes. See 'romanad store check /d', then 'romanad store repair /d' keeps every intact record (the original files are kept in a backup)",
    );
    const cause = new Error('ENOSPC: no space left on device');
    const w = logWriteFailed('/d', 'snapshot', cause, 2000);
    assert.equal(w.code, 'Unavailable');
    assert.equal(w.resourceType, 'store');
    assert.equal(w.resourceId, '/d');
    assert.equal(w.cause, cause);
    assert.equal(
      w.message,
      'embedded store /d: cannot write /d/snapshot (ENOSPC: no space left on device); writes are refused until the log can be written again (retried every 2 s at most); transactions in flight were not acknowledged',
    );
  });

  it('reads a store file, undefined when absent, and names the file of any other failure', async () => {
    const dir = await freshDir();
    assert.equal(await readStoreFile(path.join(dir, 'log')), undefined);
    await fs.writeFile(path.join(dir, 'log'), 'abc');
    assert.equal((await readStoreFile(path.join(dir, 'log')))?.toString(), 'abc');
    await fs.mkdir(path.join(dir, 'snapshot'));
    await assert.rejects(readStoreFile(path.join(dir, 'snapshot')), (e: unknown) => {
      assert.ok(e instanceof Error);
      assert.match(e.message, new RegExp(`^cannot read ${dir}/snapshot: EISDIR`));
      assert.equal((e.cause as NodeJS.ErrnoException).code, 'EISDIR');
      return true;
    });
  });

  it('opens a new directory: temp files removed, others kept, a log of just its magic', async () => {
    const dir = await freshDir();
    await fs.writeFile(path.join(dir, 'log.tmp'), 'x');
    await fs.writeFile(path.join(dir, 'snapshot.tmp'), 'x');
    await fs.writeFile(path.join(dir, 'notes'), 'x');
    const warnings: string[] = [];
    const { state, log, size } = await loadFiles(dir, { onWarning: (m) => warnings.push(m) });
    await log.close();
    assert.deepEqual(warnings, [], 'a new log is no news');
    assert.deepEqual((await fs.readdir(dir)).sort(), ['log', 'notes']);
    assert.equal(state.revision, 0);
    assert.equal(size, LOG_MAGIC.length);
    assert.ok((await fs.readFile(path.join(dir, 'log'))).equals(LOG_MAGIC));
  });

  it('loads a snapshot written by writeSnapshot, and refuses a damaged one with its offset', async () => {
    const dir = await freshDir();
    assert.equal(await loadSnapshot(dir, new KvState()), false);
    assert.equal(await writeSnapshot(dir, stateAt(3)), 3);
    const loaded = new KvState();
    assert.equal(await loadSnapshot(dir, loaded), true);
    assert.equal(loaded.revision, 3);
    assert.deepEqual(
      [...loaded.entries()].map((kv) => [kv.key, kv.value, kv.modRevision]),
      [
        ['k1', 'v1', 1],
        ['k2', 'v2', 2],
        ['k3', 'v3', 3],
      ],
    );
    assert.deepEqual(await fs.readdir(dir), ['snapshot'], 'no temp file left');
    const file = path.join(dir, 'snapshot');
    await fs.truncate(file, (await fs.stat(file)).size - 1);
    await assert.rejects(loadSnapshot(dir, new KvState()), (e: unknown) => {
      assert.ok(e instanceof RomanaError);
      assert.match(
        e.message,
        new RegExp(
          `^embedded store ${dir}: ${file} is damaged at byte \\d+: the snapshot holds \\S`,
        ),
      );
      return true;
    });
  });

  it('replays the log over a snapshot: records at or below it kept as history only', async () => {
    const dir = await freshDir();
    await writeSnapshot(dir, stateAt(3));
    await fs.writeFile(path.join(dir, 'log'), logOf(rec(1), rec(2), rec(3), rec(4), rec(5)));
    const warnings: string[] = [];
    const { state, log, size } = await loadFiles(dir, { onWarning: (m) => warnings.push(m) });
    await log.close();
    assert.equal(state.revision, 5);
    assert.equal(state.get('k5')?.modRevision, 5);
    assert.deepEqual(
      state.recentHistory(10).map((h) => h.revision),
      [1, 2, 3, 4, 5],
    );
    assert.equal(size, logOf(rec(1), rec(2), rec(3), rec(4), rec(5)).length);
    assert.deepEqual(warnings, []);
  });

  it('refuses a log that jumps a revision, saying when the snapshot is missing', async () => {
    const dir = await freshDir();
    await fs.writeFile(path.join(dir, 'log'), logOf(rec(1), rec(3)));
    const jump = `${dir}/log is damaged at byte ${logOf(rec(1)).length}: the log jumps from revision 1 to 3`;
    await assert.rejects(loadFiles(dir, {}), (e: unknown) => {
      assert.ok(e instanceof RomanaError);
      assert.ok(e.message.includes(`${jump} (the snapshot file is missing);`), e.message);
      return true;
    });
    await writeSnapshot(dir, stateAt(1));
    await assert.rejects(loadFiles(dir, {}), (e: unknown) => {
      assert.ok(e instanceof RomanaError);
      assert.ok(e.message.includes(`${jump};`), e.message);
      return true;
    });
  });

  it('refuses a damaged record, saying where intact records follow', async () => {
    const dir = await freshDir();
    const bytes = logOf(rec(1), rec(2), rec(3));
    const second = logOf(rec(1)).length;
    bytes[second + 14] = bytes[second + 14]! ^ 0xff;
    await fs.writeFile(path.join(dir, 'log'), bytes);
    const scan = scanLog(bytes);
    assert.equal(scan.tail.kind, 'damaged');
    const tail = scan.tail as Extract<typeof scan.tail, { kind: 'damaged' }>;
    await assert.rejects(replayLog(dir, new KvState(), false, undefined), (e: unknown) => {
      assert.ok(e instanceof RomanaError);
      assert.ok(
        e.message.includes(
          `is damaged at byte ${second}: ${tail.reason}, and intact records follow at byte ${logOf(rec(1), rec(2)).length};`,
        ),
        e.message,
      );
      return true;
    });
  });

  it('cuts a torn tail from the file, with a warning that says how much and where', async () => {
    const dir = await freshDir();
    const whole = logOf(rec(1), rec(2));
    const torn = encodeRecord(rec(3)).subarray(0, 10);
    const file = path.join(dir, 'log');
    await fs.writeFile(file, Buffer.concat([whole, torn]));
    const warnings: string[] = [];
    const state = new KvState();
    const { log, size } = await replayLog(dir, state, false, (m) => warnings.push(m));
    await log.close();
    assert.equal(state.revision, 2);
    assert.equal(size, whole.length);
    assert.equal((await fs.stat(file)).size, whole.length, 'cut in the file, not only skipped');
    assert.deepEqual(warnings, [
      `embedded store ${dir}: dropped 10 bytes of torn log tail at offset ${whole.length} of ${file} (a write cut short by a crash; never acknowledged)`,
    ]);
    // Without a listener, the same.
    await fs.appendFile(file, torn);
    const again = await replayLog(dir, new KvState(), false, undefined);
    await again.log.close();
    assert.equal((await fs.stat(file)).size, whole.length);
  });

  it('rewrites a log of the first format in the current one, its torn tail left behind', async () => {
    const dir = await freshDir();
    const file = path.join(dir, 'log');
    const v1 = (r: number) => encodeFrame(Buffer.from(JSON.stringify([r, `k${r}`, `v${r}`])));
    const torn = v1(3).subarray(0, 9);
    await fs.writeFile(file, Buffer.concat([LOG_MAGIC_V1, v1(1), v1(2), torn]));
    const warnings: string[] = [];
    const { state, log, size } = await loadFiles(dir, { onWarning: (m) => warnings.push(m) });
    await log.close();
    assert.equal(state.revision, 2);
    assert.ok((await fs.readFile(file)).equals(logOf(rec(1), rec(2))));
    assert.equal(size, logOf(rec(1), rec(2)).length);
    assert.equal(warnings.length, 2, warnings.join('\n'));
    assert.equal(warnings[0], `embedded store ${dir}: rewrote ${file} in the current format`);
    assert.match(warnings[1]!, /^embedded store .*: dropped 9 bytes of torn log tail at offset /);
  });

  it('makes a failed log appendable again: what lies past the durable end is cut', async () => {
    const dir = await freshDir();
    const file = path.join(dir, 'log');
    await fs.writeFile(file, Buffer.concat([logOf(rec(1)), Buffer.from('half a frame')]));
    await fs.writeFile(path.join(dir, 'log.tmp'), 'x');
    await fs.writeFile(path.join(dir, 'snapshot.tmp'), 'x');
    const fh = await fs.open(file, 'r+');
    const end = logOf(rec(1)).length;
    const r = await reclaimLog(dir, fh, end);
    assert.equal(r.log, fh, 'the same file, still open');
    assert.equal(r.size, end);
    assert.deepEqual(await fs.readdir(dir), ['log']);
    assert.ok((await fs.readFile(file)).equals(logOf(rec(1))));
    await fh.close();
  });

  it('takes the file at the path, whole, when a rewrite renamed a new log over the open one', async () => {
    const dir = await freshDir();
    const file = path.join(dir, 'log');
    await fs.writeFile(file, logOf(rec(1)));
    const old = await fs.open(file, 'r+');
    await fs.writeFile(path.join(dir, 'new'), logOf(rec(1), rec(2)));
    await fs.rename(path.join(dir, 'new'), file);
    const r = await reclaimLog(dir, old, 3);
    assert.notEqual(r.log, old);
    assert.equal(r.size, logOf(rec(1), rec(2)).length);
    assert.ok((await fs.readFile(file)).equals(logOf(rec(1), rec(2))));
    assert.equal((await old.stat()).size, logOf(rec(1)).length, 'the old file untouched');
    await r.log.close();
    await old.close();
  });

  it('rewrites the log as a copy of its bytes from a record on, appended to meanwhile', async () => {
    const dir = await freshDir();
    const file = path.join(dir, 'log');
    await fs.writeFile(file, logOf(rec(1), rec(2), rec(3)));
    const old = await fs.open(file, 'r+');
    const from = logOf(rec(1)).length;
    const to = logOf(rec(1), rec(2), rec(3)).length;
    const rw = await startLogRewrite(dir, old, { from, after: to, to });
    // The writer goes on appending to the old log; the rewrite ends with what it appended.
    let end = logOf(rec(1), rec(2), rec(3)).length;
    await writeAll(old, encodeRecord(rec(4)), end);
    end += encodeRecord(rec(4)).length;
    const { log, size } = await finishLogRewrite(dir, old, rw, end);
    const expected = logOf(rec(2), rec(3), rec(4));
    assert.equal(size, expected.length);
    assert.ok((await fs.readFile(file)).equals(expected));
    await writeAll(log, encodeRecord(rec(5)), size);
    await log.close();
    await old.close();
    assert.ok((await fs.readFile(file)).equals(logOf(rec(2), rec(3), rec(4), rec(5))));
    assert.deepEqual(
      scanLog(await fs.readFile(file)).records.map((r) => r.record.revision),
      [2, 3, 4, 5],
    );
    await writeFileDurably(dir, 'other', [Buffer.from('by'), Buffer.from('tes')]);
    assert.equal(await fs.readFile(path.join(dir, 'other'), 'utf8'), 'bytes');
    assert.deepEqual((await fs.readdir(dir)).sort(), ['log', 'other']);
  });

  it('knows where the recent records start, and where they are after a rewrite', () => {
    const o = new RecordOffsets(3);
    for (let r = 1; r <= 5; r++) o.add(r, 100 * r);
    // Only the last three are kept.
    assert.equal(o.from(1), 300);
    assert.equal(o.from(4), 400);
    assert.equal(o.from(6), undefined);
    o.moved(400, 8);
    assert.equal(o.from(1), 8);
    assert.equal(o.from(5), 108);
    o.clear();
    assert.equal(o.from(1), undefined);
    for (let r = 6; r <= 3000; r++) o.add(r, r);
    assert.equal(o.from(1), 2998);
  });
});
