/**
 * The benchmarks' topology: `zones` x `racks` groups with `perRack` hosts written into each
 * rack, one network: by default `10.0.0.0/8` with /29 blocks.
 */
import type { GroupOrHost, NetworkDefinition, TopologyUpdateRequest } from '../src/ipam/index.ts';

/** The benchmarks' IPv4 network. */
export const BENCH_NETWORK_V4: NetworkDefinition = {
  name: 'pods',
  cidr: '10.0.0.0/8',
  block_mask: 29,
};

/** The benchmarks' IPv6 network: a /48 with the default /120 blocks. */
export const BENCH_NETWORK_V6: NetworkDefinition = {
  name: 'pods6',
  cidr: 'fd00:10::/48',
  block_mask: 120,
};

export function rackTopology(
  zones: number,
  racks: number,
  perRack: number,
  network: NetworkDefinition = BENCH_NETWORK_V4,
): { doc: TopologyUpdateRequest; hosts: string[] } {
  const hosts: string[] = [];
  const map: GroupOrHost[] = [];
  for (let z = 0; z < zones; z++) {
    const rs: GroupOrHost[] = [];
    for (let r = 0; r < racks; r++) {
      const members: GroupOrHost[] = [];
      for (let h = 0; h < perRack; h++) {
        const name = `node-${z}-${r}-${h}`;
        hosts.push(name);
        members.push({ name, ip: `172.${16 + z}.${r}.${h + 1}` });
      }
      rs.push({ name: `rack-${z}-${r}`, groups: members });
    }
    map.push({ name: `zone-${z}`, groups: rs });
  }
  return {
    doc: {
      networks: [network],
      topologies: [{ networks: [network.name], map }],
    },
    hosts,
  };
}
