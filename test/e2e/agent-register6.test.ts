/**
 * `romana-agent --register --host-ip6`: the real agent process adds its host to a real romanad
 * with its IPv6 address, provisions the IPv6 side of its namespace (the policy rule and
 * forwarding), and routes another host's IPv6 block via that host's `ip6`.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { until } from '../helpers/fabric.ts';
import { createNetns, uniqueNetnsName, type TestNetns } from '../helpers/netns.ts';
import { request, startRomanad, type Romanad } from '../helpers/romanad.ts';

const AGENT = path.resolve(import.meta.dirname, '../../bin/romana-agent.js');

describe('romana-agent registers its ip6 and routes IPv6', { timeout: 60_000 }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'romana-n6-reg-'));
  let romanad: Romanad;
  let ns: TestNetns;
  let agent: ChildProcess;
  let log = '';

  before(async () => {
    ns = createNetns(uniqueNetnsName('n6-reg'), {
      veth: { name: 'n6r0', peer: 'n6r1', address: '192.168.61.1/24' },
    });
    ns.ip('addr', 'add', 'fd00:61::1/64', 'dev', 'n6r0', 'nodad');
    writeFileSync(path.join(dir, 'rt_tables'), '');
    romanad = await startRomanad(['--store', 'memory:']);
    const topo = await request(`${romanad.url}/topology`, 'POST', {
      networks: [
        { name: 'pods', cidr: '10.61.0.0/16', block_mask: 28 },
        { name: 'pods6', cidr: 'fd00:610::/48', block_mask: 120 },
      ],
      topologies: [
        {
          networks: ['pods', 'pods6'],
          map: [
            { name: 'rack', groups: [{ name: 'peer', ip: '192.168.61.2', ip6: 'fd00:61::2' }] },
          ],
        },
      ],
    });
    assert.equal(topo.status, 200, JSON.stringify(topo.body));
    agent = spawn(
      process.execPath,
      [
        AGENT,
        '--netns',
        ns.name,
        '--hostname',
        'me6',
        '--romanad-url',
        romanad.url,
        '--register',
        '--host-ip',
        '192.168.61.1',
        '--host-ip6',
        'fd00:61::1',
        '--provision-iface',
        '--provision-sysctls',
        '--rt-tables-file',
        path.join(dir, 'rt_tables'),
        '--link-name',
        'n6r0',
        '--metrics-port',
        '0',
        '--log-level',
        'warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    agent.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    agent.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  });
  after(async () => {
    agent?.kill('SIGKILL');
    ns?.remove();
    await romanad?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('adds the host with its ip6 and sets the node up for IPv6', async () => {
    let host: { ip?: string; ip6?: string } = {};
    for (let i = 0; i < 100 && host.ip6 === undefined; i++) {
      const r = await request(`${romanad.url}/hosts/me6`, 'GET');
      if (r.status === 200) host = r.body as typeof host;
      else await new Promise((res) => setTimeout(res, 100));
    }
    assert.equal(host.ip, '192.168.61.1', log);
    assert.equal(host.ip6, 'fd00:61::1', log);
    await until('the IPv6 rule', () => /lookup (10|romana)/.test(ns.ip('-6', 'rule', 'show')));
    assert.equal(ns.run(['cat', '/proc/sys/net/ipv6/conf/all/forwarding']).trim(), '1');
  });

  it('routes the other host’s IPv6 block via its ip6', async () => {
    const r = await request(`${romanad.url}/address`, 'POST', {
      name: 'p1',
      host: 'peer',
      tenant: 't',
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const six = () => ns.ip('-6', 'route', 'show', 'table', '10');
    await until('the IPv6 route', () => six().includes('via fd00:61::2'), 10_000);
    // Registered, me6 joined the rack too: the rack holds two hosts, so blocks are routed.
    assert.match(six(), /^fd00:610::\/120 via fd00:61::2 dev n6r0/m);
  });
});
