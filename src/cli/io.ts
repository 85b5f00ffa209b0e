/**
 * The process around a command, injectable so that tests can run `main` in-process.
 */
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { UsageError, RefusedInput } from './errors.ts';
import { fdWriter, type FallbackStream } from './fd-writer.ts';

/** An output of `romana`; a terminal says so (help text is wrapped to its width). */
export interface Out {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number | undefined;
  hasColors?(): boolean;
}

/** What `romana` reads from and writes to. */
export interface Io {
  stdout: Out;
  stderr: Out;
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
  return {
    // Written with writeSync (see fd-writer.ts); process.stdout is made only when needed.
    stdout: fdWriter(1, () => quiet(process.stdout)),
    stderr: fdWriter(2, () => quiet(process.stderr)),
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

/** `romana … | head` closes the pipe early: the stream stops writing quietly, not a crash. */
function quiet(stream: NodeJS.WriteStream): FallbackStream {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
  });
  return stream;
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
