/**
 * The benchmarks' topology: `zones` x `racks` groups with `perRack` hosts written into each
 * rack, one `10.0.0.0/8` network with /29 blocks.
 */
import type { GroupOrHost, TopologyUpdateRequest } from '../src/ipam/index.ts';

export function rackTopology(
  zones: number,
  racks: number,
  perRack: number,
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
      networks: [{ name: 'pods', cidr: '10.0.0.0/8', block_mask: 29 }],
      topologies: [{ networks: ['pods'], map }],
    },
    hosts,
  };
}
