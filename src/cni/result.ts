/**
 * The ADD result in each result format this plugin speaks. 0.3.0–0.4.0 carry `version` on each
 * IP; 1.0.0 drops it; 1.1.0 adds `mtu` on interfaces.
 */
import type { CniVersion } from './config.ts';
import { SUPPORTED_VERSIONS } from './config.ts';
import {
  Addr,
  BOTH_FAMILIES,
  defaultRoute,
  hostCidr,
  hostPrefixLen,
  type Family,
} from '../net/addr.ts';

/** What ADD did, independent of any result format. */
export interface Attached {
  hostVeth: string;
  hostMac: string;
  ifname: string;
  podMac: string;
  netns: string;
  /** The pod's addresses without prefix length, IPv4 first (one per family). */
  ips: string[];
  gatewayIp: string;
  /** The IPv6 gateway (link-local), for a pod with an IPv6 address. */
  gatewayIp6: string;
  mtu: number;
}

export interface CniInterface {
  name: string;
  mac?: string;
  sandbox?: string;
  mtu?: number;
}

export interface CniIp {
  version?: '4' | '6';
  address: string;
  gateway?: string;
  interface?: number;
}

export interface CniResult {
  cniVersion: string;
  interfaces: CniInterface[];
  ips: CniIp[];
  routes: { dst: string; gw?: string }[];
  dns: Record<string, never>;
}

/**
 * The ADD result for `a` in `version`: both ends of the veth (the pod's with its sandbox), per
 * family the pod's host prefix (`/32`, `/128`) on interface index 1 with its gateway, and the
 * default route of each family (`0.0.0.0/0`, `::/0`) via that gateway.
 *
 * @example
 * JSON.stringify(formatResult(attached, '1.0.0'));
 */
export function formatResult(a: Attached, version: CniVersion): CniResult {
  const modern = version === '1.0.0' || version === '1.1.0';
  const withMtu = version === '1.1.0';
  const cidrs = a.ips.map((ip) => hostCidr(ip));
  const gw = (family: Family): string => (family === 4 ? a.gatewayIp : a.gatewayIp6);
  return {
    cniVersion: version,
    interfaces: [
      { name: a.hostVeth, mac: a.hostMac, ...(withMtu ? { mtu: a.mtu } : {}) },
      { name: a.ifname, mac: a.podMac, sandbox: a.netns, ...(withMtu ? { mtu: a.mtu } : {}) },
    ],
    ips: cidrs.map((c) => {
      const ip: CniIp = { address: c.toString(), gateway: gw(c.family), interface: 1 };
      return modern ? ip : { version: c.family === 4 ? '4' : '6', ...ip };
    }),
    routes: cidrs.map((c) => ({ dst: defaultRoute(c.family).toString(), gw: gw(c.family) })),
    dns: {},
  };
}

/** The VERSION answer, in the version asked for (1.1.0 when none or an unknown one). */
export function versionResult(asked: string | undefined): {
  cniVersion: string;
  supportedVersions: string[];
} {
  const v = asked && (SUPPORTED_VERSIONS as readonly string[]).includes(asked) ? asked : '1.1.0';
  return { cniVersion: v, supportedVersions: [...SUPPORTED_VERSIONS] };
}

/**
 * The pod addresses CHECK should find, read from a prevResult of any supported format: the
 * host-prefix `address` of each family (`/32`, `/128`), without the length, IPv4 first; other
 * entries (a link-local `/64`, non-canonical text) are ignored.
 */
export function addressesFromPrevResult(prev: Record<string, unknown> | undefined): string[] {
  const ips = prev?.['ips'];
  if (!Array.isArray(ips)) return [];
  const found: Addr[] = [];
  for (const entry of ips as unknown[]) {
    const addr = (entry as { address?: unknown } | null)?.address;
    const slash = typeof addr === 'string' ? addr.indexOf('/') : -1;
    if (slash < 0) continue;
    const ip = Addr.tryParse((addr as string).slice(0, slash), BOTH_FAMILIES);
    const len = (addr as string).slice(slash + 1);
    if (ip === undefined || len !== String(hostPrefixLen(ip.family))) continue;
    if (!found.some((f) => f.family === ip.family)) found.push(ip);
  }
  return found.sort((x, y) => x.family - y.family).map((a) => a.toString());
}
