/**
 * Reading the embedded store's files back, telling a torn tail from damage.
 *
 * A batch of log frames is acknowledged only after fdatasync, and a crash while appending can
 * only leave a *prefix* of the last batch behind (or, on file systems that extend the file
 * before the data lands, zeros). So, at the first frame that does not read back:
 *
 * - **torn tail** (droppable, never acknowledged): the rest of the file is zeros, or shorter
 *   than a frame header, or a header that checks out whose payload runs past the end of the
 *   file;
 * - **damage** (refused): anything else: a header whose checksum fails (a flipped length cannot
 *   pass for a short write), a complete payload whose checksum fails, a frame that checks out
 *   but is not a record. A flipped byte never changes the file's length, so it always lands
 *   here, in the last record as anywhere else.
 *
 * Logs of the first format have no header checksum: there a length that runs past the end of
 * the file counts as torn unless an intact record follows it.
 */
import {
  LOG_FRAME_HEADER,
  LOG_MAGIC,
  LOG_MAGIC_V1,
  MAX_FRAME,
  SNAPSHOT_MAGIC,
  crc32,
  decodeRecord,
  type LogRecord,
} from './wal.ts';
import type { KeyValue } from './store.ts';

/** Log format: 1 (8-byte frame headers) or 2 (12-byte headers with their own checksum). */
export type LogVersion = 1 | 2;

/**
 * A stretch of a file that does not read back.
 *
 * @example const d: Damage = { offset: 4096, end: 4210, reason: 'checksum mismatch' };
 */
export interface Damage {
  offset: number;
  /** Where the next intact frame starts (or the end of the file). */
  end: number;
  reason: string;
}

/**
 * What the strict reading of a log found after its intact prefix.
 *
 * @example if (scan.tail.kind === 'damaged') refuse(scan.tail.offset);
 */
export type LogTail =
  | { kind: 'clean' }
  | { kind: 'torn'; offset: number; bytes: number }
  | { kind: 'damaged'; offset: number; reason: string; nextValid: number | undefined };

/**
 * A log read up to its first problem.
 *
 * @example const { records, end, tail } = scanLog(await fs.readFile(file));
 */
export interface LogScan {
  version: LogVersion;
  records: Array<{ offset: number; record: LogRecord }>;
  /** Where the intact prefix ends. */
  end: number;
  tail: LogTail;
}

type FrameRead =
  | { ok: true; payload: Buffer; next: number }
  | { ok: false; problem: 'short-header' | 'bad-header' | 'beyond-end' | 'bad-checksum' };

const SNAPSHOT_HEADER = 8;

/** Reads one frame of a log (version 1 or 2) or of a snapshot ('snapshot': 8-byte headers). */
function frameAt(buf: Buffer, pos: number, format: LogVersion | 'snapshot'): FrameRead {
  const header = format === 2 ? LOG_FRAME_HEADER : SNAPSHOT_HEADER;
  if (pos + header > buf.length) return { ok: false, problem: 'short-header' };
  const len = buf.readUInt32LE(pos);
  if (format === 2) {
    if (crc32(buf.subarray(pos, pos + 8)) !== buf.readUInt32LE(pos + 8)) {
      return { ok: false, problem: 'bad-header' };
    }
    if (len === 0 || len > MAX_FRAME) return { ok: false, problem: 'bad-header' };
  } else if (len > MAX_FRAME) {
    return { ok: false, problem: 'beyond-end' };
  }
  if (pos + header + len > buf.length) return { ok: false, problem: 'beyond-end' };
  const payload = buf.subarray(pos + header, pos + header + len);
  if (len === 0 || crc32(payload) !== buf.readUInt32LE(pos + 4)) {
    return { ok: false, problem: 'bad-checksum' };
  }
  return { ok: true, payload, next: pos + header + len };
}

const REASONS = {
  'short-header': 'a frame header cut short',
  'bad-header': 'a frame header that fails its checksum',
  'beyond-end': 'a frame whose length runs past the end of the file',
  'bad-checksum': 'a record that fails its checksum',
} as const;

function parseRecord(payload: Buffer): LogRecord | undefined {
  try {
    return decodeRecord(payload);
  } catch {
    return undefined;
  }
}

function allZero(buf: Buffer, from: number): boolean {
  for (let i = from; i < buf.length; i++) if (buf[i] !== 0) return false;
  return true;
}

/** The log format of `buf`; `undefined` when the magic is wrong, 0 for a file cut inside it. */
export function logVersion(buf: Buffer): LogVersion | 0 | undefined {
  const head = buf.subarray(0, LOG_MAGIC.length);
  if (head.equals(LOG_MAGIC)) return 2;
  if (head.equals(LOG_MAGIC_V1)) return 1;
  const cut = (magic: Buffer) => magic.subarray(0, buf.length).equals(buf);
  if (buf.length < LOG_MAGIC.length && (cut(LOG_MAGIC) || cut(LOG_MAGIC_V1))) return 0;
  return undefined;
}

