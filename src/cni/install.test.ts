import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
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
import { defaultPlugin, install, INSTALLED, runInstaller, uninstall } from './install.ts';
import { parseNetConf } from './config.ts';
import { main } from './main.ts';
import { cniBundle } from '../../test/helpers/cni.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const BUNDLE = path.join(ROOT, 'dist', 'romana-cni.cjs');

/** A fake host: <root>/host/{opt/cni/bin,etc/cni/net.d}, a token and a plugin bundle. */
function fakeHost(name: string) {
  const root = mkdtempSync(path.join(tmpdir(), `romana-deploy-${name}-`));
  const host = path.join(root, 'host');
  const binDir = path.join(host, 'opt/cni/bin');
  const confDir = path.join(host, 'etc/cni/net.d');
  const token = path.join(root, 'node-token');
  writeFileSync(token, '8c1e77b0a9f24d3c8e5f6a7b8c9d0e1f\n');
  const plugin = path.join(root, 'romana-cni.cjs');
  writeFileSync(plugin, '#!/usr/bin/env node\nconsole.log("plugin")\n');
  const opts = {
    binDir,
    confDir,
    hostRoot: host,
    romanadUrl: 'http://10.96.0.20:9600',
    tokenFile: token,
    plugin,
    node: undefined as string | undefined,
    logFile: undefined as string | undefined,
  };
  return { root, host, binDir, confDir, opts };
}

