/**
 * The agent's route reconciliation for both families on a real kernel, inside a throwaway
 * network namespace: a dual-stack plan (IPv6 via each host's `ip6`) applied as one `ip -batch`,
 * read back from the table of both families, re-applied as a no-op, changed by one IPv6 block,
 * repaired after an IPv6 route is deleted by hand. Hosts, blocks and topology are written as
 * romanad's views show them; the routes expected are literal.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  applyBatch,
  reachability,
  readTable,
  routeChanges,
} from '../../src/agent/kernel-routes.ts';
import { planRoutes, type PlanHost } from '../../src/agent/route-plan.ts';
import { createNetns, uniqueNetnsName, type TestNetns } from '../helpers/netns.ts';
import { blockView, threeRacks } from '../helpers/route-fixtures.ts';

const TABLE = 10;

const host = (name: string, ip: string, ip6: string): PlanHost => ({
  name,
  ip,
  ip6,
  agent_port: 9604,
  tags: null,
  k8s_info: null,
});
const block = blockView;
const map = (cidrs: string[]) => threeRacks(cidrs, '192.168.50', '172.20.0.9');
const topology = {
  networks: [
    { name: 'v4', cidr: '10.0.0.0/16', block_mask: 28 },
    { name: 'v6', cidr: 'fd00:10::/48', block_mask: 120 },
  ],
  topologies: [
    { networks: ['v4'], map: map(['10.0.0.0/18', '10.0.64.0/18', '10.0.128.0/18']) },
    {
      networks: ['v6'],
      map: map(['fd00:10::/50', 'fd00:10:0:4000::/50', 'fd00:10:0:8000::/50']),
    },
  ],
};
const hosts = [
  host('me', '192.168.50.1', 'fd00:50::1'),
  host('peer', '192.168.50.2', 'fd00:50::2'),
  host('solo', '192.168.50.3', 'fd00:50::3'),
  host('far', '172.20.0.9', 'fd00:20::9'),
];

describe('route reconciliation of both families in a network namespace', () => {
  let ns: TestNetns;
  let blocks = [
    block('10.0.0.0/28', 'me'),
    block('10.0.0.16/28', 'peer'),
    block('fd00:10::/120', 'me'),
    block('fd00:10::100/120', 'peer'),
    block('fd00:10::200/120', 'peer'),
    block('fd00:10:0:4000::/120', 'solo'),
  ];

  before(() => {
    ns = createNetns(uniqueNetnsName('n6-rt'), {
      veth: { name: 'n6v0', peer: 'n6v1', address: '192.168.50.1/24' },
    });
    ns.ip('addr', 'add', 'fd00:50::1/64', 'dev', 'n6v0', 'nodad');
    ns.ip('route', 'add', 'default', 'via', '192.168.50.254');
    ns.ip('-6', 'route', 'add', 'default', 'via', 'fd00:50::fe', 'dev', 'n6v0');
  });
  after(() => ns.remove());

  async function reconcile(): Promise<{ lines: string[]; skipped: string[] }> {
    const others = hosts.filter((h) => h.name !== 'me').flatMap((h) => [h.ip, h.ip6!]);
    const reach = await reachability(ns.exec, others);
    const plan = planRoutes({ self: 'me', hosts, blocks, topology, reach, multihop: false });
    const lines = routeChanges(await readTable(ns.exec, TABLE), plan.routes, TABLE);
    await applyBatch(ns.exec, lines);
    return { lines, skipped: plan.skipped.map((s) => `${s.host}: ${s.why}`) };
  }

  const table = (family: '-4' | '-6') =>
    ns
      .ip(family, 'route', 'show', 'table', String(TABLE))
      .trim()
      .split('\n')
      .map((l) => l.replace(/\s+dev n6v0.*$/, '').trim())
      .filter((l) => l !== '');

  it('installs both families as one batch: per-block routes in shared racks, one per sole host', async () => {
    const { skipped } = await reconcile();
    assert.deepEqual(table('-4'), [
      '10.0.0.16/28 via 192.168.50.2',
      '10.0.64.0/18 via 192.168.50.3',
    ]);
    assert.deepEqual(table('-6'), [
      'fd00:10::100/120 via fd00:50::2',
      'fd00:10::200/120 via fd00:50::2',
      'fd00:10:0:4000::/50 via fd00:50::3',
    ]);
    assert.deepEqual(skipped, [
      'far: 172.20.0.9 is reached through 192.168.50.254; enable multihop to route its pods',
      'far: fd00:20::9 is reached through fd00:50::fe; enable multihop to route its pods',
    ]);
  });

  it('reads both families back and changes nothing when nothing changed', async () => {
    const current = await readTable(ns.exec, TABLE);
    assert.deepEqual([...current].sort(), [
      ['10.0.0.16/28', '192.168.50.2'],
      ['10.0.64.0/18', '192.168.50.3'],
      ['fd00:10:0:4000::/50', 'fd00:50::3'],
      ['fd00:10::100/120', 'fd00:50::2'],
      ['fd00:10::200/120', 'fd00:50::2'],
    ]);
    assert.deepEqual((await reconcile()).lines, []);
  });

  it('removes the route of a released IPv6 block, and puts back one deleted by hand', async () => {
    blocks = blocks.filter((b) => b.cidr !== 'fd00:10::200/120');
    assert.deepEqual((await reconcile()).lines, ['route del fd00:10::200/120 table 10']);
    ns.ip('-6', 'route', 'del', 'fd00:10:0:4000::/50', 'table', String(TABLE));
    assert.deepEqual((await reconcile()).lines, [
      'route replace fd00:10:0:4000::/50 via fd00:50::3 table 10',
    ]);
    assert.deepEqual(table('-6'), [
      'fd00:10::100/120 via fd00:50::2',
      'fd00:10:0:4000::/50 via fd00:50::3',
    ]);
  });
});
