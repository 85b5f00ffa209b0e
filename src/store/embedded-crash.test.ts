/**
 * The embedded store's crash safety: a writer process SIGKILLed mid-stream, round after round,
 * and the store reopened each time (~30 s; the scope's last test file).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tmpDirsRemovedAfter } from '../../test/helpers/tmp-dirs.ts';
import { EmbeddedStore } from './embedded.ts';

const tmpDir = tmpDirsRemovedAfter('romana-store-');

describe('EmbeddedStore crash safety (kill -9)', () => {
  const writer = fileURLToPath(new URL('./testing/crash-writer.ts', import.meta.url));
  const root = fileURLToPath(new URL('../..', import.meta.url));

  /** Runs the writer until it has printed `acks` acknowledgements, then SIGKILLs it. */
  async function writeAndKill(
    dir: string,
    start: number,
    acks: number,
  ): Promise<Map<number, number>> {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', writer, dir, String(start), '16', '32768'],
      {
        cwd: root,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const acked = new Map<number, number>();
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    let buf = '';
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (b: Buffer) => {
        buf += b.toString();
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          const m = /^ack (\d+) (\d+)$/.exec(line);
          if (m) acked.set(Number(m[1]), Number(m[2]));
          if (acked.size >= acks && !child.killed) {
            child.kill('SIGKILL');
            resolve();
          }
        }
      });
      child.on('exit', (code, signal) => {
        if (signal !== 'SIGKILL')
          reject(new Error(`writer exited early (${code ?? signal}): ${stderr}`));
      });
    });
    await exited;
    // Acks that were in the pipe when it died.
    for (const line of buf.split('\n')) {
      const m = /^ack (\d+) (\d+)$/.exec(line);
      if (m) acked.set(Number(m[1]), Number(m[2]));
    }
    return acked;
  }

  it('keeps every acknowledged transaction and no partial one after SIGKILL mid-stream, round after round', async () => {
    const dir = await tmpDir();
    const allAcked = new Map<number, number>();
    for (let round = 0; round < 5; round++) {
      const acked = await writeAndKill(
        dir,
        round * 1_000_000,
        100 + Math.floor(Math.random() * 400),
      );
      for (const [i, rev] of acked) allAcked.set(i, rev);
      const s = await EmbeddedStore.open(dir);
      const { kvs, revision } = await s.range('t/');
      const byTxn = new Map<number, { a?: number; b?: number }>();
      for (const kv of kvs) {
        const [, i, part] = kv.key.split('/');
        const entry = byTxn.get(Number(i)) ?? {};
        entry[part as 'a' | 'b'] = kv.modRevision;
        byTxn.set(Number(i), entry);
        assert.ok(kv.value.startsWith(`${part}${i}p`), `value of ${kv.key} intact`);
      }
      for (const [i, e] of byTxn) {
        assert.ok(e.a !== undefined && e.a === e.b, `txn ${i} is whole (a@${e.a}, b@${e.b})`);
      }
      for (const [i, rev] of allAcked) {
        assert.equal(
          byTxn.get(i)?.a,
          rev,
          `acknowledged txn ${i} (revision ${rev}) survived round ${round}`,
        );
      }
      // One txn = one revision, and the durable txns are exactly revisions 1..revision.
      assert.equal(byTxn.size, revision);
      assert.deepEqual(
        [...byTxn.values()].map((e) => e.a!).sort((x, y) => x - y),
        Array.from({ length: revision }, (_, k) => k + 1),
      );
      await s.close();
    }
    assert.ok(allAcked.size >= 500);
  });
});
