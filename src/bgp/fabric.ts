/**
 * BIRD 2 configurations for the network side of a Romana fabric: a ToR per rack that learns
 * its hosts' prefixes and announces only its rack's aggregate upward, and a spine that learns
 * the racks. Used by the e2e fabric test and printed in docs/bgp.md as the worked example;
 * real networks configure their switches their own way, these show what they must do.
 */

/** One rack: its ToR, subnet and hosts, and the topology group it is. */
export interface Rack {
  /** The topology group (its CIDR is `cidr`). */
  name: string;
  /** A short name of the ToR, used in protocol names. */
  tor: string;
  /** The ToR's AS. */
  as: number;
  /** The hosts' subnet, first three octets: the ToR is `.1`, hosts `.11` on. */
  subnet: string;
  /** The ToR–spine link, first three octets of a /30: spine `.1`, ToR `.2`. */
  uplink: string;
  /** The rack group's CIDR: what the ToR announces to the spine. */
  cidr: string;
  hosts: string[];
}

export const SPINE_AS = 65000;
export const HOSTS_AS = 65100;

const timers = (hold: number) =>
  `hold time ${hold}; keepalive time ${Math.max(1, Math.floor(hold / 3))}; ` +
  'connect retry time 1; error wait time 1, 30;';

/**
 * A ToR: one session per host (imports the hosts' prefixes, exports nothing to them: hosts
 * reach other racks through their default route, the ToR), the rack aggregate as an
 * unreachable static route (an address of the rack that no host announces is dropped here, not
 * sent back up), only that aggregate exported to the spine; learned routes go to the kernel.
 * The static aggregate's preference (50) is below BGP's (100): when a host announces the rack
 * group itself (it is the only host of the rack), its route wins and is the one put in the
 * kernel and sent up, instead of the ToR dropping that host's traffic.
 */
export function torConfig(r: Rack, hold = 9): string {
  const hosts = r.hosts.map(
    (h, i) =>
      `protocol bgp h_${h} from rack_host {\n  neighbor ${r.subnet}.${11 + i} as ${HOSTS_AS};\n}`,
  );
  return `${[
    `# ToR of ${r.name}`,
    `router id ${r.subnet}.1;`,
    'protocol device {\n}',
    `protocol static rack {\n  ipv4 { preference 50; };\n  route ${r.cidr} unreachable;\n}`,
    'protocol kernel {\n  merge paths on;\n  ipv4 { import none; export all; };\n}',
    `filter to_spine {\n  if net = ${r.cidr} then accept;\n  reject;\n}`,
    `template bgp rack_host {\n  local as ${r.as};\n  direct;\n  ${timers(hold)}\n` +
      '  ipv4 { import all; export none; };\n}',
    ...hosts,
    `protocol bgp spine {\n  local as ${r.as};\n  neighbor ${r.uplink}.1 as ${SPINE_AS};\n  direct;\n` +
      `  ${timers(hold)}\n  ipv4 { import all; export filter to_spine; };\n}`,
  ].join('\n\n')}\n`;
}

/** A spine: a session per ToR, everything learned re-announced and put in the kernel. */
export function spineConfig(racks: readonly Rack[], hold = 9): string {
  const tors = racks.map(
    (r) =>
      `protocol bgp tor_${r.tor} {\n  local as ${SPINE_AS};\n  neighbor ${r.uplink}.2 as ${r.as};\n` +
      `  direct;\n  ${timers(hold)}\n  ipv4 { import all; export all; };\n}`,
  );
  return `${[
    '# spine',
    `router id ${racks[0]?.uplink ?? '172.31.0'}.1;`,
    'protocol device {\n}',
    'protocol kernel {\n  merge paths on;\n  ipv4 { import none; export all; };\n}',
    ...tors,
  ].join('\n\n')}\n`;
}
