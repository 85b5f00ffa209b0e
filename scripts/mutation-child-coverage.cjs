// Preloaded (`-r`, before the tap runner's hook) into each test file's process of a mutation
// run. Some tests run the code under test in a child process (src/cni/commands.test.ts runs
// itself again inside a network namespace of its own). A child sees the active mutant (through
// the environment) but the tap runner records only the test file's own process's coverage, so
// in the dry run the mutants the child reached would look covered by no test ("no coverage",
// never run). In the dry run this file makes every descendant process load it too, write what
// it reached to a shared directory at exit, and the test file's process adds all of that to
// its own coverage before the hook saves it. Outside the dry run it does nothing.
// CommonJS: `-r` loads it, in the order the preloads are given (this one before the hook).
/* global require, __filename */
/* eslint-disable @typescript-eslint/no-require-imports */
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const DIR = 'ROMANA_MUTATION_CHILD_COVERAGE';
const ns = process.env.STRYKER_NAMESPACE || '__stryker__';

/** Adds `from` (mutant id → hit count) into `into`. */
function addCounts(into, from) {
  for (const [id, n] of Object.entries(from || {})) into[id] = (into[id] || 0) + n;
}

if (process.env.STRYKER_DRY_RUN === 'true') {
  const dir = process.env[DIR];
  if (dir === undefined) {
    const own = fs.mkdtempSync(path.join(os.tmpdir(), 'stryker-children-'));
    process.env[DIR] = own;
    process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS || ''} --require ${__filename}`.trim();
    process.on('exit', () => {
      const g = (globalThis[ns] = globalThis[ns] || {});
      const cov = (g.mutantCoverage = g.mutantCoverage || { static: {}, perTest: {} });
      for (const f of fs.readdirSync(own)) {
        const child = JSON.parse(fs.readFileSync(path.join(own, f), 'utf8'));
        addCounts(cov.static, child.static);
        for (const counts of Object.values(child.perTest || {})) addCounts(cov.static, counts);
      }
      fs.rmSync(own, { recursive: true, force: true });
    });
  } else {
    process.on('exit', () => {
      const cov = globalThis[ns] && globalThis[ns].mutantCoverage;
      if (cov) fs.writeFileSync(path.join(dir, `${process.pid}.json`), JSON.stringify(cov));
    });
  }
}
