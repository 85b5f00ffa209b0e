/**
 * Writing to stdout or stderr without building `process.stdout`: that stream loads Node's
 * stream modules (and, on a pipe or terminal, net), which cost `romana --help` about a fifth of
 * a bare `node -e 0` start. Writes here are synchronous, as process.stdout's already are on
 * Linux pipes, files and terminals, so output order and completeness at exit are unchanged.
 */
import { fstatSync, writeSync } from 'node:fs';

/** The stream a writer falls back to, made only when needed (e.g. `() => process.stdout`). */
export interface FallbackStream {
  write(text: string | Uint8Array): unknown;
  isTTY?: boolean;
  columns?: number;
  hasColors?(): boolean;
}

/** A synchronous writer of one file descriptor. */
export interface FdWriter {
  /** Writes all of `text`; false once the reader has gone (EPIPE): the rest is dropped. */
  write(text: string): boolean;
  /** Whether the descriptor is a terminal (asks the fallback stream only for a character device). */
  readonly isTTY: boolean;
  /** The terminal's width, or undefined when not a terminal. */
  readonly columns: number | undefined;
  /** Whether the terminal shows colours (false when not a terminal). */
  hasColors(): boolean;
}

/**
 * A writer of `fd` (1 or 2) by `writeSync`. A reader that has gone (EPIPE, e.g. `romana … |
 * head`) ends the output quietly; a descriptor left non-blocking by another process (EAGAIN)
 * hands the rest, and every later write, to `fallback()`.
 *
 * @example const out = fdWriter(1, () => process.stdout); out.write('NAME\n');
 */
export function fdWriter(fd: number, fallback: () => FallbackStream): FdWriter {
  let stream: FallbackStream | undefined;
  const real = () => (stream ??= fallback());
  let mode: 'fd' | 'stream' | 'gone' = 'fd';
  let tty: boolean | undefined;
  const isTTY = (): boolean => {
    if (tty === undefined) {
      let chr: boolean;
      try {
        chr = fstatSync(fd).isCharacterDevice();
      } catch {
        chr = false; // a closed descriptor
      }
      // /dev/null is a character device too: only then is the real stream asked.
      tty = chr && real().isTTY === true;
    }
    return tty;
  };
  return {
    write(text: string): boolean {
      if (mode === 'gone') return false;
      if (mode === 'stream') return (real().write(text), true);
      const buf = Buffer.from(text, 'utf8');
      for (let off = 0; off < buf.length;) {
        try {
          off += writeSync(fd, buf, off);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code === 'EPIPE') {
            mode = 'gone';
            return false;
          }
          if (code !== 'EAGAIN') throw e;
          mode = 'stream';
          real().write(buf.subarray(off));
          return true;
        }
      }
      return true;
    },
    get isTTY() {
      return isTTY();
    },
    get columns() {
      return isTTY() ? stream?.columns : undefined;
    },
    hasColors(): boolean {
      return isTTY() && (stream?.hasColors?.() ?? false);
    },
  };
}
