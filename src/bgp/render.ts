/**
 * BIRD 2 configuration of a host, rendered from typed parts: the announced prefixes as
 * `unreachable` static routes (also installed in the kernel, so traffic for an address of this
 * host's prefixes that no pod holds is dropped here instead of looping back to the ToR), an
 * export filter that lets out only static Romana routes inside Romana's networks, and one BGP
 * session per peer. `checkBirdConfig` refuses values BIRD would misread (a quote in a password,
 * an AS out of range) with the field and value named; the render functions trust their input.
 */
import { invalidInput } from '../errors.ts';
import { Addr, BOTH_FAMILIES, Cidr, type Family } from '../net/addr.ts';
import type { Announcement } from './announce.ts';

/** One BGP neighbour. */
export interface BgpPeer {
  /** The neighbour's address. */
  address: string;
  /** The neighbour's AS number. */
  as: number;
  /** TCP MD5 password. */
  password?: string;
  /** Run BFD with the neighbour (fast failure detection). */
  bfd?: boolean;
  /** TTL for a neighbour that is not on a connected network; absent: directly connected. */
  multihop?: number;
  /** Where the peer was configured: `flag`, `tag` (host tags) or `topology`. */
  source: 'flag' | 'tag' | 'topology';
}

export interface BgpTimers {
  /** Seconds without a keepalive before the session is declared down (BIRD: 3..65535). */
  hold: number;
  keepalive: number;
  /** Seconds between connection attempts. */
  connectRetry: number;
  /**
   * Seconds before a session that failed (hold timer expired, peer's error) is tried again;
   * doubled on repeated failures up to 300 (BIRD's default: 60).
   */
  errorWait: number;
}

/** Everything the default configuration is made of. */
export interface BirdConfig {
  /** Host name, for the header. */
  host: string;
  /** BGP router id: an IPv4 address, usually the host's. */
  routerId: string;
  /** The host's own address, used as the session's source for peers of its family. */
  localAddress?: string;
  /**
   * The host's IPv6 address (its `ip6`): the source for IPv6 peers, and the next hop of the
   * IPv6 prefixes on every session (over an IPv4 session, `next hop self` would give an
   * IPv4 address). Without it, IPv6 prefixes go out with `next hop self`.
   */
  localAddress6?: string;
  localAs: number;
  /** Romana's networks: the export filter lets out prefixes inside these only. */
  networks: ReadonlyArray<{ name: string; cidr: string }>;
  announcements: readonly Announcement[];
  peers: readonly BgpPeer[];
  /** Graceful restart time in seconds; 0 turns graceful restart off. */
  gracefulRestart: number;
  timers: BgpTimers;
  /** Install the unreachable routes in the kernel's main table (default on). */
  kernel: boolean;
}

export const DEFAULT_TIMERS: BgpTimers = {
  hold: 90,
  keepalive: 30,
  connectRetry: 5,
  errorWait: 60,
};

const FAMILIES: readonly Family[] = [4, 6];
const chan = (f: Family) => `ipv${f}`;

/** The name of the static protocol holding the announced prefixes of a family. */
export const staticProtocol = (f: Family) => `romana${f}`;

/** The BIRD protocol name of a peer: `romana_peer_` and the address, symbol-safe. */
export function peerProtocol(p: Pick<BgpPeer, 'address'>): string {
  return `romana_peer_${p.address.replace(/[^0-9a-fA-F]/g, '_')}`;
}

/** `local`'s address part for peer `p`: the host's address of the peer's family, if any. */
function localOf(p: BgpPeer, c: BirdConfig): string {
  const fam = (t: string) => Addr.parse(t, 'address', BOTH_FAMILIES).family;
  const own = [c.localAddress, c.localAddress6].find(
    (a) => a !== undefined && fam(a) === fam(p.address),
  );
  return own === undefined ? '' : `${own} `;
}

/** The channel's next hop: the host's ip6 for IPv6 prefixes when known, else the session's. */
function nextHopOf(f: Family, c: BirdConfig): string {
  return f === 6 && c.localAddress6 !== undefined
    ? `next hop address ${c.localAddress6};`
    : 'next hop self;';
}

