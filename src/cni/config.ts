/**
 * The plugin's input, parsed at the boundary: the network configuration on stdin (reference
 * §7.1, with `romanad_url` and `token_file` instead of etcd settings) and the CNI_* variables.
 * Every problem is a CniError naming the field or variable (code 7 config, 4 environment).
 */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { CniCode, CniError } from './errors.ts';
import { Addr } from '../net/addr.ts';

/** The result formats this plugin writes; 0.1.0 and 0.2.0 (the `ip4` format) are not spoken. */
export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
export type CniVersion = (typeof SUPPORTED_VERSIONS)[number];

export const COMMANDS = ['ADD', 'DEL', 'CHECK', 'VERSION', 'STATUS', 'GC'] as const;
export type Command = (typeof COMMANDS)[number];

/** One still-valid attachment, as GC receives them in `cni.dev/valid-attachments`. */
export interface Attachment {
  containerID: string;
  ifname: string;
}

/** The network configuration with defaults applied. */
export interface NetConf {
  cniVersion: CniVersion;
  name: string;
  mtu: number;
  romanadUrl: string;
  tokenFile: string | undefined;
  caFile: string | undefined;
  hostName: string;
  gatewayIp: string;
  /** The IPv6 pods' gateway: a link-local address held by each pod's host veth. */
  gatewayIp6: string;
  segmentLabelName: string;
  kubernetesConfig: string | undefined;
  usePolicy: boolean;
  /** Read the segment from an annotation instead of a label. */
  useAnnotations: boolean;
  logFile: string | undefined;
  /** CHECK: the result of the ADD being checked, as the runtime passes it back. */
  prevResult: Record<string, unknown> | undefined;
  /** GC: undefined when the runtime sent no list. */
  validAttachments: Attachment[] | undefined;
}

export const DEFAULTS = {
  romanadUrl: 'http://127.0.0.1:9600',
  gatewayIp: '172.142.0.1',
  gatewayIp6: 'fe80::1',
  mtu: 1500,
  segmentLabelName: 'romana.io/segment',
} as const;

function bad(msg: string, details = ''): CniError {
  return new CniError(CniCode.InvalidConfig, msg, details);
}

