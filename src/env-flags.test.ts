import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Command, Option } from 'commander';
import { parseSwitch, readBooleanEnv } from './env-flags.ts';

/** A program with one switch, one negated switch and one valued option, all from the env. */
function parse(env: NodeJS.ProcessEnv, argv: string[] = []): Record<string, unknown> {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    const cmd = new Command('t')
      .exitOverride()
      .addOption(new Option('--policy', 'p').env('T_POLICY').default(false))
      .addOption(new Option('--no-vips', 'v').env('T_NO_VIPS'))
      .addOption(new Option('--url <u>', 'u').env('T_URL').default('x'))
      .action(() => undefined);
    cmd.hook('preAction', (c) => readBooleanEnv(c, process.env));
    cmd.parse(argv, { from: 'user' });
    return cmd.opts();
  } finally {
    for (const k of ['T_POLICY', 'T_NO_VIPS', 'T_URL']) delete process.env[k];
    Object.assign(process.env, saved);
  }
}

describe('switches from the environment', () => {
  it('reads false as off and true as on', () => {
    assert.equal(parse({ T_POLICY: 'false' })['policy'], false);
    assert.equal(parse({ T_POLICY: '0' })['policy'], false);
    assert.equal(parse({ T_POLICY: 'true' })['policy'], true);
    assert.equal(parse({ T_POLICY: ' Yes ' })['policy'], true);
    assert.equal(parse({})['policy'], false);
  });

  it('turns the negated option around', () => {
    assert.equal(parse({ T_NO_VIPS: 'true' })['vips'], false);
    assert.equal(parse({ T_NO_VIPS: 'false' })['vips'], true);
    assert.equal(parse({})['vips'], true);
  });

  it('lets the command line win and leaves valued options alone', () => {
    assert.equal(parse({ T_POLICY: 'false' }, ['--policy'])['policy'], true);
    assert.equal(parse({ T_URL: 'false' })['url'], 'false');
  });

  it('refuses anything else, naming the variable and the value', () => {
    assert.throws(() => parse({ T_POLICY: 'maybe' }), /T_POLICY: 'maybe' is not a switch value/);
    assert.throws(() => parseSwitch('V', 'enabled'), /V: 'enabled'/);
  });
});
