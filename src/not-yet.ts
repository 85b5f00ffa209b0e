/**
 * Entry point of a program that is not built yet. `--help` says what it will do and
 * `--version` prints the version (both exit 0); anything else says "not yet" on stderr and
 * fails, so that no script mistakes it for a working binary.
 */
import { VERSION } from './version.ts';

/**
 * The `main` of a program that is not built yet.
 *
 * @example
 * export const main = notYet('romana-listener', 'not yet filed', 'Kubernetes controller');
 */
export function notYet(
  program: string,
  tracking: string,
  purpose: string,
): (argv: string[]) => Promise<number> {
  return async (argv) => {
    if (argv.includes('--version')) {
      process.stdout.write(`${program} ${VERSION}\n`);
      return 0;
    }
    if (argv.includes('--help') || argv.includes('-h')) {
      process.stdout.write(
        `Usage: ${program} [--help] [--version]\n\n${purpose}\n\n` +
          `Not implemented yet (${tracking}): run without --help or --version, it exits 1.\n\n` +
          `Options:\n  --version   print the version\n  -h, --help  show this help\n`,
      );
      return 0;
    }
    process.stderr.write(`${program}: not implemented yet (${tracking})\n`);
    return 1;
  };
}