function str(raw: Record<string, unknown>, key: string): string | undefined {
  const v = raw[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw bad(`${key}: must be a string, got ${JSON.stringify(v)}`);
  return v === '' ? undefined : v;
}

function bool(raw: Record<string, unknown>, key: string): boolean {
  const v = raw[key];
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw bad(`${key}: must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

/** True for a canonical dotted-quad IPv4 address (no leading zeros). */
export function isIpv4(s: string): boolean {
  return Addr.tryParse(s, [4]) !== undefined;
}

/** True for a canonical IPv6 link-local unicast address (fe80::/10), e.g. `fe80::1`. */
export function isLinkLocal6(s: string): boolean {
  const a = Addr.tryParse(s, [6]);
  return a !== undefined && a.value >> 118n === 0x3fan;
}

/**
 * Decodes stdin. Code 6 when it is not a JSON object; code 1 for an unsupported cniVersion.
 *
 * @example
 * const conf = parseNetConf('{"cniVersion":"1.0.0","name":"romana","type":"romana"}');
 */
export function parseNetConf(text: string): NetConf {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new CniError(
      CniCode.DecodingFailure,
      'network configuration on stdin is not JSON',
      String(err),
    );
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new CniError(
      CniCode.DecodingFailure,
      'network configuration on stdin is not a JSON object',
    );
  }
  const r = raw as Record<string, unknown>;
  const cniVersion = parseVersion(r['cniVersion']);
  const mtuRaw = r['mtu'];
  if (mtuRaw !== undefined && (typeof mtuRaw !== 'number' || !Number.isInteger(mtuRaw))) {
    throw bad(`mtu: must be an integer, got ${JSON.stringify(mtuRaw)}`);
  }
  const mtu = typeof mtuRaw === 'number' && mtuRaw > 0 ? mtuRaw : DEFAULTS.mtu;
  if (mtu < 68 || mtu > 65535) throw bad(`mtu: ${mtu} is outside 68–65535`);
  const romanadUrl = str(r, 'romanad_url') ?? DEFAULTS.romanadUrl;
  if (!/^https?:\/\/[^/]+/.test(romanadUrl)) {
    throw bad(`romanad_url: '${romanadUrl}' is not an http:// or https:// URL`);
  }
  const gatewayIp = str(r, 'gateway_ip') ?? DEFAULTS.gatewayIp;
  if (!isIpv4(gatewayIp)) throw bad(`gateway_ip: '${gatewayIp}' is not an IPv4 address`);
  const gatewayIp6 = str(r, 'gateway_ip6') ?? DEFAULTS.gatewayIp6;
  if (!isLinkLocal6(gatewayIp6)) {
    throw bad(
      `gateway_ip6: '${gatewayIp6}' is not a canonical IPv6 link-local address (fe80::/10)`,
    );
  }
  const prev = r['prevResult'];
  return {
    cniVersion,
    name: str(r, 'name') ?? '',
    mtu,
    romanadUrl: romanadUrl.replace(/\/+$/, ''),
    tokenFile: str(r, 'token_file'),
    caFile: str(r, 'romanad_ca_file'),
    hostName: str(r, 'romana_host_name') ?? hostname(),
    gatewayIp,
    gatewayIp6,
    segmentLabelName: str(r, 'segment_label_name') ?? DEFAULTS.segmentLabelName,
    kubernetesConfig: str(r, 'kubernetes_config'),
    usePolicy: bool(r, 'use_policy'),
    useAnnotations: bool(r, 'use_annotations'),
    logFile: str(r, 'log_file'),
    prevResult:
      typeof prev === 'object' && prev !== null && !Array.isArray(prev)
        ? (prev as Record<string, unknown>)
        : undefined,
    validAttachments: parseAttachments(r['cni.dev/valid-attachments']),
  };
}

/** Reads `cniVersion`; code 7 when absent, code 1 when not one of SUPPORTED_VERSIONS. */
export function parseVersion(v: unknown): CniVersion {
  if (typeof v !== 'string' || v === '') throw bad('cniVersion: required (e.g. "1.1.0")');
  if (!(SUPPORTED_VERSIONS as readonly string[]).includes(v)) {
    throw new CniError(
      CniCode.IncompatibleVersion,
      `cniVersion ${v} is not supported`,
      `supported: ${SUPPORTED_VERSIONS.join(', ')}`,
    );
  }
  return v as CniVersion;
}

function parseAttachments(v: unknown): Attachment[] | undefined {
  if (v === undefined || v === null) return undefined;
  const where = 'cni.dev/valid-attachments';
  if (!Array.isArray(v)) throw bad(`${where}: must be a list`);
  return v.map((a: unknown, i) => {
    const o = a as Record<string, unknown> | null;
    if (typeof o !== 'object' || o === null || typeof o['containerID'] !== 'string') {
      throw bad(`${where}[${i}]: must be {"containerID": string, "ifname": string}`);
    }
    return {
      containerID: o['containerID'],
      ifname: typeof o['ifname'] === 'string' ? o['ifname'] : '',
    };
  });
}

/** The CNI_* environment, validated for the command at hand. */
export interface CniEnv {
  command: Command;
  containerId: string;
  netns: string;
  ifname: string;
  args: Record<string, string>;
}

function badEnv(msg: string): CniError {
  return new CniError(CniCode.InvalidEnvironment, msg);
}

/** Reads the command from CNI_COMMAND; code 4 when missing or unknown. */
export function parseCommand(env: NodeJS.ProcessEnv): Command {
  const c = env['CNI_COMMAND'] ?? '';
  if (!(COMMANDS as readonly string[]).includes(c)) {
    throw badEnv(`CNI_COMMAND: '${c}' is not one of ${COMMANDS.join(', ')}`);
  }
  return c as Command;
}

/**
 * Reads CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME and CNI_ARGS for ADD, DEL and CHECK. DEL needs
 * no netns (the runtime may have destroyed it already).
 *
 * @example
 * const env = parseEnv(process.env, 'ADD');
 */
export function parseEnv(env: NodeJS.ProcessEnv, command: Command): CniEnv {
  const containerId = env['CNI_CONTAINERID'] ?? '';
  checkContainerId('CNI_CONTAINERID', containerId);
  const ifname = env['CNI_IFNAME'] ?? '';
  if (!/^[^\s/:]{1,15}$/.test(ifname) || ifname === '.' || ifname === '..') {
    throw badEnv(`CNI_IFNAME: '${ifname}' is not an interface name (1-15 characters, no '/')`);
  }
  const netns = env['CNI_NETNS'] ?? '';
  if ((command !== 'DEL' || netns !== '') && !/^\/\S*$/.test(netns)) {
    throw badEnv(`CNI_NETNS: '${netns}' is not the path of a network namespace`);
  }
  const args = parseArgs(env['CNI_ARGS'] ?? '');
  const infra = args['K8S_POD_INFRA_CONTAINER_ID'];
  if (infra) checkContainerId('CNI_ARGS K8S_POD_INFRA_CONTAINER_ID', infra);
  return { command, containerId, netns, ifname, args };
}

function checkContainerId(where: string, id: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$/.test(id)) {
    throw badEnv(`${where}: '${id}' is not a container id (1-200 letters, digits, '_', '.', '-')`);
  }
}

