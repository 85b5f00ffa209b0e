/**
 * Exit codes and the one-line error messages of `romana`. Expected errors never print a stack.
 */
import { RomanadApiError, RomanadUnreachableError } from '../client/index.ts';

/** Exit codes of `romana`. */
export const EXIT = {
  ok: 0,
  /** romanad refused the request, or the input was refused by the same check locally. */
  refused: 1,
  /** The command line was wrong (unknown command or option, bad value, missing file). */
  usage: 2,
  /** romanad could not be reached. */
  unreachable: 3,
} as const;

/**
 * The command line is wrong: exit 2, nothing was sent.
 *
 * @example throw new UsageError("--tag: 'zone' is not key=value");
 */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * The input was refused before anything was sent (an invalid topology or policy file), with
 * every problem found: exit 1, as romanad would have refused it.
 *
 * @example throw new RefusedInput('topology.json is invalid', ['networks[0].cidr: …']);
 */
export class RefusedInput extends Error {
  override readonly name = 'RefusedInput';
  readonly problems: readonly string[];

  constructor(message: string, problems: readonly string[] = []) {
    super(message);
    this.problems = problems;
  }
}

/**
 * The line printed on stderr for an error, and the exit code.
 *
 * @example describeError(new UsageError('x')) // { line: 'romana: x', code: 2 }
 */
export function describeError(err: unknown): { line: string; code: number } {
  if (err instanceof RomanadApiError) {
    const details = oneLine(err.details);
    return { line: `romana: ${details} (HTTP ${err.status} ${err.code})`, code: EXIT.refused };
  }
  if (err instanceof RomanadUnreachableError) {
    return { line: `romana: ${oneLine(err.message)}`, code: EXIT.unreachable };
  }
  if (err instanceof UsageError)
    return { line: `romana: ${oneLine(err.message)}`, code: EXIT.usage };
  if (err instanceof RefusedInput) {
    const all = [err.message, ...err.problems].join('; ');
    return { line: `romana: ${oneLine(all)}`, code: EXIT.refused };
  }
  const text = err instanceof Error ? (err.stack ?? err.message) : String(err);
  return { line: `romana: internal error (a bug; please report it): ${text}`, code: EXIT.refused };
}

/** Several lines (e.g. every problem of a topology) joined with `; `. */
function oneLine(text: string): string {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .join('; ');
}
