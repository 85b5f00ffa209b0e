/**
 * `romanad store check|repair <dir>`: what an operator runs when romanad refuses to open a
 * damaged embedded store.
 *
 * - `checkStore` reads the snapshot and the log without changing anything (it takes no lock,
 *   so it can look at the files of a running romanad) and says whether romanad would open them.
 * - `repairStore` (romanad stopped: it takes the directory's lock) keeps every record it can
 *   prove: every snapshot chunk and log record whose checksum holds, in revision order, plus the
 *   keys a lost snapshot chunk held that the log's history still shows. It copies the original
 *   files into `backup-<time>/` first, then writes a new snapshot and an empty log, and reports
 *   what it dropped: damaged byte ranges and revisions no intact record holds. Keys written only
 *   by a lost revision keep the value they had before it.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { lockDir } from './dir-lock.ts';
import { readStoreFile, writeFileDurably } from './embedded-files.ts';
import type { KeyValue } from './store.ts';
import { LOG_MAGIC, snapshotFrames, type LogRecord } from './wal.ts';
import { salvageLog, scanSnapshot, type Damage, type LogVersion } from './wal-scan.ts';

/**
 * What `checkStore` found.
 *
 * @example const r = await checkStore('/var/lib/romana'); if (!r.sound) process.exitCode = 1;
 */
export interface StoreCheckReport {
  dir: string;
  /** True when romanad would open the store and lose nothing acknowledged. */
  sound: boolean;
  snapshot: {
    file: string;
    present: boolean;
    revision: number | undefined;
    keys: number;
    /** Keys the header announces. */
    expected: number | undefined;
    damaged: Damage[];
  };
  log: {
    file: string;
    present: boolean;
    version: LogVersion | undefined;
    records: number;
    firstRevision: number | undefined;
    lastRevision: number | undefined;
    damaged: Damage[];
    torn: { offset: number; bytes: number } | undefined;
  };
  /** Revisions after the snapshot that no intact log record holds, as [from, to] ranges. */
  missing: Array<[number, number]>;
}

interface Salvage {
  report: StoreCheckReport;
  kvs: KeyValue[];
  records: LogRecord[];
}

async function salvage(dir: string): Promise<Salvage> {
  const snapFile = path.join(dir, 'snapshot');
  const logFile = path.join(dir, 'log');
  const [snapBytes, logBytes] = [await readStoreFile(snapFile), await readStoreFile(logFile)];
  const snap = snapBytes === undefined ? undefined : scanSnapshot(snapBytes);
  const log = salvageLog(logBytes ?? Buffer.alloc(0));
  const records = log.records.map((r) => r.record);
  const revs = records.map((r) => r.revision);
  const base =
    snap === undefined
      ? 0
      : (snap.revision ?? snap.kvs.reduce((m, kv) => Math.max(m, kv.modRevision), 0));
  const missing = missingRevisions(base, revs);
  const report: StoreCheckReport = {
    dir,
    sound: false,
    snapshot: {
      file: snapFile,
      present: snap !== undefined,
      revision: snap === undefined ? undefined : base,
      keys: snap?.kvs.length ?? 0,
      expected: snap?.count,
      damaged: snap?.damaged ?? [],
    },
    log: {
      file: logFile,
      present: logBytes !== undefined,
      version: log.version,
      records: records.length,
      firstRevision: revs.length > 0 ? Math.min(...revs) : undefined,
      lastRevision: revs.length > 0 ? Math.max(...revs) : undefined,
      damaged: log.damaged,
      torn: log.torn,
    },
    missing,
  };
  report.sound =
    report.snapshot.damaged.length === 0 && log.damaged.length === 0 && missing.length === 0;
  return { report, kvs: snap?.kvs ?? [], records };
}

/** Revisions after `base` up to the last record that no record holds, as ranges. */
function missingRevisions(base: number, revs: number[]): Array<[number, number]> {
  const after = [...new Set(revs.filter((r) => r > base))].sort((a, b) => a - b);
  const gaps: Array<[number, number]> = [];
  let expect = base + 1;
  for (const r of after) {
    if (r > expect) gaps.push([expect, r - 1]);
    expect = r + 1;
  }
  return gaps;
}

/**
 * Reads the store in `dir` and says whether romanad would open it without losing anything
 * acknowledged; changes nothing.
 *
 * @example const { sound } = await checkStore('./romana-data');
 */
export async function checkStore(dir: string): Promise<StoreCheckReport> {
  const abs = path.resolve(dir);
  await fs.readdir(abs); // a directory that is not there (or not readable) is an error, named
  return (await salvage(abs)).report;
}