function familiesOf(c: BirdConfig): Family[] {
  const nets = c.networks.map((n) => Cidr.parse(n.cidr, 'cidr', BOTH_FAMILIES).family);
  return FAMILIES.filter((f) => f === 4 || nets.includes(f));
}

/** `protocol static`: each announced prefix of family `f` as an unreachable route. */
export function renderStatic(f: Family, announcements: readonly Announcement[]): string {
  const lines = announcements
    .filter((a) => Cidr.parse(a.prefix, 'prefix', BOTH_FAMILIES).family === f)
    .map((a) => `  route ${a.prefix} unreachable; # ${a.kind} ${a.group ?? ''}`.trimEnd());
  return [`protocol static ${staticProtocol(f)} {`, `  ${chan(f)};`, ...lines, '}'].join('\n');
}

/**
 * `text` (a BIRD configuration) with the routes of its Romana static protocols (`romana4`,
 * `romana6`, as `renderStatic` writes them, also inside an operator template) taken out, and
 * everything else as it is: the sessions stay, the prefixes are withdrawn. For a publisher
 * that finds its host gone before it ever saw it, so it cannot render (no address, no tags).
 */
export function withoutAnnouncements(text: string): string {
  const open = new RegExp(
    `^\\s*protocol\\s+static\\s+(${staticProtocol(4)}|${staticProtocol(6)})\\s*\\{`,
  );
  let inside = false;
  return text
    .split('\n')
    .filter((line) => {
      if (!inside) {
        inside = open.test(line) && !line.includes('}');
        return true;
      }
      if (/^\s*\}/.test(line)) inside = false;
      return !/^\s*route\s+\S+\s+unreachable\s*;/.test(line);
    })
    .join('\n');
}

/**
 * The export filter of family `f`: only routes of the static Romana protocol whose prefix lies
 * in one of Romana's networks of that family (anything else, e.g. a route learned from a peer
 * or added by an operator, stays in).
 */
export function renderFilter(f: Family, networks: BirdConfig['networks']): string {
  const nets = networks
    .map((n) => Cidr.parse(n.cidr, 'cidr', BOTH_FAMILIES))
    .filter((c) => c.family === f)
    .map((c) => `${c.toString()}+`);
  const test =
    nets.length === 0
      ? '    reject;'
      : `  if proto = "${staticProtocol(f)}" && net ~ [ ${nets.join(', ')} ] then accept;\n  reject;`;
  return [`filter romana_export${f} {`, test.replace(/^ {4}/, '  '), '}'].join('\n');
}

/** `protocol kernel`: installs the unreachable routes in the kernel, learns nothing. */
export function renderKernel(f: Family): string {
  return [
    `protocol kernel romana_kernel${f} {`,
    `  ${chan(f)} { import none; export where proto = "${staticProtocol(f)}"; };`,
    '}',
  ].join('\n');
}

/** One `protocol bgp` per peer: exports Romana's prefixes, imports nothing. */
export function renderPeer(p: BgpPeer, c: BirdConfig): string {
  const lines = [
    `protocol bgp ${peerProtocol(p)} {`,
    `  description "${p.source} peer ${p.address}";`,
    `  local ${localOf(p, c)}as ${c.localAs};`,
    `  neighbor ${p.address} as ${p.as};`,
    p.multihop === undefined ? '  direct;' : `  multihop ${p.multihop};`,
    `  hold time ${c.timers.hold};`,
    `  keepalive time ${c.timers.keepalive};`,
    `  connect retry time ${c.timers.connectRetry};`,
    `  error wait time ${c.timers.errorWait}, ${Math.max(c.timers.errorWait, 300)};`,
  ];
  if (p.password !== undefined) lines.push(`  password "${p.password}";`);
  if (p.bfd) lines.push('  bfd on;');
  if (c.gracefulRestart > 0) {
    lines.push('  graceful restart on;', `  graceful restart time ${c.gracefulRestart};`);
  } else {
    lines.push('  graceful restart off;');
  }
  for (const f of familiesOf(c)) {
    lines.push(
      `  ${chan(f)} { import none; export filter romana_export${f}; ${nextHopOf(f, c)} };`,
    );
  }
  lines.push('}');
  return lines.join('\n');
}

