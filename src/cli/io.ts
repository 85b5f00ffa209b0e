/**
 * The process around a command, injectable so that tests can run `main` in-process.
 */
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { UsageError, RefusedInput } from './errors.ts';

/** What `romana` reads from and writes to. */
export interface Io {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  /** Standard input, read whole; `undefined` when it is a terminal. */
  readStdin(): Promise<string | undefined>;
  env: Record<string, string | undefined>;
  /** The user's home directory (for `~/.romana.yaml`). */
  home: string;
}

/**
 * The real process: stdout, stderr, stdin, environment, home directory.
 *
 * @example await main(argv, processIo());
 */
export function processIo(): Io {
  // `romana … | head` closes the pipe early: stop writing quietly rather than crash.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
  });
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    readStdin: async () => {
      if (process.stdin.isTTY) return undefined;
      let text = '';
      process.stdin.setEncoding('utf8');
      for await (const chunk of process.stdin) text += chunk as string;
      return text;
    },
    env: process.env,
    home: os.homedir(),
  };
}

/**
 * Reads a document named on the command line: a file, or stdin for `-` or no name.
 *
 * @throws UsageError when the file cannot be read or stdin is a terminal.
 * @example const { text, name } = await readInput(io, 'topology.json');
 */
export async function readInput(
  io: Io,
  file: string | undefined,
): Promise<{ text: string; name: string }> {
  if (file === undefined || file === '-') {
    const text = await io.readStdin();
    if (text === undefined || text.trim() === '') {
      const why = text === undefined ? 'stdin is a terminal' : 'stdin is empty';
      throw new UsageError(`${why}: give a FILE, or pipe the document on stdin`);
    }
    return { text, name: 'stdin' };
  }
  try {
    return { text: await readFile(file, 'utf8'), name: file };
  } catch (e) {
    throw new UsageError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
}

/**
 * Parses a document as JSON, or as YAML when it is not JSON.
 *
 * @throws RefusedInput naming the source when it is neither.
 * @example await parseDocument('{"id":"p"}', 'stdin') // { id: 'p' }
 */
export async function parseDocument(text: string, name: string): Promise<unknown> {
  try {
    return JSON.parse(text) as unknown;
  } catch (jsonError) {
    if (/^\s*[[{]/.test(text) || text.trim() === '') {
      throw new RefusedInput(`${name} is not valid JSON: ${(jsonError as Error).message}`);
    }
  }
  const { parse } = await import('yaml');
  try {
    return parse(text) as unknown;
  } catch (e) {
    throw new RefusedInput(`${name} is neither JSON nor YAML: ${(e as Error).message}`);
  }
}
