/**
 * Applying store changes written by others (another replica, or the store's truth read back
 * after a failed transaction) to a replica's engine, and turning them into watch events.
 */
import type { HostRecord } from '../../ipam/index.ts';
import type { WatchEvent as StoreEvent } from '../../store/store.ts';
import type { ServiceCore } from './core.ts';
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
import { parseKey } from './keys.ts';
import { addressEvent } from './pods.ts';
import type { WatchEvent } from './service.ts';

/** Turns store events into engine changes and view events, grouped by revision. */
export function applyEvents(
  core: ServiceCore,
  events: StoreEvent[],
  force: boolean,
): Map<number, Array<Omit<WatchEvent, 'revision'>>> {
  const x = core;
  const out = new Map<number, Array<Omit<WatchEvent, 'revision'>>>();
  const emit = (rev: number, e: Omit<WatchEvent, 'revision'>) => {
    const list = out.get(rev) ?? [];
    list.push(e);
    out.set(rev, list);
  };
  const dirtyHosts = new Map<string, number>();
  /** Addresses (by name) whose key or pod link changed, at the revision of the change. */
  const dirtyAddresses = new Map<string, number>();
  const blocks: Array<{ ev: StoreEvent; network: string; cidr: string }> = [];
  for (const ev of events) {
    // Our own commits come back through the watch while they are still in flight (when the
    // watch is quicker than the transaction's answer), or at the revision we already hold.
    // In flight first: a small map, where the revisions hold every key (each allocation's
    // echo would look its new key up there for nothing).
    // The revision is left for the commit to record: should the transaction fail after all
    // (this was another replica writing the same value), the read-back must still apply it.
    // (`ev.value` is never undefined: a key not in flight never matches.)
    if (!force && x.inFlight.get(ev.key) === ev.value) continue;
    const known = Math.abs(x.revs.get(ev.key) ?? 0);
    if (ev.modRevision < known || (ev.modRevision === known && !force)) continue;
    const k = parseKey(ev.key);
    const value = ev.value;
    switch (k.kind) {
      case 'topology': {
        const rec = value === null ? null : decodeTopologyRecord(ev.key, value);
        if (rec?.generation !== x.state.topology?.generation) {
          // A new carving: nothing after this applies to the state held; reload it all.
          x.stale = true;
          x.scheduleReload();
          return out;
        }
        x.state.topology = rec;
        break;
      }
      case 'host':
        if (value === null) x.state.hosts.delete(k.name);
        else x.state.hosts.set(k.name, decodeHost(ev.key, value));
        dirtyHosts.set(k.name, ev.modRevision);
        break;
      case 'placement':
        if (k.generation !== x.generation()) break;
        if (value === null) x.state.placements.delete(k.host);
        else x.state.placements.set(k.host, decodePlacement(ev.key, value));
        dirtyHosts.set(k.host, ev.modRevision);
        break;
      case 'block':
        if (k.generation === x.generation()) blocks.push({ ev, network: k.network, cidr: k.cidr });
        break;
      case 'network':
        if (k.generation !== x.generation()) break;
        x.ipam.applyBlackouts(
          k.network,
          value === null ? [] : decodeNetwork(ev.key, value).blackouts,
        );
        x.networkRevisions.set(k.network, ev.modRevision);
        break;
      case 'policy':
        if (value === null) {
          x.state.policies.delete(k.id);
          emit(ev.modRevision, { kind: 'policies', type: 'delete', id: k.id, value: null });
        } else {
          const p = decodePolicy(ev.key, value);
          x.state.policies.set(k.id, p);
          emit(ev.modRevision, { kind: 'policies', type: 'put', id: k.id, value: p });
        }
        break;
      case 'vip':
        if (value === null) {
          x.state.vips.delete(k.name);
          emit(ev.modRevision, { kind: 'vips', type: 'delete', id: k.name, value: null });
        } else {
          const v = decodeVip(ev.key, value);
          x.state.vips.set(k.name, v);
          emit(ev.modRevision, { kind: 'vips', type: 'put', id: k.name, value: v });
        }
        break;
      case 'address':
        dirtyAddresses.set(k.name, ev.modRevision);
        break;
      case 'pod':
        if (value === null) x.state.pods.delete(k.address);
        else x.state.pods.set(k.address, decodePod(ev.key, value));
        dirtyAddresses.set(k.address, ev.modRevision);
        break;
      case 'namespace':
        if (value === null) {
          x.state.namespaces.delete(k.name);
          emit(ev.modRevision, { kind: 'namespaces', type: 'delete', id: k.name, value: null });
        } else {
          const ns = decodeNamespace(ev.key, value);
          x.state.namespaces.set(k.name, ns);
          emit(ev.modRevision, { kind: 'namespaces', type: 'put', id: k.name, value: ns });
        }
        break;
      default:
        break;
    }
    x.revs.set(ev.key, ev.type === 'put' ? ev.modRevision : -ev.modRevision);
  }
  for (const [name, rev] of dirtyHosts) {
    const h = x.state.hosts.get(name);
    const p = x.state.placements.get(name);
    if (h !== undefined && p !== undefined) {
      x.ipam.applyHost(name, { ...h, groups: p.groups } satisfies HostRecord);
      const view = x.hostViewOf(name);
      emit(rev, { kind: 'hosts', type: 'put', id: name, value: view });
    } else if (h === undefined) {
      x.ipam.applyHost(name, null);
      emit(rev, { kind: 'hosts', type: 'delete', id: name, value: null });
    }
    x.hostsRevision = Math.max(x.hostsRevision, rev);
  }
  for (const { ev, network, cidr } of blocks) {
    x.ipam.applyBlock(network, cidr, ev.value === null ? null : decodeBlock(ev.key, ev.value));
    x.ipam.setBlockRevision(network, cidr, ev.modRevision);
    x.blocksRevision = Math.max(x.blocksRevision, ev.modRevision);
    x.networkRevisions.set(network, ev.modRevision);
    emit(ev.modRevision, {
      kind: 'blocks',
      type: 'put',
      id: cidr,
      value: x.ipam.getBlock(network, cidr),
    });
  }
  // After the blocks: an address's view comes from its block.
  for (const [name, rev] of dirtyAddresses) emit(rev, addressEvent(x, name));
  return out;
}
