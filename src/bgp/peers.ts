/**
 * Where a host's BGP peers come from, in this order (the first mention of an address wins):
 *
 * 1. `--peer SPEC` flags;
 * 2. the host's tags: `bgp-peer` holds one or more SPECs separated by spaces (e.g. the rack's
 *    ToR: `bgp-peer: "192.168.1.1,65101"`), and `bgp-as` this host's own AS;
 * 3. the topology: a group's `routing` text may hold `bgp-peer=SPEC` words; a host takes those
 *    of every group it sits in, innermost group first (a rack group names its ToR once for all
 *    its hosts).
 *
 * A SPEC is `ADDRESS,AS` followed by options: `bfd`, `multihop=TTL`. Passwords are never in a
 * SPEC (tags and the topology are readable by every node): `--password-file` sets one for all
 * sessions.
 */
import { invalidInput } from '../errors.ts';
import type { GroupOrHost, TopologyUpdateRequest } from '../ipam/index.ts';
import { Addr, BOTH_FAMILIES } from '../net/addr.ts';
import type { BgpPeer } from './render.ts';

/** Host tags read by the publisher. */
export const PEER_TAG = 'bgp-peer';
export const LOCAL_AS_TAG = 'bgp-as';
/** The word of a group's `routing` text that names a peer: `bgp-peer=SPEC`. */
export const ROUTING_PEER = 'bgp-peer=';

function asNumber(text: string, field: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 4_294_967_295) {
    throw invalidInput(`${field}: '${text}' is not an AS number (1 to 4294967295)`);
  }
  return n;
}

/**
 * Parses one SPEC; `field` names where it came from in errors.
 *
 * @example parsePeer('192.168.1.1,65101,bfd', 'flag', '--peer')
 * // { address: '192.168.1.1', as: 65101, bfd: true, source: 'flag' }
 */
export function parsePeer(spec: string, source: BgpPeer['source'], field: string): BgpPeer {
  const [address = '', as = '', ...opts] = spec.split(',');
  if (as === '') throw invalidInput(`${field}: '${spec}' is not ADDRESS,AS[,bfd][,multihop=TTL]`);
  const addr = Addr.parse(address, `${field} address`, BOTH_FAMILIES);
  const peer: BgpPeer = { address: addr.toString(), as: asNumber(as, `${field} AS`), source };
  for (const o of opts) {
    const ttl = /^multihop=(\d{1,3})$/.exec(o);
    if (o === 'bfd') peer.bfd = true;
    else if (ttl !== null && Number(ttl[1]) >= 1 && Number(ttl[1]) <= 255) {
      peer.multihop = Number(ttl[1]);
    } else {
      throw invalidInput(`${field}: unknown option '${o}' in '${spec}' (bfd, multihop=1..255)`);
    }
  }
  return peer;
}

/** The routing texts of the groups `host` sits in, innermost first. */
function routingPath(map: readonly GroupOrHost[], host: string): string[] {
  const walk = (e: GroupOrHost, up: string[]): string[] | undefined => {
    const here = e.routing === undefined ? up : [e.routing, ...up];
    for (const k of e.groups ?? []) {
      if (k.ip !== undefined && k.name === host) return here;
      const found = k.ip === undefined ? walk(k, here) : undefined;
      if (found !== undefined) return found;
    }
    return undefined;
  };
  return walk({ groups: [...map] }, []) ?? [];
}

export interface PeerSources {
  flags: readonly string[];
  tags: Readonly<Record<string, string>> | null;
  topology: TopologyUpdateRequest | undefined;
  host: string;
}

/** Every peer of the host, flags first, then tags, then the topology; one per address. */
export function collectPeers(s: PeerSources): BgpPeer[] {
  const out = new Map<string, BgpPeer>();
  const add = (p: BgpPeer) => {
    if (!out.has(p.address)) out.set(p.address, p);
  };
  s.flags.forEach((f) => add(parsePeer(f, 'flag', '--peer')));
  const tag = s.tags?.[PEER_TAG];
  for (const spec of tag?.split(/\s+/).filter(Boolean) ?? []) {
    add(parsePeer(spec, 'tag', `tag ${PEER_TAG}`));
  }
  const seen = new Set<string>();
  for (const t of s.topology?.topologies ?? []) {
    for (const routing of routingPath(t.map, s.host)) {
      if (seen.has(routing)) continue;
      seen.add(routing);
      for (const w of routing.split(/\s+/).filter((x) => x.startsWith(ROUTING_PEER))) {
        add(parsePeer(w.slice(ROUTING_PEER.length), 'topology', `routing '${routing}'`));
      }
    }
  }
  return [...out.values()];
}

/** The local AS: the host's `bgp-as` tag when set, else `fallback` (the flag). */
export function localAs(tags: Readonly<Record<string, string>> | null, fallback: number): number {
  const t = tags?.[LOCAL_AS_TAG];
  return t === undefined ? fallback : asNumber(t, `tag ${LOCAL_AS_TAG}`);
}
