import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isRomanaError } from '../errors.ts';
import type { TopologyUpdateRequest } from '../ipam/index.ts';
import { collectPeers, localAs, parsePeer } from './peers.ts';

const topology: TopologyUpdateRequest = {
  networks: [{ name: 'pods', cidr: '10.112.0.0/16' }],
  topologies: [
    {
      networks: ['pods'],
      map: [
        {
          name: 'rack-1',
          routing: 'bgp-peer=192.168.1.1,65101,bfd other-words',
          groups: [
            {
              name: 'slot-1',
              routing: 'bgp-peer=192.168.1.2,65101,multihop=2',
              groups: [{ name: 'h1', ip: '192.168.1.11' }],
            },
          ],
        },
        { name: 'rack-2', groups: [{ name: 'h3', ip: '192.168.2.11' }] },
      ],
    },
  ],
};

describe('BGP peers', () => {
  it('parses a spec with its options', () => {
    assert.deepEqual(parsePeer('192.168.1.1,65101,bfd,multihop=3', 'flag', '--peer'), {
      address: '192.168.1.1',
      as: 65101,
      bfd: true,
      multihop: 3,
      source: 'flag',
    });
  });

  it('refuses a bad spec naming where it came from', () => {
    for (const [spec, msg] of [
      ['192.168.1.1', /--peer: '192\.168\.1\.1' is not ADDRESS,AS/],
      ['192.168.1.1,0', /--peer AS: '0'/],
      ['192.168.1.1,1x', /--peer AS: '1x'/],
      ['192.168.1.300,1', /--peer address/],
      ['192.168.1.1,1,md5', /--peer: unknown option 'md5'/],
      ['192.168.1.1,1,multihop=256', /unknown option 'multihop=256'/],
    ] as const) {
      assert.throws(
        () => parsePeer(spec, 'flag', '--peer'),
        (e: unknown) => isRomanaError(e, 'InvalidInput') && msg.test(e.message),
        spec,
      );
    }
  });

  it('takes flags, then tags, then the groups of the topology innermost first', () => {
    const peers = collectPeers({
      flags: ['10.0.0.1,65000'],
      tags: { 'bgp-peer': '192.168.1.9,65109  192.168.1.1,65999', zone: 'a' },
      topology,
      host: 'h1',
    });
    assert.deepEqual(
      peers.map((p) => [p.address, p.as, p.source, p.bfd ?? false, p.multihop]),
      [
        ['10.0.0.1', 65000, 'flag', false, undefined],
        ['192.168.1.9', 65109, 'tag', false, undefined],
        ['192.168.1.1', 65999, 'tag', false, undefined], // the tag wins over the topology
        ['192.168.1.2', 65101, 'topology', false, 2],
      ],
    );
    // A host of another rack gets none of rack 1's peers.
    assert.deepEqual(collectPeers({ flags: [], tags: null, topology, host: 'h3' }), []);
  });

  it('reads the local AS from the bgp-as tag', () => {
    assert.equal(localAs({ 'bgp-as': '65011' }, 65534), 65011);
    assert.equal(localAs(null, 65534), 65534);
    assert.throws(() => localAs({ 'bgp-as': 'x' }, 1), /tag bgp-as: 'x'/);
  });
});
