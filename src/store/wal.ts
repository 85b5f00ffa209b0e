/**
 * On-disk formats of the embedded store. Both files are a magic header followed by frames:
 *
 *     frame = u32le payload length | u32le crc32(payload) | payload (UTF-8 JSON)
 *
 * - `log`: one frame per committed transaction, `[revision, key, value|null, key, value|null…]`.
 *   A crash can leave a torn or garbage tail (the last batch was not fully written): reading stops
 *   at the first frame that is short or fails its checksum, and the store truncates it away.
 *   Such a tail was never acknowledged, because a batch is acknowledged only after fsync.
 * - `snapshot`: the whole state at one revision, written to a temp file, fsynced and renamed;
 *   frames are a header `{revision, count}`, chunks of `[key, value, modRevision,
 *   createRevision]` rows, and an end marker. It must be complete: anything else is corruption.
 */
import * as zlib from 'node:zlib';
import type { Change } from './kv-state.ts';
import type { KeyValue } from './store.ts';

/** First bytes of a log file. @example bytes.subarray(0, 8).equals(LOG_MAGIC) */
export const LOG_MAGIC = Buffer.from('RMNLOG1\n', 'latin1');
/** First bytes of a snapshot file. @example bytes.subarray(0, 8).equals(SNAPSHOT_MAGIC) */
export const SNAPSHOT_MAGIC = Buffer.from('RMNSNP1\n', 'latin1');
const FRAME_HEADER = 8;
/** Upper bound of one frame; larger lengths can only come from garbage. */
const MAX_FRAME = 256 * 1024 * 1024;

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
function tableCrc32(data: Buffer): number {
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
 * Reads frames from `buf` starting at `offset` until the end or the first invalid frame.
 * `end` is where valid data stops (the truncation point when `end < buf.length`).
 *
 * @example const { payloads, end } = decodeFrames(fileBytes, LOG_MAGIC.length);
 */
export function decodeFrames(buf: Buffer, offset: number): { payloads: Buffer[]; end: number } {
  const payloads: Buffer[] = [];
  let pos = offset;
  while (pos + FRAME_HEADER <= buf.length) {
    const len = buf.readUInt32LE(pos);
    const crc = buf.readUInt32LE(pos + 4);
    if (len > MAX_FRAME || pos + FRAME_HEADER + len > buf.length) break;
    const payload = buf.subarray(pos + FRAME_HEADER, pos + FRAME_HEADER + len);
    if (crc32(payload) !== crc) break;
    payloads.push(payload);
    pos += FRAME_HEADER + len;
  }
  return { payloads, end: pos };
}

/**
 * One log frame for a committed transaction.
 *
 * @example encodeRecord({ revision: 3, changes: [{ key: 'a', value: '1' }, { key: 'b', value: null }] })
 */
export function encodeRecord(rec: LogRecord): Buffer {
  const row: Array<number | string | null> = [rec.revision];
  for (const ch of rec.changes) row.push(ch.key, ch.value);
  return encodeFrame(Buffer.from(JSON.stringify(row), 'utf8'));
}

/**
 * Parses a log frame's payload; throws on a payload that passed its checksum but is not a
 * record (a bug or deliberate tampering, never a torn write).
 *
 * @example decodeRecord(Buffer.from('[3,"a","1"]')) // { revision: 3, changes: [{ key: 'a', value: '1' }] }
 */
export function decodeRecord(payload: Buffer): LogRecord {
  const row: unknown = JSON.parse(payload.toString('utf8'));
  if (!Array.isArray(row) || typeof row[0] !== 'number' || row.length % 2 !== 1) {
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

/**
 * The frames of a snapshot file holding `kvs` at `revision`, in file order (magic, header, one
 * frame per 1,000 entries, end): a caller can yield between them.
 *
 * @example const bytes = Buffer.concat([...snapshotFrames([...state.entries()], state.revision)]);
 */
export function* snapshotFrames(kvs: readonly KeyValue[], revision: number): Generator<Buffer> {
  const count = kvs.length;
  yield SNAPSHOT_MAGIC;
  yield encodeFrame(Buffer.from(JSON.stringify({ revision, count }), 'utf8'));
  for (let i = 0; i < count; i += 1000) {
    const chunk = kvs
      .slice(i, i + 1000)
      .map((kv) => [kv.key, kv.value, kv.modRevision, kv.createRevision]);
    yield encodeFrame(Buffer.from(JSON.stringify(chunk), 'utf8'));
  }
  yield encodeFrame(Buffer.from(JSON.stringify({ end: true, count }), 'utf8'));
}

/**
 * Parses a snapshot file; throws with what is wrong when it is not complete and intact.
 *
 * @example const { revision, kvs } = decodeSnapshot(await fs.readFile(path));
 */
export function decodeSnapshot(buf: Buffer): { revision: number; kvs: KeyValue[] } {
  if (!buf.subarray(0, SNAPSHOT_MAGIC.length).equals(SNAPSHOT_MAGIC)) {
    throw new Error('not a Romana snapshot file (bad magic)');
  }
  const { payloads, end } = decodeFrames(buf, SNAPSHOT_MAGIC.length);
  if (end !== buf.length || payloads.length < 2) {
    throw new Error(`snapshot is damaged at byte ${end} of ${buf.length}`);
  }
  const head = JSON.parse(payloads[0]!.toString('utf8')) as { revision: number; count: number };
  const tail = JSON.parse(payloads[payloads.length - 1]!.toString('utf8')) as {
    end?: boolean;
    count?: number;
  };
  const kvs: KeyValue[] = [];
  for (const p of payloads.slice(1, -1)) {
    const rows = JSON.parse(p.toString('utf8')) as Array<[string, string, number, number]>;
    for (const [key, value, modRevision, createRevision] of rows)
      kvs.push({ key, value, modRevision, createRevision });
  }
  if (tail.end !== true || tail.count !== head.count || kvs.length !== head.count) {
    throw new Error(`snapshot is incomplete: header says ${head.count} keys, found ${kvs.length}`);
  }
  return { revision: head.revision, kvs };
}
