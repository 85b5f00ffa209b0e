/**
 * The maps of a topology document, field by field: each bad field is named with its path and
 * why, every problem of a map at once; the fields left empty are dropped from the normal form
 * (GET /topology echoes what was meant, not what was typed); host addresses are checked in both
 * families against special ranges and the document's networks.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Ipam } from './ipam.ts';
import { parseTopology } from './topology.ts';

function withMap(map: unknown[], more: Array<{ name: string; cidr: string }> = []) {
  return {
    networks: [{ name: 'n', cidr: '10.0.0.0/16', block_mask: 29 }, ...more],
    topologies: [{ networks: ['n', ...more.map((m) => m.name)], map }],
  };
}

function problemsOf(input: unknown): string[] {
  const r = parseTopology(input);
  assert.equal(r.ok, false, 'expected the document to be refused');
  return r.ok ? [] : r.problems;
}

const at = (i: number, rest = '') => `topologies[0].map[${i}]${rest}`;

describe('topology maps, field by field', () => {
  it('names each bad name, ip and ip6 with its path', () => {
    const p = problemsOf(
      withMap([
        7,
        { name: 7 },
        { name: 'h', ip: 7 },
        { name: 'h3', ip: '10.9.0.3', ip6: 7 },
        { name: 'g', ip6: 'fd00::1' },
        { name: 'h4', ip: '10.9.0.4', ip6: '10.1.1.1' },
        { name: 'h5', ip: '10.9.0.5', ip6: 'zz' },
        { name: 'h6', ip: 'fd00::9' },
        { name: 'h7', ip: 'x' },
        { ip: '10.9.0.8' },
      ]),
    );
    assert.deepEqual(p.slice(0, 11), [
      `${at(0)}: must be an object (a group, or a host with "ip")`,
      `${at(1, '.name')}: must be a string`,
      `${at(2, '.ip')}: must be a string`,
      `${at(3, '.ip6')}: must be a string`,
      `${at(4, '.ip6')}: only a host (an entry with "ip") takes an ip6`,
      `${at(5, '.ip6')}: '10.1.1.1' is an IPv4 address; this field takes an IPv6 address`,
      `${at(6, '.ip6')}: 'zz' is not a valid IPv6 address`,
      `${at(7, '.ip')}: 'fd00::9' is an IPv6 address; this field takes an IPv4 address`,
      `${at(8, '.ip')}: 'x' is not a valid IPv4 address`,
      `${at(9)}: Both name and IP are required for hosts: {"ip":"10.9.0.8"}`,
      'topologies[0].map: mixes hosts (entries with "ip") and groups (entries without); a list holds only one kind',
    ]);
  });

  it('names each bad assignment, routing, dummy and groups field', () => {
    const p = problemsOf(
      withMap([
        { name: 'g0', assignment: 'x' },
        { name: 'g1', assignment: { a: 'ok', b: 1 } },
        { name: 'g2', assignment: { '': 'v' } },
        { name: 'g3', assignment: { k: 'a\u0001' } },
        { name: 'g4', routing: 7 },
        { name: 'g5', routing: 'x'.repeat(65) },
        { name: 'g6', dummy: 'yes' },
        { name: 'g7', groups: 'x' },
        { name: 'g8', assignment: { ['k'.repeat(254)]: 'v', k: 'v'.repeat(254) } },
        { name: 'g9', assignment: [] },
      ]),
    );
    const labels = 'must be an object of string labels to string values';
    assert.deepEqual(p, [
      `${at(0, '.assignment')}: ${labels}`,
      `${at(1, '.assignment')}: ${labels}`,
      `${at(2, '.assignment')}: key "": must not be empty`,
      `${at(3, '.assignment.k')}: must not hold control characters or lone UTF-16 surrogates, got "a\\u0001"`,
      `${at(4, '.routing')}: must be a string, got 7`,
      `${at(5, '.routing')}: must be at most 64 characters, got 65`,
      `${at(6, '.dummy')}: must be true or false`,
      `${at(7, '.groups')}: must be a list of groups or hosts`,
      `${at(8, '.assignment')}: key "${'k'.repeat(254)}": must be at most 253 characters, got 254`,
      `${at(8, '.assignment.k')}: must be at most 253 characters, got 254`,
      `${at(9, '.assignment')}: ${labels}`,
    ]);
  });

  it('takes the longest labels and routing it allows, and a null or false field as absent', () => {
    const ipam = new Ipam();
    const key = 'k'.repeat(253);
    ipam.updateTopology(
      withMap([
        { name: 'a', assignment: { [key]: 'v'.repeat(253) }, routing: 'r'.repeat(64) },
        { name: 'b', assignment: null, routing: '', dummy: false, groups: null },
        { name: 'c', assignment: {}, groups: [] },
        { name: 'd', dummy: true },
      ]),
    );
    assert.deepEqual(ipam.getTopology().topologies[0]!.map, [
      {
        name: 'a',
        cidr: '10.0.0.0/18',
        assignment: { [key]: 'v'.repeat(253) },
        routing: 'r'.repeat(64),
      },
      { name: 'b', cidr: '10.0.64.0/18' },
      { name: 'c', cidr: '10.0.128.0/18' },
      { name: 'd', cidr: '10.0.192.0/18', dummy: true },
    ]);
    // An empty assignment takes every host; a dummy group none.
    assert.deepEqual(
      ['h1', 'h2', 'h3'].map(
        (name, i) => ipam.addHost({ name, ip: `10.9.0.${i + 1}` }).groups[0]!.group,
      ),
      ['b', 'c', 'b'],
    );
  });

  it('writes an empty ip or routing and an empty group list as absent in its normal form', () => {
    const r = parseTopology(
      withMap([
        { name: 'a', ip: '', routing: '', groups: [] },
        { name: 'b', ip6: '' },
      ]),
    );
    assert.ok(r.ok, r.ok ? '' : r.problems.join('\n'));
    assert.deepEqual(r.spec.request.topologies[0]!.map, [{ name: 'a' }, { name: 'b' }]);
    assert.equal(r.spec.trees.get('n')?.children?.[0]?.children, null, 'a is a leaf group');
  });

  it('keeps the map of a host that gives its ip6 as empty text as IPv4 only', () => {
    const ipam = new Ipam();
    ipam.updateTopology(withMap([{ name: 'g', groups: [{ name: 'h', ip: '10.9.0.1', ip6: '' }] }]));
    assert.deepEqual(ipam.listHosts().hosts[0], {
      name: 'h',
      ip: '10.9.0.1',
      agent_port: 9604,
      tags: null,
      k8s_info: null,
    });
  });
});

describe('host addresses in topology maps', () => {
  it('refuses special and pod addresses in both fields, at any depth', () => {
    const p = problemsOf(
      withMap(
        [
          {
            name: 'g',
            groups: [
              {
                name: 'r',
                groups: [
                  { name: 'h1', ip: '10.9.0.1', ip6: '::' },
                  { name: 'h2', ip: '10.9.0.2', ip6: 'fd00:10::5' },
                  { name: 'h3', ip: '127.0.0.1' },
                  { name: 'h4', ip: '10.0.0.7', ip6: 'fd00:ff::4' },
                ],
              },
            ],
          },
        ],
        [{ name: 'v6', cidr: 'fd00:10::/48' }],
      ),
    );
    const h = (i: number, f: string) => `${at(0, `.groups[0].groups[${i}].${f}`)}`;
    assert.deepEqual(p, [
      `${h(0, 'ip6')}: '::' is unspecified (::/128), not a host's address`,
      `${h(1, 'ip6')}: 'fd00:10::5' lies inside network v6 (fd00:10::/48), whose addresses go to pods`,
      `${h(2, 'ip')}: '127.0.0.1' is loopback (127.0.0.0/8), not a host's address`,
      `${h(3, 'ip')}: '10.0.0.7' lies inside network n (10.0.0.0/16), whose addresses go to pods`,
    ]);
  });

  it('checks the maps of every topology, each with its own path', () => {
    const p = problemsOf({
      networks: [
        { name: 'a', cidr: '10.0.0.0/16' },
        { name: 'b', cidr: '10.1.0.0/16' },
      ],
      topologies: [
        { networks: ['a'], map: [{ name: 'h', ip: '10.9.0.1' }] },
        { networks: ['b'], map: [{ name: 'h', ip: '10.1.0.1' }] },
      ],
    });
    assert.deepEqual(p, [
      "topologies[1].map[0].ip: '10.1.0.1' lies inside network b (10.1.0.0/16), whose addresses go to pods",
    ]);
  });
});
