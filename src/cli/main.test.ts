/**
 * `main` in-process: usage errors (exit 2, one line, nothing sent), help texts with an
 * example for every command, the version, and an unreachable server (exit 3).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import type { Io } from './io.ts';
import { main } from './main.ts';

const HOME = mkdtempSync(path.join(tmpdir(), 'romana-main-'));
after(() => rmSync(HOME, { recursive: true, force: true }));
const DEAD = 'http://127.0.0.1:1';

async function run(
  argv: string[],
  env: Record<string, string> = {},
  stdin?: string,
): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: Io = {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    readStdin: async () => stdin,
    env,
    home: HOME,
  };
  const code = await main(argv, io);
  return { code, out, err };
}

describe('romana main', () => {
  const usage: Array<[string[], RegExp]> = [
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['host', 'add', 'node-9'], /missing required argument 'ip'/],
    [['host', 'list', '--bogus'], /unknown option '--bogus'/],
    [['-f', 'xml', 'host', 'list'], /--format: 'xml' is not a format \(table, json, yaml\)/],
    [['-o', 'wide', 'host', 'list'], /-o: 'wide' is not a format \(table, json, yaml\)/],
    [['-o', 'json', '-f', 'yaml', 'host', 'list'], /-o 'json' and --format 'yaml' disagree/],
    [['--timeout', 'soon', 'host', 'list'], /--timeout: 'soon' is not a duration/],
    [['-r', 'ftp://x', 'host', 'list'], /--root-url: 'ftp:\/\/x' must be an http/],
    [['-r', 'not a url', 'host', 'list'], /--root-url: 'not a url' is not a URL/],
    [['-c', '/nonexistent.yaml', 'host', 'list'], /config file \/nonexistent\.yaml: cannot read/],
    [['host', 'add', 'n', '1.2.3.4', '--tag', 'zone'], /--tag: 'zone' is not key=value/],
    [['host', 'add', 'n', '1.2.3.4', '--agent-port', 'x'], /--agent-port: 'x' is not a port/],
    [['host', 'label', 'n', '=v'], /label: '=v' is not key=value/],
    [['address', 'allocate', 'pod'], /required option '--host <name>' not specified/],
    [['policy', 'show'], /missing required argument 'id'/],
    [['topology', 'validate'], /missing required argument 'file'/],
    [['topology', 'update'], /stdin is a terminal: give a FILE/],
    [['topology', 'update', '/nonexistent.json'], /cannot read \/nonexistent\.json: ENOENT/],
  ];
  for (const [argv, message] of usage) {
    it(`exits 2 for: romana ${argv.join(' ')}`, async () => {
      const r = await run(['-r', DEAD, ...argv]);
      assert.equal(r.code, 2, r.err);
      assert.equal(r.out, '');
      assert.match(r.err, /^romana: [^\n]+\n$/);
      assert.match(r.err, message);
    });
  }

  it('names the variable or the config key whose value is wrong', async () => {
    const env = await run(['host', 'list'], { ROMANA_FORMAT: 'xml' });
    assert.equal(env.code, 2);
    assert.match(env.err, /^romana: ROMANA_FORMAT: 'xml' is not a format/);
    const cfg = path.join(HOME, 'bad.yaml');
    writeFileSync(cfg, 'rooturl: http://x\ncolour: red\n');
    const file = await run(['-c', cfg, 'host', 'list']);
    assert.equal(file.code, 2);
    assert.match(file.err, /config file .*bad\.yaml: unknown key 'colour'/);
  });

  it('exits 3 with the URL it tried when romanad cannot be reached', async () => {
    const r = await run(['-r', DEAD, 'host', 'list']);
    assert.equal(r.code, 3);
    assert.match(r.err, /^romana: cannot reach romanad at http:\/\/127\.0\.0\.1:1: .*ECONNREFUSED/);
  });

  it('gives up on a silent server after --timeout (or ROMANA_TIMEOUT), exit 3', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((s) => void sockets.push(s)); // accepts, never answers
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    try {
      for (const [argv, env] of [
        [['--timeout', '300ms', '-r', url, 'host', 'list'], {}],
        [['-r', url, 'host', 'list'], { ROMANA_TIMEOUT: '0.3' }],
      ] as const) {
        const t0 = Date.now();
        const r = await run([...argv], env);
        assert.equal(r.code, 3, r.err);
        assert.match(r.err, /^romana: cannot reach romanad at .*: no answer within 300 ms\n$/);
        assert.ok(Date.now() - t0 < 10_000, `took ${Date.now() - t0} ms`);
      }
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });

  it('prints help on stderr and exits 2 without a command', async () => {
    for (const argv of [[], ['host']]) {
      const r = await run(argv);
      assert.equal(r.code, 2);
      assert.match(r.err, /^Usage: romana /);
    }
  });

  it('has --help with an example for every command', async () => {
    const groups = [
      'network',
      'block',
      'host',
      'address',
      'topology',
      'policy',
      'blackout',
      'namespace',
    ];
    const top = await run(['--help']);
    assert.equal(top.code, 0);
    for (const g of groups) assert.match(top.out, new RegExp(`\n {2}${g} `));
    for (const g of groups) {
      const help = (await run([g, '--help'])).out;
      const subs = [...help.matchAll(/^ {2}([a-z]+) /gm)].map((m) => m[1]!);
      assert.ok(subs.length >= 2, `${g} has subcommands`);
      for (const s of subs.filter((x) => x !== 'help')) {
        const r = await run([g, s, '--help']);
        assert.equal(r.code, 0);
        assert.match(r.out, new RegExp(`Examples:\n {2}\\$ romana ${g} ${s}`), `${g} ${s}`);
      }
    }
  });

  it('prints the package version', async () => {
    const pkg = JSON.parse(
      readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
    ) as { version: string };
    assert.deepEqual(await run(['--version']), {
      code: 0,
      out: `romana ${pkg.version}\n`,
      err: '',
    });
  });

  it('validates a topology from stdin without a server', async () => {
    const ok = await run(
      ['-r', DEAD, 'topology', 'validate', '-'],
      {},
      '{"networks": [], "topologies": []}',
    );
    assert.deepEqual(ok, { code: 0, out: 'stdin: valid\n', err: '' });
    const yaml =
      'networks:\n  - {name: n, cidr: 10.0.0.0/16}\ntopologies:\n  - {networks: [n], map: [{name: g}]}\n';
    assert.equal((await run(['topology', 'validate', '-'], {}, yaml)).code, 0);
  });
});

/** Pure modules with no I/O and no dependencies that the CLI may share with the rest. */
const PURE_SHARED = ['version.ts', 'errors.ts', 'ipam/addr.ts', 'net/addr.ts', 'net/addr-text.ts'];