/** Parses CNI_ARGS (`K=V;K2=V2`); code 4 for a pair without `=`. */
export function parseArgs(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of s.split(';')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    if (eq <= 0) throw badEnv(`CNI_ARGS: '${pair}' is not KEY=VALUE`);
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

/** What ADD, DEL and CHECK call things, derived from the environment (reference §7.1). */
export interface Names {
  /** First 8 characters of the infra (sandbox) container id. */
  infra8: string;
  /** The host side of this attachment's veth: unique per (container, interface). */
  hostVeth: string;
  /** The name the 2.x plugin and earlier versions of this one gave the host veth. */
  legacyHostVeth: string;
  /** Who owns the host veth, kept as its alias: `<container id>/<ifname>`. */
  owner: string;
  addressName: string;
  tenant: string;
  pod: { name: string; namespace: string } | undefined;
}

/**
 * The host veth of attachment (`containerId`, `ifname`): `romana-` and 8 base-32 digits of a
 * SHA-256 of both (40 bits, within the kernel's 15 characters). Two networks attached to one
 * container get two names; DEL and CHECK compute the same name from the same environment.
 *
 * @example
 * hostVethName('abcdef0123', 'eth1'); // 'romana-' + 8 characters of [0-9a-v]
 */
export function hostVethName(containerId: string, ifname: string): string {
  const digest = createHash('sha256').update(`${containerId}/${ifname}`).digest();
  return `romana-${digest.readUIntBE(0, 5).toString(32).padStart(8, '0')}`;
}

/**
 * Names for one attachment: `<pod>.<namespace>.<infra8>` under Kubernetes (K8S_POD_NAME and
 * K8S_POD_NAMESPACE in CNI_ARGS), else `<containerId8>.<ifname>`; host veth from
 * `hostVethName(<infra id>, ifname)`.
 *
 * @example
 * deriveNames({ containerId: 'abcdef0123', ifname: 'eth0', args: {} }).addressName; // 'abcdef01.eth0'
 */
export function deriveNames(env: Pick<CniEnv, 'containerId' | 'ifname' | 'args'>): Names {
  const infra = env.args['K8S_POD_INFRA_CONTAINER_ID'] || env.containerId;
  const infra8 = infra.slice(0, 8);
  const podName = env.args['K8S_POD_NAME'];
  const podNs = env.args['K8S_POD_NAMESPACE'];
  const pod = podName && podNs ? { name: podName, namespace: podNs } : undefined;
  return {
    infra8,
    hostVeth: hostVethName(infra, env.ifname),
    legacyHostVeth: `romana-${infra8}`,
    owner: `${infra}/${env.ifname}`,
    addressName: pod
      ? `${pod.name}.${pod.namespace}.${infra8}`
      : `${env.containerId.slice(0, 8)}.${env.ifname}`,
    tenant: podNs || 'default',
    pod,
  };
}

/**
 * GC: the container key an address name carries (the infra8 of a Kubernetes name, the
 * container-id prefix of a plain one), or undefined for names this plugin does not make
 * (e.g. `pod-1`, allocated by hand), which GC never releases.
 */
export function containerKeyOf(addressName: string): string | undefined {
  const parts = addressName.split('.');
  if (parts.length >= 3) return parts[parts.length - 1] || undefined;
  if (parts.length === 2 && /^[A-Za-z0-9][A-Za-z0-9_-]{0,7}$/.test(parts[0]!)) return parts[0];
  return undefined;
}
