/**
 * On-disk formats of the embedded store. Both files are a magic header followed by frames.
 *
 * - `log` (magic `RMNLOG2\n`): one frame per committed transaction,
 *
 *       frame = u32le payload length | u32le crc32(payload) | u32le crc32(the 8 bytes before) | payload
 *
 *   with the payload `[revision, key, value|null, key, value|null…]` as UTF-8 JSON. The header has
 *   its own checksum so that a damaged length is told apart from a frame cut short: see
 *   `wal-scan.ts` for how a torn tail (droppable: never acknowledged) differs from damage
 *   (refused). Logs of the first format (`RMNLOG1\n`, frames without the header checksum) are
 *   still read, and rewritten in this format when opened.
 * - `snapshot` (magic `RMNSNP1\n`): the whole state at one revision, written to a temp file,
 *   fsynced and renamed; frames `u32le length | u32le crc32(payload) | payload` are a header
 *   `{revision, count}`, chunks of `[key, value, modRevision, createRevision]` rows, and an end
 *   marker. It must be complete: anything else is corruption.
 */
import * as zlib from 'node:zlib';
import type { Change } from './kv-state.ts';
import type { KeyValue } from './store.ts';

/** First bytes of a log file. @example bytes.subarray(0, 8).equals(LOG_MAGIC) */
export const LOG_MAGIC = Buffer.from('RMNLOG2\n', 'latin1');
/** First bytes of a log file of the first format (no header checksum). */
export const LOG_MAGIC_V1 = Buffer.from('RMNLOG1\n', 'latin1');
/** First bytes of a snapshot file. @example bytes.subarray(0, 8).equals(SNAPSHOT_MAGIC) */
export const SNAPSHOT_MAGIC = Buffer.from('RMNSNP1\n', 'latin1');
const FRAME_HEADER = 8;
/** Header of a log frame: length, payload checksum, header checksum. */
export const LOG_FRAME_HEADER = 12;
/** Upper bound of one frame; larger lengths can only come from garbage. */
export const MAX_FRAME = 256 * 1024 * 1024;

/**
 * A committed transaction as stored in the log.
 *
 * @example const rec: LogRecord = { revision: 9, changes: [{ key: 'a', value: '1' }] };
 */
export interface LogRecord {
  revision: number;
  changes: Change[];
}

/**
 * CRC-32 (IEEE), as zlib computes it; a table-driven fallback for Node < 20.15.
 *
 * @example crc32(Buffer.from('123456789')) // 0xcbf43926
 */
export const crc32: (data: Buffer) => number =
  typeof (zlib as { crc32?: unknown }).crc32 === 'function'
    ? (data) => zlib.crc32(data)
    : tableCrc32;

let table: Uint32Array | undefined;
/** The fallback of `crc32` (exported for its test: Node >= 20.15 uses zlib's). */
export function tableCrc32(data: Buffer): number {
  if (table === undefined) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) crc = table[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/**
 * Frames one payload.
 *
 * @example encodeFrame(Buffer.from('[1,"a","x"]')).length // 8 + 11
 */
export function encodeFrame(payload: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER + payload.length);
  frame.writeUInt32LE(payload.length, 0);
  frame.writeUInt32LE(crc32(payload), 4);
  payload.copy(frame, FRAME_HEADER);
  return frame;
}

/**
 * Frames one log payload with a checksummed header.
 *
 * @example encodeLogFrame(Buffer.from('[1,"a","x"]')).length // 12 + 11
 */
export function encodeLogFrame(payload: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(LOG_FRAME_HEADER + payload.length);
  frame.writeUInt32LE(payload.length, 0);
  frame.writeUInt32LE(crc32(payload), 4);
  frame.writeUInt32LE(crc32(frame.subarray(0, 8)), 8);
  payload.copy(frame, LOG_FRAME_HEADER);
  return frame;
}

/**
 * One log frame for a committed transaction.
 *
 * @example encodeRecord({ revision: 3, changes: [{ key: 'a', value: '1' }, { key: 'b', value: null }] })
 */
export function encodeRecord(rec: LogRecord): Buffer {
  const row: Array<number | string | null> = [rec.revision];
  for (const ch of rec.changes) row.push(ch.key, ch.value);
  return encodeLogFrame(Buffer.from(JSON.stringify(row), 'utf8'));
}

/**
 * Parses a log frame's payload; throws on a payload that passed its checksum but is not a
 * record (a bug or deliberate tampering, never a torn write).
 *
 * @example decodeRecord(Buffer.from('[3,"a","1"]')) // { revision: 3, changes: [{ key: 'a', value: '1' }] }
 */
export function decodeRecord(payload: Buffer): LogRecord {
  const row: unknown = JSON.parse(payload.toString('utf8'));
  if (!Array.isArray(row) || !isRevision(row[0]) || row.length % 2 !== 1 || row.length < 3) {
    throw new Error(`malformed log record ${payload.toString('utf8').slice(0, 80)}`);
  }
  const changes: Change[] = [];
  for (let i = 1; i < row.length; i += 2) {
    const key: unknown = row[i];
    const value: unknown = row[i + 1];
    if (typeof key !== 'string' || (typeof value !== 'string' && value !== null)) {
      throw new Error(`malformed change in log record at revision ${row[0]}`);
    }
    changes.push({ key, value });
  }
  return { revision: row[0], changes };
}

function isRevision(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 0;
}

/**
 * The frames of a snapshot file holding `kvs` at `revision`, in file order (magic, header, one
 * frame per 1,000 entries, end): a caller can yield between them.
 *
 * @example const bytes = Buffer.concat([...snapshotFrames([...state.entries()], state.revision)]);
 */
export function snapshotFrames(kvs: readonly KeyValue[], revision: number): Generator<Buffer> {
  return snapshotFramesOf({ revision, count: kvs.length, slice: (a, b) => kvs.slice(a, b) });
}

/** The values a snapshot file holds, read a slice at a time (`KvState.snapshotView`). */
export interface SnapshotSource {
  revision: number;
  count: number;
  slice(from: number, to: number): readonly KeyValue[];
}

/**
 * `snapshotFrames` reading its values from `src` one frame's worth at a time.
 *
 * @example for (const frame of snapshotFramesOf(state.snapshotView())) parts.push(frame);
 */
export function* snapshotFramesOf(src: SnapshotSource): Generator<Buffer> {
  const { revision, count } = src;
  yield SNAPSHOT_MAGIC;
  yield encodeFrame(Buffer.from(JSON.stringify({ revision, count }), 'utf8'));
  for (let i = 0; i < count; i += SNAPSHOT_FRAME_VALUES) {
    const chunk = src
      .slice(i, i + SNAPSHOT_FRAME_VALUES)
      .map((kv) => [kv.key, kv.value, kv.modRevision, kv.createRevision]);
    yield encodeFrame(Buffer.from(JSON.stringify(chunk), 'utf8'));
  }
  yield encodeFrame(Buffer.from(JSON.stringify({ end: true, count }), 'utf8'));
}

/** Values per snapshot frame: about a millisecond of encoding each. */
const SNAPSHOT_FRAME_VALUES = 1000;
