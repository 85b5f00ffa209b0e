/**
 * Entry point of a program that is not built yet: says so on stderr and fails, so that no
 * script mistakes it for a working binary.
 *
 * @example
 * export const main = notYet('romana-agent', 'issue 6');
 */
export function notYet(program: string, tracking: string): (argv: string[]) => Promise<number> {
  return async () => {
    process.stderr.write(`${program}: not implemented yet (${tracking})\n`);
    return 1;
  };
}
