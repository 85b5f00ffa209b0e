/**
 * The pod's plumbing (reference §7.2), one `ip -batch` per side, for each family the pod has:
 * - host side (the plugin's own namespace): the veth (named per attachment, see
 *   `hostVethName`) created with its peer directly in the pod's namespace (no move), up, its
 *   alias naming the attachment that owns it, and a host route (`<ip>/32`, `<ip>/128`) per
 *   address on it. IPv4: proxy ARP on, proxy delay 0, so the host answers for the gateway.
 *   IPv6: the link-local gateway (`fe80::1`) on the veth without DAD (no proxy NDP needed: the
 *   host owns the gateway on every pod link), router advertisements ignored, forwarding on;
 * - pod side: each address as its host prefix on the interface (IPv6 without DAD, so it works
 *   at once, and `accept_ra` off so no router advertisement adds addresses or routes), up,
 *   and per family the default route via the gateway (IPv4: onlink, after a link route to the
 *   gateway), appended next to those of other interfaces.
 * Removing the host veth removes its peer and the host routes with it.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { CniCode, CniError } from './errors.ts';
import { inNetns, type Exec } from '../exec.ts';
import { Addr, BOTH_FAMILIES, hostCidr, hostPrefixLen, type Cidr } from '../net/addr.ts';

export interface WirePlan {
  hostVeth: string;
  /** The attachment owning the host veth (`<container id>/<ifname>`), kept as its alias. */
  owner: string;
  /** The name older plugins gave the host veth (`romana-<infra8>`), replaced on a repeated ADD. */
  legacyHostVeth?: string | undefined;
  ifname: string;
  netns: string;
  /** The pod's addresses, IPv4 first (one per family). */
  ips: string[];
  gatewayIp: string;
  /** The IPv6 gateway, link-local (used when the pod has an IPv6 address). */
  gatewayIp6: string;
  mtu: number;
  hostMac: string;
  podMac: string;
}

