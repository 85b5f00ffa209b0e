/**
 * IPv6 VIPs on real kernels: three namespaces on a bridge (two nodes and a neighbour). A VIP
 * held by one node is learnt by the neighbour; when it moves, the new holder's agent adds it
 * and the kernel advertises it (unsolicited neighbour advertisement, override set), so the
 * neighbour's cache names the new owner's MAC without the neighbour sending anything. The
 * old holder drops it, also after a restart (its VIPs are the /128s added without DAD), and
 * never touches an address of its own.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { VipSync } from '../../src/agent/vip-sync.ts';
import type { Vip } from '../../src/client/index.ts';
import { createNetns, uniqueNetnsName, type TestNetns } from '../helpers/netns.ts';
import { until } from '../helpers/fabric.ts';

const VIP = 'fd00:77::100';
const ns: Record<'sw' | 'n1' | 'n2' | 'nb', TestNetns> = {} as never;
const addr: Record<'n1' | 'n2' | 'nb', string> = {
  n1: 'fd00:77::1',
  n2: 'fd00:77::2',
  nb: 'fd00:77::9',
};

function macOf(n: 'n1' | 'n2'): string {
  return (JSON.parse(ns[n].ip('-j', 'link', 'show', 'dev', 'eth0')) as { address: string }[])[0]!
    .address;
}

/** What the neighbour's cache says of the VIP: its MAC, or '' when it has no entry. */
function neighbourSees(): string {
  const out = ns.nb.ip('-j', '-6', 'neigh', 'show', VIP, 'dev', 'eth0');
  const [n] = JSON.parse(out || '[]') as { lladdr?: string }[];
  return n?.lladdr ?? '';
}

function agent(n: 'n1' | 'n2'): VipSync {
  return new VipSync(ns[n].exec, n, 'eth0', () => undefined);
}

const vips = (host: string): Vip[] => [{ name: 'web.default', ip: VIP, host }];

describe('IPv6 VIPs move with an unsolicited neighbour advertisement', () => {
  before(() => {
    ns.sw = createNetns(uniqueNetnsName('n6-vsw'));
    ns.sw.ip('link', 'add', 'br0', 'type', 'bridge');
    ns.sw.ip('link', 'set', 'br0', 'up');
    for (const n of ['n1', 'n2', 'nb'] as const) {
      ns[n] = createNetns(uniqueNetnsName(`n6-v${n}`));
      ns.sw.addVeth({ name: `p-${n}`, peer: 'eth0', peerNs: ns[n].name });
      ns.sw.ip('link', 'set', `p-${n}`, 'master', 'br0');
      ns[n].ip('addr', 'add', `${addr[n]}/64`, 'dev', 'eth0', 'nodad');
    }
  });
  after(() => {
    for (const n of Object.values(ns)) n.remove();
  });

  it('the neighbour learns the VIP at n1 by using it', async () => {
    const n1 = agent('n1');
    n1.replace(vips('n1'));
    await n1.sync();
    assert.ok(n1.healthy);
    assert.match(ns.n1.ip('-6', 'addr', 'show', 'dev', 'eth0'), /inet6 fd00:77::100\/128 .*nodad/);
    assert.equal(ns.nb.tryRun(['ping', '-c', '1', '-W', '2', VIP]).status, 0);
    assert.equal(neighbourSees(), macOf('n1'));
  });

  it('when the VIP moves to n2, the neighbour’s cache names n2 without asking', async () => {
    const n1 = agent('n1');
    n1.replace(vips('n2'));
    await n1.sync();
    assert.doesNotMatch(ns.n1.ip('-6', 'addr', 'show', 'dev', 'eth0'), /fd00:77::100/);
    const n2 = agent('n2');
    n2.replace(vips('n2'));
    await n2.sync();
    assert.equal(ns.n2.run(['cat', '/proc/sys/net/ipv6/conf/eth0/ndisc_notify']).trim(), '1');
    // No traffic from the neighbour in between: only the advertisement can change its cache.
    await until('the neighbour to see the VIP at n2', () => neighbourSees() === macOf('n2'), 3000);
    assert.equal(ns.nb.tryRun(['ping', '-c', '1', '-W', '2', VIP]).status, 0);
  });

  it('a restarted agent drops a VIP that went elsewhere, and leaves its own addresses', async () => {
    ns.n2.ip('addr', 'add', 'fd00:77::22/128', 'dev', 'eth0');
    const fresh = agent('n2');
    fresh.replace(vips('n1'));
    assert.deepEqual(await fresh.plan(), { add: [], remove: [VIP] });
    await fresh.sync();
    const held = ns.n2.ip('-6', 'addr', 'show', 'dev', 'eth0');
    assert.doesNotMatch(held, /fd00:77::100/);
    assert.match(held, /fd00:77::22\/128/);
    assert.match(held, /fd00:77::2\/64/);
  });
});
