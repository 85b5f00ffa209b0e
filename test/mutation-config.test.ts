/**
 * The mutation-testing configuration is valid without running a mutant (Stryker is too slow
 * for the default run): every scope's files and test files exist, the config loads for each
 * scope and refuses an unknown one, and its options are Stryker's (checked against Stryker's
 * own schema when it is installed).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';

const ROOT = path.resolve(import.meta.dirname, '..');
const CONFIG = pathToFileURL(path.join(ROOT, 'stryker.config.mjs')).href;
const PRELOAD = 'scripts/mutation-child-coverage.cjs';

interface Scope {
  what: string;
  mutate: string[];
  tests: string[];
}

const { scopes } = (await import(pathToFileURL(path.join(ROOT, 'mutation.scopes.mjs')).href)) as {
  scopes: Record<string, Scope>;
};

/** The config as Stryker would load it with MUTATION_SCOPE=`scope`. */
async function configFor(scope: string, tests?: string): Promise<Record<string, unknown>> {
  const saved = { ...process.env };
  process.env['MUTATION_SCOPE'] = scope;
  if (tests === undefined) delete process.env['MUTATION_TESTS'];
  else process.env['MUTATION_TESTS'] = tests;
  try {
    // A fresh module instance per call: the config reads the variables when it loads.
    const query = new URLSearchParams({ scope, tests: tests ?? '' }).toString();
    return ((await import(`${CONFIG}?${query}`)) as { default: Record<string, unknown> }).default;
  } finally {
    for (const k of ['MUTATION_SCOPE', 'MUTATION_TESTS']) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  }
}

interface TapOptions {
  testFiles: string[];
  nodeArgs: string[];
  forceBail: boolean;
}

function tapOf(config: Record<string, unknown>): TapOptions {
  return config['tap'] as TapOptions;
}