/** A random locally administered unicast MAC, so the result can name it without a read. */
export function randomMac(): string {
  const b = randomBytes(6);
  b[0] = (b[0]! & 0xfe) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** The pod's addresses as host prefixes, IPv4 first. */
function hostCidrs(ips: readonly string[]): Cidr[] {
  return ips.map((ip) => hostCidr(ip));
}

function hasIpv6(ips: readonly string[]): boolean {
  return hostCidrs(ips).some((c) => c.family === 6);
}

/** The host side's batch. */
export function hostBatch(p: WirePlan): string {
  const v6 = hasIpv6(p.ips);
  return [
    `link add ${p.hostVeth} mtu ${p.mtu} address ${p.hostMac} type veth` +
      ` peer name ${p.ifname} mtu ${p.mtu} address ${p.podMac} netns ${p.netns}`,
    ...(v6 ? [`addr add ${p.gatewayIp6}/64 dev ${p.hostVeth} nodad`] : []),
    `link set dev ${p.hostVeth} up alias ${p.owner}`,
    ...hostCidrs(p.ips).map((c) => `route replace ${c} dev ${p.hostVeth} scope link`),
    '',
  ].join('\n');
}

/**
 * The pod side's batch. The routes are appended, not replaced: in a container attached to
 * several networks each interface keeps its own gateway and default route (the first one added
 * is used), and removing one interface leaves the others' routes in place.
 */
export function podBatch(p: WirePlan): string {
  const lines: string[] = [];
  for (const c of hostCidrs(p.ips)) {
    lines.push(`addr add ${c} dev ${p.ifname}${c.family === 6 ? ' nodad' : ''}`);
  }
  lines.push(`link set ${p.ifname} up`);
  for (const c of hostCidrs(p.ips)) {
    if (c.family === 4) {
      lines.push(`route append ${hostCidr(p.gatewayIp, 'gateway')} dev ${p.ifname} scope link`);
      lines.push(`route append default via ${p.gatewayIp} dev ${p.ifname} onlink`);
    } else {
      lines.push(`route append ::/0 via ${p.gatewayIp6} dev ${p.ifname}`);
    }
  }
  return [...lines, ''].join('\n');
}

async function batch(exec: Exec, args: string[], text: string, what: string): Promise<void> {
  const r = await exec.run('ip', args, text);
  if (r.code !== 0) {
    throw new CniError(CniCode.Wiring, `${what} failed`, r.stderr.trim() || `exit ${r.code}`);
  }
}

/**
 * Wires the pod. A host veth of the same name left by an earlier ADD of this attachment (or one
 * without an owner, made by an older plugin) is replaced, and so is one of the legacy name
 * without an owner (an older plugin's wiring of this container); one owned by another
 * attachment is never touched: the ADD fails instead. On failure, whatever was made is removed
 * before the error propagates.
 */
export async function wire(exec: Exec, p: WirePlan): Promise<void> {
  let r = await exec.run('ip', ['-batch', '-'], hostBatch(p));
  if (r.code !== 0 && /File exists/.test(r.stderr)) {
    const owner = await ownerOf(exec, p.hostVeth);
    if (owner !== undefined && owner !== p.owner) {
      throw new CniError(
        CniCode.Wiring,
        `host veth ${p.hostVeth} belongs to attachment ${owner}, not ${p.owner}`,
        'two attachments hash to one host veth name; delete the other container or rename this interface',
      );
    }
    const stale = [p.hostVeth];
    if (p.legacyHostVeth && (await ownerOf(exec, p.legacyHostVeth)) === undefined) {
      stale.push(p.legacyHostVeth);
    }
    await unwire(exec, ...stale);
    r = await exec.run('ip', ['-batch', '-'], hostBatch(p));
  }
  if (r.code !== 0) {
    await unwire(exec, p.hostVeth);
    throw new CniError(
      CniCode.Wiring,
      `creating ${p.hostVeth} and ${p.ifname} in ${p.netns} failed`,
      r.stderr.trim() || `exit ${r.code}`,
    );
  }
  try {
    const v6 = hasIpv6(p.ips);
    tuneHostSide(p.hostVeth, v6);
    const pod = inNetns(exec, p.netns);
    if (v6) await tunePodSide(pod, p.ifname);
    await batch(pod, ['-batch', '-'], podBatch(p), `setting up ${p.ifname}`);
  } catch (err) {
    await unwire(exec, p.hostVeth);
    throw err;
  }
}

/**
 * Proxy ARP on the host veth, so the host answers the pod's ARP for the gateway even when the
 * gateway address is not local; no proxy delay. Best effort for the delay (reference §7.2.4).
 * With IPv6: the veth ignores router advertisements and the host forwards IPv6.
 */
function tuneHostSide(hostVeth: string, v6: boolean): void {
  writeFileSync(`/proc/sys/net/ipv4/conf/${hostVeth}/proxy_arp`, '1');
  try {
    writeFileSync(`/proc/sys/net/ipv4/neigh/${hostVeth}/proxy_delay`, '0');
  } catch {
    // best effort, as in the original
  }
  if (!v6) return;
  writeFileSync(`/proc/sys/net/ipv6/conf/${hostVeth}/accept_ra`, '0');
  writeFileSync('/proc/sys/net/ipv6/conf/all/forwarding', '1');
}

/**
 * The pod's interface before it comes up: IPv6 on, router advertisements ignored. Written with
 * `tee` in the pod's namespace (no shell: the interface name is the runtime's text).
 */
async function tunePodSide(pod: Exec, ifname: string): Promise<void> {
  const dir = `/proc/sys/net/ipv6/conf/${ifname}`;
  const r = await pod.run('tee', [`${dir}/disable_ipv6`, `${dir}/accept_ra`], '0\n');
  if (r.code !== 0) {
    throw new CniError(
      CniCode.Wiring,
      `turning IPv6 on for ${ifname} failed`,
      r.stderr.trim() || `exit ${r.code}`,
    );
  }
}

/** Removes the host veths (and so their peers and host routes); absent ones are fine. */
export async function unwire(exec: Exec, ...hostVeths: string[]): Promise<void> {
  if (hostVeths.length === 1) await exec.run('ip', ['link', 'del', hostVeths[0]!]);
  else
    await exec.run(
      'ip',
      ['-force', '-batch', '-'],
      hostVeths.map((v) => `link del ${v}\n`).join(''),
    );
}

/** The owner recorded in a host veth's alias; undefined when it has none (or is absent). */
async function ownerOf(exec: Exec, hostVeth: string): Promise<string | undefined> {
  const r = await exec.run('ip', ['-j', 'link', 'show', 'dev', hostVeth]);
  if (r.code !== 0) return undefined;
  const [link] = JSON.parse(r.stdout) as { ifalias?: string }[];
  return link?.ifalias || undefined;
}

/** The device of the host route of `ip` (`<ip>/32`), when there is one. */
export async function routeDevOf(exec: Exec, ip: string): Promise<string | undefined> {
  const cidr = hostCidr(ip).toString();
  const r = await exec.run('ip', ['-j', 'route', 'show', 'table', 'all', 'exact', cidr]);
  if (r.code !== 0) return undefined;
  const [route] = parseJsonLines(r.stdout)[0] ?? [];
  return typeof route?.['dev'] === 'string' ? route['dev'] : undefined;
}

/** True when the host veth exists in the plugin's namespace. */
export async function hostVethExists(exec: Exec, hostVeth: string): Promise<boolean> {
  return (await exec.run('ip', ['link', 'show', 'dev', hostVeth])).code === 0;
}

type Inspected = Omit<WirePlan, 'mtu' | 'hostMac' | 'podMac' | 'owner'>;

/** What CHECK found wrong; empty when the wiring is as ADD left it (every family). */
export async function inspect(exec: Exec, p: Inspected): Promise<string[]> {
  const problems: string[] = [];
  const own = hostCidrs(p.ips);
  const host = await exec.run(
    'ip',
    ['-j', '-batch', '-'],
    // `table all`: `ip` reads IPv6 routes only with it (or -6) in iproute2 6.1.
    own.map((c) => `route show table all exact ${c}\n`).join(''),
  );
  const hostRoutes = parseJsonLines(host.stdout);
  own.forEach((c, i) => {
    // A pod wired by an older plugin has its route on the legacy name until its next ADD.
    const found = (hostRoutes[i] ?? []).some(
      (r) => r['dev'] === p.hostVeth || r['dev'] === p.legacyHostVeth,
    );
    if (!found) problems.push(`host route ${c} dev ${p.hostVeth} is missing`);
  });
  const pod = await inNetns(exec, p.netns).run(
    'ip',
    ['-j', '-batch', '-'],
    `addr show dev ${p.ifname}\nroute show\nroute show table all root ::/0\n`,
  );
  if (pod.code !== 0)
    return [...problems, `cannot read ${p.ifname} in ${p.netns}: ${pod.stderr.trim()}`];
  const [links = [], routes4 = [], routes6 = []] = parseJsonLines(pod.stdout);
  const addrs = (links[0]?.['addr_info'] ?? []) as { local?: string; prefixlen?: number }[];
  for (const c of own) {
    const held = (a: { local?: string; prefixlen?: number }): boolean =>
      a.local !== undefined &&
      Addr.tryParse(a.local, BOTH_FAMILIES)?.equals(c.addr) === true &&
      a.prefixlen === hostPrefixLen(c.family);
    if (!addrs.some(held)) problems.push(`${c} is not on ${p.ifname}`);
    if (c.family === 4) problems.push(...gatewayProblems4(routes4, p));
    else if (!routes6.some((r) => isDefault6Via(r, p))) {
      problems.push(`default route ::/0 via ${p.gatewayIp6} dev ${p.ifname} is missing`);
    }
  }
  return problems;
}

function gatewayProblems4(routes: Record<string, unknown>[], p: Inspected): string[] {
  const problems: string[] = [];
  if (!routes.some((r) => r['dst'] === p.gatewayIp && r['dev'] === p.ifname)) {
    problems.push(`route ${p.gatewayIp} dev ${p.ifname} is missing`);
  }
  if (!routes.some((r) => r['dst'] === 'default' && r['gateway'] === p.gatewayIp)) {
    problems.push(`default route via ${p.gatewayIp} is missing`);
  }
  return problems;
}

/** A default IPv6 route through the gateway on the pod's interface (alone or one of several). */
function isDefault6Via(r: Record<string, unknown>, p: Inspected): boolean {
  if (r['dst'] !== 'default') return false;
  const hops = Array.isArray(r['nexthops']) ? (r['nexthops'] as Record<string, unknown>[]) : [r];
  return hops.some((h) => h['gateway'] === p.gatewayIp6 && h['dev'] === p.ifname);
}

function parseJsonLines(text: string): Record<string, unknown>[][] {
  return text
    .split('\n')
    .filter((l) => l.trim().startsWith('['))
    .map((l) => JSON.parse(l) as Record<string, unknown>[]);
}
