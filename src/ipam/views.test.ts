/**
 * The read views at their edges: the topology document given back with every field a group can
 * carry (ECMP on one topology only, the VIP pool, assignment, routing, dummy groups, padding
 * left out, a map of hosts and that map once its hosts are gone), the tenant and segment of
 * blocks and addresses with and without a tenant, and a host's address count.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isRomanaError } from '../errors.ts';
import { Ipam } from './ipam.ts';

const doc = {
  networks: [
    { name: 'a', cidr: '10.0.0.0/16', block_mask: 28 },
    { name: 'b', cidr: '10.1.0.0/16', tenants: ['t'] },
    { name: 'c', cidr: '10.2.0.0/16' },
  ],
  topologies: [
    {
      networks: ['a'],
      ecmp: true,
      map: [
        {
          name: 'g1',
          assignment: { rack: '1' },
          routing: 'bgp',
          groups: [{ name: 'x' }, { name: 'y', dummy: true }, { name: 'z' }],
        },
        { name: 'g2' },
        { name: 'g3', dummy: true },
      ],
    },
    {
      networks: ['b'],
      map: [
        { name: 'h1', ip: '10.9.0.1', ip6: 'fd00::1' },
        { name: 'h2', ip: '10.9.0.2' },
      ],
    },
    { networks: ['c'], map: [{ name: 'k' }] },
  ],
  vip_cidr: '10.50.0.0/24',
};

const expected = {
  networks: [
    { name: 'a', cidr: '10.0.0.0/16', block_mask: 28 },
    { name: 'b', cidr: '10.1.0.0/16', block_mask: 29, tenants: ['t'] },
    { name: 'c', cidr: '10.2.0.0/16', block_mask: 29 },
  ],
  topologies: [
    {
      networks: ['a'],
      map: [
        {
          name: 'g1',
          cidr: '10.0.0.0/18',
          assignment: { rack: '1' },
          routing: 'bgp',
          groups: [
            { name: 'x', cidr: '10.0.0.0/20' },
            { name: 'y', cidr: '10.0.16.0/20', dummy: true },
            { name: 'z', cidr: '10.0.32.0/20' },
          ],
        },
        { name: 'g2', cidr: '10.0.64.0/18' },
        { name: 'g3', cidr: '10.0.128.0/18', dummy: true },
      ],
      ecmp: true,
    },
    {
      networks: ['b'],
      map: [
        { name: 'h1', ip: '10.9.0.1', ip6: 'fd00::1' },
        { name: 'h2', ip: '10.9.0.2' },
      ],
    },
    { networks: ['c'], map: [{ name: 'k', cidr: '10.2.0.0/16' }] },
  ],
  vip_cidr: '10.50.0.0/24',
};

describe('the topology given back', () => {
  it('carries every field of every group, ECMP where set, the VIP pool, and no padding', () => {
    const ipam = new Ipam();
    ipam.updateTopology(doc);
    assert.deepEqual(ipam.getTopology(), expected);
    const again = new Ipam();
    again.updateTopology(ipam.getTopology());
    assert.deepEqual(again.getTopology(), expected);
  });

  it('gives no VIP pool when none was set, and an empty document before any topology', () => {
    const ipam = new Ipam();
    assert.deepEqual(ipam.getTopology(), { networks: [], topologies: [] });
    const { vip_cidr: _v, ...noVip } = doc;
    ipam.updateTopology(noVip);
    assert.equal('vip_cidr' in ipam.getTopology(), false);
  });

  it('writes a map of hosts, once they are all gone, as one unnamed group', () => {
    const ipam = new Ipam();
    ipam.updateTopology(doc);
    ipam.removeHost({ name: 'h1' });
    assert.deepEqual(ipam.getTopology().topologies[1]!.map, [{ name: 'h2', ip: '10.9.0.2' }]);
    ipam.removeHost({ name: 'h2' });
    assert.deepEqual(ipam.getTopology().topologies[1]!.map, [{ name: '', cidr: '10.1.0.0/16' }]);
  });
});

describe('blocks and addresses', () => {
  it('shows the tenant and segment of an owner, and empty ones for none', () => {
    const ipam = new Ipam();
    ipam.updateTopology(doc);
    ipam.addHost({ name: 'h', ip: '10.9.0.9', k8s_info: { zone: 'z1' } });
    const none = ipam.allocate({ name: 'p', host: 'h' });
    assert.deepEqual([none.tenant, none.segment], ['', '']);
    assert.equal(none.network, 'a');
    const v = ipam.getBlock('a', none.block);
    assert.deepEqual([v.tenant, v.segment, v.host], ['', '', 'h']);
    const seg = ipam.allocate({ name: 'q', host: 'h1', tenant: 't', segment: 's' });
    assert.deepEqual([seg.tenant, seg.segment, seg.host, seg.network], ['t', 's', 'h1', 'b']);
    const w = ipam.getBlock('b', seg.block);
    assert.deepEqual([w.tenant, w.segment, w.host], ['t', 's', 'h1']);
    ipam.allocate({ name: 'r', host: 'h' });
    assert.equal(ipam.getHost({ name: 'h' }).address_count, 2);
    assert.equal(ipam.getHost({ name: 'h1' }).address_count, 1);
    // The host's Kubernetes info is handed out as a copy.
    const k8s = ipam.getHost({ name: 'h' }).k8s_info as { zone: string };
    k8s.zone = 'changed';
    assert.deepEqual(ipam.getHost({ name: 'h' }).k8s_info, { zone: 'z1' });
  });

  it('lists a dual-stack name once, with both its addresses, and an IPv6-only name after', () => {
    const ipam = new Ipam();
    ipam.updateTopology({
      networks: [
        { name: 'v4', cidr: '10.0.0.0/16', tenants: ['dual'] },
        { name: 'v6', cidr: 'fd00::/64', block_mask: 120, tenants: ['dual'] },
        { name: 'o6', cidr: 'fd01::/64', block_mask: 120, tenants: ['six'] },
      ],
      topologies: [{ networks: ['v4', 'v6', 'o6'], map: [{ name: 'g' }] }],
    });
    ipam.addHost({ name: 'h', ip: '10.9.0.1' });
    ipam.allocate({ name: 'd', host: 'h', tenant: 'dual' });
    ipam.allocate({ name: 's', host: 'h', tenant: 'six' });
    assert.deepEqual(
      ipam.listAddresses().map((a) => [a.name, a.ips.map((x) => x.ip)]),
      [
        ['d', ['10.0.0.0', 'fd00::']],
        ['s', ['fd01::']],
      ],
    );
  });

  it('says which network it does not know', () => {
    const ipam = new Ipam();
    ipam.updateTopology(doc);
    assert.throws(
      () => ipam.listNetworkBlocks('nope'),
      (e: unknown) =>
        isRomanaError(e, 'NotFound') &&
        e.resourceType === 'network' &&
        e.resourceId === 'nope' &&
        e.message === 'Network with name nope not defined',
    );
  });
});
