/**
 * Shared shapes for the route tests: a block as romanad's views show it, and a three-rack map
 * (rack-1 holds `me` and `peer`, rack-2 `solo`, rack-3 `far` on another subnet) written as
 * romanad's topology views show it, with each rack's carved CIDR.
 */
import type { BlockView } from '../../src/ipam/index.ts';

/** A block of `host` holding one address; its network is `v6` for an IPv6 CIDR, else `v4`. */
export const blockView = (cidr: string, host: string): BlockView => ({
  revision: 1,
  cidr,
  network: cidr.includes(':') ? 'v6' : 'v4',
  tenant: 't',
  segment: 'default',
  host,
  allocated_ip_count: 1,
});

/**
 * The three racks with carved CIDRs `cidrs` (one each); `me`, `peer` and `solo` are `.1`-`.3`
 * of `local` (e.g. '192.168.50'), `far` is `farIp`.
 */
export const threeRacks = (cidrs: string[], local: string, farIp: string) => [
  {
    name: 'rack-1',
    cidr: cidrs[0],
    groups: [
      { name: 'me', ip: `${local}.1` },
      { name: 'peer', ip: `${local}.2` },
    ],
  },
  { name: 'rack-2', cidr: cidrs[1], groups: [{ name: 'solo', ip: `${local}.3` }] },
  { name: 'rack-3', cidr: cidrs[2], groups: [{ name: 'far', ip: farIp }] },
];
