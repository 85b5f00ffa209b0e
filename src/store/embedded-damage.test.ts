/**
 * Damaged files of the embedded store: a byte flipped anywhere in the log or the snapshot must
 * either leave every acknowledged write in place or make the open refuse, naming the file and
 * the offset; a torn tail (a write cut short by a crash) is dropped and the store opens.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { isRomanaError } from '../errors.ts';
import { EmbeddedStore } from './embedded.ts';
import { LOG_MAGIC, LOG_MAGIC_V1, encodeFrame } from './wal.ts';

const root = await fs.mkdtemp(path.join(os.tmpdir(), 'romana-store-damage-'));
after(() => fs.rm(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = async (): Promise<string> => {
  const d = path.join(root, `d${dirs++}`);
  await fs.mkdir(d);
  return d;
};

/** A store after a run of acknowledged writes: its files, and what each write returned. */
interface Fixture {
  files: Map<string, Buffer>;
  acked: Map<string, { value: string; revision: number }>;
  last: number;
}

const OPTS = { compactLogBytes: 6000, historyRevisions: 40 };

/**
 * 240 acknowledged writes of address-like keys; the log is compacted several times, so the
 * directory holds a snapshot, history records at or below it and records after it.
 */
async function makeFixture(): Promise<Fixture> {
  const dir = await freshDir();
  const store = await EmbeddedStore.open(dir, OPTS);
  const acked = new Map<string, { value: string; revision: number }>();
  let last = 0;
  for (let i = 0; i < 240; i++) {
    const key = `addresses/pod-${i % 150}`;
    const value = `{"ip":"10.0.${i >> 8}.${i & 255}","host":"h${i % 7}"}`;
    const r = await store.txn([], [{ type: 'put', key, value }]);
    assert.ok(r.succeeded);
    acked.set(key, { value, revision: r.revision });
    last = r.revision;
  }
  await store.close();
  const files = new Map<string, Buffer>();
  for (const f of ['snapshot', 'log']) files.set(f, await fs.readFile(path.join(dir, f)));
  return { files, acked, last };
}

async function writeFiles(dir: string, files: Map<string, Buffer>): Promise<void> {
  for (const [name, bytes] of files) await fs.writeFile(path.join(dir, name), bytes);
}

/** Opens `dir` and checks that every acknowledged write is there and no revision is reused. */
async function assertAllAcked(dir: string, fx: Fixture): Promise<void> {
  const store = await EmbeddedStore.open(dir, OPTS);
  try {
    assert.ok((await store.revision()) >= fx.last, 'revision went back');
    for (const [key, { value, revision }] of fx.acked) {
      const kv = await store.get(key);
      assert.equal(kv?.value, value, `acknowledged ${key} kept`);
      assert.equal(kv?.modRevision, revision, `acknowledged ${key} at revision ${revision}`);
    }
    const r = await store.txn([], [{ type: 'put', key: 'after', value: 'x' }]);
    assert.ok(r.revision > fx.last, `revision ${r.revision} handed out again`);
  } finally {
    await store.close();
  }
}

/** The refusal names the file and the offset and says how to recover. */
function isRefusal(file: string) {
  return (err: unknown): boolean =>
    isRomanaError(err) &&
    err.message.includes(file) &&
    /damaged at byte \d+/.test(err.message) &&
    err.message.includes('romanad store repair');
}

