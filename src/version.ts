/**
 * The package version, printed by every program's `--version`. The build (scripts/build.mjs)
 * replaces this module with the version as a literal, so a built program reads no file for it;
 * from the sources (tests, development) it is read from package.json.
 *
 * @example process.stdout.write(`romana ${VERSION}\n`);
 */
import { readFileSync } from 'node:fs';

export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;
