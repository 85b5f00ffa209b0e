/**
 * The embedded store's file formats read and written in memory (no files): frames, records,
 * snapshots, and how the reader tells a torn tail from damage. The store's own tests
 * (embedded*.test.ts) do the same through real files; these take milliseconds.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  crc32,
  decodeRecord,
  encodeFrame,
  encodeLogFrame,
  encodeRecord,
  LOG_MAGIC,
  LOG_MAGIC_V1,
  SNAPSHOT_MAGIC,
  snapshotFrames,
  tableCrc32,
  type LogRecord,
} from './wal.ts';
import { findNextRecord, logVersion, salvageLog, scanLog, scanSnapshot } from './wal-scan.ts';

const rec = (revision: number, ...kv: Array<string | null>): LogRecord => {
  const changes = [];
  for (let i = 0; i < kv.length; i += 2) changes.push({ key: kv[i]!, value: kv[i + 1]! });
  return { revision, changes };
};
const log = (...records: LogRecord[]) => Buffer.concat([LOG_MAGIC, ...records.map(encodeRecord)]);
/** A first-format frame: length and payload checksum only. */
const v1Frame = (r: LogRecord) =>
  encodeFrame(
    Buffer.from(JSON.stringify([r.revision, ...r.changes.flatMap((c) => [c.key, c.value])])),
  );
const logV1 = (...records: LogRecord[]) => Buffer.concat([LOG_MAGIC_V1, ...records.map(v1Frame)]);
const refused = (payload: string) => () => decodeRecord(Buffer.from(payload));

describe('log and snapshot frames', () => {
  it('checksums with CRC-32 (IEEE)', () => {
    assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
    assert.equal(crc32(Buffer.alloc(0)), 0);
  });

  it("computes the same CRC-32 without zlib's (the fallback for Node < 20.15)", () => {
    assert.equal(tableCrc32(Buffer.from('123456789')), 0xcbf43926);
    assert.equal(tableCrc32(Buffer.alloc(0)), 0);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const b = Buffer.from(bytes);
        assert.equal(tableCrc32(b), crc32(b));
      }),
      { numRuns: 200 },
    );
  });

  it('frames a payload as length, checksum, payload; a log frame adds the header checksum', () => {
    const payload = Buffer.from('[1,"a","x"]');
    const f = encodeFrame(payload);
    assert.equal(f.length, 8 + payload.length);
    assert.equal(f.readUInt32LE(0), payload.length);
    assert.equal(f.readUInt32LE(4), crc32(payload));
    assert.deepEqual(f.subarray(8), payload);
    const g = encodeLogFrame(payload);
    assert.equal(g.length, 12 + payload.length);
    assert.equal(g.readUInt32LE(0), payload.length);
    assert.equal(g.readUInt32LE(4), crc32(payload));
    assert.equal(g.readUInt32LE(8), crc32(g.subarray(0, 8)));
    assert.deepEqual(g.subarray(12), payload);
  });

  it('writes a record as [revision, key, value…] and reads back any record it wrote', () => {
    assert.deepEqual(
      encodeRecord(rec(3, 'a', '1', 'b', null))
        .subarray(12)
        .toString(),
      '[3,"a","1","b",null]',
    );
    const change = fc
      .tuple(fc.string({ minLength: 1 }), fc.option(fc.string()))
      .map(([key, value]) => ({ key, value }));
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 ** 40 }),
        fc.array(change, { minLength: 1 }),
        (r, cs) => {
          const record = { revision: r, changes: cs };
          assert.deepEqual(decodeRecord(encodeRecord(record).subarray(12)), record);
          assert.deepEqual(scanLog(log(record)).records, [{ offset: 8, record }]);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('refuses a payload that is not a record, quoting it', () => {
    for (const bad of [
      '{}',
      '[]',
      '[0,"a","1"]',
      '[-1,"a","1"]',
      '[1.5,"a","1"]',
      '["1","a","1"]',
      '[1]',
      '[1,"a"]',
      '[1,"a","1","b"]',
    ]) {
      assert.throws(refused(bad), (e: Error) => e.message === `malformed log record ${bad}`, bad);
    }
    assert.throws(refused(`[1,"${'x'.repeat(100)}"]`), (e: Error) =>
      e.message.endsWith('x'.repeat(72)),
    );
    for (const bad of [
      '[7,1,"1"]',
      '[7,null,"1"]',
      '[7,"a",1]',
      '[7,"a",false]',
      '[7,"a","1",2,"b"]',
    ]) {
      assert.throws(refused(bad), /^Error: malformed change in log record at revision 7$/, bad);
    }
    assert.deepEqual(decodeRecord(Buffer.from(`[${2 ** 53 - 1},"a",null]`)).revision, 2 ** 53 - 1);
    assert.throws(refused(`[${2 ** 53},"a",null]`), /malformed log record/);
  });

  it('writes a snapshot as magic, header, chunks of 1000 rows and an end marker', () => {
    const kvs = Array.from({ length: 2001 }, (_, i) => ({
      key: `k${String(i).padStart(4, '0')}`,
      value: `v${i}`,
      modRevision: i + 2,
      createRevision: i + 1,
    }));
    const frames = [...snapshotFrames(kvs, 9000)];
    assert.equal(frames.length, 1 + 1 + 3 + 1);
    assert.deepEqual(frames[0], SNAPSHOT_MAGIC);
    const json = (f: Buffer) => JSON.parse(f.subarray(8).toString()) as unknown;
    assert.deepEqual(json(frames[1]!), { revision: 9000, count: 2001 });
    assert.deepEqual(
      frames.slice(2, 5).map((f) => (json(f) as unknown[]).length),
      [1000, 1000, 1],
    );
    assert.deepEqual((json(frames[2]!) as unknown[])[0], ['k0000', 'v0', 2, 1]);
    assert.deepEqual(json(frames[5]!), { end: true, count: 2001 });
    const snap = scanSnapshot(Buffer.concat(frames));
    assert.deepEqual(snap, { revision: 9000, count: 2001, kvs, damaged: [], complete: true });
    const empty = [...snapshotFrames([], 4)];
    assert.equal(empty.length, 3);
    assert.deepEqual(scanSnapshot(Buffer.concat(empty)), {
      revision: 4,
      count: 0,
      kvs: [],
      damaged: [],
      complete: true,
    });
  });
});

