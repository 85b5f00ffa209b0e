/** romanad's settings: defaults, each source, precedence, and errors that name the culprit. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { makeCerts } from '../../test/helpers/tls.ts';
import { isRomanaError } from '../errors.ts';
import {
  appOptionsFromConfig,
  ConfigError,
  envName,
  HelpRequested,
  helpText,
  parseConfig,
} from './config.ts';

const dir = mkdtempSync(join(tmpdir(), 'romanad-config-'));
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text, { mode: 0o600 });
  return p;
}

function fails(argv: string[], env: NodeJS.ProcessEnv, message: RegExp): void {
  assert.throws(
    () => parseConfig(argv, env),
    (e: Error) =>
      e instanceof ConfigError && isRomanaError(e, 'InvalidInput') && message.test(e.message),
    `${argv.join(' ')} ${JSON.stringify(env)}`,
  );
}

describe('parseConfig', () => {
  test('defaults match the issue: loopback, 9600, embedded ./romana-data, etcd on loopback, /romana, info', () => {
    const c = parseConfig([], {});
    assert.equal(c.host, '127.0.0.1');
    assert.equal(c.port, 9600);
    assert.deepEqual(c.store, { kind: 'embedded', dir: './romana-data' });
    assert.deepEqual(c.etcd, { endpoints: ['127.0.0.1:2379'], prefix: '/romana' });
    assert.equal(c.logLevel, 'info');
    assert.equal(c.tokenFile, undefined);
    assert.equal(c.sources['port'], 'default');
  });

  test('every flag is read', () => {
    const c = parseConfig(
      [
        '--host',
        '0.0.0.0',
        '--port',
        '9700',
        '--store',
        'etcd',
        '--etcd-endpoints',
        'a:2379, https://b:2379',
        '--etcd-prefix',
        'custom',
        '--etcd-ca',
        'ca.pem',
        '--etcd-cert',
        'c.pem',
        '--etcd-key',
        'k.pem',
        '--initial-topology-file',
        't.json',
        '--token-file',
        'tokens.yaml',
        '--tls-cert',
        'tls.pem',
        '--tls-key',
        'tls.key',
        '--log-level',
        'debug',
      ],
      {},
    );
    assert.equal(c.host, '0.0.0.0');
    assert.equal(c.port, 9700);
    assert.deepEqual(c.store, { kind: 'etcd' });
    assert.deepEqual(c.etcd, {
      endpoints: ['a:2379', 'https://b:2379'],
      prefix: '/custom',
      ca: 'ca.pem',
      cert: 'c.pem',
      key: 'k.pem',
    });
    assert.equal(c.initialTopologyFile, 't.json');
    assert.equal(c.tokenFile, 'tokens.yaml');
    assert.equal(c.tlsCert, 'tls.pem');
    assert.equal(c.tlsKey, 'tls.key');
    assert.equal(c.logLevel, 'debug');
    assert.equal(c.sources['host'], 'flag');
  });

  test('--flag=value works like --flag value', () => {
    assert.equal(parseConfig(['--port=9701'], {}).port, 9701);
  });

  test('store specs: embedded:<dir>, embedded, memory:, memory, etcd', () => {
    assert.deepEqual(parseConfig(['--store', 'embedded:/var/lib/romana'], {}).store, {
      kind: 'embedded',
      dir: '/var/lib/romana',
    });
    assert.deepEqual(parseConfig(['--store', 'embedded'], {}).store, {
      kind: 'embedded',
      dir: './romana-data',
    });
    assert.deepEqual(parseConfig(['--store', 'memory:'], {}).store, { kind: 'memory' });
    assert.deepEqual(parseConfig(['--store', 'memory'], {}).store, { kind: 'memory' });
    assert.deepEqual(parseConfig(['--store', 'etcd:'], {}).store, { kind: 'etcd' });
  });

  test('the etcd prefix gets one leading slash, no trailing one, no doubled ones', () => {
    const p = (v: string) => parseConfig(['--etcd-prefix', v], {}).etcd.prefix;
    assert.equal(p('romana'), '/romana');
    assert.equal(p('/romana/'), '/romana');
    assert.equal(p('//a//b'), '/a/b');
    assert.equal(p('/'), '/');
  });

  test('each setting has a ROMANAD_ variable', () => {
    assert.equal(envName('etcd-endpoints'), 'ROMANAD_ETCD_ENDPOINTS');
    const c = parseConfig([], {
      ROMANAD_HOST: '::1',
      ROMANAD_PORT: '9800',
      ROMANAD_STORE: 'memory:',
      ROMANAD_ETCD_ENDPOINTS: 'x:1,y:2',
      ROMANAD_ETCD_PREFIX: 'p',
      ROMANAD_TOKEN_FILE: '/t',
      ROMANAD_LOG_LEVEL: 'WARN',
      ROMANAD_TLS_CERT: 'c',
      ROMANAD_TLS_KEY: 'k',
    });
    assert.equal(c.host, '::1');
    assert.equal(c.port, 9800);
    assert.deepEqual(c.store, { kind: 'memory' });
    assert.deepEqual(c.etcd.endpoints, ['x:1', 'y:2']);
    assert.equal(c.etcd.prefix, '/p');
    assert.equal(c.tokenFile, '/t');
    assert.equal(c.logLevel, 'warn');
    assert.equal(c.sources['port'], 'env');
  });

  test('an empty variable counts as unset', () => {
    assert.equal(parseConfig([], { ROMANAD_PORT: '', ROMANAD_TOKEN_FILE: '' }).port, 9600);
    assert.equal(parseConfig([], { ROMANAD_TOKEN_FILE: '' }).tokenFile, undefined);
  });

  test('a YAML config file keyed by flag name; endpoints may be a list', () => {
    const f = file(
      'a.yaml',
      'port: 9900\nstore: "memory:"\netcd-endpoints: [a:1, b:2]\nlog-level: error\ntoken-file: /etc/t.yaml\n',
    );
    const c = parseConfig(['--config', f], {});
    assert.equal(c.port, 9900);
    assert.deepEqual(c.store, { kind: 'memory' });
    assert.deepEqual(c.etcd.endpoints, ['a:1', 'b:2']);
    assert.equal(c.logLevel, 'error');
    assert.equal(c.tokenFile, '/etc/t.yaml');
    assert.equal(c.configFile, f);
    assert.equal(c.sources['port'], 'file');
  });

  test('precedence: flags > environment > config file > defaults', () => {
    const f = file('p.yaml', 'port: 1001\nhost: 127.0.0.3\nlog-level: debug\n');
    const env = { ROMANAD_CONFIG: f, ROMANAD_PORT: '1002', ROMANAD_HOST: '127.0.0.4' };
    const c = parseConfig(['--port', '1003'], env);
    assert.equal(c.port, 1003); // flag over env and file
    assert.equal(c.host, '127.0.0.4'); // env over file
    assert.equal(c.logLevel, 'debug'); // file over default
    assert.equal(c.store.kind, 'embedded'); // default
    assert.deepEqual(
      [c.sources['port'], c.sources['host'], c.sources['log-level'], c.sources['store']],
      ['flag', 'env', 'file', 'default'],
    );
    // --config on the command line wins over ROMANAD_CONFIG.
    const g = file('q.yaml', 'log-level: trace\n');
    assert.equal(parseConfig(['--config', g], env).logLevel, 'trace');
  });

  test('bad values name the flag, variable or file key, and the value', () => {
    fails(['--port', 'abc'], {}, /^--port: 'abc' is not a port number/);
    fails(['--port', '70000'], {}, /^--port: '70000' is not a port number/);
    fails([], { ROMANAD_PORT: '-1' }, /^ROMANAD_PORT: '-1' is not a port number/);
    fails(
      ['--store', 'sqlite:x'],
      {},
      /^--store: 'sqlite:x' is not a store; use embedded:<dir>, memory: or etcd/,
    );
    fails(['--log-level', 'loud'], {}, /^--log-level: 'loud' is not a log level/);
    fails(['--etcd-endpoints', 'a:1,,b:2'], {}, /^--etcd-endpoints: 'a:1,,b:2' is not a list/);
    fails(['--host', ''], {}, /^--host: '' is not a host address/);
    const f = file('bad.yaml', 'port: abc\n');
    fails(['--config', f], {}, new RegExp(`^${f}: port: 'abc' is not a port number`));
  });

  test('unknown flags, stray arguments, missing values and unpaired TLS files are refused', () => {
    fails(['--prot', '1'], {}, /unknown option '--prot'/);
    fails(['serve'], {}, /too many arguments/);
    fails(['--port'], {}, /option '--port <port>' argument missing/);
    fails(['--tls-cert', 'c.pem'], {}, /^--tls-cert needs --tls-key as well$/);
    fails(['--tls-key', 'k.pem'], {}, /^--tls-key needs --tls-cert as well$/);
    fails(['--etcd-key', 'k.pem'], {}, /^--etcd-key needs --etcd-cert as well$/);
  });

  test('config file problems: unreadable, not YAML, not a mapping, unknown keys', () => {
    fails(['--config', join(dir, 'missing.yaml')], {}, /^--config: cannot read/);
    fails([], { ROMANAD_CONFIG: join(dir, 'missing.yaml') }, /^ROMANAD_CONFIG: cannot read/);
    fails(['--config', file('x.yaml', 'port: [\n')], {}, /not valid YAML/);
    fails(['--config', file('l.yaml', '- a\n')], {}, /must be a mapping/);
    fails(['--config', file('u.yaml', 'prot: 1\n')], {}, /unknown setting 'prot'/);
    assert.equal(parseConfig(['--config', file('e.yaml', '')], {}).port, 9600);
  });

  test('--help documents every flag with its default and variable', () => {
    assert.throws(
      () => parseConfig(['--help'], {}),
      (e: Error) => e instanceof HelpRequested && e.text === helpText(),
    );
    const text = helpText();
    for (const flag of [
      'host',
      'port',
      'store',
      'etcd-endpoints',
      'etcd-prefix',
      'etcd-ca',
      'etcd-cert',
      'etcd-key',
      'initial-topology-file',
      'token-file',
      'tls-cert',
      'tls-key',
      'log-level',
      'config',
    ]) {
      assert.match(text, new RegExp(`--${flag} <`), flag);
      assert.match(text.replace(/\s+/g, ' '), new RegExp(envName(flag)), flag);
    }
    assert.match(text.replace(/\s+/g, ' '), /default: 9600; env ROMANAD_PORT/);
    assert.match(text.replace(/\s+/g, ' '), /default: embedded:\.\/romana-data/);
  });
});

describe('appOptionsFromConfig', () => {
  test('reads the token file and the TLS files, and sets the log level', () => {
    const tokens = file('tokens.yaml', '- {token: abcdefghijklmnopqrstuvwx, role: admin}\n');
    const certs = makeCerts();
    try {
      const { serverCert: cert, serverKey: key } = certs;
      const o = appOptionsFromConfig(
        parseConfig(
          ['--token-file', tokens, '--tls-cert', cert, '--tls-key', key, '--log-level', 'warn'],
          {},
        ),
      );
      assert.deepEqual(o.tokens, [{ token: 'abcdefghijklmnopqrstuvwx', role: 'admin' }]);
      assert.equal(String(o.https?.cert), readFileSync(cert, 'utf8'));
      assert.equal(String(o.https?.key), readFileSync(key, 'utf8'));
      assert.deepEqual(o.logger, { level: 'warn' });
      // A file that is not PEM, or a key of another certificate, is named at once.
      const bad = file('bad.pem', 'CERT');
      const tls = (c: string, k: string) =>
        appOptionsFromConfig(parseConfig(['--tls-cert', c, '--tls-key', k], {}));
      assert.throws(
        () => tls(bad, key),
        (e: Error) => e instanceof ConfigError && e.message.startsWith(`--tls-cert: '${bad}'`),
      );
      assert.throws(
        () => tls(cert, bad),
        (e: Error) => e instanceof ConfigError && e.message.startsWith(`--tls-key: '${bad}'`),
      );
      assert.throws(
        () => tls(cert, certs.clientKey),
        (e: Error) => e instanceof ConfigError && /does not match the certificate/.test(e.message),
      );
    } finally {
      certs.remove();
    }
  });

  test('--allow-readable-token-file comes from a flag, a variable or the config file', () => {
    assert.equal(parseConfig([], {}).allowReadableTokenFile, false);
    assert.equal(parseConfig(['--allow-readable-token-file'], {}).allowReadableTokenFile, true);
    const env = { ROMANAD_ALLOW_READABLE_TOKEN_FILE: 'true' };
    assert.equal(parseConfig([], env).allowReadableTokenFile, true);
    const cfg = file('allow.yaml', 'allow-readable-token-file: true\n');
    assert.equal(parseConfig(['--config', cfg], {}).allowReadableTokenFile, true);
    fails(
      [],
      { ROMANAD_ALLOW_READABLE_TOKEN_FILE: 'maybe' },
      /ROMANAD_ALLOW_READABLE_TOKEN_FILE: 'maybe' is not true or false/,
    );
  });

  test('unreadable files are ConfigErrors naming the flag', () => {
    assert.throws(
      () => appOptionsFromConfig(parseConfig(['--token-file', join(dir, 'nope')], {})),
      (e: Error) => e instanceof ConfigError && /^--token-file: /.test(e.message),
    );
    assert.throws(
      () =>
        appOptionsFromConfig(
          parseConfig(['--tls-cert', join(dir, 'nope'), '--tls-key', join(dir, 'nope')], {}),
        ),
      (e: Error) => e instanceof ConfigError && /^--tls-cert: cannot read/.test(e.message),
    );
  });
});
