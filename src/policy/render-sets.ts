/**
 * The ipsets a node needs for policy enforcement (reference §6.3): one `hash:net` set of block
 * CIDRs per (tenant, segment), one `list:set` per tenant holding its segment sets, and the set
 * of this host's blocks. Pure: blocks in, set definitions out.
 */
import { createHash } from 'node:crypto';
import type { BlockView } from '../ipam/views.ts';
import { targetTypeOf, type Endpoint } from './model.ts';
import { tenantSetName } from './hash.ts';

/**
 * The fields of romanad's `BlockView` that enforcement reads.
 *
 * @example const b: RenderBlock = { cidr: '10.0.0.0/28', tenant: 'tenant-a', segment: 'backend', host: 'host1' };
 */
export type RenderBlock = Pick<BlockView, 'cidr' | 'tenant' | 'segment' | 'host'>;

/**
 * The ipset types Romana creates.
 *
 * @example const t: IpSetType = 'list:set';
 */
export type IpSetType = 'hash:net' | 'list:set' | 'hash:ip' | 'hash:ip,port';

/**
 * One desired ipset: its members are CIDRs (`hash:net`) or set names (`list:set`).
 *
 * @example const s: IpSet = { name: 'ROMANA-LOCAL-BLOCKS', type: 'hash:net', members: ['10.0.0.0/28'] };
 */
export interface IpSet {
  name: string;
  type: IpSetType;
  members: string[];
  /** The family of a hash set; absent: that of its first member (`inet` when empty). */
  family?: 'inet' | 'inet6';
}

/**
 * The set of the CIDRs of blocks on this host. The original called it `localBlocks`; the
 * `ROMANA-` prefix keeps it inside the namespace of names Romana owns, so that diffing and
 * stale-set removal never look at anybody else's sets.
 *
 * @example LOCAL_BLOCKS_SET // 'ROMANA-LOCAL-BLOCKS'
 */
export const LOCAL_BLOCKS_SET = 'ROMANA-LOCAL-BLOCKS';

/**
 * Name of the `hash:net` set of one (tenant, segment). For a real segment it is the original's
 * `tenantSetName(tenant, segment)`. Blocks owned by a tenant without segment would collide with
 * the tenant's `list:set`, so they get `ROMANA-` + SHA-1 of `tenant_<t>_segment_` (a key the
 * original's naming never produces).
 *
 * @example segmentSetName('tenant-a', 'backend') // 'ROMANA-446f0022c0a89d93'
 */
export function segmentSetName(tenant: string, segment: string): string {
  const key = `${tenant}\u0000${segment}`;
  let name = setNames.get(key);
  if (name === undefined) {
    if (setNames.size >= MAX_CACHED_NAMES) setNames.clear();
    setNames.set(key, (name = computeSetName(tenant, segment)));
  }
  return name;
}

/** Set names are SHA-1 based and asked for once per rule on every render: remember them. */
const setNames = new Map<string, string>();
const MAX_CACHED_NAMES = 100_000;

function computeSetName(tenant: string, segment: string): string {
  if (segment !== '') return tenantSetName(tenant, segment);
  const h = createHash('sha1').update(`tenant_${tenant}_segment_`, 'utf8').digest('hex');
  return `ROMANA-${h.slice(0, 16)}`;
}

/**
 * The tenant's `list:set` name (`tenantSetName(tenant)`), remembered like `segmentSetName`.
 *
 * @example tenantListName('tenant-a') // 'ROMANA-bc42e93f0aa666e1'
 */
export function tenantListName(tenant: string): string {
  const key = `${tenant}\u0001`;
  let name = setNames.get(key);
  if (name === undefined) {
    if (setNames.size >= MAX_CACHED_NAMES) setNames.clear();
    setNames.set(key, (name = tenantSetName(tenant)));
  }
  return name;
}

/**
 * The tenant and segment sets for all blocks (every host), and `ROMANA-LOCAL-BLOCKS` for the
 * blocks of `host`. Blocks without a tenant (not yet owned) only count for the local set. Sets
 * come out `hash:net` first (so a `list:set` can name them when restored in order), each group
 * sorted by name, members sorted.
 *
 * @example
 * makeBlockSets([{ cidr: '10.0.0.0/28', tenant: 'T800', segment: 'john', host: 'host1' }], 'host1')
 * // [{ name: 'ROMANA-…(T800/john)', type: 'hash:net', members: ['10.0.0.0/28'] },
 * //  { name: 'ROMANA-LOCAL-BLOCKS', type: 'hash:net', members: ['10.0.0.0/28'] },
 * //  { name: 'ROMANA-…(T800)', type: 'list:set', members: ['ROMANA-…(T800/john)'] }]
 */
export function makeBlockSets(blocks: readonly RenderBlock[], host: string): IpSet[] {
  const segments = new Map<string, Set<string>>();
  const tenants = new Map<string, Set<string>>();
  const local = new Set<string>();
  for (const b of blocks) {
    if (b.host === host) local.add(b.cidr);
    if (b.tenant === '') continue;
    const seg = segmentSetName(b.tenant, b.segment);
    addTo(segments, seg, b.cidr);
    addTo(tenants, tenantListName(b.tenant), seg);
  }
  const hashSets: IpSet[] = [...segments].map(([name, cidrs]) => hashNet(name, cidrs));
  hashSets.push(hashNet(LOCAL_BLOCKS_SET, local));
  const listSets: IpSet[] = [...tenants].map(([name, members]) => ({
    name,
    type: 'list:set',
    members: [...members].sort(),
  }));
  return [...hashSets.sort(byName), ...listSets.sort(byName)];
}

function hashNet(name: string, cidrs: Iterable<string>): IpSet {
  return { name, type: 'hash:net', members: [...cidrs].sort() };
}

function addTo(map: Map<string, Set<string>>, key: string, value: string): void {
  let set = map.get(key);
  if (set === undefined) map.set(key, (set = new Set()));
  set.add(value);
}

function byName(a: IpSet, b: IpSet): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/**
 * Whether a target has anything to protect among `blocks` (pass this host's blocks): a tenant
 * target needs a block of that tenant (and segment, when the target names one); any other
 * target is valid. Same cases as the original's `targetValid`.
 *
 * @example targetValid({ tenant_id: 'T800' }, []) // false
 * @example targetValid({ dest: 'host' }, []) // true
 */
export function targetValid(target: Endpoint, blocks: readonly RenderBlock[]): boolean {
  const type = targetTypeOf(target);
  if (type !== 'tenant' && type !== 'tenant-segment') return true;
  const tenant = target.tenant_id;
  const segment = type === 'tenant-segment' ? target.segment_id : undefined;
  return blocks.some((b) => b.tenant === tenant && (!segment || b.segment === segment));
}
