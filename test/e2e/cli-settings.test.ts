/**
 * The real `bin/romana.js`, spawned: settings precedence and usage errors against a real romanad
 * (memory store, example topology), a closed pipe, local topology validation without a server,
 * and HTTPS with tokens.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { BIN, makeCli, ROMANAD_ARGS, ROOT } from '../helpers/cli.ts';
import { startRomanad, type Romanad } from '../helpers/romanad.ts';
import { makeCerts, type TestCerts } from '../helpers/tls.ts';

const cli = makeCli();
const { home: HOME, romana, ok, fails } = cli;
after(() => cli.remove());

describe('romana against a real romanad', () => {
  let d: Romanad;
  let r: string[];
  before(async () => {
    d = await startRomanad(ROMANAD_ARGS);
    r = ['-r', d.url];
  });
  after(() => d.stop());

  it('takes settings from flags over environment over the config file', async () => {
    const cfg = path.join(HOME, 'cli.yaml');
    writeFileSync(cfg, `root-url: http://127.0.0.1:1\nformat: json\n`);
    const fromFile = await romana(['-c', cfg, 'network', 'list']);
    assert.equal(fromFile.code, 3);
    assert.match(
      fromFile.stderr,
      /^romana: cannot reach romanad at http:\/\/127\.0\.0\.1:1: .*ECONNREFUSED/,
    );
    const envWins = await romana(['-c', cfg, 'network', 'list'], {
      env: { ROMANA_ROOT_URL: d.url },
    });
    assert.equal(envWins.code, 0);
    assert.ok(Array.isArray(JSON.parse(envWins.stdout)), 'format json from the file');
    const flagWins = await romana(['network', 'list', '-f', 'table', '-r', d.url], {
      env: { ROMANA_CONFIG: cfg, ROMANA_ROOT_URL: 'http://127.0.0.1:1', ROMANA_FORMAT: 'json' },
    });
    assert.equal(flagWins.code, 0);
    assert.match(flagWins.stdout, /^NAME +CIDR/);
    writeFileSync(path.join(HOME, '.romana.yaml'), `RootURL: ${d.url}\nPlatform: kubernetes\n`);
    try {
      assert.match(await ok(['host', 'list']), /^NAME +IP/);
    } finally {
      rmSync(path.join(HOME, '.romana.yaml'));
    }
  });

  it('prints JSON or YAML with -o as kubectl spells it, the same data as -f json', async () => {
    const viaF = JSON.parse(await ok([...r, '-f', 'json', 'network', 'list'])) as unknown;
    assert.ok(Array.isArray(viaF) && viaF.length > 0, 'the example has networks');
    assert.deepEqual(JSON.parse(await ok([...r, 'network', 'list', '-o', 'json'])), viaF);
    const yaml = await ok([...r, '-o', 'yaml', 'network', 'list']);
    assert.match(yaml, /^- revision: \d+\n {2}id: pods\n/);
    assert.deepEqual(parseYaml(yaml), viaF);
  });

  it('exits 2 on a usage error, with one line on stderr', async () => {
    assert.match(await fails(2, [...r, 'frobnicate']), /unknown command 'frobnicate'/);
    assert.match(await fails(2, [...r, 'host', 'add', 'node-9']), /missing required argument 'ip'/);
    assert.match(await fails(2, ['-f', 'xml', 'host', 'list']), /--format: 'xml' is not a format/);
    const bare = await romana([]);
    assert.equal(bare.code, 2);
    assert.match(bare.stderr, /^Usage: romana /);
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
      version: string;
    };
    assert.equal(await ok(['--version']), `romana ${pkg.version}\n`);
    assert.match(await ok(['host', 'add', '--help']), /Examples:\n {2}\$ romana host add /);
  });
});

describe('romana in a pipeline', () => {
  it('stops quietly when the reader closes the pipe early', async () => {
    const out = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const cmd = `"${process.execPath}" "${BIN}" --help | head -c 5 >/dev/null`;
      const proc = spawn('/bin/sh', ['-c', `${cmd}; echo "$?" >&2`], { cwd: ROOT });
      let stderr = '';
      proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      proc.on('close', (code) => resolve({ code, stderr }));
    });
    assert.equal(out.stderr, '0\n', 'no EPIPE stack, exit 0 from head');
  });
});

describe('romana validates topology files locally', () => {
  it('accepts the example without any server, and prints every problem of a bad file', async () => {
    const noServer = ['-r', 'http://127.0.0.1:1'];
    assert.equal(
      await ok([...noServer, 'topology', 'validate', 'examples/topology.json']),
      'examples/topology.json: valid\n',
    );
    assert.deepEqual(
      JSON.parse(
        await ok([...noServer, '-f', 'json', 'topology', 'validate', 'examples/topology.json']),
      ),
      {
        valid: true,
        problems: [],
      },
    );
    const bad = JSON.stringify({
      networks: [
        { name: 'a', cidr: '10.0.0.1/8' },
        { name: 'b', cidr: 'x' },
      ],
      topologies: [{ networks: ['a'], map: [{ name: 'g' }] }],
    });
    const table = await romana([...noServer, 'topology', 'validate', '-'], { stdin: bad });
    assert.equal(table.code, 1);
    const lines = table.stdout.trimEnd().split('\n');
    assert.ok(lines.length >= 2, table.stdout);
    assert.match(lines[0]!, /^networks\[0\]\.cidr: '10\.0\.0\.1\/8' has host bits set/);
    assert.match(table.stderr, /^romana: stdin is not a valid topology: \d+ problem\(s\)\n$/);
    const j = await romana([...noServer, '-f', 'json', 'topology', 'validate', '-'], {
      stdin: bad,
    });
    assert.equal(j.code, 1);
    const body = JSON.parse(j.stdout) as { valid: boolean; problems: string[] };
    assert.deepEqual([body.valid, body.problems], [false, lines]);
  });
});

describe('romana over HTTPS with tokens', () => {
  let d: Romanad;
  let certs: TestCerts;
  let tls: NodeJS.ProcessEnv;
  const ADMIN = '3f9a0c51d2e84b7f9a61c0de55b2a7e1';
  const READER = '0d4c2b1a9e8f7a6b5c4d3e2f1a0b9c8d';
  before(async () => {
    certs = makeCerts();
    const file = path.join(certs.dir, 'tokens.yaml');
    writeFileSync(
      file,
      `- { token: ${ADMIN}, role: admin, name: ops }\n- { token: ${READER}, role: read-only, name: ro }\n`,
      { mode: 0o600 },
    );
    const tlsArgs = ['--tls-cert', certs.serverCert, '--tls-key', certs.serverKey];
    d = await startRomanad([...ROMANAD_ARGS, '--token-file', file, ...tlsArgs]);
    tls = { NODE_EXTRA_CA_CERTS: certs.ca };
  });
  after(async () => {
    await d.stop();
    certs.remove();
  });

  it('trusts romanad through NODE_EXTRA_CA_CERTS, and cannot reach it without', async () => {
    assert.match(d.url, /^https:/);
    assert.match(
      await ok(['-r', d.url, '--token', ADMIN, 'host', 'list'], undefined, tls),
      /^NAME/,
    );
    const line = await fails(3, ['-r', d.url, '--token', ADMIN, 'host', 'list']);
    assert.match(line, new RegExp(`^romana: cannot reach romanad at ${d.url}: .*certificate`));
  });

  it('sends the token from the flag, the environment or the config file', async () => {
    const r = ['-r', d.url];
    assert.match(
      await fails(1, [...r, 'host', 'list'], undefined, tls),
      /\(HTTP 401 Unauthorized\)/,
    );
    assert.match(await ok([...r, '--token', ADMIN, 'host', 'list'], undefined, tls), /^NAME/);
    const reader = { ...tls, ROMANA_TOKEN: READER };
    const line = await fails(1, [...r, 'blackout', 'add', '10.127.0.0/24'], undefined, reader);
    assert.match(line, /\(HTTP 403 Forbidden\)\n$/);
    const cfg = path.join(certs.dir, 'cli.yaml');
    writeFileSync(cfg, `root-url: ${d.url}\ntoken: ${ADMIN}\n`);
    assert.match(
      await ok(['-c', cfg, 'blackout', 'add', '10.127.0.0/24'], undefined, tls),
      /^CIDR/,
    );
  });
});
