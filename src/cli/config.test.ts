import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { DEFAULT_ROOT_URL, resolveSettings } from './config.ts';
import { UsageError } from './errors.ts';

const HOME = mkdtempSync(path.join(tmpdir(), 'romana-config-'));
after(() => rmSync(HOME, { recursive: true, force: true }));
const EMPTY_HOME = mkdtempSync(path.join(tmpdir(), 'romana-config-empty-'));
after(() => rmSync(EMPTY_HOME, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const p = path.join(HOME, name);
  writeFileSync(p, text);
  return p;
}

describe('resolveSettings', () => {
  it('defaults to loopback, table output and no token when nothing is set', async () => {
    const s = await resolveSettings({}, {}, EMPTY_HOME);
    assert.deepEqual(s, {
      rootUrl: DEFAULT_ROOT_URL,
      format: 'table',
      token: undefined,
      timeoutMs: 30_000,
      configFile: undefined,
    });
  });

  it('reads --timeout as kubectl spells durations, from a flag, a variable or the file', async () => {
    const t = async (flags: object, env: Record<string, string> = {}) =>
      (await resolveSettings(flags, env, EMPTY_HOME)).timeoutMs;
    assert.equal(await t({ timeout: '5s' }), 5000);
    assert.equal(await t({ timeout: '250ms' }), 250);
    assert.equal(await t({ timeout: '2m' }), 120_000);
    assert.equal(await t({ timeout: '1.5' }), 1500);
    assert.equal(await t({ timeout: '0' }), 0);
    assert.equal(await t({}, { ROMANA_TIMEOUT: '7s' }), 7000);
    assert.equal(await t({ timeout: '1s' }, { ROMANA_TIMEOUT: '7s' }), 1000);
    assert.equal(await t({ config: file('t.yaml', 'timeout: 9\n') }), 9000);
    assert.equal(await t({ config: file('t2.yaml', 'timeout: 90s\n') }), 90_000);
  });

  it('takes -o json|yaml as kubectl spells it, the same as --format', async () => {
    const f = async (flags: object) => (await resolveSettings(flags, {}, EMPTY_HOME)).format;
    assert.equal(await f({ output: 'yaml' }), 'yaml');
    assert.equal(await f({ output: 'json', format: 'json' }), 'json');
    assert.equal(await f({ format: 'yaml' }), 'yaml');
  });

  it('lets flags override the environment, which overrides the file', async () => {
    const cfg = file('a.yaml', 'root-url: http://file:1\nformat: json\ntoken: from-file\n');
    const fromFile = await resolveSettings({ config: cfg }, {}, EMPTY_HOME);
    assert.deepEqual(
      [fromFile.rootUrl, fromFile.format, fromFile.token],
      ['http://file:1', 'json', 'from-file'],
    );
    const env = { ROMANA_ROOT_URL: 'http://env:2', ROMANA_TOKEN: 'from-env', ROMANA_CONFIG: cfg };
    const fromEnv = await resolveSettings({}, env, EMPTY_HOME);
    assert.deepEqual(
      [fromEnv.rootUrl, fromEnv.format, fromEnv.token],
      ['http://env:2', 'json', 'from-env'],
    );
    const fromFlags = await resolveSettings(
      { rootUrl: 'https://flag:3/', format: 'table', token: 'from-flag' },
      env,
      EMPTY_HOME,
    );
    assert.deepEqual(
      [fromFlags.rootUrl, fromFlags.format, fromFlags.token],
      ['https://flag:3', 'table', 'from-flag'],
    );
  });

  it('treats an empty variable as unset', async () => {
    const s = await resolveSettings({}, { ROMANA_ROOT_URL: '', ROMANA_FORMAT: '' }, EMPTY_HOME);
    assert.deepEqual([s.rootUrl, s.format], [DEFAULT_ROOT_URL, 'table']);
  });

  it('reads ~/.romana.yaml by default, with 2.x keys (RootURL; Platform ignored)', async () => {
    const home = mkdtempSync(path.join(HOME, 'home-'));
    writeFileSync(
      path.join(home, '.romana.yaml'),
      'RootURL: http://old:9600\nPlatform: kubernetes\n',
    );
    const s = await resolveSettings({}, {}, home);
    assert.deepEqual(
      [s.rootUrl, s.configFile],
      ['http://old:9600', path.join(home, '.romana.yaml')],
    );
  });

  it('accepts an empty config file', async () => {
    const s = await resolveSettings({ config: file('empty.yaml', '') }, {}, EMPTY_HOME);
    assert.equal(s.rootUrl, DEFAULT_ROOT_URL);
  });

  const bad: Array<[string, () => Promise<unknown>, RegExp]> = [
    [
      'an unknown key',
      () => resolveSettings({ config: file('k.yaml', 'colour: red\n') }, {}, EMPTY_HOME),
      /unknown key 'colour'/,
    ],
    [
      'a list',
      () => resolveSettings({ config: file('l.yaml', '- a\n') }, {}, EMPTY_HOME),
      /must be a YAML mapping/,
    ],
    [
      'bad YAML',
      () => resolveSettings({ config: file('y.yaml', 'a: [\n') }, {}, EMPTY_HOME),
      /not YAML/,
    ],
    [
      'a number',
      () => resolveSettings({ config: file('n.yaml', 'token: 12\n') }, {}, EMPTY_HOME),
      /token must be a string/,
    ],
    [
      'a missing explicit file',
      () => resolveSettings({ config: '/nonexistent' }, {}, EMPTY_HOME),
      /cannot read it \(ENOENT\)/,
    ],
    [
      'a bad format in the file',
      () => resolveSettings({ config: file('f.yaml', 'format: xml\n') }, {}, EMPTY_HOME),
      /f\.yaml: format: 'xml' is not a format/,
    ],
    [
      'a bad timeout in the environment',
      () => resolveSettings({}, { ROMANA_TIMEOUT: '5 minutes' }, EMPTY_HOME),
      /ROMANA_TIMEOUT: '5 minutes' is not a duration/,
    ],
    [
      'a bad URL in the environment',
      () => resolveSettings({}, { ROMANA_ROOT_URL: 'x' }, EMPTY_HOME),
      /ROMANA_ROOT_URL: 'x' is not a URL/,
    ],
  ];
  for (const [what, call, message] of bad) {
    it(`refuses ${what} with a UsageError naming it`, async () => {
      await assert.rejects(
        call(),
        (e: unknown) => e instanceof UsageError && message.test(e.message),
      );
    });
  }
});
