/**
 * The ADD result in each result format this plugin speaks. 0.3.0–0.4.0 carry `version` on each
 * IP; 1.0.0 drops it; 1.1.0 adds `mtu` on interfaces.
 */
import type { CniVersion } from './config.ts';
import { SUPPORTED_VERSIONS } from './config.ts';
import { Addr, BOTH_FAMILIES, defaultRoute, hostCidr } from '../net/addr.ts';

/** What ADD did, independent of any result format. */
export interface Attached {
  hostVeth: string;
  hostMac: string;
  ifname: string;
  podMac: string;
  netns: string;
  /** The pod's address, without prefix length. */
  ip: string;
  gatewayIp: string;
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
 * The ADD result for `a` in `version`: both ends of the veth (the pod's with its sandbox), the
 * pod's host prefix (`/32`) on interface index 1, and the default route via the gateway.
 *
 * @example
 * JSON.stringify(formatResult(attached, '1.0.0'));
 */
export function formatResult(a: Attached, version: CniVersion): CniResult {
  const modern = version === '1.0.0' || version === '1.1.0';
  const withMtu = version === '1.1.0';
  const address = hostCidr(a.ip);
  const ip: CniIp = { address: address.toString(), gateway: a.gatewayIp, interface: 1 };
  return {
    cniVersion: version,
    interfaces: [
      { name: a.hostVeth, mac: a.hostMac, ...(withMtu ? { mtu: a.mtu } : {}) },
      { name: a.ifname, mac: a.podMac, sandbox: a.netns, ...(withMtu ? { mtu: a.mtu } : {}) },
    ],
    ips: [modern ? ip : { version: address.family === 4 ? '4' : '6', ...ip }],
    routes: [{ dst: defaultRoute(address.family).toString(), gw: a.gatewayIp }],
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
 * The pod address CHECK should find, read from a prevResult of any supported format: the
 * first IPv4 `address`, without its prefix length; undefined when there is none.
 */
export function addressFromPrevResult(
  prev: Record<string, unknown> | undefined,
): string | undefined {
  const ips = prev?.['ips'];
  if (!Array.isArray(ips)) return undefined;
  for (const entry of ips as unknown[]) {
    const addr = (entry as { address?: unknown } | null)?.address;
    const slash = typeof addr === 'string' ? addr.indexOf('/') : -1;
    if (slash < 0 || !/^\d+$/.test((addr as string).slice(slash + 1))) continue;
    const ip = Addr.tryParse((addr as string).slice(0, slash), BOTH_FAMILIES);
    if (ip?.family === 4) return ip.toString();
  }
  return undefined;
}
