/**
 * The mutation-testing configuration is valid without running a mutant (Stryker is too slow
 * for the default run): every scope's files and test files exist, the config loads for each
 * scope and refuses an unknown one, and its options are Stryker's (checked against Stryker's
 * own schema when it is installed).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';

const ROOT = path.resolve(import.meta.dirname, '..');
const CONFIG = pathToFileURL(path.join(ROOT, 'stryker.config.mjs')).href;

interface Scope {
  what: string;
  mutate: string[];
  tests: string[];
}

const { scopes } = (await import(pathToFileURL(path.join(ROOT, 'mutation.scopes.mjs')).href)) as {
  scopes: Record<string, Scope>;
};

/** The config as Stryker would load it with MUTATION_SCOPE=`scope`. */
async function configFor(scope: string): Promise<Record<string, unknown>> {
  const saved = { ...process.env };
  process.env['MUTATION_SCOPE'] = scope;
  delete process.env['MUTATION_TESTS'];
  try {
    // A fresh module instance per scope: the config reads the variables when it loads.
    return ((await import(`${CONFIG}?scope=${scope}`)) as { default: Record<string, unknown> })
      .default;
  } finally {
    for (const k of ['MUTATION_SCOPE', 'MUTATION_TESTS']) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  }
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
      const runner = config['commandRunner'] as { command: string };
      assert.equal(config['testRunner'], 'command');
      for (const f of scope.tests) assert.ok(runner.command.split(' ').includes(f), f);
      assert.equal(config['concurrency'], 1);
    });
  }

  it('refuses an unknown scope, naming the choices', async () => {
    await assert.rejects(configFor('nope'), /MUTATION_SCOPE: 'nope' is not one of ipam, policy/);
  });

  it("uses only Stryker's options", async (t) => {
    const require = createRequire(import.meta.url);
    let schemaPath: string;
    try {
      schemaPath = require.resolve('@stryker-mutator/core/schema/stryker-schema.json');
    } catch {
      // Not installed yet (npm ci installs it): the option names below are still checked.
      t.diagnostic('@stryker-mutator/core is not installed: checked against a fixed list');
      schemaPath = '';
    }
    const known =
      schemaPath === ''
        ? [
            'testRunner',
            'commandRunner',
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
        : Object.keys(
            (JSON.parse(readFileSync(schemaPath, 'utf8')) as { properties: object }).properties,
          );
    const config = await configFor('agent');
    for (const key of Object.keys(config)) assert.ok(known.includes(key), `unknown option ${key}`);
  });
});
