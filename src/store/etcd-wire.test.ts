/**
 * The hand-laid transaction messages against etcd's own schema: `rpc.proto` (as shipped with the
 * `etcd3` client) read by protobufjs decodes what `encodeTxn` wrote, and encodes the answers
 * `decodeTxnResponse` reads. A real etcd runs them in `etcd.test.ts`.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import protobuf from 'protobufjs';
import {
  decodeTxnResponse,
  decodeWatchResponse,
  encodeTxn,
  encodeWatchRequest,
} from './etcd-wire.ts';
import type { Compare, Op } from './store.ts';

const require = createRequire(import.meta.url);
const proto = path.join(path.dirname(require.resolve('etcd3')), '../proto/rpc.proto');
const root = new protobuf.Root().loadSync(proto, { keepCase: true });
const TxnRequest = root.lookupType('etcdserverpb.TxnRequest');
const TxnResponse = root.lookupType('etcdserverpb.TxnResponse');
const WatchRequest = root.lookupType('etcdserverpb.WatchRequest');
const WatchResponse = root.lookupType('etcdserverpb.WatchResponse');
const asObject = { longs: Number, enums: String, bytes: String, defaults: false, oneofs: true };

const key = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 });
const compare = fc.record({ key, modRevision: fc.integer({ min: 0, max: 2 ** 53 - 1 }) });
const op = fc.oneof(
  fc.record({ type: fc.constant('put' as const), key, value: fc.string({ unit: 'grapheme' }) }),
  fc.record({ type: fc.constant('delete' as const), key }),
);
const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

describe('etcd transaction on the wire', () => {
  test('etcd reads every compare and every op as written, keys under the prefix', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('', '/romana/'),
        fc.array(compare, { maxLength: 6 }),
        fc.array(op, { maxLength: 6 }),
        (prefix, compares: Compare[], ops: Op[]) => {
          const got = TxnRequest.toObject(
            TxnRequest.decode(encodeTxn(prefix, compares, ops)),
            asObject,
          );
          const want: Record<string, unknown> = {};
          if (compares.length > 0) {
            want['compare'] = compares.map((c) => ({
              target: 'Mod',
              key: b64(prefix + c.key),
              mod_revision: c.modRevision,
              target_union: 'mod_revision',
            }));
          }
          if (ops.length > 0) {
            want['success'] = ops.map((o) =>
              o.type === 'put'
                ? {
                    request_put: {
                      key: b64(prefix + o.key),
                      value: b64(o.value),
                    },
                    request: 'request_put',
                  }
                : {
                    request_delete_range: { key: b64(prefix + o.key) },
                    request: 'request_delete_range',
                  },
            );
          }
          assert.deepEqual(got, want);
        },
      ),
    );
  });

  test('lengths of more than one varint byte: long keys and values', () => {
    const long = 'k'.repeat(200);
    const value = 'é'.repeat(10_000);
    const got = TxnRequest.toObject(
      TxnRequest.decode(
        encodeTxn(
          '/romana/',
          [{ key: long, modRevision: 2 ** 40 }],
          [
            { type: 'put', key: long, value },
            { type: 'delete', key: long },
          ],
        ),
      ),
      asObject,
    );
    assert.deepEqual(got, {
      compare: [
        {
          target: 'Mod',
          key: b64(`/romana/${long}`),
          mod_revision: 2 ** 40,
          target_union: 'mod_revision',
        },
      ],
      success: [
        { request_put: { key: b64(`/romana/${long}`), value: b64(value) }, request: 'request_put' },
        { request_delete_range: { key: b64(`/romana/${long}`) }, request: 'request_delete_range' },
      ],
    });
  });

  test('a compare result is EQUAL and nothing runs on failure', () => {
    const msg = TxnRequest.decode(
      encodeTxn('/p/', [{ key: 'a', modRevision: 0 }], [{ type: 'delete', key: 'a' }]),
    );
    const o = TxnRequest.toObject(msg, { ...asObject, defaults: true });
    assert.equal(o['compare'][0].result, 'Equal');
    assert.equal(o['compare'][0].mod_revision, 0);
    assert.equal(o['compare'][0].target_union, 'mod_revision');
    assert.deepEqual(o['failure'], []);
  });

  test("the answer's revision and outcome are read, its op responses skipped", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 ** 53 - 1 }),
        fc.boolean(),
        fc.nat({ max: 60 }),
        (revision, succeeded, puts) => {
          const header = {
            cluster_id: '14841639068965178418',
            member_id: '10276657743932975437',
            revision,
            raft_term: 7,
          };
          const bytes = TxnResponse.encode(
            TxnResponse.fromObject({
              header,
              succeeded,
              responses: Array.from({ length: puts }, () => ({ response_put: { header } })),
            }),
          ).finish();
          assert.deepEqual(decodeTxnResponse(bytes), { succeeded, revision });
        },
      ),
    );
  });

  test('fields in any order, unknown fields skipped; an empty answer is a failed one', () => {
    // responses first, then succeeded, then the header, then a field etcd may add one day.
    const w = protobuf.Writer.create();
    w.uint32((3 << 3) | 2).bytes(Buffer.from([0x12, 0x00]));
    w.uint32((2 << 3) | 0).bool(true);
    w.uint32((1 << 3) | 2)
      .fork()
      .uint32((3 << 3) | 0)
      .int64(42)
      .uint32((9 << 3) | 5)
      .fixed32(1)
      .ldelim();
    w.uint32((15 << 3) | 1).fixed64(3);
    assert.deepEqual(decodeTxnResponse(w.finish()), { succeeded: true, revision: 42 });
    assert.deepEqual(decodeTxnResponse(new Uint8Array()), { succeeded: false, revision: 0 });
  });

  test('etcd reads a watch creation and a progress request as written', () => {
    const key = Buffer.from('/romana/');
    const rangeEnd = Buffer.from('/romana0');
    for (const startRevision of [undefined, 1, 2 ** 40]) {
      const got = WatchRequest.toObject(
        WatchRequest.decode(
          encodeWatchRequest({
            create: { key, rangeEnd, ...(startRevision === undefined ? {} : { startRevision }) },
          }),
        ),
        asObject,
      );
      assert.deepEqual(got, {
        create_request: {
          key: key.toString('base64'),
          range_end: rangeEnd.toString('base64'),
          ...(startRevision === undefined ? {} : { start_revision: startRevision }),
        },
        request_union: 'create_request',
      });
    }
    const progress = WatchRequest.toObject(
      WatchRequest.decode(encodeWatchRequest({ progress: true })),
      asObject,
    );
    assert.deepEqual(progress, { progress_request: {}, request_union: 'progress_request' });
  });

  test('a watch answer gives its revision, state and every event as etcd wrote them', () => {
    const bytesOf = fc.uint8Array({ maxLength: 24 });
    const kv = fc.record({
      key: bytesOf.filter((b) => b.length > 0),
      value: bytesOf,
      create_revision: fc.integer({ min: 1, max: 2 ** 53 - 1 }),
      mod_revision: fc.integer({ min: 1, max: 2 ** 53 - 1 }),
      version: fc.integer({ min: 1, max: 2 ** 40 }),
      lease: fc.constantFrom(0, '7587883212423829517'),
    });
    const ev = fc.record({
      type: fc.constantFrom('Put', 'Delete'),
      kv,
      prev_kv: fc.option(kv, { nil: undefined }),
    });
    fc.assert(
      fc.property(
        fc.record({
          revision: fc.integer({ min: 1, max: 2 ** 53 - 1 }),
          created: fc.boolean(),
          canceled: fc.boolean(),
          compact_revision: fc.nat(),
          cancel_reason: fc.string(),
          events: fc.array(ev, { maxLength: 5 }),
        }),
        (r) => {
          const msg = WatchResponse.fromObject({
            header: {
              cluster_id: '14841639068965178418',
              member_id: 9,
              revision: r.revision,
              raft_term: 3,
            },
            watch_id: 0,
            created: r.created,
            canceled: r.canceled,
            compact_revision: r.compact_revision,
            cancel_reason: r.cancel_reason,
            events: r.events,
          });
          const got = decodeWatchResponse(WatchResponse.encode(msg).finish());
          assert.deepEqual(
            {
              ...got,
              events: got.events.map((e) => ({ ...e, key: [...e.key], value: [...e.value] })),
            },
            {
              revision: r.revision,
              created: r.created,
              canceled: r.canceled,
              cancelReason: r.cancel_reason,
              compactRevision: r.compact_revision,
              events: r.events.map((e) => ({
                put: e.type === 'Put',
                key: [...e.kv.key],
                value: [...e.kv.value],
                modRevision: e.kv.mod_revision,
              })),
            },
          );
        },
      ),
    );
  });
});