describe('reading a log back', () => {
  const r1 = rec(1, 'a', '1');
  const r2 = rec(2, 'b', '2', 'a', null);
  const r3 = rec(3, 'c', '3');
  const good = log(r1, r2, r3);
  const at2 = 8 + encodeRecord(r1).length;
  const at3 = at2 + encodeRecord(r2).length;

  it('tells the format by its magic; a file cut inside the magic is an empty log', () => {
    assert.equal(logVersion(good), 2);
    assert.equal(logVersion(logV1(r1)), 1);
    assert.equal(logVersion(Buffer.alloc(0)), 0);
    assert.equal(logVersion(LOG_MAGIC.subarray(0, 5)), 0);
    assert.equal(logVersion(LOG_MAGIC_V1.subarray(0, 7)), 0);
    assert.equal(logVersion(Buffer.from('RMNX')), undefined);
    assert.equal(logVersion(Buffer.from('RMNLOG3\n')), undefined);
    assert.deepEqual(scanLog(LOG_MAGIC.subarray(0, 3)), {
      version: 2,
      records: [],
      end: 0,
      tail: { kind: 'clean' },
    });
    assert.deepEqual(scanLog(Buffer.from('garbage!garbage')), {
      version: 2,
      records: [],
      end: 0,
      tail: {
        kind: 'damaged',
        offset: 0,
        reason: 'not a Romana log (bad magic)',
        nextValid: undefined,
      },
    });
  });

  it('reads every record of an intact log with its offset', () => {
    const scan = scanLog(good);
    assert.deepEqual(scan, {
      version: 2,
      records: [
        { offset: 8, record: r1 },
        { offset: at2, record: r2 },
        { offset: at3, record: r3 },
      ],
      end: good.length,
      tail: { kind: 'clean' },
    });
    assert.deepEqual(scanLog(LOG_MAGIC).tail, { kind: 'clean' });
    assert.deepEqual(
      scanLog(logV1(r1, r2)).records.map((r) => r.record),
      [r1, r2],
    );
  });

  it('drops as torn a tail cut anywhere inside the last record, or zeros', () => {
    for (let cut = at3 + 1; cut < good.length; cut++) {
      const scan = scanLog(good.subarray(0, cut));
      assert.deepEqual(scan.tail, { kind: 'torn', offset: at3, bytes: cut - at3 }, `cut at ${cut}`);
      assert.equal(scan.end, at3);
      assert.equal(scan.records.length, 2);
    }
    const zeros = Buffer.concat([good, Buffer.alloc(40)]);
    assert.deepEqual(scanLog(zeros).tail, { kind: 'torn', offset: good.length, bytes: 40 });
  });

  it('refuses a flipped byte anywhere in a record, naming what failed and where the next record starts', () => {
    const reasons = new Set<string>();
    for (let i = at2; i < at3; i++) {
      const bad = Buffer.from(good);
      bad[i] = bad[i]! ^ 0x01;
      const tail = scanLog(bad).tail;
      assert.equal(tail.kind, 'damaged', `byte ${i}`);
      if (tail.kind !== 'damaged') continue;
      assert.equal(tail.offset, at2);
      assert.equal(tail.nextValid, at3, `byte ${i}`);
      reasons.add(tail.reason);
    }
    assert.deepEqual([...reasons].sort(), [
      'a frame header that fails its checksum',
      'a record that fails its checksum',
    ]);
    // In the last record too: a flip never changes the length, so it is never torn.
    const last = Buffer.from(good);
    last[good.length - 2] = last[good.length - 2]! ^ 0x40;
    assert.deepEqual(scanLog(last).tail, {
      kind: 'damaged',
      offset: at3,
      reason: 'a record that fails its checksum',
      nextValid: undefined,
    });
  });

  it('refuses garbage after the last record, and a frame that checks out but holds no record', () => {
    const junk = Buffer.concat([good, Buffer.from('not a frame at all')]);
    assert.deepEqual(scanLog(junk).tail, {
      kind: 'damaged',
      offset: good.length,
      reason: 'a frame header that fails its checksum',
      nextValid: undefined,
    });
    const notRecord = Buffer.concat([
      good,
      encodeLogFrame(Buffer.from('{"x":1}')),
      encodeRecord(rec(4, 'd', '4')),
    ]);
    assert.deepEqual(scanLog(notRecord).tail, {
      kind: 'damaged',
      offset: good.length,
      reason: 'a frame that checks out but is not a log record',
      nextValid: good.length + 12 + 7,
    });
    // A header that checks out but claims an empty payload or one larger than any frame.
    for (const len of [0, 256 * 1024 * 1024 + 1]) {
      const h = Buffer.alloc(12);
      h.writeUInt32LE(len, 0);
      h.writeUInt32LE(0, 4);
      h.writeUInt32LE(crc32(h.subarray(0, 8)), 8);
      const tail = scanLog(Buffer.concat([good, h, Buffer.from('x')])).tail;
      assert.equal(tail.kind, 'damaged', `length ${len}`);
      assert.equal(
        tail.kind === 'damaged' && tail.reason,
        'a frame header that fails its checksum',
      );
    }
  });

  it('in a first-format log, takes a length past the end as torn unless an intact record follows', () => {
    const v1 = logV1(r1, r2, r3);
    const v1at3 = v1.length - v1Frame(r3).length;
    assert.deepEqual(scanLog(v1.subarray(0, v1.length - 1)).tail, {
      kind: 'torn',
      offset: v1at3,
      bytes: v1.length - 1 - v1at3,
    });
    const v1at2 = 8 + v1Frame(r1).length;
    const bad = Buffer.from(v1);
    bad.writeUInt32LE(10_000, v1at2); // r2's length now runs past the end
    assert.deepEqual(scanLog(bad).tail, {
      kind: 'damaged',
      offset: v1at2,
      reason: 'a frame whose length runs past the end of the file',
      nextValid: v1at3,
    });
    const huge = Buffer.from(v1);
    huge.writeUInt32LE(0xffffffff, v1at2);
    assert.equal(scanLog(huge).tail.kind, 'damaged');
    const zeroLen = Buffer.from(v1);
    zeroLen.writeUInt32LE(0, v1at2);
    assert.deepEqual(scanLog(zeroLen).tail, {
      kind: 'damaged',
      offset: v1at2,
      reason: 'a record that fails its checksum',
      nextValid: v1at3,
    });
  });

  it('finds the next intact record after damage, of either format', () => {
    assert.equal(findNextRecord(good, 0, 2), 8);
    assert.equal(findNextRecord(good, 9, 2), at2);
    assert.equal(findNextRecord(good, at3, 2), at3);
    assert.equal(findNextRecord(good, at3 + 1, 2), undefined);
    assert.equal(findNextRecord(good, 0, 1), undefined);
    const v1 = logV1(r1, r2);
    assert.equal(findNextRecord(v1, 1, 1), 8);
    assert.equal(findNextRecord(v1, 9, 1), 8 + v1Frame(r1).length);
    // The last frame exactly at the end of the file is found.
    assert.equal(findNextRecord(v1.subarray(8 + v1Frame(r1).length), 0, 1), 0);
  });

  it('salvages every intact record around damaged stretches and names each stretch', () => {
    const bad = Buffer.from(good);
    bad[at2 + 14] = bad[at2 + 14]! ^ 0xff;
    assert.deepEqual(salvageLog(bad), {
      version: 2,
      records: [
        { offset: 8, record: r1 },
        { offset: at3, record: r3 },
      ],
      damaged: [{ offset: at2, end: at3, reason: 'a record that fails its checksum' }],
      torn: undefined,
    });
    assert.deepEqual(salvageLog(good.subarray(0, good.length - 3)), {
      version: 2,
      records: [
        { offset: 8, record: r1 },
        { offset: at2, record: r2 },
      ],
      damaged: [],
      torn: { offset: at3, bytes: good.length - 3 - at3 },
    });
    const tail = Buffer.from(good);
    tail[good.length - 1] = tail[good.length - 1]! ^ 1;
    assert.deepEqual(salvageLog(tail).damaged, [
      { offset: at3, end: good.length, reason: 'a record that fails its checksum' },
    ]);
    assert.deepEqual(salvageLog(Buffer.alloc(3)), {
      version: undefined,
      records: [],
      damaged: [{ offset: 0, end: 3, reason: 'not a Romana log (bad magic)' }],
      torn: undefined,
    });
    assert.deepEqual(salvageLog(LOG_MAGIC.subarray(0, 4)), {
      version: 2,
      records: [],
      damaged: [],
      torn: undefined,
    });
  });

  it('salvages a log whose magic is damaged in the format its records have', () => {
    const bad = Buffer.from(good);
    bad[0] = 0;
    assert.deepEqual(salvageLog(bad), {
      version: undefined,
      records: [
        { offset: 8, record: r1 },
        { offset: at2, record: r2 },
        { offset: at3, record: r3 },
      ],
      damaged: [{ offset: 0, end: 8, reason: 'not a Romana log (bad magic)' }],
      torn: undefined,
    });
    const v1 = logV1(r1, r2);
    v1[3] = 0x21;
    const s = salvageLog(v1);
    assert.deepEqual(
      s.records.map((r) => r.record),
      [r1, r2],
    );
    assert.deepEqual(s.damaged, [{ offset: 0, end: 8, reason: 'not a Romana log (bad magic)' }]);
    assert.equal(s.version, undefined);
  });
});