/**
 * What `repairStore` did.
 *
 * @example const { backup, keys, revision } = await repairStore('./romana-data');
 */
export interface RepairReport {
  /** The state found before the repair. */
  before: StoreCheckReport;
  /** False when the store was sound and nothing was written. */
  repaired: boolean;
  /** Where the original files were copied. */
  backup: string | undefined;
  revision: number;
  keys: number;
  /** Keys a damaged snapshot chunk held that were restored from the log's history. */
  restoredFromHistory: number;
}

/**
 * Rewrites a damaged store in `dir` from every record that checks out (see the module
 * comment). Fails with `Unavailable` while romanad holds the directory.
 *
 * @example const r = await repairStore('/var/lib/romana'); console.log(r.backup);
 */
export async function repairStore(dir: string, now = new Date()): Promise<RepairReport> {
  const abs = path.resolve(dir);
  const lock = await lockDir(abs);
  try {
    const { report, kvs, records } = await salvage(abs);
    if (report.sound) {
      return {
        before: report,
        repaired: false,
        backup: undefined,
        revision: Math.max(report.snapshot.revision ?? 0, report.log.lastRevision ?? 0),
        keys: 0,
        restoredFromHistory: 0,
      };
    }
    const base = report.snapshot.revision ?? 0;
    const state = new Map(kvs.map((kv) => [kv.key, kv]));
    const restored =
      report.snapshot.damaged.length > 0 ? restoreFromHistory(state, records, base) : 0;
    let revision = base;
    const seen = new Set<number>();
    for (const rec of [...records].sort((a, b) => a.revision - b.revision)) {
      if (rec.revision <= base || seen.has(rec.revision)) continue;
      seen.add(rec.revision);
      applyRecord(state, rec);
      revision = rec.revision;
    }
    const backup = await backupFiles(abs, now);
    const sorted = [...state.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    await writeFileDurably(abs, 'snapshot', Buffer.concat([...snapshotFrames(sorted, revision)]));
    await writeFileDurably(abs, 'log', LOG_MAGIC);
    return {
      before: report,
      repaired: true,
      backup,
      revision,
      keys: sorted.length,
      restoredFromHistory: restored,
    };
  } finally {
    await lock.release();
  }
}

function applyRecord(state: Map<string, KeyValue>, rec: LogRecord): void {
  for (const ch of rec.changes) {
    if (ch.value === null) {
      state.delete(ch.key);
      continue;
    }
    const prev = state.get(ch.key);
    state.set(ch.key, {
      key: ch.key,
      value: ch.value,
      modRevision: rec.revision,
      createRevision: prev?.createRevision ?? rec.revision,
    });
  }
}

/**
 * Keys missing from a damaged snapshot whose last write at or before its revision is in the
 * log's history (records at or below the snapshot, kept for watches) and is a put: such a key
 * existed at the snapshot's revision with that value. Returns how many were restored.
 */
function restoreFromHistory(
  state: Map<string, KeyValue>,
  records: LogRecord[],
  base: number,
): number {
  const history = records.filter((r) => r.revision <= base).sort((a, b) => a.revision - b.revision);
  const last = new Map<string, KeyValue | null>();
  for (const rec of history) {
    for (const ch of rec.changes) {
      if (ch.value === null) {
        last.set(ch.key, null);
        continue;
      }
      const prev = last.get(ch.key);
      const createRevision = prev ? prev.createRevision : rec.revision;
      last.set(ch.key, { key: ch.key, value: ch.value, modRevision: rec.revision, createRevision });
    }
  }
  let n = 0;
  for (const [key, kv] of last) {
    if (kv !== null && !state.has(key)) {
      state.set(key, kv);
      n++;
    }
  }
  return n;
}

/** Copies `snapshot` and `log` (those present) into `dir/backup-<time>/`, durably. */
async function backupFiles(dir: string, now: Date): Promise<string> {
  const backup = path.join(dir, `backup-${now.toISOString().replace(/[:.]/g, '-')}`);
  await fs.mkdir(backup);
  for (const name of ['snapshot', 'log']) {
    const from = path.join(dir, name);
    try {
      await fs.copyFile(from, path.join(backup, name), fs.constants.COPYFILE_EXCL);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    const fh = await fs.open(path.join(backup, name), 'r');
    await fh.sync().finally(() => fh.close());
  }
  for (const d of [backup, dir]) {
    const fh = await fs.open(d, 'r');
    await fh.sync().finally(() => fh.close());
  }
  return backup;
}
