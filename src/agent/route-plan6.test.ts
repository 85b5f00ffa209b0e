/**
 * Route planning for IPv6 and dual-stack topologies: IPv6 blocks and groups are aggregated as
 * IPv4 ones are and routed via each host's `ip6`. The inputs are written out as romanad's views
 * would show them (the groups' carved CIDRs included), so that the plan is checked against
 * literal expected routes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BlockView } from '../ipam/index.ts';
import { planRoutes, type PlanHost, type Reach } from './route-plan.ts';

const host = (name: string, ip: string, ip6?: string): PlanHost => ({
  name,
  ip,
  ...(ip6 === undefined ? {} : { ip6 }),
  agent_port: 9604,
  tags: null,
  k8s_info: null,
});

const block = (cidr: string, network: string, h: string): BlockView => ({
  revision: 1,
  cidr,
  network,
  tenant: 't',
  segment: 'default',
  host: h,
  allocated_ip_count: 1,
});

/** One map per network: rack-1 holds h1 alone, rack-2 holds h2 and h3. */
const rack = (cidrs: [string, string]) => [
  { name: 'rack-1', cidr: cidrs[0], groups: [{ name: 'h1', ip: '192.168.0.1' }] },
  {
    name: 'rack-2',
    cidr: cidrs[1],
    groups: [
      { name: 'h2', ip: '192.168.0.2' },
      { name: 'h3', ip: '192.168.0.3' },
    ],
  },
];
const topology = {
  networks: [
    { name: 'v4', cidr: '10.0.0.0/16', block_mask: 28 },
    { name: 'v6', cidr: 'fd00:10::/48', block_mask: 120 },
  ],
  topologies: [
    { networks: ['v4'], map: rack(['10.0.0.0/17', '10.0.128.0/17']) },
    { networks: ['v6'], map: rack(['fd00:10::/49', 'fd00:10:0:8000::/49']) },
  ],
};
const blocks = [
  block('10.0.0.0/28', 'v4', 'h1'),
  block('10.0.128.0/28', 'v4', 'h2'),
  block('10.0.128.16/28', 'v4', 'h3'),
  block('fd00:10::/120', 'v6', 'h1'),
  block('fd00:10:0:8000::/120', 'v6', 'h2'),
  block('fd00:10:0:8000::100/120', 'v6', 'h3'),
  block('fd00:10:0:8000::200/120', 'v6', 'h3'),
];
const hosts = [
  host('h1', '192.168.0.1', 'fd00:1::1'),
  host('h2', '192.168.0.2', 'fd00:1::2'),
  host('h3', '192.168.0.3', 'fd00:1::3'),
];
const direct = (ips: string[]): Map<string, Reach> =>
  new Map(ips.map((ip) => [ip, { dev: 'eth0' }]));
const ALL = ['192.168.0.1', '192.168.0.3', 'fd00:1::1', 'fd00:1::3'];

function plan(reach: Map<string, Reach>, hs = hosts, multihop = false) {
  return planRoutes({ self: 'h2', hosts: hs, blocks, topology, reach, multihop });
}

describe('route planning for both families', () => {
  it('aggregates IPv6 groups as IPv4 ones and routes them via each host’s ip6', () => {
    const p = plan(direct(ALL));
    assert.deepEqual(
      p.routes.map((r) => `${r.dst} via ${r.via}`),
      [
        '10.0.0.0/17 via 192.168.0.1',
        '10.0.128.16/28 via 192.168.0.3',
        'fd00:10::/49 via fd00:1::1',
        'fd00:10:0:8000::100/120 via fd00:1::3',
        'fd00:10:0:8000::200/120 via fd00:1::3',
      ],
    );
    assert.equal(p.routes[2]!.reason, 'group rack-1 holds only host h1');
    assert.deepEqual(p.skipped, []);
  });

  it('gives a host without ip6 its IPv4 routes only, and says why', () => {
    const p = plan(direct(ALL), [hosts[0]!, hosts[1]!, host('h3', '192.168.0.3')]);
    assert.deepEqual(
      p.routes.map((r) => `${r.dst} via ${r.via}`),
      [
        '10.0.0.0/17 via 192.168.0.1',
        '10.0.128.16/28 via 192.168.0.3',
        'fd00:10::/49 via fd00:1::1',
      ],
    );
    assert.deepEqual(p.skipped, [
      { host: 'h3', why: 'it has no ip6: its IPv6 blocks are not routed' },
    ]);
  });

  it('judges each family’s reachability on its own: gateways only with multihop', () => {
    const reach = direct(ALL);
    reach.set('fd00:1::1', { gateway: 'fd00:1::fe', dev: 'eth0' });
    reach.delete('fd00:1::3');
    const p = plan(reach);
    assert.deepEqual(
      p.routes.map((r) => `${r.dst} via ${r.via}`),
      ['10.0.0.0/17 via 192.168.0.1', '10.0.128.16/28 via 192.168.0.3'],
    );
    assert.deepEqual(p.skipped, [
      {
        host: 'h1',
        why: 'fd00:1::1 is reached through fd00:1::fe; enable multihop to route its pods',
      },
      { host: 'h3', why: 'no route to fd00:1::3' },
    ]);
    const hop = plan(reach, hosts, true);
    assert.ok(hop.routes.some((r) => r.dst === 'fd00:10::/49' && r.via === 'fd00:1::fe'));
  });
});
