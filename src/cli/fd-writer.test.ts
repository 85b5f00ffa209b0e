/**
 * fdWriter on real descriptors: a file, a FIFO whose reader has gone (EPIPE), a full
 * non-blocking FIFO (EAGAIN, the rest goes to the fallback stream, in order), /dev/null.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  constants,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fdWriter, type FallbackStream } from './fd-writer.ts';

const DIR = mkdtempSync(path.join(tmpdir(), 'romana-fdw-'));
after(() => rmSync(DIR, { recursive: true, force: true }));

/** A fallback stream that records what it is given, and how often it was made. */
function recorder(isTTY = false) {
  const chunks: Buffer[] = [];
  let made = 0;
  const make = (): FallbackStream => {
    made++;
    return { isTTY, write: (t: string | Uint8Array) => void chunks.push(Buffer.from(t)) };
  };
  return { make, chunks, made: () => made };
}

/** A FIFO opened for reading (non-blocking) and for writing (`writeFlags`). */
function fifo(name: string, writeFlags: number): { r: number; w: number } {
  const file = path.join(DIR, name);
  execFileSync('mkfifo', [file]);
  const r = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  return { r, w: openSync(file, writeFlags) };
}

describe('fdWriter', () => {
  it('writes all of the text, UTF-8, without making the fallback stream', () => {
    const file = path.join(DIR, 'out.txt');
    const fd = openSync(file, 'w');
    const fb = recorder();
    const out = fdWriter(fd, fb.make);
    const big = 'nœud-1 '.repeat(50_000);
    assert.equal(out.write('NAME\n'), true);
    assert.equal(out.write(big), true);
    assert.equal(out.isTTY, false);
    assert.equal(out.columns, undefined);
    closeSync(fd);
    assert.equal(readFileSync(file, 'utf8'), 'NAME\n' + big);
    assert.equal(fb.made(), 0);
  });

  it('stops quietly once the reader has gone (EPIPE)', () => {
    const { r, w } = fifo('gone', constants.O_WRONLY);
    closeSync(r);
    const fb = recorder();
    const out = fdWriter(w, fb.make);
    assert.equal(out.write('a\n'), false);
    assert.equal(out.write('b\n'), false);
    closeSync(w);
    assert.equal(fb.made(), 0);
  });

  it('hands the rest to the fallback stream when the descriptor would block (EAGAIN), in order', () => {
    const { r, w } = fifo('full', constants.O_WRONLY | constants.O_NONBLOCK);
    const fb = recorder();
    const out = fdWriter(w, fb.make);
    const text = Array.from({ length: 40_000 }, (_, i) => `${i}\n`).join(''); // > a pipe's 64 KiB
    assert.equal(out.write(text), true);
    assert.equal(out.write('after\n'), true);
    const buf = Buffer.alloc(1 << 20);
    const n = readSync(r, buf, 0, buf.length, null);
    closeSync(r);
    closeSync(w);
    assert.ok(n > 0 && n < Buffer.byteLength(text), `the pipe took ${n} bytes`);
    assert.equal(fb.made(), 1);
    assert.equal(Buffer.concat([buf.subarray(0, n), ...fb.chunks]).toString(), text + 'after\n');
  });

  it('asks the fallback stream whether a character device is a terminal (/dev/null is not)', () => {
    const fd = openSync('/dev/null', 'w');
    const fb = recorder(false);
    const out = fdWriter(fd, fb.make);
    assert.equal(out.isTTY, false);
    assert.equal(out.hasColors(), false);
    assert.equal(out.write('x'), true);
    closeSync(fd);
    assert.equal(fb.made(), 1);
    assert.deepEqual(fb.chunks, []);
  });
});
