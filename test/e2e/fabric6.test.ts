/**
 * The three-host fabric dual-stack: romanad with an IPv4 and an IPv6 network in one topology,
 * hosts with `ip` and `ip6`, a romana-agent per host, pods wired by the real romana-cni bundle
 * with one address of each family. Every pod reaches every other pod over both families; each
 * host's table `romana` holds exactly the routes written out below for both families; the CNI
 * result, CHECK and DEL cover both; an IPv6 VIP moves with a neighbour advertisement.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { Fabric, sleep, until } from '../helpers/fabric.ts';

const f = new Fabric(`n6f${process.pid % 10000}`, ['h1', 'h2', 'h3'], {}, { ipv6: true });
const PODS = [
  ['a1', 'h1'],
  ['a2', 'h1'],
  ['b1', 'h2'],
  ['b2', 'h2'],
  ['c1', 'h3'],
  ['c2', 'h3'],
] as const;

const hostEntry = (h: string) => ({ name: h, ip: f.hostIp(h), ip6: f.hostIp6(h) });

/** Pings `to`'s address of `family` from pod `from`, a few times while routes settle. */
async function reaches(from: string, to: string, family: 4 | 6): Promise<boolean> {
  const ip = f.pods.get(to)!.ips.find((a) => a.includes(':') === (family === 6))!;
  for (let i = 0; i < 20; i++) {
    if (f.inPod(from, ['ping', `-${family}`, '-c', '1', '-W', '1', ip]).status === 0) return true;
    await sleep(200);
  }
  return false;
}

const inHost = (h: string, ...argv: string[]) =>
  spawnSync('ip', ['-n', f.nsOf(h), ...argv], { encoding: 'utf8' }).stdout;

