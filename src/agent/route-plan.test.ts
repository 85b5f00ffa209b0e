import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Ipam } from '../ipam/index.ts';
import { Cidr } from '../net/addr.ts';
import { planRoutes, type Reach } from './route-plan.ts';

/** rack-1 holds h1 alone, rack-2 holds h2 and h3, rack-3 holds h4 alone. */
function cluster(): Ipam {
  const ipam = new Ipam();
  ipam.updateTopology({
    networks: [{ name: 'pods', cidr: '10.0.0.0/16', block_mask: 28 }],
    topologies: [
      {
        networks: ['pods'],
        map: [
          { name: 'rack-1', groups: [{ name: 'h1', ip: '192.168.0.1' }] },
          {
            name: 'rack-2',
            groups: [
              { name: 'h2', ip: '192.168.0.2' },
              { name: 'h3', ip: '192.168.0.3' },
            ],
          },
          { name: 'rack-3', groups: [{ name: 'h4', ip: '192.168.1.4' }] },
        ],
      },
    ],
  });
  for (const [name, host, tenant] of [
    ['a', 'h1', 't'],
    ['b', 'h2', 't'],
    ['c', 'h3', 't'],
    ['d', 'h3', 'u'],
    ['e', 'h4', 't'],
  ] as const) {
    ipam.allocate({ name, host, tenant });
  }
  return ipam;
}

const direct = (ips: string[]): Map<string, Reach> =>
  new Map(ips.map((ip) => [ip, { dev: 'eth0' }]));

function plan(ipam: Ipam, self: string, reach: Map<string, Reach>, multihop = false) {
  return planRoutes({
    self,
    hosts: ipam.listHosts().hosts,
    blocks: ipam.listAllBlocks().blocks,
    topology: ipam.getTopology(),
    reach,
    multihop,
  });
}

describe('route planning', () => {
  it('routes a group that holds one other host as one prefix, and other blocks one by one', () => {
    const ipam = cluster();
    const p = plan(ipam, 'h2', direct(['192.168.0.1', '192.168.0.3', '192.168.1.4']));
    assert.deepEqual(
      p.routes.map((r) => `${r.dst} via ${r.via}`),
      [
        '10.0.0.0/18 via 192.168.0.1',
        '10.0.64.16/28 via 192.168.0.3',
        '10.0.64.32/28 via 192.168.0.3',
        '10.0.128.0/18 via 192.168.1.4',
      ],
    );
    assert.equal(p.routes[0]!.reason, 'group rack-1 holds only host h1');
    assert.equal(p.routes[1]!.reason, 'block 10.0.64.16/28 of host h3');
    assert.deepEqual(p.skipped, []);
  });

  it('never routes its own blocks or its own group, and never captures a neighbour in a shared group', () => {
    const ipam = cluster();
    const p = plan(ipam, 'h1', direct(['192.168.0.2', '192.168.0.3', '192.168.1.4']));
    assert.ok(
      !p.routes.some((r) => Cidr.parse(r.dst).contains(Cidr.parse('10.0.0.0/28'))),
      'own block is not routed',
    );
    const toH2 = p.routes.filter((r) => r.via === '192.168.0.2').map((r) => r.dst);
    assert.deepEqual(toH2, ['10.0.64.0/28'], 'h2 gets only its own block, not rack-2');
  });

  it('drops the route of a released block, and keeps a sole host group routed', () => {
    const ipam = cluster();
    ipam.release('c');
    ipam.release('e');
    const p = plan(ipam, 'h2', direct(['192.168.0.1', '192.168.0.3', '192.168.1.4']));
    assert.deepEqual(
      p.routes.map((r) => r.dst),
      ['10.0.0.0/18', '10.0.64.32/28', '10.0.128.0/18'],
    );
  });

  it('uses the gateway only with multihop, and says why a host is left out', () => {
    const ipam = cluster();
    const reach = direct(['192.168.0.1', '192.168.0.3']);
    reach.set('192.168.1.4', { gateway: '192.168.0.254', dev: 'eth0' });
    const without = plan(ipam, 'h2', reach);
    assert.ok(!without.routes.some((r) => r.dst === '10.0.128.0/18'));
    assert.deepEqual(without.skipped, [
      {
        host: 'h4',
        why: '192.168.1.4 is reached through 192.168.0.254; enable multihop to route its pods',
      },
    ]);
    const withHop = plan(ipam, 'h2', reach, true);
    assert.equal(withHop.routes.find((r) => r.dst === '10.0.128.0/18')?.via, '192.168.0.254');
  });

  it('with bgp, leaves hosts beyond a gateway to BGP and still routes the near ones', () => {
    const ipam = cluster();
    const reach = direct(['192.168.0.1', '192.168.0.3']);
    reach.set('192.168.1.4', { gateway: '192.168.0.254', dev: 'eth0' });
    const p = planRoutes({
      self: 'h2',
      hosts: ipam.listHosts().hosts,
      blocks: ipam.listAllBlocks().blocks,
      topology: ipam.getTopology(),
      reach,
      multihop: false,
      bgp: true,
    });
    assert.ok(!p.routes.some((r) => r.via === '192.168.0.254' || r.dst === '10.0.128.0/18'));
    assert.deepEqual(plan(ipam, 'h2', reach).routes, p.routes);
    assert.deepEqual(p.skipped, [
      {
        host: 'h4',
        why: '192.168.1.4 is reached through 192.168.0.254; its pods are routed by BGP',
      },
    ]);
  });

  it('routes a whole network held by one host written directly in the map', () => {
    const ipam = new Ipam();
    ipam.updateTopology({
      networks: [
        { name: 'far', cidr: '10.8.0.0/24', block_mask: 29 },
        { name: 'near', cidr: '10.9.0.0/24', block_mask: 29 },
      ],
      topologies: [
        { networks: ['far'], map: [{ name: 'f', ip: '192.168.0.9' }] },
        { networks: ['near'], map: [{ name: 'g', groups: [{ name: 'me', ip: '192.168.0.1' }] }] },
      ],
    });
    const p = plan(ipam, 'me', direct(['192.168.0.9']));
    assert.deepEqual(
      p.routes.map((r) => `${r.dst} via ${r.via}`),
      ['10.8.0.0/24 via 192.168.0.9'],
    );
    assert.equal(p.routes[0]!.reason, 'group far holds only host f');
  });
});