describe('reading a snapshot back', () => {
  const kvs = [
    { key: 'a', value: '1', modRevision: 3, createRevision: 1 },
    { key: 'b', value: '2', modRevision: 5, createRevision: 5 },
  ];
  const frames = [...snapshotFrames(kvs, 5)];
  const whole = Buffer.concat(frames);
  const offsets = frames.map((_, i) => Buffer.concat(frames.slice(0, i)).length);

  it('refuses a snapshot with a damaged chunk, keeping the header and naming the stretch', () => {
    const bad = Buffer.from(whole);
    bad[offsets[2]! + 10] = bad[offsets[2]! + 10]! ^ 1;
    assert.deepEqual(scanSnapshot(bad), {
      revision: 5,
      count: 2,
      kvs: [],
      damaged: [
        { offset: offsets[2], end: offsets[3], reason: 'a record that fails its checksum' },
      ],
      complete: false,
    });
  });

  it('refuses a snapshot cut short, with no end marker, or with a bad magic', () => {
    const cut = scanSnapshot(Buffer.concat(frames.slice(0, 3)));
    assert.deepEqual(cut.damaged, [
      {
        offset: whole.length - frames[3]!.length,
        end: whole.length - frames[3]!.length,
        reason: 'incomplete: the header says 2 keys, 2 found, no end marker',
      },
    ]);
    assert.equal(cut.complete, false);
    const noHead = scanSnapshot(Buffer.concat([frames[0]!, frames[2]!, frames[3]!]));
    assert.equal(noHead.damaged[0]?.reason, 'incomplete: the header says ? keys, 2 found');
    const magic = Buffer.from(whole);
    magic[1] = 0;
    const m = scanSnapshot(magic);
    assert.deepEqual(m.damaged, [
      { offset: 0, end: 8, reason: 'not a Romana snapshot (bad magic)' },
    ]);
    assert.deepEqual(m.kvs, kvs);
    assert.equal(m.revision, 5);
    const empty = scanSnapshot(Buffer.alloc(0));
    assert.equal(empty.complete, false);
    assert.deepEqual(empty.damaged, [
      { offset: 0, end: 0, reason: 'not a Romana snapshot (bad magic)' },
    ]);
  });

  it('refuses data after the end marker, a second header, and frames that are not snapshot parts', () => {
    const after = scanSnapshot(Buffer.concat([whole, frames[2]!]));
    assert.deepEqual(after.damaged, [
      {
        offset: whole.length,
        end: whole.length + frames[2]!.length,
        reason: 'data after the end marker',
      },
    ]);
    const second = scanSnapshot(
      Buffer.concat([frames[0]!, frames[1]!, frames[1]!, frames[2]!, frames[3]!]),
    );
    assert.deepEqual(second.damaged, [
      { offset: offsets[2], end: offsets[2]! + frames[1]!.length, reason: 'a second header' },
    ]);
    for (const part of [
      'nonsense',
      'null',
      '[["a","1",1]]',
      '[[1,"1",1,1]]',
      '[["a",1,1,1]]',
      '[["a","1",1.5,1]]',
      '[["a","1",1,"1"]]',
      '["a"]',
      '{"revision":1}',
      '{"count":1}',
      '{"count":1,"revision":"1"}',
      '{"end":1,"count":1}',
    ]) {
      const odd = scanSnapshot(
        Buffer.concat([
          frames[0]!,
          frames[1]!,
          encodeFrame(Buffer.from(part)),
          frames[2]!,
          frames[3]!,
        ]),
      );
      assert.deepEqual(
        odd.damaged.map((d) => d.reason),
        ['a frame that is not part of a snapshot'],
        part,
      );
      assert.equal(odd.damaged[0]?.end, offsets[2]! + 8 + part.length, part);
      assert.deepEqual(odd.kvs, kvs, part);
    }
  });

  it('refuses counts that disagree', () => {
    const lying = Buffer.concat([
      frames[0]!,
      encodeFrame(Buffer.from('{"revision":5,"count":3}')),
      frames[2]!,
      encodeFrame(Buffer.from('{"end":true,"count":3}')),
    ]);
    assert.deepEqual(
      scanSnapshot(lying).damaged.map((d) => d.reason),
      ['incomplete: the header says 3 keys, 2 found'],
    );
    const endDiffers = Buffer.concat([
      frames[0]!,
      frames[1]!,
      frames[2]!,
      encodeFrame(Buffer.from('{"end":true,"count":1}')),
    ]);
    assert.equal(scanSnapshot(endDiffers).complete, false);
  });
});
