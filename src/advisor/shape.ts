/**
 * A generated topology: `zones` x `racks` groups with `hosts` written into each rack (or each
 * in a group of its own), host IPs from 100.64.0.0/10 so they never fall in the pod network.
 */
import type { GroupOrHost, TopologyUpdateRequest } from '../ipam/index.ts';
import { formatIPv4 } from '../net/addr.ts';
import type { ShapeInput, TierInput } from './types.ts';

const HOST_BASE = 0x64400000; // 100.64.0.0

/**
 * The topology document of a shape and the tier depths that match it.
 *
 * @example shapeTopology({ zones: 1, racks: 2, hosts: 2, cidr: '10.0.0.0/24' }).doc.topologies[0].map.length // 1
 */
export function shapeTopology(
  shape: ShapeInput,
  blockMask: number,
): { doc: TopologyUpdateRequest; tiers: TierInput } {
  const map: GroupOrHost[] = [];
  let n = 0;
  for (let z = 0; z < shape.zones; z++) {
    const racks: GroupOrHost[] = [];
    for (let r = 0; r < shape.racks; r++) {
      const hosts: GroupOrHost[] = [];
      for (let h = 0; h < shape.hosts; h++) {
        const name = `host-${z + 1}-${r + 1}-${h + 1}`;
        const entry: GroupOrHost = { name, ip: formatIPv4(HOST_BASE + ++n) };
        hosts.push(shape.host_groups === true ? { name: `group-${name}`, groups: [entry] } : entry);
      }
      racks.push({ name: `rack-${z + 1}-${r + 1}`, groups: hosts });
    }
    map.push({ name: `zone-${z + 1}`, groups: racks });
  }
  return {
    doc: {
      networks: [{ name: 'pods', cidr: shape.cidr, block_mask: blockMask }],
      topologies: [{ networks: ['pods'], map }],
    },
    tiers: { tor: 2, spine: 1 },
  };
}
