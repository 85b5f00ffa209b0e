/**
 * The plugin driven by a real container runtime: Debian's podman 4.3 with its CNI network
 * backend, one podman per host of the namespace fabric (test/helpers/fabric.ts), each with its
 * own containers.conf, storage, run directory and CNI configuration directory in a temp dir, so
 * the machine's podman state is never touched. The image is built here from busybox-static.
 * Two Romana networks (two conflists of type `romana`) per host: containers get addresses from
 * their host's blocks, reach each other across hosts, keep both interfaces when attached to both
 * networks, and `podman rm` releases their addresses. A configuration at cniVersion 1.1.0 is
 * refused by podman 4.x (docs/node.md says which runtimes take which versions). A DEL that
 * cannot reach romanad fails with code 11, which podman logs without retrying.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hostVethName } from '../../src/cni/config.ts';
import { CNI_BUNDLE, Fabric, sleep, until } from '../helpers/fabric.ts';

const BUSYBOX = '/bin/busybox';
const IMAGE = 'localhost/romana-busybox:test';
const NETS = ['romana-a', 'romana-b'];
/** A network whose configuration says cniVersion 1.1.0, which podman 4.x cannot read back. */
const NET_110 = 'romana-v110';
const f = new Fabric(`node-pm${process.pid % 10000}`, ['h1', 'h2']);
const work = mkdtempSync(path.join(tmpdir(), 'romana-podman-'));

interface Address {
  name: string;
  ip: string;
  host: string;
}

/** Writes one host's podman settings: containers.conf, CNI plugin dir and two conflists. */
function setUpHost(host: string): void {
  const dir = path.join(work, host);
  for (const d of ['net.d', 'plugins', 'root', 'runroot', 'tmp']) {
    mkdirSync(path.join(dir, d), { recursive: true });
  }
  symlinkSync(CNI_BUNDLE, path.join(dir, 'plugins/romana'));
  // What podman 4.3 needs here: the CNI backend, cgroupfs (no systemd), ulimits within ours.
  writeFileSync(
    path.join(dir, 'containers.conf'),
    [
      '[containers]',
      'default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]',
      '[network]',
      'network_backend = "cni"',
      `cni_plugin_dirs = ["${dir}/plugins"]`,
      `network_config_dir = "${dir}/net.d"`,
      '[engine]',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "none"',
      `tmp_dir = "${dir}/tmp"`,
      '',
    ].join('\n'),
  );
  for (const name of [...NETS, NET_110]) {
    // podman 4.x (libcni 1.1) takes configurations up to 1.0.0; the second network also lists
    // the versions a newer runtime may pick from, which podman ignores.
    const conf = {
      cniVersion: name === NET_110 ? '1.1.0' : '1.0.0',
      ...(name === 'romana-b' ? { cniVersions: ['1.0.0', '1.1.0'] } : {}),
      name,
      plugins: [
        {
          type: 'romana',
          romanad_url: 'http://127.0.0.1:9600',
          token_file: path.join(f.dir, 'node.token'),
          romana_host_name: host,
          log_file: path.join(dir, 'cni.log'),
        },
      ],
    };
    writeFileSync(path.join(dir, 'net.d', `${name}.conflist`), JSON.stringify(conf));
  }
}

/**
 * Runs podman as `host`'s runtime: in its network namespace, with its own settings. Never
 * synchronously: romanad is reached through a relay in this process, which must keep running.
 */
async function podmanWithStderr(
  host: string,
  args: string[],
): Promise<{ stdout: string; stderr: string }> {
  const dir = path.join(work, host);
  const child = spawn(
    'nsenter',
    [
      `--net=/var/run/netns/${f.nsOf(host)}`,
      'podman',
      '--root',
      `${dir}/root`,
      '--runroot',
      `${dir}/runroot`,
      '--storage-driver',
      'vfs',
      ...args,
    ],
    { env: { ...process.env, CONTAINERS_CONF: path.join(dir, 'containers.conf') } },
  );
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const code = await new Promise<number | null>((r) => child.on('close', r));
  if (code !== 0) {
    const log = path.join(dir, 'cni.log');
    const tail = existsSync(log) ? readFileSync(log, 'utf8').split('\n').slice(-8).join('\n') : '';
    throw new Error(`podman ${args.join(' ')} on ${host}: exit ${code}\n${err}\n${tail}`);
  }
  return { stdout: out.trim(), stderr: err };
}

async function podman(host: string, args: string[]): Promise<string> {
  return (await podmanWithStderr(host, args)).stdout;
}

