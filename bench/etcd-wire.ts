/**
 * The etcd transaction codec of `src/store/etcd-wire.ts` against the client's generic one (the
 * `etcd3` client's proto-loader path, which romanad used before): encoding one transaction of a
 * full address batch (90 compares, 48 puts) and decoding etcd's answer to it (48 put responses,
 * each with its header). Median of several samples, each after a warm-up, in this process.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { loadSync } from '@grpc/proto-loader';
import { decodeTxnResponse, encodeTxn } from '../src/store/etcd-wire.ts';
import type { Op } from '../src/store/store.ts';
import type { Report } from './run.ts';
import { reportSpread } from './stats.ts';

interface Codec {
  requestSerialize(v: unknown): Buffer;
  responseSerialize(v: unknown): Buffer;
  responseDeserialize(b: Buffer): unknown;
}

const require = createRequire(import.meta.url);
const PREFIX = '/romana/';
const compares = Array.from({ length: 90 }, (_, i) => ({
  key: `v1/generations/3/hosts/host-${i}`,
  modRevision: 123_456 + i,
}));
const ops: Op[] = Array.from({ length: 48 }, (_, i) => ({
  type: 'put',
  key: `addresses/pod-${i}`,
  value: JSON.stringify({ ip: `10.1.${i}.3`, host: `host-${i}`, network: 'pods' }),
}));

/** µs per call of `f`, median of 7 samples of 500 calls. */
function sample(f: () => unknown): number[] {
  const out: number[] = [];
  for (let s = 0; s < 7; s++) {
    for (let i = 0; i < 100; i++) f();
    const t = process.hrtime.bigint();
    for (let i = 0; i < 500; i++) f();
    out.push(Number(process.hrtime.bigint() - t) / 500 / 1000);
  }
  return out;
}

export async function run(report: Report): Promise<void> {
  const proto = path.join(path.dirname(require.resolve('etcd3')), '../proto/rpc.proto');
  const def = loadSync(proto, {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  }) as unknown as Record<string, Record<string, Codec>>;
  const txn = def['etcdserverpb.KV']!['Txn']!;
  const header = {
    cluster_id: '14841639068965178418',
    member_id: '2',
    revision: '999',
    raft_term: '3',
  };
  const answer = txn.responseSerialize({
    header,
    succeeded: true,
    responses: ops.map(() => ({ response_put: { header } })),
  });
  const generic = () =>
    txn.requestSerialize({
      compare: compares.map((c) => ({
        key: Buffer.from(PREFIX + c.key),
        target: 'Mod',
        result: 'Equal',
        mod_revision: c.modRevision,
      })),
      success: ops.map((op) => ({
        request_put: {
          key: Buffer.from(PREFIX + op.key),
          value: Buffer.from(op.type === 'put' ? op.value : ''),
        },
      })),
      failure: [],
    });
  const encGeneric = sample(generic);
  const encOurs = sample(() => encodeTxn(PREFIX, compares, ops));
  const decGeneric = sample(() => txn.responseDeserialize(answer));
  const decOurs = sample(() => decodeTxnResponse(answer));
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  reportSpread(report, 'encode_generic_us_per_txn', encGeneric, 'µs', 'etcd3 client path');
  reportSpread(report, 'encode_us_per_txn', encOurs, 'µs');
  report('encode_ratio_to_generic', median(encOurs) / median(encGeneric), 'ratio');
  reportSpread(report, 'decode_generic_us_per_txn', decGeneric, 'µs', 'etcd3 client path');
  reportSpread(report, 'decode_us_per_txn', decOurs, 'µs');
  report('decode_ratio_to_generic', median(decOurs) / median(decGeneric), 'ratio');
}
