/**
 * Reading romanad's whole state from the store into an engine: the topology, hosts and their
 * placements, blocks (with the names of their addresses) and blackouts of the current
 * generation, and the policies.
 */
import { RomanaError } from '../../errors.ts';
import {
  Ipam,
  type BlockRecord,
  type HostRecord,
  type IpamSnapshot,
  type NetworkRecord,
} from '../../ipam/index.ts';
import { BOTH_FAMILIES, Cidr } from '../../net/addr.ts';
import { ShardedMap } from '../../sharded-map.ts';
import type { Store } from '../../store/store.ts';
import {
  decodeBlock,
  decodeHost,
  decodeNamespace,
  decodeNetwork,
  decodePlacement,
  decodePod,
  decodePolicy,
  decodeTopologyRecord,
  decodeVip,
} from './decode.ts';
import {
  parseKey,
  type BlockState,
  type StoredHost,
  type StoredNetwork,
  type StoredPlacement,
  type TopologyRecord,
} from './keys.ts';
import type { Namespace, PodLink, Policy, Vip } from './service.ts';

export interface LoadedState {
  ipam: Ipam;
  topology: TopologyRecord | null;
  hosts: Map<string, StoredHost>;
  placements: Map<string, StoredPlacement>;
  policies: Map<string, Policy>;
  vips: Map<string, Vip>;
  /** Pod links by address name (a link whose address is gone is kept, and never shown). */
  pods: Map<string, PodLink>;
  namespaces: Map<string, Namespace>;
  /** modRevision of every key read. */
  revs: ShardedMap<number>;
  revision: number;
}

export async function loadState(store: Store): Promise<LoadedState> {
  const { kvs, revision } = await store.range('');
  const revs = new ShardedMap<number>();
  let topology: TopologyRecord | null = null;
  const hosts = new Map<string, StoredHost>();
  const allPlacements = new Map<number, Map<string, StoredPlacement>>();
  const blocks: Array<{ g: number; network: string; cidr: string; st: BlockState; rev: number }> =
    [];
  const networks: Array<{ g: number; network: string; st: StoredNetwork; rev: number }> = [];
  const policies = new Map<string, Policy>();
  const vips = new Map<string, Vip>();
  const pods = new Map<string, PodLink>();
  const namespaces = new Map<string, Namespace>();
  for (const kv of kvs) {
    const k = parseKey(kv.key);
    switch (k.kind) {
      case 'topology':
        topology = decodeTopologyRecord(kv.key, kv.value);
        break;
      case 'host':
        hosts.set(k.name, decodeHost(kv.key, kv.value));
        break;
      case 'placement': {
        const m = allPlacements.get(k.generation) ?? new Map<string, StoredPlacement>();
        m.set(k.host, decodePlacement(kv.key, kv.value));
        allPlacements.set(k.generation, m);
        break;
      }
      case 'block':
        blocks.push({
          g: k.generation,
          network: k.network,
          cidr: k.cidr,
          st: decodeBlock(kv.key, kv.value),
          rev: kv.modRevision,
        });
        break;
      case 'network':
        networks.push({
          g: k.generation,
          network: k.network,
          st: decodeNetwork(kv.key, kv.value),
          rev: kv.modRevision,
        });
        break;
      case 'policy':
        policies.set(k.id, decodePolicy(kv.key, kv.value));
        break;
      case 'vip':
        vips.set(k.name, decodeVip(kv.key, kv.value));
        break;
      case 'pod':
        pods.set(k.address, decodePod(kv.key, kv.value));
        break;
      case 'namespace':
        namespaces.set(k.name, decodeNamespace(kv.key, kv.value));
        break;
      case 'address':
        break; // its revision only: a pod link is compared with it
      default:
        continue;
    }
    revs.set(kv.key, kv.modRevision);
  }
  const g = topology?.generation ?? 0;
  const placements = allPlacements.get(g) ?? new Map<string, StoredPlacement>();
  const ipam =
    topology === null
      ? new Ipam()
      : new Ipam(
          snapshotOf(
            topology,
            revision,
            hosts,
            placements,
            blocks.filter((b) => b.g === g),
            networks.filter((n) => n.g === g),
          ),
        );
  return {
    ipam,
    topology,
    hosts,
    placements,
    policies,
    vips,
    pods,
    namespaces,
    revs,
    revision,
  };
}

function snapshotOf(
  topology: TopologyRecord,
  revision: number,
  hosts: Map<string, StoredHost>,
  placements: Map<string, StoredPlacement>,
  blocks: Array<{ network: string; cidr: string; st: BlockState; rev: number }>,
  networks: Array<{ network: string; st: StoredNetwork; rev: number }>,
): IpamSnapshot {
  const hostRecords: HostRecord[] = [];
  let seq = 0;
  for (const [name, h] of hosts) {
    const p = placements.get(name);
    if (p === undefined) continue; // fits no group of this generation
    const { removing: _removing, managed_by: _managedBy, ...rest } = h;
    hostRecords.push({ ...rest, groups: p.groups });
    seq = Math.max(seq, h.seq);
  }
  const blockRecords: BlockRecord[] = [];
  const addresses: IpamSnapshot['addresses'] = [];
  for (const b of blocks) {
    blockRecords.push({
      network: b.network,
      cidr: b.cidr,
      owner: b.st.owner,
      host: b.st.host,
      revision: b.rev,
      acquired: b.st.acquired,
      released: b.st.released,
    });
    seq = Math.max(seq, b.st.acquired, b.st.released);
    const base = Cidr.parse(b.cidr, 'cidr', BOTH_FAMILIES).addr;
    for (const [off, name] of b.st.names) addresses.push({ name, ip: base.add(off).toString() });
  }
  const networkRecords: NetworkRecord[] = topology.doc.networks.map((n) => {
    const stored = networks.find((x) => x.network === n.name);
    return {
      name: n.name,
      revision: stored?.rev ?? revision,
      blackouts: stored?.st.blackouts ?? [],
    };
  });
  if (blockRecords.some((b) => !topology.doc.networks.some((n) => n.name === b.network))) {
    throw new RomanaError('Internal', 'the store holds blocks of a network the topology lacks');
  }
  return {
    version: 1,
    topology: topology.doc,
    revisions: { allocation: revision, topology: revision, seq },
    networks: networkRecords,
    hosts: hostRecords,
    blocks: blockRecords,
    addresses,
  };
}
