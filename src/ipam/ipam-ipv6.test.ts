/**
 * IPv6 networks in the engine, case by case: block sizes (/120 by default, /112 and /64
 * allowed, larger refused), carving, hosts with `ip6` in a topology map, allocation order,
 * blackouts inside a /64 block, topology updates that keep IPv6 addresses, and the views.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isRomanaError } from '../errors.ts';
import { Ipam, type TopologyUpdateRequest } from './index.ts';

function v6(cidr: string, blockMask?: number, map: unknown[] = [{ name: 'a' }, { name: 'b' }]) {
  const net: Record<string, unknown> = { name: 'v6', cidr };
  if (blockMask !== undefined) net['block_mask'] = blockMask;
  return { networks: [net], topologies: [{ networks: ['v6'], map }] };
}

function refused(doc: unknown, re: RegExp): void {
  assert.throws(
    () => new Ipam().updateTopology(doc),
    (e: unknown) => isRomanaError(e, 'InvalidInput') && re.test(e.message),
  );
}

describe('IPv6 networks', () => {
  it('default to /120 blocks; /112 and /64 are allowed; a block larger than /64 is refused', () => {
    const ipam = new Ipam();
    ipam.updateTopology(v6('fd00:10::/48'));
    assert.deepEqual(ipam.listNetworks()[0], {
      revision: 1,
      id: 'v6',
      cidr: 'fd00:10::/48',
      block_mask: 120,
    });
    for (const mask of [112, 64, 128]) new Ipam().updateTopology(v6('fd00:10::/48', mask));
    refused(v6('fd00:10::/48', 56), /block_mask: 56 is too large a block for IPv6 network v6/);
    refused(v6('fd00:10::/48', 129), /must be 48 <= blockmask <= 128/);
    refused(v6('FD00:10::/48'), /networks\[0\]\.cidr: .*write it as fd00:10::\/48/);
    refused(
      v6('fd00:10::1/48'),
      /has host bits set; the network address of that \/48 is fd00:10::\/48/,
    );
  });

  it('carves groups as IPv4 does and hands out addresses lowest first, per block', () => {
    const ipam = new Ipam();
    ipam.updateTopology(v6('fd00:10::/48', 126));
    const h = ipam.addHost({ name: 'h1', ip: '192.168.0.1', ip6: 'fd00:ff::1' });
    assert.deepEqual(h.groups, [{ network: 'v6', group: 'a', cidr: 'fd00:10::/49' }]);
    assert.equal(h.ip6, 'fd00:ff::1');
    const ips = Array.from(
      { length: 6 },
      (_, i) => ipam.allocate({ name: `p${i}`, host: 'h1' }).ip,
    );
    assert.deepEqual(ips, [
      'fd00:10::',
      'fd00:10::1',
      'fd00:10::2',
      'fd00:10::3',
      'fd00:10::4',
      'fd00:10::5',
    ]);
    assert.deepEqual(
      ipam.listAllBlocks().blocks.map((b) => [b.cidr, b.allocated_ip_count]),
      [
        ['fd00:10::/126', 4],
        ['fd00:10::4/126', 2],
      ],
    );
    assert.equal(ipam.getAddress('fd00:10::4').name, 'p4');
    ipam.release('fd00:10::1');
    assert.equal(ipam.allocate({ name: 'again', host: 'h1' }).ip, 'fd00:10::1');
  });

  it('in /64 blocks, allocates at the start of the block and skips a blackout there', () => {
    const ipam = new Ipam();
    ipam.updateTopology(v6('fd00:10::/48', 64));
    ipam.addHost({ name: 'h1', ip: '192.168.0.1' });
    assert.equal(ipam.allocate({ name: 'p0', host: 'h1' }).block, 'fd00:10::/64');
    assert.equal(ipam.blackOut('fd00:10::4/126'), true);
    const ips = Array.from(
      { length: 4 },
      (_, i) => ipam.allocate({ name: `q${i}`, host: 'h1' }).ip,
    );
    assert.deepEqual(ips, ['fd00:10::1', 'fd00:10::2', 'fd00:10::3', 'fd00:10::8']);
    assert.throws(() => ipam.blackOut('fd00:10::/125'), {
      code: 'Conflict',
      message: /fd00:10::\/125 holds fd00:10::\./,
    });
    assert.deepEqual(ipam.listAllBlocks().blocks[0]!.allocated_ip_count, 5);
  });

  it('takes hosts with ip6 from a topology map, and refuses a bad or clashing ip6', () => {
    const ipam = new Ipam();
    ipam.updateTopology(
      v6('fd00:10::/48', undefined, [
        { name: 'a', groups: [{ name: 'h1', ip: '192.168.0.1', ip6: 'fd00:ff::1' }] },
        { name: 'b' },
      ]),
    );
    assert.deepEqual(ipam.listHosts().hosts[0], {
      name: 'h1',
      ip: '192.168.0.1',
      ip6: 'fd00:ff::1',
      agent_port: 9604,
      tags: null,
      k8s_info: null,
    });
    const map = (ip6: string, more: unknown[] = []) =>
      v6('fd00:10::/48', undefined, [
        { name: 'a', groups: [{ name: 'h1', ip: '192.168.0.1', ip6 }, ...more] },
      ]);
    refused(map('fd00:10::9'), /map\[0\]\.groups\[0\]\.ip6: 'fd00:10::9' lies inside network v6/);
    refused(
      map('10.9.9.9'),
      /map\[0\]\.groups\[0\]\.ip6: '10\.9\.9\.9' is an IPv4 address; this field takes an IPv6 address/,
    );
    refused(
      map('fe80::1%eth0'),
      /ip6: 'fe80::1%eth0' is not a valid IPv6 address: it has a zone id/,
    );
    refused(map('::1'), /ip6: '::1' is loopback/);
    refused(
      map('fd00:ff::1', [{ name: 'h2', ip: '192.168.0.2', ip6: 'fd00:ff::1' }]),
      /hosts h1 and h2 of network v6 share IP fd00:ff::1/,
    );
    assert.throws(() => ipam.addHost({ name: 'h3', ip: '192.168.0.3', ip6: 'fd00:ff::1' }), {
      code: 'AlreadyExists',
      message: /IP fd00:ff::1 already belongs to another host: h1/,
    });
  });

  it('keeps IPv6 and dual-stack addresses where they are across topology updates', () => {
    const doc: TopologyUpdateRequest = {
      networks: [
        { name: 'v4', cidr: '10.0.0.0/16', block_mask: 28 },
        { name: 'v6', cidr: 'fd00:10::/48', block_mask: 124 },
      ],
      topologies: [{ networks: ['v4', 'v6'], map: [{ name: 'a' }, { name: 'b' }] }],
    };
    const ipam = new Ipam();
    ipam.updateTopology(doc);
    ipam.addHost({ name: 'h1', ip: '192.168.0.1', ip6: 'fd00:ff::1' });
    ipam.addHost({ name: 'h2', ip: '192.168.0.2' });
    for (let i = 0; i < 20; i++) ipam.allocate({ name: `p${i}`, host: i % 2 ? 'h1' : 'h2' });
    const before = ipam.listAddresses().map((a) => [a.name, a.host, a.ips.map((x) => x.ip)]);
    ipam.updateTopology(ipam.getTopology());
    const sorted = (l: unknown[][]) =>
      [...l].sort((x, y) => String(x[0]).localeCompare(String(y[0])));
    const after = ipam.listAddresses().map((a) => [a.name, a.host, a.ips.map((x) => x.ip)]);
    assert.deepEqual(sorted(after), sorted(before));
    assert.equal(ipam.getHost({ name: 'h1' }).ip6, 'fd00:ff::1');
    // A new layout with a third group: every address stays at its IP.
    const wider = structuredClone(doc);
    wider.topologies[0]!.map.push({ name: 'c' });
    ipam.updateTopology(wider);
    const moved = ipam.listAddresses().map((a) => [a.name, a.host, a.ips.map((x) => x.ip)]);
    assert.deepEqual(sorted(moved), sorted(before));
    const copy = new Ipam(JSON.parse(JSON.stringify(ipam.toSnapshot())));
    assert.deepEqual(copy.listAddresses(), ipam.listAddresses());
  });
});