describe('mutation testing configuration', () => {
  it('has the six scopes the issue names', () => {
    assert.deepEqual(Object.keys(scopes).sort(), [
      'agent',
      'cni',
      'ipam',
      'policy',
      'server',
      'store',
    ]);
  });

  for (const [name, scope] of Object.entries(scopes)) {
    it(`scope ${name}: mutates existing source files and runs existing test files`, async () => {
      assert.ok(scope.mutate.length > 0 && scope.tests.length > 0);
      for (const f of scope.mutate) {
        assert.ok(existsSync(path.join(ROOT, f)) && statSync(path.join(ROOT, f)).isFile(), f);
        assert.ok(f.startsWith('src/') && f.endsWith('.ts') && !f.endsWith('.test.ts'), f);
      }
      for (const f of scope.tests) {
        assert.ok(existsSync(path.join(ROOT, f)), f);
        assert.ok(f.endsWith('.test.ts'), f);
      }
      const config = await configFor(name);
      assert.deepEqual(config['mutate'], scope.mutate);
      assert.equal(config['testRunner'], 'tap');
      // Literal paths, not globs: the runner's glob then finds exactly these files.
      assert.deepEqual(tapOf(config).testFiles, scope.tests);
      for (const f of scope.tests) assert.doesNotMatch(f, /[*?{}[\]!]/, f);
      assert.equal(config['concurrency'], 1);
    });
  }

  it("runs each test file under tsx with the tap runner's hook, per test file", async () => {
    const config = await configFor('store');
    const args = tapOf(config).nodeArgs;
    // The runner fills in {{hookFile}} and {{testFile}}. Both are written out so that the
    // child-coverage preload comes before the hook (its exit handler must run first).
    const at = (...seq: string[]) =>
      args.findIndex((_, i) => seq.every((s, j) => args[i + j] === s));
    const preload = at('-r', `./${PRELOAD}`);
    assert.ok(preload >= 0 && existsSync(path.join(ROOT, PRELOAD)), 'child coverage preload');
    assert.ok(at('-r', '{{hookFile}}') > preload, 'the hook after the preload');
    assert.ok(at('--import', 'tsx') > at('-r', '{{hookFile}}'));
    assert.equal(args.at(-1), '{{testFile}}');
    assert.ok(args.includes('--test-reporter=tap'));
    assert.equal(config['coverageAnalysis'], 'perTest');
  });

  it("in a dry run, adds what a test's child processes reached to the test's coverage", () => {
    // A "test file" process that reached mutant 7, and a child (of a child) that reached 7 and 9.
    const child = `globalThis.__stryker__ = { mutantCoverage: { static: { 7: 1 }, perTest: { t: { 9: 2 } } } };`;
    const parent = `
      const { execFileSync } = require('node:child_process');
      const inner = ${JSON.stringify(child)};
      execFileSync(process.execPath, ['-e', "require('node:child_process').execFileSync(process.execPath, ['-e', " + JSON.stringify(inner) + "])"]);
      globalThis.__stryker__ = { mutantCoverage: { static: { 7: 1 }, perTest: {} } };
      process.on('exit', () => console.log(JSON.stringify(globalThis.__stryker__.mutantCoverage.static)));`;
    const run = (dryRun: string) =>
      JSON.parse(
        execFileSync(process.execPath, ['-r', `./${PRELOAD}`, '-e', parent], {
          cwd: ROOT,
          encoding: 'utf8',
          env: { ...process.env, STRYKER_DRY_RUN: dryRun, NODE_OPTIONS: '' },
        }),
      ) as Record<string, number>;
    assert.deepEqual(run('true'), { 7: 2, 9: 2 });
    // Outside the dry run the preload does nothing.
    assert.deepEqual(run('false'), { 7: 1 });
  });

  it("MUTATION_TESTS replaces the scope's test files", async () => {
    const config = await configFor(
      'agent',
      ' src/agent/route-plan.test.ts  src/net/aggregate.test.ts ',
    );
    assert.deepEqual(tapOf(config).testFiles, [
      'src/agent/route-plan.test.ts',
      'src/net/aggregate.test.ts',
    ]);
    assert.deepEqual(config['mutate'], scopes['agent']?.mutate);
  });

  it('refuses an unknown scope, naming the choices', async () => {
    await assert.rejects(configFor('nope'), /MUTATION_SCOPE: 'nope' is not one of ipam, policy/);
  });

  it("uses only Stryker's and the tap runner's options", async (t) => {
    const require = createRequire(import.meta.url);
    const schemas: string[] = [];
    try {
      schemas.push(require.resolve('@stryker-mutator/core/schema/stryker-schema.json'));
      // The plugin does not export its schema: found next to its package.json.
      const tapPkg = require.resolve('@stryker-mutator/tap-runner/package.json');
      schemas.push(path.join(path.dirname(tapPkg), 'dist/schema/tap-runner-options.json'));
    } catch {
      // Not installed yet (npm ci installs it): the option names below are still checked.
      t.diagnostic('@stryker-mutator is not installed: checked against a fixed list');
      schemas.length = 0;
    }
    const known =
      schemas.length === 0
        ? [
            'testRunner',
            'tap',
            'mutate',
            'coverageAnalysis',
            'concurrency',
            'timeoutMS',
            'reporters',
            'jsonReporter',
            'ignorePatterns',
            'tempDirName',
            'cleanTempDir',
          ]
        : schemas.flatMap((s) =>
            Object.keys((JSON.parse(readFileSync(s, 'utf8')) as { properties: object }).properties),
          );
    const config = await configFor('agent');
    for (const key of Object.keys(config)) assert.ok(known.includes(key), `unknown option ${key}`);
    if (schemas.length === 2) {
      const tapSchema = JSON.parse(readFileSync(schemas[1] ?? '', 'utf8')) as {
        properties: { tap: { properties: object } };
      };
      const tapKnown = Object.keys(tapSchema.properties.tap.properties);
      for (const key of Object.keys(tapOf(config))) assert.ok(tapKnown.includes(key), `tap.${key}`);
    }
  });
});
