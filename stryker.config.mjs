// StrykerJS configuration, one scope at a time: `npm run mutation -- SCOPE` sets
// MUTATION_SCOPE (scopes in mutation.scopes.mjs). The tap runner runs each of the scope's test
// files as its own `node --import tsx FILE` process (node:test prints TAP); a mutant is killed
// when a file fails. The dry run records which test files reach which mutant (coverage
// analysis `perTest`, one "test" per file), so each mutant then runs only those files instead
// of the whole scope. Not part of `npm test` (too slow); the suite checks this configuration
// instead (test/mutation-config.test.ts).
import { scopes } from './mutation.scopes.mjs';

const name = process.env.MUTATION_SCOPE ?? '';
const scope = scopes[name];
if (scope === undefined) {
  throw new Error(
    `MUTATION_SCOPE: '${name}' is not one of ${Object.keys(scopes).join(', ')} ` +
      '(run: npm run mutation -- SCOPE)',
  );
}

// MUTATION_TESTS (space-separated test files) replaces the scope's tests, e.g. to measure route
// planning without the agent's e2e test.
const tests = process.env.MUTATION_TESTS?.split(' ').filter((t) => t !== '') ?? scope.tests;

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'tap',
  tap: {
    testFiles: tests,
    // {{hookFile}} is the runner's coverage and hit-count hook (a CommonJS file it preloads);
    // {{testFile}} is the one test file of this process. tsx loads the TypeScript. The first
    // preload adds what child processes of a test reached to the file's coverage (it must come
    // before the hook: its exit handler runs before the hook saves the coverage).
    nodeArgs: [
      '--test-reporter=tap',
      '-r',
      './scripts/mutation-child-coverage.cjs',
      '-r',
      '{{hookFile}}',
      '--import',
      'tsx',
      '{{testFile}}',
    ],
    // Stop a test file at its first failing test: the mutant is killed already.
    forceBail: true,
  },
  mutate: scope.mutate,
  // Per test file: a mutant runs only the test files whose dry run reached it. (The tap runner
  // always reports coverage, so 'off' would not run every file: it is never used.)
  coverageAnalysis: 'perTest',
  // The machine is shared: one mutant at a time unless told otherwise (--concurrency N).
  concurrency: 1,
  timeoutMS: 60_000,
  reporters: ['clear-text', 'progress', 'json'],
  jsonReporter: { fileName: `reports/mutation/${name}.json` },
  ignorePatterns: ['dist', 'bench', 'docs', 'examples', 'reports'],
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
};
