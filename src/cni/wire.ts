/**
 * The pod's plumbing (reference §7.2), one `ip -batch` per side:
 * - host side (the plugin's own namespace): the veth (named per attachment, see
 *   `hostVethName`) created with its peer directly in the pod's namespace (no move), up, its
 *   alias naming the attachment that owns it, and the host route `<ip>/32` on it; proxy ARP on,
 *   proxy delay 0;
 * - pod side: `<ip>/32` on the interface, up, a link route to the gateway and the default
 *   route via it (onlink), appended next to those of other interfaces.
 * Removing the host veth removes its peer and the host route with it.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { CniCode, CniError } from './errors.ts';
import { inNetns, type Exec } from '../exec.ts';
import { Addr, BOTH_FAMILIES, hostCidr, hostPrefixLen } from '../net/addr.ts';

export interface WirePlan {
  hostVeth: string;
  /** The attachment owning the host veth (`<container id>/<ifname>`), kept as its alias. */
  owner: string;
  /** The name older plugins gave the host veth (`romana-<infra8>`), replaced on a repeated ADD. */
  legacyHostVeth?: string | undefined;
  ifname: string;
  netns: string;
  ip: string;
  gatewayIp: string;
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

/** The host side's batch. */
export function hostBatch(p: WirePlan): string {
  return [
    `link add ${p.hostVeth} mtu ${p.mtu} address ${p.hostMac} type veth` +
      ` peer name ${p.ifname} mtu ${p.mtu} address ${p.podMac} netns ${p.netns}`,
    `link set dev ${p.hostVeth} up alias ${p.owner}`,
    `route replace ${hostCidr(p.ip)} dev ${p.hostVeth} scope link`,
    '',
  ].join('\n');
}

/**
 * The pod side's batch. The routes are appended, not replaced: in a container attached to
 * several networks each interface keeps its own gateway and default route (the first one added
 * is used), and removing one interface leaves the others' routes in place.
 */
export function podBatch(p: WirePlan): string {
  return [
    `addr add ${hostCidr(p.ip)} dev ${p.ifname}`,
    `link set ${p.ifname} up`,
    `route append ${hostCidr(p.gatewayIp, 'gateway')} dev ${p.ifname} scope link`,
    `route append default via ${p.gatewayIp} dev ${p.ifname} onlink`,
    '',
  ].join('\n');
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
    tuneHostSide(p.hostVeth);
    await batch(inNetns(exec, p.netns), ['-batch', '-'], podBatch(p), `setting up ${p.ifname}`);
  } catch (err) {
    await unwire(exec, p.hostVeth);
    throw err;
  }
}

/**
 * Proxy ARP on the host veth, so the host answers the pod's ARP for the gateway even when the
 * gateway address is not local; no proxy delay. Best effort for the delay (reference §7.2.4).
 */
function tuneHostSide(hostVeth: string): void {
  writeFileSync(`/proc/sys/net/ipv4/conf/${hostVeth}/proxy_arp`, '1');
  try {
    writeFileSync(`/proc/sys/net/ipv4/neigh/${hostVeth}/proxy_delay`, '0');
  } catch {
    // best effort, as in the original
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
  const r = await exec.run('ip', ['-j', 'route', 'show', 'exact', hostCidr(ip).toString()]);
  if (r.code !== 0) return undefined;
  const [route] = parseJsonLines(r.stdout)[0] ?? [];
  return typeof route?.['dev'] === 'string' ? route['dev'] : undefined;
}

/** True when the host veth exists in the plugin's namespace. */
export async function hostVethExists(exec: Exec, hostVeth: string): Promise<boolean> {
  return (await exec.run('ip', ['link', 'show', 'dev', hostVeth])).code === 0;
}

/** What CHECK found wrong; empty when the wiring is as ADD left it. */
export async function inspect(
  exec: Exec,
  p: Omit<WirePlan, 'mtu' | 'hostMac' | 'podMac' | 'owner'>,
): Promise<string[]> {
  const problems: string[] = [];
  const own = hostCidr(p.ip);
  const host = await exec.run('ip', ['-j', 'route', 'show', 'exact', own.toString()]);
  const hostRoutes = parseJsonLines(host.stdout)[0] ?? [];
  // A pod wired by an older plugin has its route on the legacy name until its next ADD.
  if (!hostRoutes.some((r) => r['dev'] === p.hostVeth || r['dev'] === p.legacyHostVeth)) {
    problems.push(`host route ${own} dev ${p.hostVeth} is missing`);
  }
  const pod = await inNetns(exec, p.netns).run(
    'ip',
    ['-j', '-batch', '-'],
    `addr show dev ${p.ifname}\nroute show\n`,
  );
  if (pod.code !== 0)
    return [...problems, `cannot read ${p.ifname} in ${p.netns}: ${pod.stderr.trim()}`];
  const [links = [], routes = []] = parseJsonLines(pod.stdout);
  const addrs = (links[0]?.['addr_info'] ?? []) as { local?: string; prefixlen?: number }[];
  const held = (a: { local?: string; prefixlen?: number }): boolean =>
    a.local !== undefined &&
    Addr.tryParse(a.local, BOTH_FAMILIES)?.equals(own.addr) === true &&
    a.prefixlen === hostPrefixLen(own.family);
  if (!addrs.some(held)) {
    problems.push(`${own} is not on ${p.ifname}`);
  }
  if (!routes.some((r) => r['dst'] === p.gatewayIp && r['dev'] === p.ifname)) {
    problems.push(`route ${p.gatewayIp} dev ${p.ifname} is missing`);
  }
  if (!routes.some((r) => r['dst'] === 'default' && r['gateway'] === p.gatewayIp)) {
    problems.push(`default route via ${p.gatewayIp} is missing`);
  }
  return problems;
}

function parseJsonLines(text: string): Record<string, unknown>[][] {
  return text
    .split('\n')
    .filter((l) => l.trim().startsWith('['))
    .map((l) => JSON.parse(l) as Record<string, unknown>[]);
}
