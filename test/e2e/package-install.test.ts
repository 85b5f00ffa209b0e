/**
 * The package as a user gets it: a clean copy of the tree is packed with `npm pack` (which
 * builds), the tarball installed with `npm install -g --offline` into a temp prefix (so it may
 * need nothing from node_modules or the network), and the installed commands run: each answers
 * `--version` and `--help`, the installed romanad serves an embedded store, the installed CLI
 * talks to it. Nothing may be written under the package, the temp dir or HOME while they run.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

const ROOT = path.resolve(import.meta.dirname, '../..');
const VERSION = (
  JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    version: string;
  }
).version;
const PROGRAMS = [
  'romanad',
  'romana',
  'romana-agent',
  'romana-cni',
  'romana-listener',
  'romana-route-publisher',
];

const work = mkdtempSync(path.join(tmpdir(), 'romana-ship-pkg-'));
const prefix = path.join(work, 'prefix');
/** TMPDIR, HOME and working directory of the installed programs: must stay empty. */
const tmp = path.join(work, 'tmp');
const home = path.join(work, 'home');
const cwd = path.join(work, 'cwd');
const env: NodeJS.ProcessEnv = {
  PATH: `${path.join(prefix, 'bin')}:${path.dirname(process.execPath)}:/usr/sbin:/usr/bin:/sbin:/bin`,
  HOME: home,
  TMPDIR: tmp,
};

/** Copies the files git would commit (tracked and new, not ignored): a clean checkout. */
function cleanCopy(to: string): void {
  const list = execFileSync(
    'git',
    ['ls-files', '-z', '--cached', '--others', '--exclude-standard'],
    {
      cwd: ROOT,
      encoding: 'utf8',
    },
  );
  for (const file of list.split('\0')) {
    if (file === '' || /^(node_modules|dist)(\/|$)/.test(file)) continue;
    if (!existsSync(path.join(ROOT, file))) continue;
    mkdirSync(path.dirname(path.join(to, file)), { recursive: true });
    cpSync(path.join(ROOT, file), path.join(to, file));
  }
  // The build needs the devDependencies, as `npm ci` installed them.
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(to, 'node_modules'));
}

/** Every path under `dir` with its size and mtime: what a write would change. */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      const s = statSync(p, { throwIfNoEntry: false });
      out.push(`${path.relative(dir, p)} ${s?.size ?? '-'} ${s?.mtimeMs ?? '-'}`);
      if (e.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out.sort();
}

