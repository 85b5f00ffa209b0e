/**
 * Child process for the kill -9 test of the embedded store: opens the store in argv[2] and
 * commits transactions forever, `concurrency` at a time, printing `ack <i> <revision>` for each
 * one whose promise resolved (i.e. that the store acknowledged as durable). Stdout is a pipe,
 * which Node writes synchronously on Linux, so an ack printed is an ack the parent will read.
 *
 * Usage: node --import tsx crash-writer.ts DIR START CONCURRENCY COMPACT_LOG_BYTES
 */
import { EmbeddedStore } from '../embedded.ts';

const [dir, startArg, concArg, compactArg] = process.argv.slice(2);
if (dir === undefined)
  throw new Error('usage: crash-writer DIR START CONCURRENCY COMPACT_LOG_BYTES');
const store = await EmbeddedStore.open(dir, { compactLogBytes: Number(compactArg ?? 65536) });
let next = Number(startArg ?? 0);
const pad = 'p'.repeat(250);

async function worker(w: number): Promise<void> {
  for (;;) {
    const i = next++;
    const r = await store.txn(
      [{ key: `t/${i}/a`, modRevision: 0 }],
      [
        { type: 'put', key: `t/${i}/a`, value: `a${i}${pad}` },
        { type: 'put', key: `t/${i}/b`, value: `b${i}${pad}` },
        { type: 'put', key: `last/${w}`, value: String(i) },
      ],
    );
    if (!r.succeeded) throw new Error(`txn ${i} did not succeed`);
    process.stdout.write(`ack ${i} ${r.revision}\n`);
  }
}

process.stdout.write('ready\n');
await Promise.all(Array.from({ length: Number(concArg ?? 8) }, (_, w) => worker(w)));
