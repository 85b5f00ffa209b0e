/**
 * `romana-cni install` and `romana-cni uninstall`: put the plugin and its network configuration
 * into a host's CNI directories (usually from the agent DaemonSet's init container, with the
 * host's directories mounted under /host), and take exactly those files away again.
 *
 * Files written, all by fixed names (uninstall removes these names and nothing else):
 *   <bin-dir>/romana              the bundled plugin (one JavaScript file with a `#!` line)
 *   <bin-dir>/romana-node         with --with-node: the Node binary the plugin's `#!` names
 *   <conf-dir>/romana-token       with --token-file: a copy of the node token, mode 0600
 *   <conf-dir>/10-romana.conflist the network configuration (written last, removed first)
 * Each is written to a temporary file in its directory and renamed over the old one, so that a
 * runtime never reads half a file; a file whose content is already right is left alone.
 */
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { invalidInput } from '../errors.ts';

/** The names install writes, relative to the bin or conf directory. */
export const INSTALLED = {
  plugin: 'romana',
  node: 'romana-node',
  token: 'romana-token',
  conflist: '10-romana.conflist',
} as const;

export interface InstallOptions {
  /** Where the plugin is written, as this process sees the directory. */
  binDir: string;
  /** Where the conflist (and token) are written, as this process sees the directory. */
  confDir: string;
  /** The prefix of binDir and confDir that the host does not see ('' when run on the host). */
  hostRoot: string;
  romanadUrl: string;
  /** A file holding the node token, copied beside the conflist. */
  tokenFile: string | undefined;
  /** The plugin bundle to copy (dist/romana-cni.cjs). */
  plugin: string;
  /** A Node binary to copy beside the plugin, so the host needs no Node of its own. */
  node: string | undefined;
  /** The plugin's log file on the host (the conflist's `log_file`). */
  logFile: string | undefined;
  /** This host's name in romanad (`romana_host_name`; the Kubernetes node name). */
  hostName?: string | undefined;
  /** Divert pod traffic to romana-agent's policy chains (the conflist's `use_policy`). */
  usePolicy?: boolean | undefined;
}

export interface Change {
  file: string;
  action: 'written' | 'unchanged' | 'removed';
}

/**
 * The conflist for these options: the romana plugin, then `portmap` (hostPort support) when
 * the bin directory has it. Paths in it are the host's.
 *
 * @example
 * conflist({ ...opts, romanadUrl: 'http://10.96.0.20:9600' }, false)
 */
export function conflist(o: InstallOptions, withPortmap: boolean): string {
  const romana: Record<string, unknown> = { type: 'romana', romanad_url: o.romanadUrl };
  if (o.tokenFile !== undefined) {
    romana['token_file'] = hostPath(o, path.join(o.confDir, INSTALLED.token));
  }
  if (o.logFile !== undefined) romana['log_file'] = o.logFile;
  if (o.hostName !== undefined) romana['romana_host_name'] = o.hostName;
  if (o.usePolicy === true) romana['use_policy'] = true;
  const plugins: unknown[] = [romana];
  if (withPortmap) plugins.push({ type: 'portmap', capabilities: { portMappings: true } });
  return JSON.stringify({ cniVersion: '1.0.0', name: 'romana', plugins }, null, 2) + '\n';
}

/** `file` as the host sees it: `hostRoot` taken off the front. */
function hostPath(o: InstallOptions, file: string): string {
  if (o.hostRoot === '') return file;
  return '/' + path.relative(o.hostRoot, file);
}

/**
 * Checks every option before anything is written; throws an InvalidInput error naming the
 * flag and its value.
 */
export function checkOptions(o: InstallOptions): void {
  if (!/^https?:\/\/[^/\s$()]+/.test(o.romanadUrl)) {
    throw invalidInput(`--romanad-url: '${o.romanadUrl}' is not an http:// or https:// URL`);
  }
  for (const [flag, dir] of [
    ['--bin-dir', o.binDir],
    ['--conf-dir', o.confDir],
  ] as const) {
    if (!path.isAbsolute(dir)) throw invalidInput(`${flag}: '${dir}' is not an absolute path`);
    if (o.hostRoot !== '' && path.relative(o.hostRoot, dir).startsWith('..')) {
      throw invalidInput(`${flag}: '${dir}' is not under --host-root '${o.hostRoot}'`);
    }
  }
  if (o.hostRoot !== '' && !path.isAbsolute(o.hostRoot)) {
    throw invalidInput(`--host-root: '${o.hostRoot}' is not an absolute path`);
  }
  const plugin = readOrFail('--plugin', o.plugin);
  if (!plugin.startsWith('#!')) {
    throw invalidInput(`--plugin: '${o.plugin}' is not the plugin bundle (no #! line)`);
  }
  if (o.hostName !== undefined && !/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(o.hostName)) {
    throw invalidInput(`--host-name: '${o.hostName}' is not a node name`);
  }
  if (o.tokenFile !== undefined && readOrFail('--token-file', o.tokenFile).trim() === '') {
    throw invalidInput(`--token-file: '${o.tokenFile}' is empty`);
  }
  if (o.node !== undefined && !statSync(o.node, { throwIfNoEntry: false })?.isFile()) {
    throw invalidInput(`--with-node: '${o.node}' is not a file`);
  }
}

