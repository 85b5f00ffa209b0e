/**
 * The etcd messages of the hot paths, transactions and the watch, on the wire without the
 * client's object mapping.
 *
 * Through `etcd3`'s generic path, a transaction of 48 puts is turned into a message object and
 * checked field by field before it is encoded, and etcd's answer is turned back into objects in
 * full: one response per put, each with a header of four 64-bit numbers converted to text. A
 * romanad transaction needs none of that answer but whether it succeeded and its revision. So
 * the request is encoded here in one pass (compares on a key's modification revision, puts and
 * single-key deletes), and of the answer only the header's revision and `succeeded` are read;
 * the rest is skipped without being decoded. Likewise a watch event is read for its type, key,
 * value and modification revision only; its other three 64-bit numbers are skipped.
 *
 * The calls themselves still go through the client's connection pool, with its endpoint
 * choice, credentials and fault policies (`EtcdClient` in `etcd.ts`). Field numbers are those
 * of etcd's `rpc.proto` (package `etcdserverpb`) and `kv.proto` (`mvccpb`).
 */
import protobuf from 'protobufjs/minimal.js';
import type { Compare, Op } from './store.ts';

/** The gRPC method: `KV.Txn`. */
export const TXN_METHOD = '/etcdserverpb.KV/Txn';

// TxnRequest
const TXN_COMPARE = 1;
const TXN_SUCCESS = 2;
// Compare
const COMPARE_TARGET = 2;
const COMPARE_KEY = 3;
const COMPARE_MOD_REVISION = 6;
/** `Compare.CompareTarget.MOD`; the result, `EQUAL`, is 0 (the default, not written). */
const TARGET_MOD = 2;
// RequestOp
const OP_PUT = 2;
const OP_DELETE_RANGE = 3;
// PutRequest and DeleteRangeRequest
const REQ_KEY = 1;
const PUT_VALUE = 2;
// TxnResponse and ResponseHeader
const RES_HEADER = 1;
const RES_SUCCEEDED = 2;
const HEADER_REVISION = 3;

const VARINT = 0;
const LEN = 2;
const tag = (field: number, wire: number) => (field << 3) | wire;

/**
 * A TxnRequest: every compare is "the key's modification revision equals" (0: absent), every op
 * runs on success, none on failure; keys get `prefix` in front.
 *
 * Laid out in two passes: the sizes of every nested message first, then the bytes, into one
 * buffer (a general writer's per-field bookkeeping cost about as much as etcd3's own path).
 *
 * @example encodeTxn('/romana/', [{ key: 'hosts/h1', modRevision: 0 }], [{ type: 'put', key: 'hosts/h1', value: '{}' }])
 */
export function encodeTxn(
  prefix: string,
  compares: readonly Compare[],
  ops: readonly Op[],
): Buffer {
  const plen = Buffer.byteLength(prefix);
  // Pass 1: per compare its key length and message size; per op the same and its value length.
  const sizes: number[] = [];
  let total = 0;
  for (const c of compares) {
    const klen = plen + Buffer.byteLength(c.key);
    const inner = 2 + field(klen) + 1 + varintSize(c.modRevision);
    sizes.push(klen, inner);
    total += field(inner);
  }
  for (const op of ops) {
    const klen = plen + Buffer.byteLength(op.key);
    const vlen = op.type === 'put' ? Buffer.byteLength(op.value) : -1;
    const req = field(klen) + (vlen >= 0 ? field(vlen) : 0);
    sizes.push(klen, vlen, req);
    total += field(field(req));
  }
  // Pass 2: the bytes.
  const buf = Buffer.allocUnsafe(total);
  let pos = 0;
  let i = 0;
  const key = (k: string, klen: number) => {
    pos = putVarint(buf, pos, klen);
    pos += buf.write(prefix, pos, 'utf8');
    pos += buf.write(k, pos, 'utf8');
  };
  for (const c of compares) {
    const klen = sizes[i++]!;
    buf[pos++] = tag(TXN_COMPARE, LEN);
    pos = putVarint(buf, pos, sizes[i++]!);
    buf[pos++] = tag(COMPARE_TARGET, VARINT);
    buf[pos++] = TARGET_MOD;
    buf[pos++] = tag(COMPARE_KEY, LEN);
    key(c.key, klen);
    buf[pos++] = tag(COMPARE_MOD_REVISION, VARINT);
    pos = putVarint(buf, pos, c.modRevision);
  }
  for (const op of ops) {
    const klen = sizes[i++]!;
    const vlen = sizes[i++]!;
    const req = sizes[i++]!;
    buf[pos++] = tag(TXN_SUCCESS, LEN);
    pos = putVarint(buf, pos, field(req));
    buf[pos++] = op.type === 'put' ? tag(OP_PUT, LEN) : tag(OP_DELETE_RANGE, LEN);
    pos = putVarint(buf, pos, req);
    buf[pos++] = tag(REQ_KEY, LEN);
    key(op.key, klen);
    if (op.type === 'put') {
      buf[pos++] = tag(PUT_VALUE, LEN);
      pos = putVarint(buf, pos, vlen);
      pos += buf.write(op.value, pos, 'utf8');
    }
  }
  return buf;
}

