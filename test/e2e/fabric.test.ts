/**
 * Romana's promise on real kernels: three hosts on one bridged fabric, romanad with tokens, a
 * romana-agent per host, pods wired by the real romana-cni bundle. Pods on different hosts
 * reach each other over plain routed IP (see test/helpers/fabric.ts for the setup).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { Fabric, sleep, until } from '../helpers/fabric.ts';

const f = new Fabric(`rf${process.pid % 100000}`, ['h1', 'h2', 'h3']);

/** The block holding address `name`. */
async function blockOf(name: string): Promise<string> {
  const r = await f.admin('GET', `/address?addressName=${name}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return (r.body as { block: string }).block;
}

describe('three hosts, routed pods, no overlay', { timeout: 180_000 }, () => {
  before(async () => {
    await f.start({
      networks: [{ name: 'pods', cidr: '10.64.0.0/16', block_mask: 28 }],
      topologies: [
        {
          networks: ['pods'],
          map: [
            {
              name: 'rack-a',
              groups: [
                { name: 'h1', ip: f.hostIp('h1') },
                { name: 'h2', ip: f.hostIp('h2') },
              ],
            },
            { name: 'rack-b', groups: [{ name: 'h3', ip: f.hostIp('h3') }] },
          ],
        },
      ],
    });
    await f.startAgents();
    for (const [pod, host] of [
      ['a1', 'h1'],
      ['a2', 'h1'],
      ['b1', 'h2'],
      ['b2', 'h2'],
      ['c1', 'h3'],
      ['c2', 'h3'],
    ] as const) {
      await f.addPod(pod, host);
    }
  });
  after(() => f.close());

  it('every pod reaches every other pod, across hosts', async () => {
    const names = [...f.pods.keys()];
    await until('the agents to route every host', () =>
      f.hosts.every((h) => f.table10(h).length > 0),
    );
    for (const from of names) {
      for (const to of names) {
        if (from === to) continue;
        let ok = false;
        for (let i = 0; i < 20 && !ok; i++) {
          ok = f.ping(from, to);
          if (!ok) await sleep(200);
        }
        assert.ok(
          ok,
          `${from} (${f.pods.get(from)!.ip}) cannot reach ${to} (${f.pods.get(to)!.ip})`,
        );
      }
    }
  });

  it('each host holds exactly the expected routes: per block in a shared rack, one prefix for a sole host', async () => {
    const blocks = (await f.admin('GET', '/blocks')).body as {
      blocks: Array<{ cidr: string; host: string }>;
    };
    const routesTo = (h: string) =>
      blocks.blocks.filter((b) => b.host === h).map((b) => `${b.cidr} via ${f.hostIp(h)}`);
    assert.ok(routesTo('h2').length > 0);
    const want = {
      h1: [...routesTo('h2'), `10.64.128.0/17 via ${f.hostIp('h3')}`].sort(),
      h3: [...routesTo('h1'), ...routesTo('h2')].sort(),
    };
    await until('h1 routes', () => JSON.stringify(f.table10('h1')) === JSON.stringify(want.h1));
    await until('h3 routes', () => JSON.stringify(f.table10('h3')) === JSON.stringify(want.h3));
  });

  it('a repeated ADD returns the same address', async () => {
    const p = f.pods.get('a1')!;
    const r = await f.cni('ADD', p.host, p.id, p.ns, p.tenant, p.name);
    assert.equal(r.code, 0, r.err);
    assert.equal(
      (JSON.parse(r.out) as { ips: Array<{ address: string }> }).ips[0]!.address,
      `${p.ip}/32`,
    );
    assert.ok(f.ping('b1', 'a1'));
  });

  it('a route deleted by hand comes back within one resync', async () => {
    execFileSync('ip', ['-n', f.nsOf('h1'), 'route', 'del', '10.64.128.0/17', 'table', '10']);
    await until(
      'the route to come back',
      () => f.table10('h1').includes(`10.64.128.0/17 via ${f.hostIp('h3')}`),
      10_000,
    );
  });

  it('killing and restarting romanad changes nothing in the data path', async () => {
    const before = f.hosts.map((h) => f.table10(h));
    await f.romanad.stop('SIGKILL');
    assert.ok(
      f.ping('a1', 'c1') && f.ping('c2', 'b2'),
      'pods still reach each other while romanad is down',
    );
    await f.startRomanad();
    // The agents are back on romanad's stream once they apply a change made after the restart:
    // a block of a new tenant on h2 is routed on h1 and h3, and goes again when released.
    const r = await f.admin('POST', '/address', { name: 'probe', host: 'h2', tenant: 'probe' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const block = await blockOf('probe');
    const probeRoute = `${block} via ${f.hostIp('h2')}`;
    await until('h1 and h3 to route the new block', () =>
      ['h1', 'h3'].every((h) => f.table10(h).includes(probeRoute)),
    );
    assert.deepEqual(
      f.hosts.map((h) => f.table10(h).filter((l) => l !== probeRoute)),
      before,
      'nothing else changed',
    );
    assert.equal((await f.admin('DELETE', '/address?addressName=probe')).status, 200);
    await until('the new block to be unrouted', () =>
      f.hosts.every((h) => !f.table10(h).includes(probeRoute)),
    );
    assert.deepEqual(
      f.hosts.map((h) => f.table10(h)),
      before,
    );
    assert.ok(f.ping('b1', 'c2'));
  });

  it('a VIP is reachable on its host, and moves to another with a gratuitous ARP', async () => {
    const vip = '192.168.77.200';
    const inHost = (h: string, ...argv: string[]) =>
      execFileSync('ip', ['netns', 'exec', f.nsOf(h), ...argv], { encoding: 'utf8' });
    const macOf = (h: string) =>
      (
        JSON.parse(inHost(h, 'ip', '-json', 'link', 'show', 'eth0')) as Array<{ address: string }>
      )[0]!.address;
    const neighOfVip = () => {
      const n = JSON.parse(inHost('h1', 'ip', '-json', 'neigh', 'show', vip)) as Array<{
        lladdr?: string;
      }>;
      return n[0]?.lladdr;
    };
    const put = (host: string) => f.admin('PUT', '/vips/web.default', { ip: vip, host });
    const pingVip = (pod: string) => f.inPod(pod, ['ping', '-c', '1', '-W', '1', vip]).status === 0;
    assert.equal((await put('h2')).status, 200);
    await until('a1 to reach the VIP on h2', () => pingVip('a1'));
    assert.equal(neighOfVip(), macOf('h2'));
    await sleep(1200); // past the neighbour entry's lock time, so an ARP may replace it
    assert.equal((await put('h3')).status, 200);
    await until('h3 to hold the VIP', () => inHost('h3', 'ip', '-o', 'addr').includes(`${vip}/32`));
    // h1 learnt the move from h3's gratuitous ARP, not from its cache expiring.
    await until('h1 to see the VIP at h3', () => neighOfVip() === macOf('h3'), 3000);
    assert.ok(!inHost('h2', 'ip', '-o', 'addr').includes(`${vip}/32`), 'h2 let the VIP go');
    assert.ok(pingVip('a1') && pingVip('b1'), 'pods reach the VIP at its new host');
    assert.equal((await f.admin('DELETE', '/vips/web.default')).status, 200);
    await until(
      'h3 to drop the VIP',
      () => !inHost('h3', 'ip', '-o', 'addr').includes(`${vip}/32`),
    );
  });

  it("after DEL of every pod on a host, its blocks' routes vanish from the other hosts", async () => {
    for (const name of ['b1', 'b2']) {
      const p = f.pods.get(name)!;
      const r = await f.cni('DEL', p.host, p.id, p.ns, p.tenant, p.name);
      assert.equal(r.code, 0, r.err);
    }
    await until('h2 routes to vanish', () =>
      f.hosts.every((h) => !f.table10(h).some((l) => l.endsWith(`via ${f.hostIp('h2')}`))),
    );
    assert.ok(f.ping('a1', 'c1'), 'the other pods are not affected');
  });
});
