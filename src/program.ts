/**
 * What the long-running node programs (romana-agent, romana-route-publisher, romana-listener)
 * share around their work: parsing the command line into an exit status, starting once
 * romanad answers, and running until SIGTERM or SIGINT.
 */
import type { Command } from 'commander';

/**
 * Parses `argv` and runs the chosen action; resolves to the exit status: the action's
 * (`status()`, read after it ran), 0 for --help and --version, 2 for bad usage, 1 for an
 * error (printed as `<name>: <message>`).
 */
export async function runProgram(
  program: Command,
  argv: string[],
  status: () => number,
): Promise<number> {
  try {
    await program.parseAsync(argv, { from: 'user' });
    return status();
  } catch (err) {
    const e = err as { code?: string; message?: string };
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return 0;
    if (typeof e.code === 'string' && e.code.startsWith('commander.')) return 2;
    process.stderr.write(`${program.name()}: ${e.message ?? String(err)}\n`);
    return 1;
  }
}

/**
 * Calls `start` until it succeeds (romanad may not answer yet), waiting 400 ms, 800 ms, …
 * up to 5 s between attempts and reporting each failure to `failed`.
 */
export async function startWhenReachable(
  start: () => Promise<void>,
  failed: (attempt: number, err: unknown) => void,
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await start();
      return;
    } catch (err) {
      failed(attempt, err);
      await new Promise((r) => setTimeout(r, Math.min(5000, 200 * 2 ** attempt)));
    }
  }
}

/** Resolves to 0 after `stop()` has run on SIGTERM or SIGINT. */
export function runUntilSignalled(stop: () => void): Promise<number> {
  return new Promise((resolve) => {
    const end = () => {
      stop();
      resolve(0);
    };
    process.once('SIGTERM', end);
    process.once('SIGINT', end);
  });
}