/** A tarball of a tiny root filesystem: static busybox and its applets. */
function buildImageTarball(): string {
  assert.ok(existsSync(BUSYBOX), `${BUSYBOX} is missing: apt-get install busybox-static`);
  const rootfs = path.join(work, 'rootfs');
  for (const d of ['bin', 'etc', 'proc', 'sys', 'dev', 'tmp']) {
    mkdirSync(path.join(rootfs, d), { recursive: true });
  }
  execFileSync('cp', [BUSYBOX, path.join(rootfs, 'bin/busybox')]);
  for (const applet of ['sh', 'sleep', 'ping', 'ip', 'cat']) {
    symlinkSync('busybox', path.join(rootfs, 'bin', applet));
  }
  const tarball = path.join(work, 'rootfs.tar');
  execFileSync('tar', ['-C', rootfs, '-cf', tarball, '.']);
  return tarball;
}

/** Starts a container on `host` attached to `nets`; resolves with its full id. */
function run(host: string, name: string, nets: string[]): Promise<string> {
  return podman(host, [
    'run',
    '-d',
    '--name',
    name,
    '--network',
    nets.join(','),
    '--cap-add',
    'NET_RAW',
    IMAGE,
    'sleep',
    '600',
  ]);
}

/** The /32 addresses on each of a container's interfaces, as the container sees them. */
async function interfaces(host: string, name: string): Promise<Record<string, string[]>> {
  const out = await podman(host, ['exec', name, 'ip', '-4', '-o', 'addr', 'show']);
  const ifs: Record<string, string[]> = {};
  for (const line of out.split('\n')) {
    const m = /^\d+:\s+(\S+)\s+inet\s+([\d.]+)\/32/.exec(line);
    if (m) (ifs[m[1]!] ??= []).push(m[2]!);
  }
  return ifs;
}

async function addresses(): Promise<Address[]> {
  const r = await f.admin('GET', '/addresses');
  assert.equal(r.status, 200);
  return r.body as Address[];
}

/** True when `a` lies in one of `host`'s blocks. */
async function inBlockOf(ip: string, host: string): Promise<boolean> {
  const { blocks } = (await f.admin('GET', '/blocks')).body as {
    blocks: { cidr: string; host: string }[];
  };
  const n = (s: string) => s.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  return blocks.some((b) => {
    const [net, bits] = b.cidr.split('/');
    const size = 2 ** (32 - Number(bits));
    return b.host === host && n(ip) >= n(net!) && n(ip) < n(net!) + size;
  });
}

async function pings(host: string, from: string, ip: string): Promise<void> {
  let last: unknown;
  for (let i = 0; i < 50; i++) {
    try {
      await podman(host, ['exec', from, 'ping', '-c', '1', '-W', '1', ip]);
      return;
    } catch (err) {
      last = err;
      await sleep(200);
    }
  }
  assert.fail(`${from} on ${host} never reached ${ip}: ${String(last)}`);
}

function hostLinks(host: string): string[] {
  const out = execFileSync('ip', ['-n', f.nsOf(host), '-j', 'link', 'show'], { encoding: 'utf8' });
  return (JSON.parse(out) as { ifname: string }[]).map((l) => l.ifname);
}

