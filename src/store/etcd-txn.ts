/**
 * The etcd transaction of `EtcdStore.txn`, on the wire without the client's object mapping.
 *
 * Through `etcd3`'s generic path, a transaction of 48 puts is turned into a message object and
 * checked field by field before it is encoded, and etcd's answer is turned back into objects in
 * full: one response per put, each with a header of four 64-bit numbers converted to text. A
 * romanad transaction needs none of that answer but whether it succeeded and its revision. So
 * the request is encoded here in one pass (compares on a key's modification revision, puts and
 * single-key deletes), and of the answer only the header's revision and `succeeded` are read;
 * the rest is skipped without being decoded. The call itself still goes through the client's
 * connection pool, with its endpoint choice, credentials and fault policies.
 *
 * Field numbers are those of etcd's `rpc.proto` (package `etcdserverpb`).
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
 * @example encodeTxn('/romana/', [{ key: 'hosts/h1', modRevision: 0 }], [{ type: 'put', key: 'hosts/h1', value: '{}' }])
 */
export function encodeTxn(
  prefix: string,
  compares: readonly Compare[],
  ops: readonly Op[],
): Buffer {
  const w = protobuf.Writer.create();
  for (const c of compares) {
    w.uint32(tag(TXN_COMPARE, LEN)).fork();
    w.uint32(tag(COMPARE_TARGET, VARINT)).int32(TARGET_MOD);
    w.uint32(tag(COMPARE_KEY, LEN)).string(prefix + c.key);
    w.uint32(tag(COMPARE_MOD_REVISION, VARINT)).int64(c.modRevision);
    w.ldelim();
  }
  for (const op of ops) {
    w.uint32(tag(TXN_SUCCESS, LEN)).fork();
    if (op.type === 'put') {
      w.uint32(tag(OP_PUT, LEN)).fork();
      w.uint32(tag(REQ_KEY, LEN)).string(prefix + op.key);
      w.uint32(tag(PUT_VALUE, LEN)).string(op.value);
    } else {
      w.uint32(tag(OP_DELETE_RANGE, LEN)).fork();
      w.uint32(tag(REQ_KEY, LEN)).string(prefix + op.key);
    }
    w.ldelim().ldelim();
  }
  const out = w.finish();
  return Buffer.isBuffer(out) ? out : Buffer.from(out.buffer, out.byteOffset, out.byteLength);
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
    if (field === RES_HEADER && (t & 7) === LEN) {
      const end = r.uint32() + r.pos;
      while (r.pos < end) {
        const h = r.uint32();
        if (h >>> 3 === HEADER_REVISION && (h & 7) === VARINT)
          revision = protobuf.util.LongBits.from(r.int64()).toNumber();
        else r.skipType(h & 7);
      }
    } else if (field === RES_SUCCEEDED && (t & 7) === VARINT) succeeded = r.bool();
    else r.skipType(t & 7);
  }
  return { succeeded, revision };
}