describe('EmbeddedStore with damaged files', () => {
  let fx: Fixture;
  before(async () => {
    fx = await makeFixture();
  });

  for (const name of ['log', 'snapshot']) {
    it(`either keeps every acknowledged write or refuses to open when a byte of the ${name} is flipped`, async () => {
      const size = fx.files.get(name)!.length;
      let refused = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 0, max: size - 1 }),
          fc.integer({ min: 1, max: 255 }),
          async (pos, mask) => {
            const dir = await freshDir();
            const files = new Map(fx.files);
            const bytes = Buffer.from(files.get(name)!);
            bytes[pos] = bytes[pos]! ^ mask;
            files.set(name, bytes);
            await writeFiles(dir, files);
            try {
              await EmbeddedStore.open(dir, OPTS).then((s) => s.close());
            } catch (err) {
              assert.ok(isRefusal(path.join(dir, name))(err), String(err));
              refused++;
              return;
            }
            await assertAllAcked(dir, fx);
          },
        ),
        { numRuns: 250 },
      );
      // Every byte of these files is covered by a checksum: a flip is always noticed.
      assert.equal(refused, 250);
    });
  }

  it('refuses a flipped byte in the last record of the log, which a crash cannot produce', async () => {
    const log = fx.files.get('log')!;
    for (const back of [1, 5, 20, 40]) {
      const dir = await freshDir();
      const bytes = Buffer.from(log);
      bytes[bytes.length - back] = bytes[bytes.length - back]! ^ 0x01;
      await writeFiles(dir, new Map([...fx.files, ['log', bytes]]));
      await assert.rejects(EmbeddedStore.open(dir, OPTS), isRefusal(path.join(dir, 'log')));
    }
  });

  it('drops a torn tail and opens: every write before it is kept', async () => {
    // The last acknowledged batch is torn at every possible length: as if the process died
    // while writing it (so it was never acknowledged).
    const dir0 = await freshDir();
    await writeFiles(dir0, fx.files);
    const s = await EmbeddedStore.open(dir0, OPTS);
    const before = (await fs.stat(path.join(dir0, 'log'))).size;
    const r = await s.txn([], [{ type: 'put', key: 'torn', value: 'y'.repeat(40) }]);
    await s.close();
    const grown = await fs.readFile(path.join(dir0, 'log'));
    for (let cut = before; cut < grown.length; cut += 7) {
      const dir = await freshDir();
      const warnings: string[] = [];
      await writeFiles(dir, new Map([...fx.files, ['log', grown.subarray(0, cut)]]));
      const store = await EmbeddedStore.open(dir, { ...OPTS, onWarning: (m) => warnings.push(m) });
      assert.equal(await store.revision(), r.revision - 1);
      assert.equal(await store.get('torn'), undefined);
      await store.close();
      assert.equal(warnings.length, cut === before ? 0 : 1, warnings.join('\n'));
      if (cut > before) assert.match(warnings[0]!, /torn log tail at offset \d+/);
      await assertAllAcked(dir, fx);
    }
  });

  it('drops a zero-filled tail (a file extended before its data landed) and opens', async () => {
    const dir = await freshDir();
    const log = Buffer.concat([fx.files.get('log')!, Buffer.alloc(4096)]);
    await writeFiles(dir, new Map([...fx.files, ['log', log]]));
    await assertAllAcked(dir, fx);
  });

  it('refuses garbage appended after the last record', async () => {
    const dir = await freshDir();
    const garbage = Buffer.from('this is not a frame of the log at all');
    const log = Buffer.concat([fx.files.get('log')!, garbage]);
    await writeFiles(dir, new Map([...fx.files, ['log', log]]));
    await assert.rejects(EmbeddedStore.open(dir, OPTS), isRefusal(path.join(dir, 'log')));
  });

  it('refuses a log whose snapshot is missing, saying so', async () => {
    const dir = await freshDir();
    await writeFiles(dir, new Map([['log', fx.files.get('log')!]]));
    await assert.rejects(
      EmbeddedStore.open(dir, OPTS),
      (err: unknown) =>
        isRefusal(path.join(dir, 'log'))(err) && /snapshot file is missing/.test(String(err)),
    );
  });

  it('reads a log of the first format (no header checksums) and rewrites it in the current one', async () => {
    const dir = await freshDir();
    const frames = [1, 2, 3].map((rev) =>
      encodeFrame(Buffer.from(JSON.stringify([rev, `k${rev}`, `v${rev}`]))),
    );
    const torn = encodeFrame(Buffer.from(JSON.stringify([4, 'k4', 'never acked']))).subarray(0, 15);
    await fs.writeFile(path.join(dir, 'log'), Buffer.concat([LOG_MAGIC_V1, ...frames, torn]));
    const warnings: string[] = [];
    const s1 = await EmbeddedStore.open(dir, { onWarning: (m) => warnings.push(m) });
    assert.equal(await s1.revision(), 3);
    assert.deepEqual(
      (await s1.range('k')).kvs.map((kv) => [kv.key, kv.value, kv.modRevision]),
      [
        ['k1', 'v1', 1],
        ['k2', 'v2', 2],
        ['k3', 'v3', 3],
      ],
    );
    await s1.txn([], [{ type: 'put', key: 'k4', value: 'v4' }]);
    await s1.close();
    assert.ok(
      warnings.some((w) => /rewrote .* in the current format/.test(w)),
      warnings.join('\n'),
    );
    const bytes = await fs.readFile(path.join(dir, 'log'));
    assert.ok(bytes.subarray(0, 8).equals(LOG_MAGIC));
    const s2 = await EmbeddedStore.open(dir);
    assert.equal((await s2.get('k4'))?.modRevision, 4);
    await s2.close();
  });

  it('refuses a first-format log with a damaged record followed by intact ones', async () => {
    const dir = await freshDir();
    const frames = [1, 2, 3].map((rev) =>
      encodeFrame(Buffer.from(JSON.stringify([rev, `k${rev}`, `v${rev}`]))),
    );
    const bytes = Buffer.concat([LOG_MAGIC_V1, ...frames]);
    bytes[8 + 2] = 0x7f; // the length of the first record now runs past the end of the file
    await fs.writeFile(path.join(dir, 'log'), bytes);
    await assert.rejects(
      EmbeddedStore.open(dir),
      (err: unknown) =>
        isRefusal(path.join(dir, 'log'))(err) &&
        /intact records follow at byte \d+/.test(String(err)),
    );
  });
});
