/**
 * The route that reaches a pod, as every other node's agent installs it: worked out in the
 * browser by the agent's own planner (src/agent/route-plan.ts, which aggregates through
 * src/net/aggregate.ts). Both are pure and import nothing of Node at run time, so the bundle
 * carries the very code the agent runs.
 *
 * The dashboard does not know how each node reaches the others (the agent asks the kernel), so
 * it plans as a node that reaches every host directly: the route's destination and next hop
 * are the agent's; a node that needs multihop uses its gateway instead of the host's IP.
 */
import { RoutePlanner } from '../agent/route-plan.ts';
import type { Block, Host, Topology } from '../client/types.ts';
import { BOTH_FAMILIES, Cidr, hostCidr } from '../net/addr.ts';

export interface PodRoute {
  /** Destination prefix: the host's group when only that host can hold it, else its block. */
  dst: string;
  /** Next hop: the host's IP. */
  via: string;
  reason: string;
  /** `group` when the host's whole group is one route, `block` otherwise. */
  kind: 'group' | 'block';
}

/** A name no host can have (names begin with a letter or digit): plan as an outsider. */
const OUTSIDER = '-dashboard';

/**
 * The route other nodes use to reach `ip`, held in `block`; undefined when the block is free
 * or its host is unknown.
 *
 * @example
 * routeToPod({ topology, hosts, block: { cidr: '10.112.0.0/28', host: 'h1', … }, ip: '10.112.0.3' })
 * // { dst: '10.112.0.0/28', via: '192.168.0.11', reason: 'block 10.112.0.0/28 of host h1', kind: 'block' }
 */
export function routeToPod(input: {
  topology: Topology;
  hosts: readonly Host[];
  block: Block;
  ip: string;
}): PodRoute | undefined {
  const { topology, hosts, block, ip } = input;
  const reach = new Map(hosts.map((h) => [h.ip, {}]));
  const planner = new RoutePlanner({
    self: OUTSIDER,
    hosts: [...hosts],
    topology,
    reach,
    multihop: false,
  });
  const pod = hostCidr(ip);
  const route = planner
    .plan([block])
    .routes.find((r) => Cidr.parse(r.dst, 'dst', BOTH_FAMILIES).contains(pod));
  if (route === undefined) return undefined;
  return { ...route, kind: route.dst === block.cidr ? 'block' : 'group' };
}