/** Bytes of a varint holding `n` (a non-negative integer below 2^53). */
function varintSize(n: number): number {
  let size = 1;
  for (; n >= 128; size++) n = Math.floor(n / 128);
  return size;
}

/** Bytes of a length-delimited field of `len` bytes, its one-byte tag included. */
function field(len: number): number {
  return 1 + varintSize(len) + len;
}

/** Writes `n` as a varint at `pos`; the position after it. */
function putVarint(buf: Buffer, pos: number, n: number): number {
  for (; n >= 128; n = Math.floor(n / 128)) buf[pos++] = (n % 128) | 128;
  buf[pos++] = n;
  return pos;
}

/**
 * Of a TxnResponse, whether the compares held and the revision of the answer; everything else
 * (each op's response) is skipped.
 *
 * @example const { succeeded, revision } = decodeTxnResponse(bytes);
 */
export function decodeTxnResponse(bytes: Uint8Array): { succeeded: boolean; revision: number } {
  const r = protobuf.Reader.create(bytes);
  let succeeded = false;
  let revision = 0;
  while (r.pos < r.len) {
    const t = r.uint32();
    const field = t >>> 3;
    if (field === RES_HEADER && (t & 7) === LEN) revision = headerRevision(r);
    else if (field === RES_SUCCEEDED && (t & 7) === VARINT) succeeded = r.bool();
    else r.skipType(t & 7);
  }
  return { succeeded, revision };
}

/** The gRPC method: `Watch.Watch`, a stream each way. */
export const WATCH_METHOD = '/etcdserverpb.Watch/Watch';

/**
 * What romanad asks on a watch stream: to watch keys `key` up to `rangeEnd` (from
 * `startRevision`, or from now), or for a progress report.
 */
export type WatchRequest =
  { create: { key: Buffer; rangeEnd: Buffer; startRevision?: number } } | { progress: true };

// WatchRequest and WatchCreateRequest
const WATCH_CREATE = 1;
const WATCH_PROGRESS = 3;
const CREATE_KEY = 1;
const CREATE_RANGE_END = 2;
const CREATE_START_REVISION = 3;

/** @example encodeWatchRequest({ progress: true }) */
export function encodeWatchRequest(req: WatchRequest): Buffer {
  const w = protobuf.Writer.create();
  if ('progress' in req) {
    w.uint32(tag(WATCH_PROGRESS, LEN)).uint32(0);
  } else {
    const c = req.create;
    w.uint32(tag(WATCH_CREATE, LEN)).fork();
    w.uint32(tag(CREATE_KEY, LEN)).bytes(c.key);
    w.uint32(tag(CREATE_RANGE_END, LEN)).bytes(c.rangeEnd);
    if (c.startRevision !== undefined) {
      w.uint32(tag(CREATE_START_REVISION, VARINT)).int64(c.startRevision);
    }
    w.ldelim();
  }
  return asBuffer(w.finish());
}

