// Shared launcher of the bin/ entry points: runs the program built under dist/ by
// `npm run build` (scripts/build.mjs). An installed package has only dist/ and runs it as is.
//
// In a checkout (src/ is there), a program whose build is missing or older than one of its
// sources (dist/build-inputs.json lists them) runs from the sources through tsx instead, so
// that tests and development never run stale code; without tsx it stops and says to run
// `npm run build`. Nothing is written anywhere at start.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * Runs program `name`: `dist/<file>` when it is current, else `source` (relative to the package
 * root) through tsx. A `.cjs` build runs itself when required; an ESM build runs its `main`
 * when imported; a source module exports `main(argv)`, resolving to the exit code.
 */
export async function launch(name, file, source) {
  const built = `${ROOT}dist/${file}`;
  const checkout = existsSync(`${ROOT}src`);
  const why = checkout
    ? staleness(file, built)
    : existsSync(built)
      ? undefined
      : `dist/${file} is missing`;
  if (why === undefined) {
    if (file.endsWith('.cjs')) createRequire(import.meta.url)(built);
    else await import(pathToFileURL(built).href);
    return;
  }
  const register = checkout ? await tsx() : undefined;
  if (register === undefined) {
    process.stderr.write(`${name}: ${why}: run \`npm run build\` first\n`);
    process.exitCode = 1;
    return;
  }
  register();
  const mod = await import(pathToFileURL(`${ROOT}${source}`).href);
  const code = await mod.main(process.argv.slice(2));
  if (typeof code === 'number') process.exitCode = code;
}

/** tsx's register function, or undefined when tsx is not installed. */
async function tsx() {
  try {
    return (await import('tsx/esm/api')).register;
  } catch {
    return undefined;
  }
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
