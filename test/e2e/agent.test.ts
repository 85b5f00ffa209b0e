/**
 * The real `romana-agent` process against a real romanad process, managing a throwaway
 * network namespace (`--netns`): provisioning, routes following allocations through the watch
 * stream, repair of a route deleted by hand, `plan`, metrics, and a romanad restart that
 * leaves the data path alone.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createNetns, removeNetns } from '../helpers/netns.ts';
import { reservePort } from '../helpers/ports.ts';
import { request, startRomanad, type Romanad } from '../helpers/romanad.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const AGENT = path.join(ROOT, 'bin/romana-agent.js');
const NS = `romana-ag-${process.pid}`;

const ip = (...args: string[]) => execFileSync('ip', ['-n', NS, ...args], { encoding: 'utf8' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function routes(): string[] {
  const out = spawnSync('ip', ['-n', NS, 'route', 'show', 'table', '10'], { encoding: 'utf8' });
  return out.stdout
    .trim()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.replace(/\s+dev v0.*$/, '').trim())
    .sort();
}

async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end)
      throw new Error(`timed out waiting for ${what}; routes: ${routes().join(', ')}`);
    await sleep(50);
  }
}

describe('romana-agent', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'romana-agent-'));
  const rtTables = path.join(dir, 'rt_tables');
  let port: number;
  let metricsPort: number;
  let romanad: Romanad;
  let agent: ChildProcess;
  let agentLog = '';
  const url = () => `http://127.0.0.1:${port}`;
  /**
   * romanad on a reserved port: a restart needs the same port (the agent has its URL), which a
   * port chosen by the kernel could meanwhile be handed to somebody else.
   */
  const startD = async (again = false) => {
    if (!again) port = await reservePort();
    return startRomanad(['--store', `embedded:${dir}/data`, '--port', String(port)]);
  };
  const restartD = () => startD(true);
  /** Starts the agent, its metrics on a reserved port; resolves once they answer. */
  const startAgent = async () => {
    metricsPort = await reservePort();
    agentLog = '';
    agent = spawn(
      process.execPath,
      agentArgs([
        '--provision-iface',
        '--provision-sysctls',
        '--resync-interval',
        '1',
        '--metrics-port',
        String(metricsPort),
      ]),
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    // Logs (JSON lines) on stdout, a fatal error on stderr.
    agent.stdout!.on('data', (d: Buffer) => (agentLog += d.toString()));
    agent.stderr!.on('data', (d: Buffer) => (agentLog += d.toString()));
    const proc = agent;
    const exited = new Promise<false>((r) => proc.once('exit', () => r(false)));
    const up = (async () => {
      while (proc.exitCode === null) {
        const text = await fetch(`http://127.0.0.1:${metricsPort}/metrics`)
          .then((r) => r.text())
          .catch(() => '');
        if (text.includes('romana_managed_routes')) return true;
        await sleep(50);
      }
      return false;
    })();
    if (!(await Promise.race([up, exited]))) throw new Error(`the agent exited: ${agentLog}`);
  };
  const agentArgs = (extra: string[] = []) => [
    AGENT,
    ...extra,
    '--netns',
    NS,
    '--hostname',
    'me',
    '--romanad-url',
    url(),
    '--rt-tables-file',
    rtTables,
    '--link-name',
    'v0',
    '--log-level',
    'warn',
  ];

  before(async () => {
    createNetns(NS, '192.168.60.1/24');
    writeFileSync(rtTables, '255\tlocal\n254\tmain\n');
    romanad = await startD();
    await request(`${url()}/topology`, 'POST', {
      networks: [{ name: 'pods', cidr: '10.0.0.0/16', block_mask: 28 }],
      topologies: [
        {
          networks: ['pods'],
          map: [
            {
              name: 'rack-1',
              groups: [
                { name: 'me', ip: '192.168.60.1' },
                { name: 'peer', ip: '192.168.60.2' },
              ],
            },
            { name: 'rack-2', groups: [{ name: 'solo', ip: '192.168.60.3' }] },
          ],
        },
      ],
    });
    await startAgent();
  });

  after(async () => {
    agent?.kill('SIGKILL');
    await romanad?.stop();
    removeNetns(NS);
    rmSync(dir, { recursive: true, force: true });
  });

  it('provisions the namespace and routes a sole-host rack as one prefix', async () => {
    await until('the rack-2 route', () => routes().includes('10.0.128.0/17 via 192.168.60.3'));
    assert.match(ip('-4', 'addr', 'show', 'romana-lo'), /172\.142\.0\.1\/32/);
    for (const key of [
      'net.ipv4.ip_forward',
      'net.ipv4.conf.all.proxy_arp',
      'net.ipv4.conf.default.proxy_arp',
    ]) {
      assert.equal(
        execFileSync('ip', ['netns', 'exec', NS, 'sysctl', '-n', key], { encoding: 'utf8' }).trim(),
        '1',
        key,
      );
    }
    assert.match(ip('rule', 'show'), /lookup 10/);
    assert.match(execFileSync('cat', [rtTables], { encoding: 'utf8' }), /^10 romana$/m);
  });

  it('adds the route of a new block on another host through the watch, and removes it on release', async () => {
    await request(`${url()}/address`, 'POST', { name: 'p1', host: 'peer', tenant: 't' });
    const p1 = ((await request(`${url()}/address?addressName=p1`, 'GET')).body as { block: string })
      .block;
    await until('the block route', () => routes().includes(`${p1} via 192.168.60.2`));
    await request(`${url()}/address?addressName=p1`, 'DELETE');
    await until('the block route to go', () => !routes().includes(`${p1} via 192.168.60.2`));
    assert.deepEqual(routes(), ['10.0.128.0/17 via 192.168.60.3']);
  });

  it('puts back a route deleted by hand within one resync', async () => {
    ip('route', 'del', '10.0.128.0/17', 'table', '10');
    await until(
      'the route to come back',
      () => routes().includes('10.0.128.0/17 via 192.168.60.3'),
      5000,
    );
  });

  it('exposes metrics and health, on loopback only by default', async () => {
    const listening = execFileSync('ss', ['-Hltn', `sport = :${metricsPort}`], {
      encoding: 'utf8',
    });
    assert.deepEqual(
      listening
        .trim()
        .split('\n')
        .map((l) => l.split(/\s+/)[3]),
      [`127.0.0.1:${metricsPort}`],
    );
    const m = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then((r) => r.text());
    assert.match(m, /^romana_managed_routes 1$/m);
    assert.match(m, /romana_reconcile_duration_seconds_count \d+/);
    assert.equal((await fetch(`http://127.0.0.1:${metricsPort}/healthz`)).status, 200);
  });

  it("holds this node's VIPs on its link, moves and drops them, and leaves other /32s alone", async () => {
    const held = () =>
      ip('-4', '-o', 'addr', 'show', 'dev', 'v0')
        .split('\n')
        .filter((l) => l.includes('/32'))
        .map((l) => l.replace(/^.*inet (\S+) .*?(v0:rv)?\s*(\\|$).*$/, '$1 $2').trim())
        .sort();
    ip('addr', 'add', '192.0.2.99/32', 'dev', 'v0'); // the node's own, not Romana's
    const put = (host: string) =>
      request(`${url()}/vips/web.default`, 'PUT', { ip: '192.0.2.77', host });
    assert.equal((await put('me')).status, 200);
    await until('the VIP on v0', () => held().includes('192.0.2.77/32 v0:rv'));
    const m = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then((r) => r.text());
    assert.match(m, /^romana_vips_held 1$/m);
    assert.equal((await put('peer')).status, 200);
    await until(
      'the VIP to leave v0 when it moves to peer',
      () => !held().includes('192.0.2.77/32 v0:rv'),
    );
    assert.equal((await put('me')).status, 200);
    await until('the VIP back on v0', () => held().includes('192.0.2.77/32 v0:rv'));
    assert.equal((await request(`${url()}/vips/web.default`, 'DELETE')).status, 200);
    await until('the VIP to leave v0 when deleted', () => !held().includes('192.0.2.77/32 v0:rv'));
    assert.deepEqual(held(), ['192.0.2.99/32']);
    ip('addr', 'del', '192.0.2.99/32', 'dev', 'v0');
  });

  it('plans without changing anything, and says why', async () => {
    await request(`${url()}/address`, 'POST', { name: 'p2', host: 'peer', tenant: 'u' });
    await until('the p2 route', () => routes().some((r) => r.endsWith('via 192.168.60.2')));
    const out = execFileSync(
      process.execPath,
      [...agentArgs(['plan']).slice(0, 1), 'plan', ...agentArgs().slice(1)],
      {
        encoding: 'utf8',
      },
    );
    assert.match(out, /^# table 10 on me: 0 change\(s\), 2 route\(s\) wanted$/m);
    assert.match(out, /^# vips on v0: 0 change\(s\)$/m);
  });

  it('plan for a host romanad does not know fails with the name, and changes nothing', () => {
    const r = spawnSync(
      process.execPath,
      [
        AGENT,
        'plan',
        ...agentArgs()
          .slice(1)
          .map((a) => (a === 'me' ? 'ghost' : a)),
      ],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.equal(r.stdout, '');
    assert.match(
      r.stderr,
      /^romana-agent: --hostname: romanad at http:\/\/127\.0\.0\.1:\d+ has no host 'ghost'/,
    );
  });

  it('plan --policy prints the firewall payloads it would apply, and applies nothing', async () => {
    const policy = {
      id: 'web-in',
      applied_to: [{ tenant_id: 'u' }],
      ingress: [{ peers: [{ peer: 'any' }], rules: [{ protocol: 'tcp', ports: [80] }] }],
    };
    assert.equal((await request(`${url()}/policies`, 'POST', policy)).status, 200);
    // A policy is rendered on the hosts that hold blocks of its target.
    await request(`${url()}/address`, 'POST', { name: 'mine', host: 'me', tenant: 'u' });
    const out = execFileSync(
      process.execPath,
      [AGENT, 'plan', '--policy', ...agentArgs().slice(1)],
      {
        encoding: 'utf8',
      },
    );
    assert.match(out, /^# policy: /m);
    assert.match(out, /^:ROMANA-FORWARD-IN - $/m);
    assert.match(out, /^-A ROMANA-P-[0-9a-f]{16}_R -p tcp --dport 80 -j ACCEPT$/m);
    const chains = execFileSync('ip', ['netns', 'exec', NS, 'iptables-save', '-t', 'filter'], {
      encoding: 'utf8',
    });
    assert.ok(!chains.includes('ROMANA-'), 'plan changed nothing');
  });

  it('keeps the data path while romanad restarts, and follows it again afterwards', async () => {
    const before = routes();
    const logged = agentLog.length;
    await romanad.stop();
    // The agent ran while romanad was down: a resync found it unreachable and kept the routes.
    await until('a resync to find romanad unreachable', () =>
      agentLog.slice(logged).includes('resync: romanad unreachable; keeping routes'),
    );
    assert.deepEqual(routes(), before, 'routes stay while romanad is down');
    romanad = await restartD();
    await request(`${url()}/address`, 'POST', { name: 'p3', host: 'peer', tenant: 'v' });
    const p3 = ((await request(`${url()}/address?addressName=p3`, 'GET')).body as { block: string })
      .block;
    await until(
      'the route of a block made after the restart',
      () => routes().includes(`${p3} via 192.168.60.2`),
      15_000,
    );
    assert.ok(agent.exitCode === null, `the agent is still running: ${agentLog}`);
  });
});