/** One change a watch reports; `key` and `value` share the message's memory. */
export interface WireEvent {
  put: boolean;
  key: Buffer;
  value: Buffer;
  modRevision: number;
}

/** What romanad reads of a WatchResponse. */
export interface WatchResponse {
  /** The header's revision: how far the answering member has got. */
  revision: number;
  created: boolean;
  canceled: boolean;
  cancelReason: string;
  /** Non-zero: the revision asked for was compacted; the oldest one left. */
  compactRevision: number;
  events: WireEvent[];
}

// WatchResponse, Event and KeyValue
const WRES_CREATED = 3;
const WRES_CANCELED = 4;
const WRES_COMPACT_REVISION = 5;
const WRES_CANCEL_REASON = 6;
const WRES_EVENTS = 11;
const EVENT_TYPE = 1;
const EVENT_KV = 2;
/** `Event.EventType.DELETE`; `PUT` is 0. */
const TYPE_DELETE = 1;
const KV_KEY = 1;
const KV_MOD_REVISION = 3;
const KV_VALUE = 5;

/** @example const res = decodeWatchResponse(bytes); for (const ev of res.events) … */
export function decodeWatchResponse(bytes: Uint8Array): WatchResponse {
  const r = protobuf.Reader.create(bytes);
  const res: WatchResponse = {
    revision: 0,
    created: false,
    canceled: false,
    cancelReason: '',
    compactRevision: 0,
    events: [],
  };
  while (r.pos < r.len) {
    const t = r.uint32();
    switch (t) {
      case tag(RES_HEADER, LEN):
        res.revision = headerRevision(r);
        break;
      case tag(WRES_CREATED, VARINT):
        res.created = r.bool();
        break;
      case tag(WRES_CANCELED, VARINT):
        res.canceled = r.bool();
        break;
      case tag(WRES_COMPACT_REVISION, VARINT):
        res.compactRevision = int64(r);
        break;
      case tag(WRES_CANCEL_REASON, LEN):
        res.cancelReason = r.string();
        break;
      case tag(WRES_EVENTS, LEN):
        res.events.push(event(r));
        break;
      default:
        r.skipType(t & 7);
    }
  }
  return res;
}

/** An Event (length-delimited, at `r`): its type, and its KeyValue's key, value and revision. */
function event(r: protobuf.Reader): WireEvent {
  const end = r.uint32() + r.pos;
  const ev: WireEvent = { put: true, key: EMPTY, value: EMPTY, modRevision: 0 };
  while (r.pos < end) {
    const t = r.uint32();
    if (t === tag(EVENT_TYPE, VARINT)) ev.put = r.int32() !== TYPE_DELETE;
    else if (t === tag(EVENT_KV, LEN)) {
      const kvEnd = r.uint32() + r.pos;
      while (r.pos < kvEnd) {
        const k = r.uint32();
        if (k === tag(KV_KEY, LEN)) ev.key = r.bytes() as Buffer;
        else if (k === tag(KV_VALUE, LEN)) ev.value = r.bytes() as Buffer;
        else if (k === tag(KV_MOD_REVISION, VARINT)) ev.modRevision = int64(r);
        else r.skipType(k & 7);
      }
    } else r.skipType(t & 7);
  }
  return ev;
}

const EMPTY = Buffer.alloc(0);

/** A ResponseHeader (length-delimited, at `r`): its revision. */
function headerRevision(r: protobuf.Reader): number {
  const end = r.uint32() + r.pos;
  let revision = 0;
  while (r.pos < end) {
    const h = r.uint32();
    if (h === tag(HEADER_REVISION, VARINT)) revision = int64(r);
    else r.skipType(h & 7);
  }
  return revision;
}

/** A 64-bit integer as a number: etcd's revisions stay far below 2^53. */
function int64(r: protobuf.Reader): number {
  return protobuf.util.LongBits.from(r.int64()).toNumber();
}

function asBuffer(out: Uint8Array): Buffer {
  return Buffer.isBuffer(out) ? out : Buffer.from(out.buffer, out.byteOffset, out.byteLength);
}