describe('romana-cni under podman 4.3 (CNI backend) on two hosts', { timeout: 180_000 }, () => {
  const ids = new Map<string, string>();

  before(async () => {
    await f.start({
      networks: [{ name: 'pods', cidr: '10.66.0.0/16', block_mask: 28 }],
      topologies: [
        {
          networks: ['pods'],
          map: [
            { name: 'rack-1', groups: [{ name: 'h1', ip: f.hostIp('h1') }] },
            { name: 'rack-2', groups: [{ name: 'h2', ip: f.hostIp('h2') }] },
          ],
        },
      ],
    });
    await f.startAgents();
    const tarball = buildImageTarball();
    for (const h of f.hosts) setUpHost(h);
    await Promise.all(f.hosts.map((h) => podman(h, ['import', '--quiet', tarball, IMAGE])));
  });

  after(async () => {
    for (const h of f.hosts) {
      try {
        await podman(h, ['rm', '--all', '--force', '--time', '0']);
      } catch (err) {
        console.error(String(err));
      }
    }
    await f.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('containers on two hosts get addresses from their blocks and ping each other', async () => {
    const [c1, c2] = await Promise.all([
      run('h1', 'c1', ['romana-a']),
      run('h2', 'c2', ['romana-a']),
    ]);
    ids.set('c1', c1);
    ids.set('c2', c2);
    const ip1 = (await interfaces('h1', 'c1'))['eth0']![0]!;
    const ip2 = (await interfaces('h2', 'c2'))['eth0']![0]!;
    const held = await addresses();
    assert.deepEqual(held.find((a) => a.name === `${ids.get('c1')!.slice(0, 8)}.eth0`)?.ip, ip1);
    assert.deepEqual(held.find((a) => a.name === `${ids.get('c2')!.slice(0, 8)}.eth0`)?.ip, ip2);
    assert.ok(await inBlockOf(ip1, 'h1'), `${ip1} is not in a block of h1`);
    assert.ok(await inBlockOf(ip2, 'h2'), `${ip2} is not in a block of h2`);
    await pings('h1', 'c1', ip2);
    await pings('h2', 'c2', ip1);
  });

  it('a container on both Romana networks keeps both interfaces, each reachable', async () => {
    const id = await run('h1', 'multi', NETS);
    ids.set('multi', id);
    const ifs = await interfaces('h1', 'multi');
    assert.deepEqual(Object.keys(ifs).sort(), ['eth0', 'eth1']);
    assert.equal(ifs['eth0']!.length, 1);
    assert.equal(ifs['eth1']!.length, 1);
    const held = await addresses();
    for (const ifname of ['eth0', 'eth1']) {
      assert.equal(held.find((a) => a.name === `${id.slice(0, 8)}.${ifname}`)?.ip, ifs[ifname]![0]);
      assert.ok(hostLinks('h1').includes(hostVethName(id, ifname)), `no host veth for ${ifname}`);
      await pings('h2', 'c2', ifs[ifname]![0]!);
    }
  });

  it('podman rm releases every address of the container and removes its veths', async () => {
    const before = await addresses();
    const mine = (c: string) => before.filter((a) => a.name.startsWith(ids.get(c)!.slice(0, 8)));
    assert.equal(mine('multi').length, 2);
    assert.equal(mine('c2').length, 1);
    await podman('h1', ['rm', '--force', '--time', '0', 'multi']);
    await podman('h2', ['rm', '--force', '--time', '0', 'c2']);
    const left = (await addresses()).map((a) => a.name);
    assert.deepEqual(left, [`${ids.get('c1')!.slice(0, 8)}.eth0`]);
    assert.ok(!hostLinks('h1').some((l) => l === hostVethName(ids.get('multi')!, 'eth0')));
    assert.ok(!hostLinks('h1').some((l) => l === hostVethName(ids.get('multi')!, 'eth1')));
    assert.deepEqual(
      hostLinks('h2').filter((l) => l.startsWith('romana-') && l !== 'romana-lo'),
      [],
    );
  });

  it('a configuration saying cniVersion 1.1.0 fails under podman 4.3, and leaves no address', async () => {
    const before = (await addresses()).map((a) => a.name);
    await assert.rejects(run('h1', 'v110', [NET_110]), /unsupported CNI result version "1\.1\.0"/);
    assert.deepEqual(
      (await addresses()).map((a) => a.name),
      before,
    );
  });

  it('podman rm while romanad is unreachable: DEL says try again later, podman removes the container without retrying', async () => {
    const id = await run('h2', 'late', ['romana-a']);
    const name = `${id.slice(0, 8)}.eth0`;
    assert.ok((await addresses()).some((a) => a.name === name));
    // h2 loses romanad: its connections to romanad's port are refused.
    const cut = ['OUTPUT', '-o', 'lo', '-p', 'tcp', '--dport', '9600', '-j', 'REJECT'];
    const iptables = (op: string) =>
      execFileSync('ip', [
        'netns',
        'exec',
        f.nsOf('h2'),
        'iptables',
        '-w',
        op,
        ...cut,
        '--reject-with',
        'tcp-reset',
      ]);
    iptables('-I');
    try {
      // podman tears the network down in this command, or in the cleanup process that conmon
      // starts when the container dies (then the plugin's error reaches no stderr of ours): the
      // plugin's own log says which DEL ran and how it ended. Either way podman goes on.
      await podman('h2', ['rm', '--force', '--time', '0', 'late']);
      const log = path.join(work, 'h2', 'cni.log');
      const delLine = () =>
        (existsSync(log) ? readFileSync(log, 'utf8') : '')
          .split('\n')
          .find((l) => l.includes(`DEL ${name}: release failed`));
      await until('the DEL of the removed container', () => delLine() !== undefined);
      assert.match(delLine()!, /unreachable/);
      await until('its host veth gone', () => !hostLinks('h2').includes(hostVethName(id, 'eth0')));
      assert.equal(await podman('h2', ['ps', '--all', '--quiet', '--filter', 'name=late']), '');
    } finally {
      iptables('-D');
      // libcni's cache entry for the attachment (podman 4.3 keeps it in /var/lib/cni whatever
      // its settings), which a failed DEL leaves behind.
      rmSync(`/var/lib/cni/results/romana-a-${id}-eth0`, { force: true });
    }
    // podman never calls DEL again (nor GC): the address waits for an operator (docs/node.md).
    assert.ok((await addresses()).some((a) => a.name === name));
    assert.equal((await f.admin('DELETE', `/address?addressName=${name}`)).status, 200);
  });
});