/** rack-a (x, y) is 10.0.0.0/27, rack-b (z alone) 10.0.0.32/27, /28 blocks. */
function twoRacks(): Ipam {
  const ipam = new Ipam();
  ipam.updateTopology({
    networks: [{ name: 'pods', cidr: '10.0.0.0/26', block_mask: 28 }],
    topologies: [
      {
        networks: ['pods'],
        map: [
          {
            name: 'rack-a',
            groups: [
              { name: 'x', ip: '192.168.0.10' },
              { name: 'y', ip: '192.168.0.11' },
            ],
          },
          { name: 'rack-b', groups: [{ name: 'z', ip: '192.168.0.12' }] },
        ],
      },
    ],
  });
  ipam.allocate({ name: 'x1', host: 'x', tenant: 't' });
  // z fills its group to the last block.
  for (let i = 0; i < 20; i++) ipam.allocate({ name: `z${i}`, host: 'z', tenant: 't' });
  return ipam;
}

describe('route planning at the edges', () => {
  it('routes blocks and groups in address order, and never a group’s last block on its own', () => {
    const ipam = twoRacks();
    const zBlocks = ipam
      .listAllBlocks()
      .blocks.filter((b) => b.host === 'z')
      .map((b) => b.cidr);
    assert.deepEqual(zBlocks, ['10.0.0.32/28', '10.0.0.48/28'], 'z holds its group’s last block');
    const xBlock = ipam.listAllBlocks().blocks.find((b) => b.host === 'x')!.cidr;
    const p = plan(ipam, 'y', direct(['192.168.0.10', '192.168.0.12']));
    assert.deepEqual(
      p.routes.map((r) => `${r.dst} via ${r.via}`),
      [`${xBlock} via 192.168.0.10`, '10.0.0.32/27 via 192.168.0.12'],
    );
  });

  it('says which host has no route to it, and routes none of its blocks', () => {
    const p = plan(twoRacks(), 'y', direct(['192.168.0.12']));
    assert.deepEqual(
      p.routes.map((r) => r.dst),
      ['10.0.0.32/27'],
    );
    assert.deepEqual(p.skipped, [{ host: 'x', why: 'no route to 192.168.0.10' }]);
  });

  it('skips, silently, a block of a host it does not know (yet)', () => {
    const ipam = twoRacks();
    const p = planRoutes({
      self: 'y',
      hosts: ipam.listHosts().hosts.filter((h) => h.name !== 'x'),
      blocks: ipam.listAllBlocks().blocks,
      topology: ipam.getTopology(),
      reach: direct(['192.168.0.10', '192.168.0.12']),
      multihop: false,
    });
    assert.deepEqual(
      p.routes.map((r) => r.dst),
      ['10.0.0.32/27'],
    );
    assert.deepEqual(p.skipped, []);
  });

  it('routes each network of its own topology as that network', () => {
    const ipam = new Ipam();
    ipam.updateTopology({
      networks: [
        { name: 'n1', cidr: '10.1.0.0/24', block_mask: 28 },
        { name: 'n2', cidr: '10.2.0.0/24', block_mask: 28 },
        { name: 'n3', cidr: '10.3.0.0/24', block_mask: 28 },
      ],
      topologies: [
        { networks: ['n1'], map: [{ name: 'h1', ip: '192.168.0.1' }] },
        { networks: ['n2'], map: [{ name: 'h2', ip: '192.168.0.2' }] },
        { networks: ['n3'], map: [{ name: 'me', ip: '192.168.0.3' }] },
      ],
    });
    const p = plan(ipam, 'me', direct(['192.168.0.1', '192.168.0.2']));
    assert.deepEqual(
      p.routes.map((r) => `${r.dst} via ${r.via}`),
      ['10.1.0.0/24 via 192.168.0.1', '10.2.0.0/24 via 192.168.0.2'],
    );
  });

  it('takes a group written without "groups" as empty', () => {
    const p = planRoutes({
      self: 'me',
      hosts: [{ name: 'h', ip: '192.168.0.2', agent_port: 0, tags: null, k8s_info: null }],
      blocks: [],
      topology: {
        networks: [{ name: 'p', cidr: '10.0.0.0/24', block_mask: 28 }],
        topologies: [
          {
            networks: ['p'],
            map: [
              { name: 'a', cidr: '10.0.0.0/25', groups: [{ name: 'h', ip: '192.168.0.2' }] },
              { name: 'empty', cidr: '10.0.0.128/25' },
            ],
          },
        ],
      },
      reach: direct(['192.168.0.2']),
      multihop: false,
    });
    assert.deepEqual(
      p.routes.map((r) => `${r.dst} via ${r.via}`),
      ['10.0.0.0/24 via 192.168.0.2'],
    );
  });

  it('containment: a shorter prefix is never inside a longer one', () => {
    const within = (inner: string, outer: string) => Cidr.parse(outer).contains(Cidr.parse(inner));
    assert.equal(within('10.0.0.0/8', '10.0.0.0/16'), false);
    assert.equal(within('10.0.1.0/24', '10.0.0.0/16'), true);
    assert.equal(within('10.1.0.0/24', '10.0.0.0/16'), false);
  });
});