/**
 * The offset of the next frame at or after `from` that checks out and holds a log record.
 *
 * @example findNextRecord(bytes, damage.offset + 1, 2) // undefined when nothing intact follows
 */
export function findNextRecord(buf: Buffer, from: number, version: LogVersion): number | undefined {
  const header = version === 2 ? LOG_FRAME_HEADER : SNAPSHOT_HEADER;
  for (let q = from; q + header <= buf.length; q++) {
    const len = buf.readUInt32LE(q);
    if (len === 0 || len > buf.length - q - header) continue; // cheap filter first
    const f = frameAt(buf, q, version);
    if (f.ok && parseRecord(f.payload) !== undefined) return q;
  }
  return undefined;
}

/**
 * Reads a log up to its first problem and says whether that problem is a torn tail or damage.
 *
 * @example
 * const scan = scanLog(bytes);
 * if (scan.tail.kind === 'damaged') throw new Error(`damaged at byte ${scan.tail.offset}`);
 */
export function scanLog(buf: Buffer): LogScan {
  const v = logVersion(buf);
  if (v === 0) return { version: 2, records: [], end: 0, tail: { kind: 'clean' } };
  if (v === undefined) {
    const tail: LogTail = {
      kind: 'damaged',
      offset: 0,
      reason: 'not a Romana log (bad magic)',
      nextValid: undefined,
    };
    return { version: 2, records: [], end: 0, tail };
  }
  return scanFrom(buf, LOG_MAGIC.length, v);
}

function classify(buf: Buffer, pos: number, v: LogVersion, f: FrameRead): LogTail {
  const torn: LogTail = { kind: 'torn', offset: pos, bytes: buf.length - pos };
  if (allZero(buf, pos)) return torn;
  const reason = f.ok ? 'a frame that checks out but is not a log record' : REASONS[f.problem];
  if (!f.ok && f.problem === 'short-header') return torn;
  if (!f.ok && f.problem === 'beyond-end') {
    const nextValid = v === 1 ? findNextRecord(buf, pos + 1, v) : undefined;
    return nextValid === undefined ? torn : { kind: 'damaged', offset: pos, reason, nextValid };
  }
  return { kind: 'damaged', offset: pos, reason, nextValid: findNextRecord(buf, pos + 1, v) };
}

/**
 * Every intact record of a log, skipping damaged stretches (for `romanad store check|repair`).
 *
 * @example const { records, damaged, torn } = salvageLog(bytes);
 */
export function salvageLog(buf: Buffer): {
  version: LogVersion | undefined;
  records: Array<{ offset: number; record: LogRecord }>;
  damaged: Damage[];
  torn: { offset: number; bytes: number } | undefined;
} {
  const v = logVersion(buf);
  if (v === 0) return { version: 2, records: [], damaged: [], torn: undefined };
  const damaged: Damage[] = [];
  let version: LogVersion = v ?? 2;
  let pos = LOG_MAGIC.length;
  if (v === undefined) {
    // A damaged magic: the format is the one whose frames read back after it.
    const v2 = findNextRecord(buf, 0, 2);
    const v1 = v2 === undefined ? findNextRecord(buf, 0, 1) : undefined;
    const next = v2 ?? v1;
    if (v2 === undefined && v1 !== undefined) version = 1;
    damaged.push({ offset: 0, end: next ?? buf.length, reason: 'not a Romana log (bad magic)' });
    if (next === undefined) return { version: undefined, records: [], damaged, torn: undefined };
    pos = next;
  }
  const records: Array<{ offset: number; record: LogRecord }> = [];
  let torn: { offset: number; bytes: number } | undefined;
  while (pos < buf.length) {
    const scan = scanFrom(buf, pos, version);
    records.push(...scan.records);
    if (scan.tail.kind === 'clean') break;
    if (scan.tail.kind === 'torn') {
      torn = { offset: scan.tail.offset, bytes: scan.tail.bytes };
      break;
    }
    const end = scan.tail.nextValid ?? buf.length;
    damaged.push({ offset: scan.tail.offset, end, reason: scan.tail.reason });
    pos = end;
  }
  return { version: v === undefined ? undefined : version, records, damaged, torn };
}

/** `scanLog` from an offset (the magic already checked). */
function scanFrom(buf: Buffer, from: number, v: LogVersion): LogScan {
  const records: LogScan['records'] = [];
  let pos = from;
  while (pos < buf.length) {
    const f = frameAt(buf, pos, v);
    const record = f.ok ? parseRecord(f.payload) : undefined;
    if (!f.ok || record === undefined) {
      return { version: v, records, end: pos, tail: classify(buf, pos, v, f) };
    }
    records.push({ offset: pos, record });
    pos = f.next;
  }
  return { version: v, records, end: pos, tail: { kind: 'clean' } };
}