function readOrFail(flag: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw invalidInput(`${flag}: cannot read '${file}': ${(err as Error).message}`);
  }
}

/**
 * Installs the plugin and its conflist; idempotent (a second run reports every file
 * `unchanged`). Bad options change nothing.
 */
export function install(o: InstallOptions): Change[] {
  checkOptions(o);
  mkdirSync(o.binDir, { recursive: true });
  mkdirSync(o.confDir, { recursive: true });
  const changes: Change[] = [];
  const bin = (name: string) => path.join(o.binDir, name);
  if (o.node !== undefined) changes.push(copyFile(o.node, bin(INSTALLED.node), 0o755));
  const interpreter = o.node === undefined ? '/usr/bin/env node' : hostPath(o, bin(INSTALLED.node));
  const plugin = readFileSync(o.plugin, 'utf8').replace(/^#!.*/, `#!${interpreter}`);
  changes.push(writeAtomic(bin(INSTALLED.plugin), plugin, 0o755));
  if (o.tokenFile !== undefined) {
    const token = readFileSync(o.tokenFile, 'utf8').trim() + '\n';
    changes.push(writeAtomic(path.join(o.confDir, INSTALLED.token), token, 0o600));
  }
  const portmap = existsSync(bin('portmap'));
  changes.push(writeAtomic(path.join(o.confDir, INSTALLED.conflist), conflist(o, portmap), 0o644));
  return changes;
}

/** Removes what install writes (conflist first), and nothing else; idempotent. */
export function uninstall(dirs: { binDir: string; confDir: string }): Change[] {
  const files = [
    path.join(dirs.confDir, INSTALLED.conflist),
    path.join(dirs.confDir, INSTALLED.token),
    path.join(dirs.binDir, INSTALLED.plugin),
    path.join(dirs.binDir, INSTALLED.node),
  ];
  const changes: Change[] = [];
  for (const file of files) {
    if (statSync(file, { throwIfNoEntry: false }) === undefined) continue;
    rmSync(file);
    changes.push({ file, action: 'removed' });
  }
  return changes;
}

/** Writes `file` through a temporary file and a rename, unless it already holds `content`. */
function writeAtomic(file: string, content: string, mode: number): Change {
  const current = statSync(file, { throwIfNoEntry: false });
  if (current?.isFile() && (current.mode & 0o777) === mode) {
    if (readFileSync(file, 'utf8') === content) return { file, action: 'unchanged' };
  }
  const tmp = tempName(file);
  try {
    writeFileSync(tmp, content, { mode });
    chmodSync(tmp, mode); // the umask may have narrowed it
    renameSync(tmp, file);
  } finally {
    rmSync(tmp, { force: true });
  }
  return { file, action: 'written' };
}

/** Copies a (large) file the same way, comparing before copying. */
function copyFile(from: string, file: string, mode: number): Change {
  const current = statSync(file, { throwIfNoEntry: false });
  if (current?.isFile() && (current.mode & 0o777) === mode && sameContent(from, file)) {
    return { file, action: 'unchanged' };
  }
  const tmp = tempName(file);
  try {
    writeFileSync(tmp, readFileSync(from), { mode });
    chmodSync(tmp, mode);
    renameSync(tmp, file);
  } finally {
    rmSync(tmp, { force: true });
  }
  return { file, action: 'written' };
}

/** A name in the same directory (so the rename is atomic) that no runtime reads as config. */
function tempName(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
}

function sameContent(a: string, b: string): boolean {
  if (statSync(a).size !== statSync(b).size) return false;
  const fa = openSync(a, 'r');
  const fb = openSync(b, 'r');
  try {
    const ba = Buffer.alloc(1 << 20);
    const bb = Buffer.alloc(1 << 20);
    for (;;) {
      const na = readSync(fa, ba);
      const nb = readSync(fb, bb);
      if (na !== nb || !ba.subarray(0, na).equals(bb.subarray(0, nb))) return false;
      if (na === 0) return true;
    }
  } finally {
    closeSync(fa);
    closeSync(fb);
  }
}

export const INSTALL_HELP = `Usage: romana-cni install [options]
       romana-cni uninstall [--bin-dir DIR] [--conf-dir DIR]

install copies this plugin into the host's CNI bin directory as 'romana' and writes the network
configuration ${INSTALLED.conflist} (CNI 1.0.0; 'portmap' is chained after romana when the bin
directory has it), so that the container runtime uses Romana for every new pod. Every file is
written to a temporary name and renamed, and left alone when already right: running it again
is safe. uninstall removes exactly the files install writes (${Object.values(INSTALLED).join(', ')})
and nothing else. Neither runs when CNI_COMMAND is set: then this is the plugin.

Options:
  --bin-dir DIR        CNI plugin directory (default /opt/cni/bin)
  --conf-dir DIR       CNI configuration directory (default /etc/cni/net.d)
  --host-root DIR      where the host's / is mounted, e.g. /host in a container: paths written
                       into the configuration lose this prefix (default: none)
  --romanad-url URL    romanad's URL as the host reaches it (default http://127.0.0.1:9600)
  --token-file FILE    the node token: copied to <conf-dir>/${INSTALLED.token} (mode 0600)
                       and named in the configuration
  --log-file FILE      the plugin's log file on the host (default: none, stderr)
  --host-name NAME     this host's name in romanad, written as romana_host_name (default:
                       none: the plugin uses the machine's hostname); in Kubernetes the node name
  --use-policy         write use_policy: the plugin diverts each pod's traffic to the policy
                       chains of romana-agent --policy (which must run on the node)
  --with-node          also copy this Node binary as <bin-dir>/${INSTALLED.node} and start the
                       plugin with it, so the host needs no Node (it needs glibc and libstdc++);
                       without it the plugin runs '/usr/bin/env node' (Node >= 20 on the host)
  --plugin FILE        the plugin bundle to copy (default: dist/romana-cni.cjs of this package)
  -h, --help           this help

Example (the agent DaemonSet's init container, host / mounted at /host):
  romana-cni install --host-root /host --bin-dir /host/opt/cni/bin \\
    --conf-dir /host/etc/cni/net.d --romanad-url http://10.96.0.20:9600 \\
    --token-file /var/run/secrets/romana/node-token --with-node
`;

export interface InstallerIo {
  out: (text: string) => void;
  err: (text: string) => void;
  /** process.argv[1]: the program being run, to find the bundle beside it. */
  script: string;
  execPath: string;
}

/**
 * Runs `install` or `uninstall` (argv[0]) with the rest of argv; resolves to the exit code
 * (0 done, 1 a file operation failed, 2 bad arguments).
 */
export function runInstaller(argv: readonly string[], io: InstallerIo): number {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv.slice(1),
      strict: true,
      options: {
        'bin-dir': { type: 'string', default: '/opt/cni/bin' },
        'conf-dir': { type: 'string', default: '/etc/cni/net.d' },
        'host-root': { type: 'string', default: '' },
        'romanad-url': { type: 'string', default: 'http://127.0.0.1:9600' },
        'token-file': { type: 'string' },
        'log-file': { type: 'string' },
        'host-name': { type: 'string' },
        'with-node': { type: 'boolean', default: false },
        'use-policy': { type: 'boolean', default: false },
        plugin: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    io.err(`romana-cni ${argv[0]}: ${(err as Error).message}\n`);
    return 2;
  }
  if (values['help'] === true) {
    io.out(INSTALL_HELP);
    return 0;
  }
  const s = (k: string) => values[k] as string | undefined;
  const dirs = { binDir: s('bin-dir')!, confDir: s('conf-dir')! };
  try {
    const changes =
      argv[0] === 'uninstall'
        ? uninstall(dirs)
        : install({
            ...dirs,
            hostRoot: s('host-root')!.replace(/\/+$/, ''),
            romanadUrl: s('romanad-url')!,
            tokenFile: s('token-file'),
            logFile: s('log-file'),
            hostName: s('host-name'),
            plugin: s('plugin') ?? defaultPlugin(io.script),
            node: values['with-node'] === true ? io.execPath : undefined,
            usePolicy: values['use-policy'] === true,
          });
    for (const c of changes) io.out(`${c.action} ${c.file}\n`);
    if (changes.length === 0) io.out('nothing to remove\n');
    return 0;
  } catch (err) {
    io.err(`romana-cni ${argv[0]}: ${(err as Error).message}\n`);
    return (err as { code?: unknown }).code === 'InvalidInput' ? 2 : 1;
  }
}

/**
 * The bundle to install: dist/romana-cni.cjs beside the bin/romana-cni.js launcher that runs
 * this, or the running file itself when it is the bundle (or an installed copy of it).
 */
export function defaultPlugin(script: string): string {
  let real = script;
  try {
    real = realpathSync(script);
  } catch {
    // keep the name as given; reading it will say what is wrong
  }
  if (path.basename(real) === 'romana-cni.js') {
    return path.join(path.dirname(real), '..', 'dist', 'romana-cni.cjs');
  }
  return real;
}
