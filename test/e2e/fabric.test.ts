/**
 * Romana's promise on real kernels: three hosts (network namespaces on one bridged fabric,
 * 192.168.77.0/24), romanad with tokens, a romana-agent in each host, pods wired by the real
 * romana-cni bundle. Pods on different hosts reach each other over plain routed IP.
 *
 * Every host reaches romanad at its own 127.0.0.1:9600 through socat and a unix socket that
 * this process relays to romanad, so nothing listens outside loopback and no traffic leaves
 * the namespaces. Every namespace and process is removed afterwards, pass or fail.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request, startRomanad, type Romanad } from '../helpers/romanad.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const BUNDLE = path.join(ROOT, 'dist/romana-cni.cjs');
const AGENT = path.join(ROOT, 'bin/romana-agent.js');
const P = `rf${process.pid % 100000}`;
const SW = `${P}-sw`;
const HOSTS = ['h1', 'h2', 'h3'] as const;
const hostIp = (h: string) => `192.168.77.${10 + HOSTS.indexOf(h as (typeof HOSTS)[number]) + 1}`;
const nsOf = (h: string) => `${P}-${h}`;
const ADMIN = 'fabric-admin-token-0123456789';
const NODE = 'fabric-node-token-0123456789';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
function table10(h: string): string[] {
  const r = spawnSync('ip', ['-n', nsOf(h), 'route', 'show', 'table', '10'], { encoding: 'utf8' });
  return r.stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => l.replace(/\s+dev \S+.*$/, '').trim())
    .sort();
}

async function until(what: string, check: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

describe('three hosts, routed pods, no overlay', { timeout: 180_000 }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'romana-fabric-'));
  const sock = path.join(dir, 'romanad.sock');
  const processes: ChildProcess[] = [];
  const namespaces: string[] = [];
  let romanad: Romanad | undefined;
  let relay: net.Server | undefined;
  let port = 0;
  const pods = new Map<string, { ns: string; host: string; id: string; ip: string }>();

  const admin = (method: string, p: string, body?: unknown) =>
    request(`http://127.0.0.1:${port}${p}`, method, body, { token: ADMIN });

  const startD = async () => {
    romanad = await startRomanad([
      '--store',
      `embedded:${dir}/data`,
      '--port',
      String(port),
      '--token-file',
      path.join(dir, 'tokens.yaml'),
    ]);
  };

  function addNs(name: string): void {
    execFileSync('ip', ['netns', 'add', name]);
    namespaces.push(name);
    execFileSync('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  }

  function cni(
    command: string,
    host: string,
    id: string,
    podNs?: string,
  ): Promise<{ code: number | null; out: string; err: string }> {
    const env: NodeJS.ProcessEnv = {
      PATH: process.env['PATH'],
      CNI_COMMAND: command,
      CNI_CONTAINERID: id,
      CNI_IFNAME: 'eth0',
      CNI_PATH: '/opt/cni/bin',
      CNI_ARGS: `K8S_POD_NAMESPACE=team;K8S_POD_NAME=${id};K8S_POD_INFRA_CONTAINER_ID=${id}`,
    };
    if (podNs !== undefined) env['CNI_NETNS'] = `/var/run/netns/${podNs}`;
    const conf = {
      cniVersion: '1.0.0',
      name: 'romana',
      type: 'romana',
      romana_host_name: host,
      romanad_url: 'http://127.0.0.1:9600',
      token_file: path.join(dir, 'node.token'),
    };
    const child = spawn(
      'nsenter',
      [`--net=/var/run/netns/${nsOf(host)}`, process.execPath, BUNDLE],
      { env },
    );
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.stdin.end(JSON.stringify(conf));
    return new Promise((resolve) => child.on('close', (code) => resolve({ code, out, err })));
  }

  async function addPod(name: string, host: string): Promise<string> {
    const ns = `${P}-${name}`;
    addNs(ns);
    const id = `${name.padEnd(8, '0')}beef`;
    const r = await cni('ADD', host, id, ns);
    assert.equal(r.code, 0, `ADD ${name} on ${host}: ${r.out} ${r.err}`);
    const ip = (JSON.parse(r.out) as { ips: Array<{ address: string }> }).ips[0]!.address.split(
      '/',
    )[0]!;
    pods.set(name, { ns, host, id, ip });
    return ip;
  }

  const ping = (from: string, to: string): boolean =>
    spawnSync('nsenter', [
      `--net=/var/run/netns/${pods.get(from)!.ns}`,
      'ping',
      '-c',
      '1',
      '-W',
      '1',
      pods.get(to)!.ip,
    ]).status === 0;

  before(async () => {
    assert.ok(existsSync(BUNDLE), `${BUNDLE} is built by 'npm test' (pretest)`);
    writeFileSync(
      path.join(dir, 'tokens.yaml'),
      `- {token: ${ADMIN}, role: admin}\n- {token: ${NODE}, role: node}\n`,
    );
    writeFileSync(path.join(dir, 'node.token'), `${NODE}\n`);
    writeFileSync(path.join(dir, 'rt_tables'), '');
    port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    await startD();
    relay = net.createServer((s) => {
      const up = net.connect(port, '127.0.0.1');
      s.pipe(up).pipe(s);
      s.on('error', () => up.destroy());
      up.on('error', () => s.destroy());
    });
    await new Promise<void>((r) => relay!.listen(sock, r));
    // The fabric: one bridge in its own namespace, a veth to each host.
    addNs(SW);
    execFileSync('ip', ['-n', SW, 'link', 'add', 'br0', 'type', 'bridge']);
    execFileSync('ip', ['-n', SW, 'link', 'set', 'br0', 'up']);
    for (const h of HOSTS) {
      addNs(nsOf(h));
      execFileSync('ip', [
        '-n',
        SW,
        'link',
        'add',
        `p-${h}`,
        'type',
        'veth',
        'peer',
        'name',
        'eth0',
        'netns',
        nsOf(h),
      ]);
      execFileSync('ip', ['-n', SW, 'link', 'set', `p-${h}`, 'master', 'br0', 'up']);
      execFileSync('ip', ['-n', nsOf(h), 'addr', 'add', `${hostIp(h)}/24`, 'dev', 'eth0']);
      execFileSync('ip', ['-n', nsOf(h), 'link', 'set', 'eth0', 'up']);
      const socat = spawn(
        'nsenter',
        [
          `--net=/var/run/netns/${nsOf(h)}`,
          'socat',
          'TCP-LISTEN:9600,bind=127.0.0.1,reuseaddr,fork',
          `UNIX-CONNECT:${sock}`,
        ],
        { stdio: 'ignore' },
      );
      processes.push(socat);
    }
    const topo = await admin('POST', '/topology', {
      networks: [{ name: 'pods', cidr: '10.64.0.0/16', block_mask: 28 }],
      topologies: [
        {
          networks: ['pods'],
          map: [
            {
              name: 'rack-a',
              groups: [
                { name: 'h1', ip: hostIp('h1') },
                { name: 'h2', ip: hostIp('h2') },
              ],
            },
            { name: 'rack-b', groups: [{ name: 'h3', ip: hostIp('h3') }] },
          ],
        },
      ],
    });
    assert.equal(topo.status, 200, JSON.stringify(topo.body));
    for (const h of HOSTS) {
      const agent = spawn(
        'nsenter',
        [
          `--net=/var/run/netns/${nsOf(h)}`,
          process.execPath,
          AGENT,
          '--hostname',
          h,
          '--romanad-url',
          'http://127.0.0.1:9600',
          '--token-file',
          path.join(dir, 'node.token'),
          '--provision-iface',
          '--provision-sysctls',
          '--rt-tables-file',
          path.join(dir, 'rt_tables'),
          '--metrics-port',
          '0',
          '--resync-interval',
          '2',
          '--log-level',
          'warn',
        ],
        { stdio: ['ignore', 'ignore', 'inherit'] },
      );
      processes.push(agent);
    }
    for (const [pod, host] of [
      ['a1', 'h1'],
      ['a2', 'h1'],
      ['b1', 'h2'],
      ['b2', 'h2'],
      ['c1', 'h3'],
      ['c2', 'h3'],
    ] as const) {
      await addPod(pod, host);
    }
  });

  after(async () => {
    for (const p of processes) if (p.exitCode === null) p.kill('SIGKILL');
    await romanad?.stop();
    await new Promise((r) => (relay ? relay.close(r) : r(undefined)));
    for (const ns of namespaces.reverse()) spawnSync('ip', ['netns', 'del', ns]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('every pod reaches every other pod, across hosts', async () => {
    const names = [...pods.keys()];
    await until('the agents to route every host', () => HOSTS.every((h) => table10(h).length > 0));
    for (const from of names) {
      for (const to of names) {
        if (from === to) continue;
        let ok = false;
        for (let i = 0; i < 20 && !ok; i++) {
          ok = ping(from, to);
          if (!ok) await sleep(200);
        }
        assert.ok(ok, `${from} (${pods.get(from)!.ip}) cannot reach ${to} (${pods.get(to)!.ip})`);
      }
    }
  });

  it('each host holds exactly the expected routes: per block in a shared rack, one prefix for a sole host', async () => {
    const blocksOf = (h: string) => [
      ...new Set([...pods.values()].filter((p) => p.host === h).map((p) => p.ip)),
    ];
    const blocks = (await admin('GET', '/blocks')).body as {
      blocks: Array<{ cidr: string; host: string }>;
    };
    const cidrsOf = (h: string) => blocks.blocks.filter((b) => b.host === h).map((b) => b.cidr);
    assert.ok(blocksOf('h2').length > 0);
    await until(
      'h1 routes',
      () =>
        JSON.stringify(table10('h1')) ===
        JSON.stringify(
          [
            ...cidrsOf('h2').map((c) => `${c} via ${hostIp('h2')}`),
            `10.64.128.0/17 via ${hostIp('h3')}`,
          ].sort(),
        ),
    );
    await until(
      'h3 routes',
      () =>
        JSON.stringify(table10('h3')) ===
        JSON.stringify(
          [
            ...cidrsOf('h1').map((c) => `${c} via ${hostIp('h1')}`),
            ...cidrsOf('h2').map((c) => `${c} via ${hostIp('h2')}`),
          ].sort(),
        ),
    );
  });

  it('a repeated ADD returns the same address', async () => {
    const p = pods.get('a1')!;
    const r = await cni('ADD', p.host, p.id, p.ns);
    assert.equal(r.code, 0, r.err);
    assert.equal(
      (JSON.parse(r.out) as { ips: Array<{ address: string }> }).ips[0]!.address,
      `${p.ip}/32`,
    );
    assert.ok(ping('b1', 'a1'));
  });

  it('a route deleted by hand comes back within one resync', async () => {
    execFileSync('ip', ['-n', nsOf('h1'), 'route', 'del', '10.64.128.0/17', 'table', '10']);
    await until(
      'the route to come back',
      () => table10('h1').includes(`10.64.128.0/17 via ${hostIp('h3')}`),
      10_000,
    );
  });

  it('killing and restarting romanad changes nothing in the data path', async () => {
    const before = HOSTS.map(table10);
    romanad!.proc.kill('SIGKILL');
    await sleep(500);
    assert.ok(
      ping('a1', 'c1') && ping('c2', 'b2'),
      'pods still reach each other while romanad is down',
    );
    await startD();
    await sleep(3000);
    assert.deepEqual(HOSTS.map(table10), before);
    assert.ok(ping('b1', 'c2'));
  });

  it("after DEL of every pod on a host, its blocks' routes vanish from the other hosts", async () => {
    for (const name of ['b1', 'b2']) {
      const p = pods.get(name)!;
      const r = await cni('DEL', p.host, p.id, p.ns);
      assert.equal(r.code, 0, r.err);
    }
    await until('h2 routes to vanish', () =>
      [...HOSTS].every((h) => !table10(h).some((l) => l.endsWith(`via ${hostIp('h2')}`))),
    );
    assert.ok(ping('a1', 'c1'), 'the other pods are not affected');
  });
});
