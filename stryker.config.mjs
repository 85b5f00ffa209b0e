// StrykerJS configuration, one scope at a time: `npm run mutation -- SCOPE` sets
// MUTATION_SCOPE (scopes in mutation.scopes.mjs). The command runner runs the scope's tests with
// node:test; a mutant is killed when they fail. Not part of `npm test` (too slow); the suite
// checks this configuration instead (test/mutation-config.test.ts).
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
  testRunner: 'command',
  commandRunner: {
    command: `node --import tsx --test --test-timeout=300000 ${tests.join(' ')}`,
  },
  mutate: scope.mutate,
  // The command runner cannot tell which test covers which mutant.
  coverageAnalysis: 'off',
  // The machine is shared: one mutant at a time unless told otherwise (--concurrency N).
  concurrency: 1,
  timeoutMS: 60_000,
  reporters: ['clear-text', 'progress', 'json'],
  jsonReporter: { fileName: `reports/mutation/${name}.json` },
  ignorePatterns: ['dist', 'bench', 'docs', 'examples', 'reports'],
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
};