function run(cmd: string, args: string[], input = '', extraEnv: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(path.join(prefix, 'bin', cmd), args, {
    cwd,
    env: { ...env, ...extraEnv },
    input,
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

after(() => rmSync(work, { recursive: true, force: true }));

describe('the package installed with npm install -g from npm pack', () => {
  let pkgDir = '';
  let before_: { pkg: string[] } = { pkg: [] };

  before(() => {
    const copy = path.join(work, 'copy');
    cleanCopy(copy);
    for (const d of [prefix, tmp, home, cwd]) mkdirSync(d, { recursive: true });
    const packed = JSON.parse(
      execFileSync('npm', ['pack', '--json', '--pack-destination', work], {
        cwd: copy,
        encoding: 'utf8',
        env: { ...process.env, npm_config_loglevel: 'error' },
        stdio: ['ignore', 'pipe', 'inherit'],
      }),
    ) as { filename: string }[];
    const tgz = path.join(work, packed[0]!.filename);
    execFileSync(
      'npm',
      ['install', '-g', '--offline', '--no-audit', '--no-fund', '--prefix', prefix, tgz],
      { cwd: work, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
    );
    pkgDir = path.join(prefix, 'lib/node_modules/romana-ts');
    before_ = { pkg: snapshot(pkgDir) };
  });

  it('installs the built programs alone: no sources, no node_modules, no tsx', () => {
    const top = readdirSync(pkgDir).sort();
    assert.deepEqual(
      top.filter((f) => !/^(README\.md|package\.json|LICENSE.*)$/.test(f)),
      ['bin', 'dist', 'docs', 'examples'],
    );
    assert.ok(existsSync(path.join(pkgDir, 'dist/romana-cni.cjs')));
    const notices = readFileSync(path.join(pkgDir, 'dist/THIRD-PARTY-NOTICES.txt'), 'utf8');
    for (const bundled of ['fastify', 'commander', 'etcd3', '@grpc/grpc-js', 'pino', 'yaml'])
      assert.match(notices, new RegExp(`^${bundled} \\d`, 'm'), bundled);
    assert.ok(!existsSync(path.join(pkgDir, 'dist/build-inputs.json')));
    for (const p of PROGRAMS) assert.ok(existsSync(path.join(prefix, 'bin', p)), p);
  });

  it('every command answers --version with the package version and --help with its usage', () => {
    for (const p of PROGRAMS) {
      const v = run(p, ['--version']);
      assert.equal(v.code, 0, `${p} --version: ${v.stderr}`);
      assert.match(v.stdout, new RegExp(`^${p} ${VERSION.replace(/\./g, '\\.')}\\b`), p);
      const h = run(p, ['--help']);
      assert.equal(h.code, 0, `${p} --help: ${h.stderr}`);
      assert.match(h.stdout, new RegExp(`Usage: .*${p}`), p);
      assert.ok(h.stdout.length > 200, `${p} --help says little: ${h.stdout}`);
    }
  });

  it('romana-listener runs from the package (and names a kubeconfig it cannot read)', () => {
    const kc = path.join(work, 'no-kubeconfig');
    const r = run('romana-listener', ['--kubeconfig', kc]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^romana-listener: --kubeconfig: cannot read '.*no-kubeconfig'/);
  });

  it('romana-route-publisher status runs from the package (and names a missing BIRD socket)', () => {
    const sock = path.join(work, 'no-bird.ctl');
    const r = run('romana-route-publisher', ['status', '--socket', sock]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^romana-route-publisher: birdc show protocols all: .*no-bird\.ctl/);
  });

  it('romana-cni answers the CNI VERSION command', () => {
    const r = run('romana-cni', [], '{"cniVersion":"1.0.0"}', { CNI_COMMAND: 'VERSION' });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), {
      cniVersion: '1.0.0',
      supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'],
    });
  });

  it('the installed romanad serves an embedded store and the installed romana talks to it', async () => {
    const data = path.join(work, 'data');
    const topology = path.join(pkgDir, 'examples/topology.json');
    const d = spawn(
      path.join(prefix, 'bin/romanad'),
      ['--port', '0', '--store', `embedded:${data}`, '--initial-topology-file', topology],
      { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        let err = '';
        d.stderr.on('data', (b: Buffer) => (err += b.toString()));
        d.stdout.on('data', (b: Buffer) => {
          out += b.toString();
          const m = /listening on (\S+)/.exec(out);
          if (m) resolve(m[1]!);
        });
        d.once('exit', (code) => reject(new Error(`romanad exited with ${code}: ${err}`)));
      });
      const health = await fetch(`${url}/healthz`);
      assert.equal(health.status, 200);
      assert.deepEqual(await health.json(), { status: 'ok' });
      const add = run('romana', [
        '-r',
        url,
        'host',
        'add',
        'ship-1',
        '192.168.7.1',
        '--tag',
        'zone=a',
        '--tag',
        'rack=a1',
      ]);
      assert.equal(add.code, 0, add.stderr);
      const list = run('romana', ['-r', url, 'host', 'list']);
      assert.equal(list.code, 0, list.stderr);
      assert.match(list.stdout, /^NAME +IP\b.*\nship-1 +192\.168\.7\.1\b/);
    } finally {
      const done = new Promise((r) => d.once('exit', r));
      d.kill('SIGTERM');
      await done;
    }
    assert.ok(existsSync(data), 'the store is where --store put it');
  });

  it('nothing was written under the package, the temp dir, HOME or the working directory', () => {
    assert.deepEqual(snapshot(pkgDir), before_.pkg);
    for (const d of [tmp, home, cwd]) assert.deepEqual(readdirSync(d), [], d);
  });
});

describe('bin/ in a checkout', () => {
  const node = (script: string, args: string[]) =>
    spawnSync(process.execPath, [script, ...args], { cwd: work, env, encoding: 'utf8' });

  it('runs the build while it is current, the sources through tsx once one is newer', () => {
    const copy = path.join(work, 'copy'); // built by `npm pack` above
    const bundle = path.join(copy, 'dist/romana.cjs');
    const said = 'Command-line client of romanad, the Romana control plane';
    writeFileSync(bundle, readFileSync(bundle, 'utf8').replace(said, 'said by the build'));
    assert.match(node(path.join(copy, 'bin/romana.js'), ['--help']).stdout, /said by the build/);
    const main = path.join(copy, 'src/cli/main.ts');
    writeFileSync(main, readFileSync(main, 'utf8').replace(said, 'said by the sources'));
    const r = node(path.join(copy, 'bin/romana.js'), ['--help']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /said by the sources/);
  });

  it('without a build or tsx, says to run npm run build', () => {
    const bare = path.join(work, 'bare');
    mkdirSync(path.join(bare, 'src'), { recursive: true });
    cpSync(path.join(ROOT, 'bin'), path.join(bare, 'bin'), { recursive: true });
    cpSync(path.join(ROOT, 'package.json'), path.join(bare, 'package.json'));
    for (const [p, file] of [
      ['romana', 'romana.cjs'],
      ['romanad', 'romanad.cjs'],
      ['romana-agent', 'romana-agent.js'],
    ]) {
      const r = node(path.join(bare, 'bin', `${p}.js`), ['--version']);
      assert.equal(r.status, 1, p);
      assert.equal(r.stderr, `${p}: dist/${file} is missing: run \`npm run build\` first\n`);
    }
  });
});