/**
 * A snapshot read frame by frame: its header, every chunk that checks out, and the damage.
 * `complete` is true only for an intact file whose counts agree.
 *
 * @example const snap = scanSnapshot(bytes); if (!snap.complete) refuse(snap.damaged[0]);
 */
export interface SnapshotScan {
  revision: number | undefined;
  count: number | undefined;
  kvs: KeyValue[];
  damaged: Damage[];
  complete: boolean;
}

type SnapshotPart =
  { head: { revision: number; count: number } } | { end: number } | { rows: KeyValue[] };

function parseSnapshotPart(payload: Buffer): SnapshotPart | undefined {
  let v: unknown;
  try {
    v = JSON.parse(payload.toString('utf8'));
  } catch {
    return undefined;
  }
  if (Array.isArray(v)) {
    const rows: KeyValue[] = [];
    for (const r of v as unknown[]) {
      if (!Array.isArray(r) || r.length !== 4) return undefined;
      const [key, value, modRevision, createRevision] = r as unknown[];
      if (typeof key !== 'string' || typeof value !== 'string') return undefined;
      if (!Number.isSafeInteger(modRevision) || !Number.isSafeInteger(createRevision)) {
        return undefined;
      }
      rows.push({
        key,
        value,
        modRevision: modRevision as number,
        createRevision: createRevision as number,
      });
    }
    return { rows };
  }
  const o = v as { revision?: unknown; count?: unknown; end?: unknown } | null;
  if (o === null || typeof o !== 'object' || !Number.isSafeInteger(o.count)) return undefined;
  if (o.end === true) return { end: o.count as number };
  if (!Number.isSafeInteger(o.revision)) return undefined;
  return { head: { revision: o.revision as number, count: o.count as number } };
}

function nextSnapshotPart(buf: Buffer, from: number): number | undefined {
  for (let q = from; q + SNAPSHOT_HEADER <= buf.length; q++) {
    const len = buf.readUInt32LE(q);
    if (len === 0 || len > buf.length - q - SNAPSHOT_HEADER) continue;
    const f = frameAt(buf, q, 'snapshot');
    if (f.ok && parseSnapshotPart(f.payload) !== undefined) return q;
  }
  return undefined;
}

/**
 * Reads a snapshot file, keeping every chunk that checks out.
 *
 * @example const { revision, kvs, complete } = scanSnapshot(await fs.readFile(file));
 */
export function scanSnapshot(buf: Buffer): SnapshotScan {
  const out: SnapshotScan = {
    revision: undefined,
    count: undefined,
    kvs: [],
    damaged: [],
    complete: false,
  };
  let pos = SNAPSHOT_MAGIC.length;
  if (!buf.subarray(0, SNAPSHOT_MAGIC.length).equals(SNAPSHOT_MAGIC)) {
    const next = nextSnapshotPart(buf, 0);
    out.damaged.push({
      offset: 0,
      end: next ?? buf.length,
      reason: 'not a Romana snapshot (bad magic)',
    });
    pos = next ?? buf.length;
  }
  let endCount: number | undefined;
  while (pos < buf.length) {
    const f = frameAt(buf, pos, 'snapshot');
    const part = f.ok ? parseSnapshotPart(f.payload) : undefined;
    if (!f.ok || part === undefined || endCount !== undefined) {
      const next = nextSnapshotPart(buf, pos + 1);
      const reason = !f.ok
        ? REASONS[f.problem]
        : endCount !== undefined
          ? 'data after the end marker'
          : 'a frame that is not part of a snapshot';
      out.damaged.push({ offset: pos, end: next ?? buf.length, reason });
      pos = next ?? buf.length;
      continue;
    }
    if ('head' in part) {
      if (out.revision !== undefined || out.kvs.length > 0)
        out.damaged.push({ offset: pos, end: f.next, reason: 'a second header' });
      else ({ revision: out.revision, count: out.count } = part.head);
    } else if ('end' in part) endCount = part.end;
    else out.kvs.push(...part.rows);
    pos = f.next;
  }
  const counts = out.count !== undefined && endCount === out.count && out.kvs.length === out.count;
  if (out.damaged.length === 0 && !counts) {
    out.damaged.push({
      offset: buf.length,
      end: buf.length,
      reason: `incomplete: the header says ${out.count ?? '?'} keys, ${out.kvs.length} found${endCount === undefined ? ', no end marker' : ''}`,
    });
  }
  out.complete = out.damaged.length === 0;
  return out;
}