/**
 * The whole default configuration, deterministic for the same input (no timestamps: an
 * unchanged input renders the same text, and the publisher does not reload BIRD).
 *
 * @example renderBirdConfig({ host: 'h1', routerId: '192.168.1.11', localAs: 65001, ... })
 */
export function renderBirdConfig(c: BirdConfig): string {
  const fams = familiesOf(c);
  const parts = [
    `# BIRD 2 configuration of host ${c.host}, rendered by romana-route-publisher.`,
    '# Changes are overwritten; use --template for a configuration of your own.',
    `router id ${c.routerId};`,
    'protocol device {\n}',
    ...fams.map((f) => renderStatic(f, c.announcements)),
    ...fams.map((f) => renderFilter(f, c.networks)),
    ...(c.kernel ? fams.map(renderKernel) : []),
    ...(c.peers.some((p) => p.bfd) ? ['protocol bfd {\n}'] : []),
    ...c.peers.map((p) => renderPeer(p, c)),
  ];
  return `${parts.join('\n\n')}\n`;
}

const AS_MAX = 4_294_967_295;

function checkAs(v: number, field: string): void {
  if (!Number.isInteger(v) || v < 1 || v > AS_MAX) {
    throw invalidInput(`${field}: '${v}' is not an AS number (1 to ${AS_MAX})`);
  }
}

/** Refuses what BIRD would misread or reject, naming the field and the value. */
export function checkBirdConfig(c: BirdConfig): void {
  const rid = Addr.parse(c.routerId, 'router id');
  if (c.localAddress !== undefined) Addr.parse(c.localAddress, 'local address', BOTH_FAMILIES);
  if (c.localAddress6 !== undefined && Addr.tryParse(c.localAddress6, [6]) === undefined) {
    throw invalidInput(`ip6: '${c.localAddress6}' is not a canonical IPv6 address`);
  }
  if (rid.family !== 4) throw invalidInput(`router id: '${c.routerId}' is not an IPv4 address`);
  checkAs(c.localAs, 'local AS');
  if (!Number.isInteger(c.gracefulRestart) || c.gracefulRestart < 0 || c.gracefulRestart > 4095) {
    throw invalidInput(`graceful restart: '${c.gracefulRestart}' is not 0 to 4095 seconds`);
  }
  const { hold, keepalive, connectRetry, errorWait } = c.timers;
  if (!Number.isInteger(hold) || hold < 3 || hold > 65535) {
    throw invalidInput(`hold time: '${hold}' is not 3 to 65535 seconds`);
  }
  if (!Number.isInteger(keepalive) || keepalive < 1 || keepalive >= hold) {
    throw invalidInput(`keepalive time: '${keepalive}' must be 1 to less than the hold time`);
  }
  if (!Number.isInteger(connectRetry) || connectRetry < 1 || connectRetry > 65535) {
    throw invalidInput(`connect retry time: '${connectRetry}' is not 1 to 65535 seconds`);
  }
  if (!Number.isInteger(errorWait) || errorWait < 1 || errorWait > 65535) {
    throw invalidInput(`error wait time: '${errorWait}' is not 1 to 65535 seconds`);
  }
  const seen = new Set<string>();
  c.peers.forEach((p, i) => {
    const field = `peers[${i}]`;
    Addr.parse(p.address, `${field}.address`, BOTH_FAMILIES);
    if (seen.has(peerProtocol(p))) throw invalidInput(`${field}.address: '${p.address}' twice`);
    seen.add(peerProtocol(p));
    checkAs(p.as, `${field}.as`);
    if (p.password !== undefined && !/^[\x21\x23-\x5b\x5d-\x7e ]{1,80}$/.test(p.password)) {
      throw invalidInput(
        `${field}.password: must be 1 to 80 printable characters without '"' or '\\'`,
      );
    }
    if (p.multihop === undefined) return;
    if (!Number.isInteger(p.multihop) || p.multihop < 1 || p.multihop > 255) {
      throw invalidInput(`${field}.multihop: '${p.multihop}' is not a TTL of 1 to 255`);
    }
    if (p.bfd && localOf(p, c) === '') {
      throw invalidInput(
        `${field}.bfd: BFD with a multihop peer (${p.address}) needs a local address of its family`,
      );
    }
  });
}
