/**
 * Carving a network into groups at the edges: divisions down to one address and to exactly one
 * block, the problems of a map reported once each (its network is used, not "unused"), hosts
 * listed twice or sharing an address in either family, and groups written without a name.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Ipam } from './ipam.ts';
import { parseTopology } from './topology.ts';

const doc = (cidr: string, mask: number, map: unknown[]) => ({
  networks: [{ name: 'n', cidr, block_mask: mask }],
  topologies: [{ networks: ['n'], map }],
});

const abcd = [{ name: 'a' }, { name: 'b' }, { name: 'c' }, { name: 'd' }];

function problemsOf(input: unknown): string[] {
  const r = parseTopology(input);
  assert.equal(r.ok, false, 'expected the document to be refused');
  return r.ok ? [] : r.problems;
}

describe('carving at the edges', () => {
  it('divides down to groups of one address, and to groups of exactly one block', () => {
    const one = new Ipam();
    one.updateTopology(doc('10.0.0.0/30', 32, abcd));
    assert.deepEqual(
      one.getTopology().topologies[0]!.map.map((e) => e.cidr),
      ['10.0.0.0/32', '10.0.0.1/32', '10.0.0.2/32', '10.0.0.3/32'],
    );
    const blocks = new Ipam();
    blocks.updateTopology(doc('10.0.0.0/16', 18, abcd));
    blocks.addHost({ name: 'h', ip: '10.9.0.1' });
    assert.equal(blocks.allocate({ name: 'p', host: 'h' }).block, '10.0.0.0/18');
  });

  it('reports a map that cannot be carved once, without calling its network unused', () => {
    assert.deepEqual(problemsOf(doc('10.0.0.0/16', 17, abcd.slice(0, 3))), [
      'topologies[0].map: the 3 groups carved from 10.0.0.0/16 of network n are /18, smaller than one /17 block; use fewer groups or a longer block_mask',
    ]);
    assert.deepEqual(problemsOf(doc('10.0.0.0/30', 32, [...abcd, { name: 'e' }])), [
      'topologies[0].map: cannot divide 10.0.0.0/30 of network n into 5 groups: each would be a /33',
    ]);
  });

  it('refuses a host listed twice, and two hosts sharing an IPv4 or an IPv6 address', () => {
    const hosts = (list: unknown[]) =>
      problemsOf(doc('10.0.0.0/16', 29, [{ name: 'a', groups: list }]));
    assert.deepEqual(
      hosts([
        { name: 'h', ip: '10.9.0.1', ip6: 'fd00::1' },
        { name: 'h', ip: '10.9.0.1', ip6: 'fd00::1' },
      ]),
      ['host h appears more than once in the topology of network n'],
    );
    assert.deepEqual(
      hosts([
        { name: 'h', ip: '10.9.0.1' },
        { name: 'k', ip: '10.9.0.1' },
      ]),
      ['hosts h and k of network n share IP 10.9.0.1'],
    );
    assert.deepEqual(
      hosts([
        { name: 'h', ip: '10.9.0.1', ip6: 'fd00::1' },
        { name: 'k', ip: '10.9.0.2', ip6: 'fd00::1' },
      ]),
      ['hosts h and k of network n share IP fd00::1'],
    );
    // The same host in two groups of a network is listed twice too.
    assert.deepEqual(
      problemsOf(
        doc('10.0.0.0/16', 29, [
          { name: 'a', groups: [{ name: 'h', ip: '10.9.0.1' }] },
          { name: 'b', groups: [{ name: 'h', ip: '10.9.0.1' }] },
        ]),
      ),
      ['host h appears more than once in the topology of network n'],
    );
  });

  it('keeps groups written without a name, with their fields, and a lone host with its ip6', () => {
    const ipam = new Ipam();
    ipam.updateTopology(
      doc('10.0.0.0/16', 29, [
        { groups: [{ name: 'x', routing: 'r', assignment: { a: 'b' } }, {}] },
        { name: 'y', dummy: true },
      ]),
    );
    assert.deepEqual(ipam.getTopology().topologies[0]!.map, [
      {
        name: '',
        cidr: '10.0.0.0/17',
        groups: [
          { name: 'x', cidr: '10.0.0.0/18', assignment: { a: 'b' }, routing: 'r' },
          { name: '', cidr: '10.0.64.0/18' },
        ],
      },
      { name: 'y', cidr: '10.0.128.0/17', dummy: true },
    ]);
    // A group without a name is named by its CIDR.
    assert.deepEqual(ipam.addHost({ name: 'h', ip: '10.9.0.1' }).groups[0], {
      network: 'n',
      group: '10.0.64.0/18',
      cidr: '10.0.64.0/18',
    });
    const lone = new Ipam();
    lone.updateTopology(doc('10.0.0.0/16', 29, [{ name: 'h', ip: '10.9.0.1', ip6: 'fd00::1' }]));
    assert.deepEqual(lone.getTopology().topologies[0]!.map, [
      { name: 'h', ip: '10.9.0.1', ip6: 'fd00::1' },
    ]);
    assert.equal(lone.getHost({ name: 'h' }).ip6, 'fd00::1');
  });
});

describe('carving problems inside groups', () => {
  it('gives the path of a nested list, under a lone root and under a group of several', () => {
    const mixed = [{ name: 'h', ip: '10.9.0.1' }, { name: 'g' }];
    assert.deepEqual(problemsOf(doc('10.0.0.0/16', 29, [{ name: 'r', groups: mixed }])), [
      'topologies[0].map[0].groups: mixes hosts (entries with "ip") and groups (entries without); a list holds only one kind',
    ]);
    assert.deepEqual(
      problemsOf(doc('10.0.0.0/16', 29, [{ name: 'a' }, { name: 'b', groups: mixed }])),
      [
        'topologies[0].map[1].groups: mixes hosts (entries with "ip") and groups (entries without); a list holds only one kind',
      ],
    );
  });

  it('makes a lone group without groups a leaf holding the whole network', () => {
    const ipam = new Ipam();
    ipam.updateTopology(doc('10.0.0.0/16', 29, [{ name: 'only' }]));
    assert.deepEqual(ipam.getTopology().topologies[0]!.map, [
      { name: 'only', cidr: '10.0.0.0/16' },
    ]);
    assert.equal(ipam.addHost({ name: 'h', ip: '10.9.0.1' }).groups[0]!.group, 'only');
  });
  it("stores a lone group as the network's root, and names the root of a list of hosts '/'", () => {
    const lone = new Ipam();
    lone.updateTopology(doc('10.0.0.0/16', 29, [{ name: 'only' }]));
    lone.addHost({ name: 'h', ip: '10.9.0.1' });
    assert.deepEqual(lone.hostRecord('h').groups, { n: '' });
    const hosts = new Ipam();
    hosts.updateTopology(
      doc('10.0.0.0/16', 29, [
        { name: 'h1', ip: '10.9.0.1' },
        { name: 'h2', ip: '10.9.0.2' },
      ]),
    );
    assert.deepEqual(hosts.getHost({ name: 'h1' }).groups, [
      { network: 'n', group: '/', cidr: '10.0.0.0/16' },
    ]);
    assert.deepEqual(hosts.hostRecord('h2').groups, { n: '' });
  });
});