describe('romana start-up', () => {
  /** The modules `file` imports, statically or on demand, and the packages. */
  const closure = (file: string, onDemand: boolean) => {
    const seen = new Set<string>();
    const external = new Set<string>();
    const visit = (f: string) => {
      if (seen.has(f)) return;
      seen.add(f);
      const text = readFileSync(f, 'utf8');
      const specs = [
        ...text.matchAll(/^(?:import|export) (?!type )[^;]*? from '([^']+)';/gms),
        ...(onDemand ? text.matchAll(/\bimport\('([^']+)'\)/g) : []),
      ].map((m) => m[1]!);
      for (const spec of specs) {
        if (spec.startsWith('.')) visit(path.resolve(path.dirname(f), spec));
        else external.add(spec);
      }
    };
    visit(file);
    const files = [...seen].map((f) => path.relative(path.join(import.meta.dirname, '..'), f));
    return { files, external };
  };
  const main = path.join(import.meta.dirname, 'main.ts');

  it('loads no server, store or datastore client code, even on demand', () => {
    const { files, external } = closure(main, true);
    assert.deepEqual(
      files.filter((f) => f.startsWith('server/') || f.startsWith('store/')),
      [],
    );
    assert.ok(files.includes('cli/commands/host.ts'), String(files));
    for (const dep of ['fastify', 'etcd3', 'pino', 'prom-client'])
      assert.ok(!external.has(dep), dep);
  });

  it('loads no command, no YAML and no cli-table3 before a command runs', () => {
    const { files, external } = closure(main, false);
    assert.deepEqual(
      files.filter(
        (f) => !f.startsWith('cli/') && !f.startsWith('client/') && !PURE_SHARED.includes(f),
      ),
      [],
      'only src/cli, src/client and small pure shared modules at start-up',
    );
    assert.deepEqual(
      files.filter((f) => f.startsWith('cli/commands/') || f === 'cli/table-wide.ts'),
      [],
    );
    assert.ok(files.includes('client/http.ts'), String(files));
    assert.deepEqual([...external].sort(), [
      'commander',
      'node:fs',
      'node:fs/promises',
      'node:http',
      'node:https',
      'node:net',
      'node:os',
      'node:path',
    ]);
  });
});
