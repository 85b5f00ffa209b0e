/* global require, module, __dirname */
/* eslint-disable @typescript-eslint/no-require-imports -- CommonJS (bin/package.json) */
// Shared launcher of the bin/ entry points (CommonJS, see bin/package.json: the quickest for
// Node to start): runs the program built under dist/ by `npm run build` (scripts/build.mjs).
// An installed package has only dist/ and runs it as is.
//
// A CommonJS build (dist/*.cjs: romanad, romana, romana-cni) is compiled with the V8 code cache
// the build made beside it (dist/*.cjs.cache), which spares most of its compile time; a cache
// made by another Node version is refused by V8 and the program compiles as usual.
//
// In a checkout (src/ is there), a program whose build is missing or older than one of its
// sources (dist/build-inputs.json lists them) runs from the sources through tsx instead, so
// that tests and development never run stale code; without tsx it stops and says to run
// `npm run build`. Nothing is written anywhere at start.
'use strict';
const { existsSync, readFileSync, statSync } = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
// The CommonJS loader's own Module class: its createRequire and wrap are node:module's, without
// loading node:module (and the ES module loader it brings), which a start would pay for.
const { createRequire, wrap } = module.constructor;
const pathToFileURL = (file) => require('node:url').pathToFileURL(file);

const ROOT = path.join(__dirname, '..');

/**
 * Runs program `name`: `dist/<file>` when it is current, else `source` (relative to the package
 * root) through tsx. A `.cjs` build runs itself when loaded; an ES module build runs its
 * `main` when imported; a source module exports `main(argv)`, resolving to the exit code.
 */
function launch(name, file, source) {
  const built = path.join(ROOT, 'dist', file);
  const checkout = existsSync(path.join(ROOT, 'src'));
  const why = checkout
    ? staleness(file, built)
    : existsSync(built)
      ? undefined
      : `dist/${file} is missing`;
  if (why === undefined) {
    if (file.endsWith('.cjs')) compileCjs(built, readCache(built))();
    else import(pathToFileURL(built).href).catch((err) => fail(name, err));
    return;
  }
  fromSources(name, why, checkout, path.join(ROOT, source)).catch((err) => fail(name, err));
}

async function fromSources(name, why, checkout, source) {
  let register;
  try {
    if (checkout) ({ register } = await import('tsx/esm/api'));
  } catch {
    // tsx is not installed
  }
  if (register === undefined) {
    process.stderr.write(`${name}: ${why}: run \`npm run build\` first\n`);
    process.exitCode = 1;
    return;
  }
  register();
  const mod = await import(pathToFileURL(source).href);
  const code = await mod.main(process.argv.slice(2));
  if (typeof code === 'number') process.exitCode = code;
}

function fail(name, err) {
  process.stderr.write(`${name}: ${err instanceof Error && err.stack ? err.stack : err}\n`);
  process.exitCode = 1;
}

function readCache(file) {
  try {
    return readFileSync(`${file}.cache`);
  } catch {
    return undefined;
  }
}

/**
 * Compiles a CommonJS file as Node would (same wrapper, same file name), with `cachedData`
 * when given; returns the function that runs it, and the script (to make a cache from).
 * The build (scripts/build.mjs) makes the caches with this same function.
 */
function compileCjs(file, cachedData) {
  // A leading `#!` line is only valid at the very start of a script: blank it, keeping offsets.
  const source = readFileSync(file, 'utf8').replace(/^#!.*/, (line) => ' '.repeat(line.length));
  const script = new vm.Script(wrap(source), { filename: file, cachedData });
  const run = () => {
    const m = { exports: {}, filename: file, id: file, loaded: false };
    script
      .runInThisContext()
      .call(m.exports, m.exports, createRequire(file), m, file, path.dirname(file));
  };
  run.script = script;
  return run;
}

/** Why the build of `file` cannot be used, or undefined when it is current. */
function staleness(file, built) {
  const builtAt = statSync(built, { throwIfNoEntry: false })?.mtimeMs;
  if (builtAt === undefined) return `dist/${file} is missing`;
  let inputs;
  try {
    inputs = JSON.parse(readFileSync(path.join(ROOT, 'dist/build-inputs.json'), 'utf8'))[file];
  } catch {
    inputs = undefined;
  }
  if (!Array.isArray(inputs)) return `dist/build-inputs.json does not list dist/${file}`;
  for (const input of inputs) {
    const at = statSync(path.join(ROOT, input), { throwIfNoEntry: false })?.mtimeMs;
    if (at === undefined || at > builtAt) return `dist/${file} is older than ${input}`;
  }
  return undefined;
}

module.exports = { launch, compileCjs };