describe('three hosts dual-stack: routed pods over IPv4 and IPv6', { timeout: 180_000 }, () => {
  before(async () => {
    await f.start({
      networks: [
        { name: 'pods', cidr: '10.64.0.0/16', block_mask: 28 },
        { name: 'pods6', cidr: 'fd00:64::/48', block_mask: 120 },
      ],
      topologies: [
        {
          networks: ['pods', 'pods6'],
          map: [
            { name: 'rack-a', groups: [hostEntry('h1'), hostEntry('h2')] },
            { name: 'rack-b', groups: [hostEntry('h3')] },
          ],
        },
      ],
    });
    await f.startAgents();
    for (const [pod, host] of PODS) await f.addPod(pod, host);
  });
  after(() => f.close());

  it('gives every pod one address of each family, IPv4 first', () => {
    for (const p of f.pods.values()) {
      assert.equal(p.ips.length, 2, `${p.name}: ${p.ips.join(' ')}`);
      assert.match(p.ips[0]!, /^10\.64\./);
      assert.match(p.ips[1]!, /^fd00:64:/);
    }
  });

  it('every pod reaches every other pod over IPv4 and over IPv6', async () => {
    await until('the agents to route both families', () =>
      f.hosts.every((h) => f.table10(h, 4).length > 0 && f.table10(h, 6).length > 0),
    );
    const failed: string[] = [];
    for (const [from] of PODS) {
      for (const [to] of PODS) {
        if (from === to) continue;
        for (const family of [4, 6] as const) {
          if (!(await reaches(from, to, family))) failed.push(`${from} → ${to} over IPv${family}`);
        }
      }
    }
    assert.deepEqual(failed, []);
  });

  it('each host holds exactly the expected routes of both families', async () => {
    // rack-a holds h1 and h2: their blocks are routed one by one; rack-b holds h3 alone: its
    // whole group is one route. a1 and a2 share h1's first block, b1 and b2 h2's.
    const want: Record<string, { 4: string[]; 6: string[] }> = {
      h1: {
        4: ['10.64.0.16/28 via 192.168.77.12', '10.64.128.0/17 via 192.168.77.13'],
        6: ['fd00:64::100/120 via fd00:77::12', 'fd00:64:0:8000::/49 via fd00:77::13'],
      },
      h2: {
        4: ['10.64.0.0/28 via 192.168.77.11', '10.64.128.0/17 via 192.168.77.13'],
        6: ['fd00:64::/120 via fd00:77::11', 'fd00:64:0:8000::/49 via fd00:77::13'],
      },
      h3: {
        4: ['10.64.0.0/28 via 192.168.77.11', '10.64.0.16/28 via 192.168.77.12'],
        6: ['fd00:64::/120 via fd00:77::11', 'fd00:64::100/120 via fd00:77::12'],
      },
    };
    for (const h of f.hosts) {
      for (const family of [4, 6] as const) {
        const expected = JSON.stringify([...want[h]![family]].sort());
        await until(
          `${h} IPv${family} routes`,
          () => JSON.stringify(f.table10(h, family)) === expected,
        );
      }
    }
  });

  it('ADD answers both addresses and default routes; CHECK covers both; DEL removes both', async () => {
    const p = f.pods.get('a2')!;
    const add = await f.cni('ADD', p.host, p.id, p.ns, p.tenant, p.name);
    assert.equal(add.code, 0, add.err);
    const result = JSON.parse(add.out) as {
      ips: { address: string; gateway: string }[];
      routes: { dst: string; gw: string }[];
    };
    assert.deepEqual(result.ips, [
      { address: `${p.ips[0]}/32`, gateway: '172.142.0.1', interface: 1 },
      { address: `${p.ips[1]}/128`, gateway: 'fe80::1', interface: 1 },
    ]);
    assert.deepEqual(result.routes, [
      { dst: '0.0.0.0/0', gw: '172.142.0.1' },
      { dst: '::/0', gw: 'fe80::1' },
    ]);
    assert.match(inHost(p.host, '-6', 'route', 'show', `${p.ips[1]}/128`), /dev romana-/);
    const check = () =>
      f.cni('CHECK', p.host, p.id, p.ns, p.tenant, p.name, { prevResult: result });
    assert.equal((await check()).code, 0);
    spawnSync('ip', ['-n', p.ns, '-6', 'route', 'del', 'default', 'via', 'fe80::1', 'dev', 'eth0']);
    const broken = await check();
    assert.notEqual(broken.code, 0);
    assert.match(broken.out, /default route ::\/0 via fe80::1 dev eth0 is missing/);
    const del = await f.cni('DEL', p.host, p.id, p.ns, p.tenant, p.name);
    assert.equal(del.code, 0, del.err);
    assert.equal(inHost(p.host, '-6', 'route', 'show', `${p.ips[1]}/128`).trim(), '');
    assert.equal(inHost(p.host, '-4', 'route', 'show', `${p.ips[0]}/32`).trim(), '');
    const gone = await f.admin(
      'GET',
      `/address?addressName=${p.name}.${p.tenant}.${p.id.slice(0, 8)}`,
    );
    assert.equal(gone.status, 404);
    f.pods.delete('a2');
  });

  it('an IPv6 VIP is reachable on its host and moves with a neighbour advertisement', async () => {
    const vip = 'fd00:77::200';
    const neighOfVip = () => {
      const n = JSON.parse(inHost('h1', '-j', '-6', 'neigh', 'show', vip) || '[]') as {
        lladdr?: string;
      }[];
      return n[0]?.lladdr;
    };
    const macOf = (h: string) =>
      (JSON.parse(inHost(h, '-j', 'link', 'show', 'dev', 'eth0')) as { address: string }[])[0]!
        .address;
    const put = (host: string) => f.admin('PUT', '/vips/web6.default', { ip: vip, host });
    assert.equal((await put('h2')).status, 200);
    await until(
      'a1 to reach the VIP on h2',
      () => f.inPod('a1', ['ping', '-6', '-c', '1', '-W', '1', vip]).status === 0,
    );
    assert.equal(neighOfVip(), macOf('h2'));
    assert.equal((await put('h3')).status, 200);
    await until('h1 to see the VIP at h3', () => neighOfVip() === macOf('h3'), 5000);
    assert.doesNotMatch(inHost('h2', '-6', 'addr', 'show', 'dev', 'eth0'), /fd00:77::200/);
    assert.equal(f.inPod('b1', ['ping', '-6', '-c', '1', '-W', '1', vip]).status, 0);
    assert.equal((await f.admin('DELETE', '/vips/web6.default')).status, 200);
  });
});
