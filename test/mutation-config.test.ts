/**
 * The mutation-testing configuration is valid without running a mutant (Stryker is too slow
 * for the default run): every scope's files and test files exist, the config loads for each
 * scope and refuses an unknown one, and Stryker's own options validator (with the tap runner's
 * schema) accepts it for every scope.
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

/** What Stryker's options validator says of a configuration. */
interface Verdict {
  errors: string[];
  warnings: string[];
}

/**
 * Stryker's own validator (the one `stryker run` uses before anything else), over its core
 * schema merged with the tap runner's, as Stryker merges a plugin's schema. Both packages are
 * devDependencies, so `npm ci` installs them: a failure to load them fails the test. The
 * validator class is not exported: it is loaded from its file in the pinned version.
 */
async function strykerValidator(): Promise<{ check(config: object): Verdict }> {
  const require = createRequire(import.meta.url);
  const corePkg = require.resolve('@stryker-mutator/core/package.json');
  const fromCore = createRequire(corePkg);
  const url = (file: string) => pathToFileURL(file).href;
  const { strykerCoreSchema } = (await import(
    url(fromCore.resolve('@stryker-mutator/api/core'))
  )) as { strykerCoreSchema: JsonSchema };
  const { strykerValidationSchema: tapSchema } = (await import('@stryker-mutator/tap-runner')) as {
    strykerValidationSchema: JsonSchema;
  };
  const validatorFile = path.join(path.dirname(corePkg), 'dist/src/config/options-validator.js');
  const { OptionsValidator } = (await import(url(validatorFile))) as {
    OptionsValidator: new (
      schema: JsonSchema,
      log: Record<string, (...args: unknown[]) => unknown>,
    ) => { validate(options: object, mark: boolean): void };
  };
  const schema: JsonSchema = {
    ...strykerCoreSchema,
    properties: { ...strykerCoreSchema.properties, ...tapSchema.properties },
    definitions: { ...strykerCoreSchema.definitions, ...tapSchema.definitions },
  };
  return {
    check(config) {
      const verdict: Verdict = { errors: [], warnings: [] };
      const text = (args: unknown[]) => args.map(String).join(' ');
      const quiet = () => undefined;
      const log = {
        ...Object.fromEntries(
          ['Trace', 'Debug', 'Info', 'Warn', 'Error', 'Fatal'].map((l) => [
            `is${l}Enabled`,
            () => true,
          ]),
        ),
        trace: quiet,
        debug: quiet,
        info: quiet,
        warn: (...a: unknown[]) => void verdict.warnings.push(text(a)),
        error: (...a: unknown[]) => void verdict.errors.push(text(a)),
        fatal: (...a: unknown[]) => void verdict.errors.push(text(a)),
      };
      try {
        // The validator fills in defaults: it gets a copy.
        new OptionsValidator(schema, log).validate(structuredClone(config), true);
      } catch (err) {
        verdict.errors.push(String(err));
      }
      return verdict;
    },
  };
}

interface JsonSchema {
  properties: Record<string, unknown>;
  definitions?: Record<string, unknown>;
  [key: string]: unknown;
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

  it("is valid as Stryker's own options validator sees it, with the tap runner's schema", async () => {
    const v = await strykerValidator();
    for (const name of Object.keys(scopes)) {
      const { errors, warnings } = v.check(await configFor(name));
      assert.deepEqual(errors, [], `scope ${name}`);
      assert.deepEqual(warnings, [], `scope ${name}`);
    }
    // The check can fail: a misspelt option, a wrong type, an unknown tap runner option.
    const config = await configFor('agent');
    assert.match(v.check({ ...config, concurency: 2 }).warnings.join('\n'), /"concurency"/);
    assert.match(v.check({ ...config, concurrency: 'one' }).errors.join('\n'), /concurrency/);
    const tap = { ...tapOf(config), bail: true };
    assert.match(
      v.check({ ...config, tap }).errors.join('\n'),
      /"tap" must NOT have additional properties/,
    );
  });

  it('names a test runner the installed tap runner provides, at the pinned 9.6 versions', async () => {
    const config = await configFor('store');
    const plugin = (await import('@stryker-mutator/tap-runner')) as {
      strykerPlugins: Array<{ kind: string; name: string }>;
    };
    assert.ok(
      plugin.strykerPlugins.some((p) => p.kind === 'TestRunner' && p.name === config['testRunner']),
      `a TestRunner plugin named ${String(config['testRunner'])}`,
    );
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
      devDependencies: Record<string, string>;
    };
    const require = createRequire(import.meta.url);
    for (const name of ['@stryker-mutator/core', '@stryker-mutator/tap-runner']) {
      assert.match(pkg.devDependencies[name] ?? '', /^\^?~?9\.6\./, `${name} in devDependencies`);
      const installed = JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8'));
      assert.match((installed as { version: string }).version, /^9\.6\./, `${name} installed`);
    }
  });
});