/** Every file under `dir` with its mode and content, to compare states. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!existsSync(dir)) return out;
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const f = path.join(e.parentPath, e.name);
    const st = statSync(f);
    const body = st.size > 1 << 20 ? `${st.size} bytes` : readFileSync(f, 'utf8');
    out[path.relative(dir, f)] = `${(st.mode & 0o777).toString(8)} ${body}`;
  }
  return out;
}

const roots: string[] = [];
after(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));

describe('romana-cni install', () => {
  it('writes the plugin, the token (0600) and a conflist naming host paths', () => {
    const h = fakeHost('w');
    roots.push(h.root);
    const changes = install(h.opts);
    assert.deepEqual(
      changes.map((c) => [path.relative(h.host, c.file), c.action]),
      [
        ['opt/cni/bin/romana', 'written'],
        ['etc/cni/net.d/romana-token', 'written'],
        ['etc/cni/net.d/10-romana.conflist', 'written'],
      ],
    );
    const conf = JSON.parse(
      readFileSync(path.join(h.confDir, INSTALLED.conflist), 'utf8'),
    ) as Record<string, unknown>;
    assert.deepEqual(conf, {
      cniVersion: '1.0.0',
      name: 'romana',
      plugins: [
        {
          type: 'romana',
          romanad_url: 'http://10.96.0.20:9600',
          token_file: '/etc/cni/net.d/romana-token',
        },
      ],
    });
    const snap = snapshot(h.host);
    assert.equal(snap['etc/cni/net.d/romana-token'], '600 8c1e77b0a9f24d3c8e5f6a7b8c9d0e1f\n');
    assert.equal(snap['opt/cni/bin/romana'], '755 #!/usr/bin/env node\nconsole.log("plugin")\n');
    assert.equal(snap['etc/cni/net.d/10-romana.conflist']?.slice(0, 4), '644 ');
    assert.equal(Object.keys(snap).length, 3, 'no temporary file is left behind');
  });

  it('is idempotent: a second run changes nothing and reports every file unchanged', () => {
    const h = fakeHost('i');
    roots.push(h.root);
    install(h.opts);
    const before = snapshot(h.host);
    const inode = statSync(path.join(h.confDir, INSTALLED.conflist)).ino;
    const again = install(h.opts);
    assert.ok(again.every((c) => c.action === 'unchanged'));
    assert.deepEqual(snapshot(h.host), before);
    assert.equal(statSync(path.join(h.confDir, INSTALLED.conflist)).ino, inode);
    // A changed URL rewrites the conflist (a new file renamed over the old), nothing else.
    const changed = install({ ...h.opts, romanadUrl: 'https://romanad.example:9600' });
    assert.deepEqual(
      changed.filter((c) => c.action === 'written').map((c) => path.basename(c.file)),
      [INSTALLED.conflist],
    );
    assert.notEqual(statSync(path.join(h.confDir, INSTALLED.conflist)).ino, inode);
  });

  it('chains portmap only when the bin directory has it', () => {
    const h = fakeHost('p');
    roots.push(h.root);
    mkdirSync(h.binDir, { recursive: true });
    writeFileSync(path.join(h.binDir, 'portmap'), '');
    install({
      ...h.opts,
      tokenFile: undefined,
      logFile: '/var/log/romana-cni.log',
      hostName: 'node-1.example',
    });
    const conf = JSON.parse(readFileSync(path.join(h.confDir, INSTALLED.conflist), 'utf8')) as {
      plugins: Record<string, unknown>[];
    };
    assert.deepEqual(conf.plugins, [
      {
        type: 'romana',
        romanad_url: 'http://10.96.0.20:9600',
        log_file: '/var/log/romana-cni.log',
        romana_host_name: 'node-1.example',
      },
      { type: 'portmap', capabilities: { portMappings: true } },
    ]);
  });

  it('--use-policy writes use_policy, which the plugin reads as diverting to the policy chains', () => {
    const h = fakeHost('u');
    roots.push(h.root);
    const io = { out: () => undefined, err: () => undefined, script: '', execPath: '' };
    const argv = ['install', `--bin-dir=${h.binDir}`, `--conf-dir=${h.confDir}`];
    const args = [...argv, `--host-root=${h.host}`, `--plugin=${h.opts.plugin}`];
    const read = () =>
      JSON.parse(readFileSync(path.join(h.confDir, INSTALLED.conflist), 'utf8')) as {
        cniVersion: string;
        name: string;
        plugins: Record<string, unknown>[];
      };
    assert.equal(runInstaller(args, io), 0);
    assert.equal(read().plugins[0]!['use_policy'], undefined);
    assert.equal(runInstaller([...args, '--use-policy'], io), 0);
    const conf = read();
    assert.equal(conf.plugins[0]!['use_policy'], true);
    const { plugins, ...top } = conf;
    assert.equal(parseNetConf(JSON.stringify({ ...top, ...plugins[0] })).usePolicy, true);
  });

  const bad: [string, (o: ReturnType<typeof fakeHost>['opts']) => object, RegExp][] = [
    ['an unexpanded URL', (o) => ({ ...o, romanadUrl: 'http://$(X):9600' }), /--romanad-url/],
    ['a token file that is missing', (o) => ({ ...o, tokenFile: '/nope' }), /--token-file.*nope/],
    ['a relative conf dir', (o) => ({ ...o, confDir: 'etc/cni' }), /--conf-dir: 'etc\/cni'/],
    ['a bin dir outside the host root', (o) => ({ ...o, binDir: '/opt/cni/bin' }), /--bin-dir/],
    ['a host name with a space', (o) => ({ ...o, hostName: 'a b' }), /--host-name: 'a b'/],
    ['a plugin that is not the bundle', (o) => ({ ...o, plugin: o.tokenFile }), /--plugin/],
  ];
  for (const [what, edit, message] of bad) {
    it(`refuses ${what}, naming the flag, and writes nothing`, () => {
      const h = fakeHost('b');
      roots.push(h.root);
      assert.throws(
        () => install(edit(h.opts) as typeof h.opts),
        (err: Error & { code?: string }) =>
          err.code === 'InvalidInput' && message.test(err.message),
      );
      assert.deepEqual(snapshot(h.host), {});
    });
  }
});

describe('romana-cni uninstall', () => {
  it('removes exactly what install wrote and leaves foreign files', () => {
    const h = fakeHost('u');
    roots.push(h.root);
    mkdirSync(h.binDir, { recursive: true });
    mkdirSync(h.confDir, { recursive: true });
    writeFileSync(path.join(h.binDir, 'loopback'), 'x');
    writeFileSync(path.join(h.binDir, 'romana.bak'), 'x');
    writeFileSync(path.join(h.confDir, '87-podman.conflist'), '{}');
    const foreign = snapshot(h.host);
    install({ ...h.opts, node: h.opts.plugin });
    assert.equal(Object.keys(snapshot(h.host)).length, Object.keys(foreign).length + 4);
    const removed = uninstall(h.opts);
    assert.deepEqual(
      removed.map((c) => path.basename(c.file)),
      [INSTALLED.conflist, INSTALLED.token, INSTALLED.plugin, INSTALLED.node],
    );
    assert.deepEqual(snapshot(h.host), foreign);
    assert.deepEqual(uninstall(h.opts), [], 'a second uninstall has nothing to do');
  });
});

describe('the installed plugin', () => {
  let h: ReturnType<typeof fakeHost>;
  before(() => {
    h = fakeHost('r');
    roots.push(h.root);
  });

  it('runs with the copied Node and no node on PATH (--with-node)', () => {
    // Not hostRoot-relative here: the test runs the plugin from where it was written.
    const opts = { ...h.opts, hostRoot: '', plugin: cniBundle(), node: process.execPath };
    install(opts);
    const plugin = path.join(h.binDir, INSTALLED.plugin);
    assert.equal(
      readFileSync(plugin, 'utf8').split('\n')[0],
      `#!${path.join(h.binDir, INSTALLED.node)}`,
    );
    const r = spawnSync(plugin, [], {
      env: { CNI_COMMAND: 'VERSION', PATH: '/nonexistent' },
      input: '{"cniVersion":"1.0.0"}',
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { cniVersion: string }).cniVersion, '1.0.0');
    chmodSync(path.join(h.binDir, INSTALLED.node), 0o644);
    const broken = spawnSync(plugin, [], { env: { CNI_COMMAND: 'VERSION' }, input: '{}' });
    assert.notEqual(broken.status, 0, 'the plugin really runs the copied Node');
  });
});

describe('the entry', () => {
  it('stays a CNI plugin when CNI_COMMAND is set, whatever the arguments', async () => {
    const out: string[] = [];
    const io = {
      env: { CNI_COMMAND: 'VERSION' },
      stdin: () => '{"cniVersion":"1.1.0"}',
      stdout: (t: string) => void out.push(t),
      exec: { run: async () => assert.fail('no command') },
    };
    assert.equal(await main(['install', '--conf-dir', '/nope'], io), 0);
    assert.equal((JSON.parse(out.join('')) as { cniVersion: string }).cniVersion, '1.1.0');
  });

  it('answers install --help and refuses an unknown flag with exit 2', () => {
    const out: string[] = [];
    const err: string[] = [];
    const io = {
      out: (t: string) => void out.push(t),
      err: (t: string) => void err.push(t),
      script: path.join(ROOT, 'bin/romana-cni.js'),
      execPath: process.execPath,
    };
    assert.equal(runInstaller(['install', '--help'], io), 0);
    assert.match(out.join(''), /--conf-dir DIR/);
    assert.equal(runInstaller(['uninstall', '--conf-dri', '/x'], io), 2);
    assert.match(err.join(''), /--conf-dri/);
  });

  it('finds the bundle beside the bin/ launcher, or is the bundle itself', () => {
    assert.equal(defaultPlugin(path.join(ROOT, 'bin/romana-cni.js')), BUNDLE);
    assert.equal(defaultPlugin('/opt/cni/bin/romana'), '/opt/cni/bin/romana');
  });

  it('installs through the real program, started by a symlink as npm installs it', () => {
    const h2 = fakeHost('e');
    roots.push(h2.root);
    // npm install --global links <prefix>/bin/romana-cni to the package's bin/romana-cni.js.
    const link = path.join(h2.root, 'romana-cni');
    symlinkSync(path.join(ROOT, 'bin/romana-cni.js'), link);
    const args = ['--host-root', h2.host, '--bin-dir', h2.binDir, '--conf-dir', h2.confDir];
    const r = spawnSync(link, ['install', ...args], {
      encoding: 'utf8',
      env: { ...process.env, CNI_COMMAND: undefined },
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /written .*10-romana\.conflist/);
    assert.equal(
      readFileSync(path.join(h2.binDir, 'romana'), 'utf8'),
      readFileSync(cniBundle(), 'utf8'),
    );
    const u = spawnSync(
      process.execPath,
      [path.join(ROOT, 'bin/romana-cni.js'), 'uninstall', ...args],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(u.status, 0, u.stderr);
    assert.deepEqual(snapshot(h2.host), {});
  });
});
