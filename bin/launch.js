// Shared launcher of the bin/ entry points: runs the program built under dist/ by
// `npm run build` (scripts/build.mjs). An installed package has only dist/ and runs it as is.
//
// In a checkout (src/ is there), a program whose build is missing or older than one of its
// sources (dist/build-inputs.json lists them) runs from the sources through tsx instead, so
// that tests and development never run stale code; without tsx it stops and says to run
// `npm run build`. Nothing is written anywhere at start.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * Runs program `name`: `dist/<file>` when it is current, else `source` (relative to the package
 * root) through tsx. A `.cjs` build runs itself when required; an ESM build runs its `main`
 * when imported; a source module exports `main(argv)`, resolving to the exit code.
 */
export async function launch(name, file, source) {
  const built = `${ROOT}dist/${file}`;
  const why = existsSync(`${ROOT}src`) ? staleness(file, built) : undefined;
  if (why === undefined) {
    if (file.endsWith('.cjs')) createRequire(import.meta.url)(built);
    else await import(built);
    return;
  }
  let register;
  try {
    ({ register } = await import('tsx/esm/api'));
  } catch {
    const missing = existsSync(built) ? `${why}` : `dist/${file} is missing`;
    process.stderr.write(`${name}: ${missing}: run \`npm run build\` first\n`);
    process.exitCode = 1;
    return;
  }
  register();
  const mod = await import(`${ROOT}${source}`);
  const code = await mod.main(process.argv.slice(2));
  if (typeof code === 'number') process.exitCode = code;
}

/** Why the build of `file` cannot be used, or undefined when it is current. */
function staleness(file, built) {
  const builtAt = statSync(built, { throwIfNoEntry: false })?.mtimeMs;
  if (builtAt === undefined) return `dist/${file} is missing`;
  let inputs;
  try {
    inputs = JSON.parse(readFileSync(`${ROOT}dist/build-inputs.json`, 'utf8'))[file];
  } catch {
    inputs = undefined;
  }
  if (!Array.isArray(inputs)) return `dist/build-inputs.json does not list dist/${file}`;
  for (const input of inputs) {
    const at = statSync(`${ROOT}${input}`, { throwIfNoEntry: false })?.mtimeMs;
    if (at === undefined || at > builtAt) return `dist/${file} is older than ${input}`;
  }
  return undefined;
}
