/**
 * Allocation and release (reference §2.4–2.6), and the specific allocation a topology update
 * uses to keep every address where it was (§2.9).
 */
import { alreadyExists, invalidInput, noAvailableIp, notFound, RomanaError } from '../errors.ts';
import { Addr, BOTH_FAMILIES, type Family } from './addr.ts';
import type { Block, Network, Placement } from './model.ts';
import type { State } from './state.ts';

export interface AllocationRequest {
  name: string;
  host: string;
  tenant?: string;
  segment?: string;
}

/** Where an address lives. */
export interface AddressLocation {
  name: string;
  block: Block;
  /** Offset of the address inside its block. */
  index: number;
}

const TENANT_RE = /^[a-zA-Z0-9_-]*$/;
const SEGMENT_RE = /^[a-zA-Z0-9_.-]*$/;

/**
 * An owner (`tenant:segment`) as messages show it; an empty part says so rather than leaving
 * a gap (2.x printed `tenant , segment `).
 *
 * @example ownerText('u:') // 'tenant u, no segment'
 */
export function ownerText(owner: string): string {
  const cut = owner.indexOf(':');
  const tenant = owner.slice(0, cut);
  const segment = owner.slice(cut + 1);
  return `${tenant === '' ? 'no tenant' : `tenant ${tenant}`}, ${segment === '' ? 'no segment' : `segment ${segment}`}`;
}

/** Validates the request fields; returns the owner string `tenant:segment`. */
export function checkRequest(r: AllocationRequest): string {
  if (typeof r.name !== 'string' || r.name === '') throw invalidInput('Name required');
  if (typeof r.host !== 'string' || r.host === '') throw invalidInput('Host required');
  const tenant = r.tenant ?? '';
  const segment = r.segment ?? '';
  if (typeof tenant !== 'string' || !TENANT_RE.test(tenant)) {
    throw invalidInput(`tenant: '${tenant}' may hold only letters, digits, '_' and '-'`);
  }
  if (typeof segment !== 'string' || !SEGMENT_RE.test(segment)) {
    throw invalidInput(`segment: '${segment}' may hold only letters, digits, '_', '.' and '-'`);
  }
  return `${tenant}:${segment}`;
}

/**
 * Allocates an address for `r.name` on `r.host` in each family of the networks the tenant may
 * use (IPv4 first): in each, the lowest free address of the first block that has one among the
 * owner's blocks on that host, then the group's released blocks in release order, then a new
 * block (reference §2.4). Every family is found before any is taken: both or neither.
 */
export function allocate(s: State, r: AllocationRequest): AddressLocation[] {
  const owner = checkRequest(r);
  const existing = s.addresses.has(r.name) || s.addresses6.has(r.name) ? s.locations(r.name) : [];
  if (existing.length > 0) {
    const ips = existing.map((l) => l.block.network.addrText(l.block, l.index)).join(', ');
    throw alreadyExists('address', r.name, `Address with name ${r.name} already allocated: ${ips}`);
  }
  const tenant = r.tenant ?? '';
  const nets = s.networksFor(tenant);
  if (nets.length === 0) {
    throw notFound(
      'tenant',
      tenant,
      tenant === ''
        ? 'No networks found for an address without a tenant: each network lists the tenants it takes.'
        : `No networks found for tenant ${tenant}.`,
    );
  }
  const host = s.hosts.get(r.host);
  if (host === undefined) {
    throw notFound('host', r.host, `Host ${r.host} not found: add it before allocating on it`);
  }
  const families = familiesOf(nets);
  const plans: Array<[Placement, Plan]> = [];
  for (const f of families) {
    const found = planIn(host.placements, nets, f, owner);
    if (found === undefined) {
      const names = nets
        .filter((n) => n.family === f)
        .map((n) => n.name)
        .join(', ');
      const which = families.length > 1 ? `IPv${f} ` : '';
      throw noAvailableIp(
        `No available IP. Host ${r.host} has no free ${which}address for ${ownerText(owner)} in network(s) ${names}.`,
      );
    }
    plans.push(found);
  }
  return plans.map(([p, plan]) => {
    const [block, index] = apply(s, p, owner, plan);
    block.setName(index, r.name);
    s.names(block.network.family).set(r.name, block);
    block.network.revision++;
    s.revisions.allocation++;
    return { name: r.name, block, index };
  });
}

/** The families of `nets`, IPv4 first. */
export function familiesOf(nets: readonly Network[]): Family[] {
  let v4 = false;
  let v6 = false;
  for (const n of nets) {
    if (n.family === 4) v4 = true;
    else v6 = true;
  }
  return v4 ? (v6 ? [4, 6] : [4]) : [6];
}

/** Where the next address of a family goes, found without changing anything. */
type Plan =
  | { kind: 'owned'; block: Block; index: number }
  | { kind: 'reuse'; k: number; index: number }
  | { kind: 'new'; skip: number; index: number };

function planIn(
  placements: readonly Placement[],
  nets: readonly Network[],
  f: Family,
  owner: string,
): [Placement, Plan] | undefined {
  for (const net of nets) {
    if (net.family !== f) continue;
    const p = placements.find((q) => q.group.network === net);
    if (p === undefined) continue;
    const plan = planInGroup(p, owner);
    if (plan !== undefined) return [p, plan];
  }
  return undefined;
}

/** Blocks a new allocation may skip because blackouts cover them entirely. */
const MAX_SKIPPED_BLOCKS = 1024;

function planInGroup(p: Placement, owner: string): Plan | undefined {
  for (const block of p.owned.get(owner) ?? []) {
    const index = lowestFree(block);
    if (index !== undefined) return { kind: 'owned', block, index };
  }
  const g = p.group;
  for (let k = 0; k < g.reusable.length; k++) {
    const index = lowestFree(g.reusable[k]!);
    if (index !== undefined) return { kind: 'reuse', k, index };
  }
  const net = g.network;
  for (let skip = 0; skip <= MAX_SKIPPED_BLOCKS; skip++) {
    const start = g.blockStart(g.blocks.length + skip);
    if (start === undefined) return undefined;
    const index = net.blackouts.length === 0 ? 0 : net.firstUnblocked(start, 0);
    if (index !== undefined) return { kind: 'new', skip, index };
  }
  return undefined;
}

/** Carries a plan out: the block and offset taken. */
function apply(s: State, p: Placement, owner: string, plan: Plan): [Block, number] {
  let b: Block;
  if (plan.kind === 'owned') {
    b = plan.block;
    s.touched.add(b);
  } else if (plan.kind === 'reuse') {
    b = p.group.reusable[plan.k]!;
    p.group.reusable.splice(plan.k, 1);
    s.assign(b, owner, p);
  } else {
    const g = p.group;
    for (let i = 0; i < plan.skip; i++) {
      // Entirely blacked out: kept for reuse once the blackout is lifted.
      const skipped = g.createBlock()!;
      skipped.released = ++s.seq;
      g.reusable.push(skipped);
      s.touched.add(skipped);
    }
    b = g.createBlock()!;
    s.assign(b, owner, p);
  }
  b.pool.take(plan.index);
  b.revision++;
  return [b, plan.index];
}

/** The lowest free, not blacked-out offset of a block. */
function lowestFree(b: Block): number | undefined {
  const pool = b.pool;
  if (pool.isFull()) return undefined;
  const net = b.network;
  let i = pool.firstFreeFrom(0);
  if (net.blackouts.length > 0) {
    while (i !== undefined) {
      const next = net.firstUnblocked(b.start, i);
      if (next === undefined) return undefined;
      if (next === i) break;
      i = pool.firstFreeFrom(next);
    }
  }
  return i;
}

/** Finds an address by name (every family's), or by its IP text when no name matches. */
export function locate(s: State, nameOrIp: string): AddressLocation[] {
  const found = s.locations(nameOrIp);
  if (found.length > 0) return found;
  const a = Addr.tryParse(nameOrIp, BOTH_FAMILIES);
  if (a === undefined) {
    throw notFound(
      'address',
      nameOrIp,
      `No address named '${nameOrIp}' (and it is not an IP address)`,
    );
  }
  const at = s.networkOf(a)?.blockOf(a);
  const name = at?.block.nameAt(at.index);
  if (name !== undefined) return s.locations(name);
  throw notFound('IP', nameOrIp, `No address named or holding IP ${nameOrIp}`);
}

/** Releases a located address; an emptied block goes back to its group's reuse list. */
export function release(s: State, loc: AddressLocation): void {
  const { block, index } = loc;
  block.pool.release(index);
  block.setName(index, undefined);
  block.revision++;
  block.network.revision++;
  s.names(block.network.family).delete(loc.name);
  s.revisions.allocation++;
  s.touched.add(block);
  if (block.pool.isEmpty()) s.unassign(block);
}

export function addressOf(b: Block, name: string): string {
  return b.network.addrText(b, b.indexOf(name));
}

/**
 * Places `name` at exactly `ip` for (owner, host): used to carry allocations across a
 * topology update. Creates the blocks before the one holding `ip` as free blocks.
 */
export function allocateSpecific(
  s: State,
  name: string,
  ip: Addr,
  hostName: string,
  tenant: string,
  segment: string,
): void {
  const owner = `${tenant}:${segment}`;
  const ipText = ip.toString();
  const net = s.networksFor(tenant).find((n) => n.cidr.containsAddr(ip));
  const fail = (msg: string) =>
    new RomanaError('InvalidInput', msg, {
      semantic: true,
      resourceType: 'address',
      resourceId: name,
    });
  if (net === undefined) {
    throw fail(
      `No suitable network found to allocate ${name}: ${ipText} (Host ${hostName}, ${ownerText(owner)})`,
    );
  }
  const p = s.hosts.get(hostName)?.placementIn(net);
  if (p === undefined) {
    throw fail(`Host ${hostName} not found in network ${net.name}, but it holds ${ipText}`);
  }
  const v = ip.value;
  const g = p.group;
  if (v < g.start || v > g.end) {
    throw fail(
      `Cannot allocate IP ${ipText} in group ${g.label} (${g.spec.cidr}) of host ${hostName}`,
    );
  }
  const bo = net.blackoutAt(v);
  if (bo !== undefined) throw fail(`Cannot allocate ${ipText}: blacked out by ${bo.cidr}`);
  const block = blockHolding(s, net, v, name);
  if (block.placement !== null && (block.placement !== p || block.owner !== owner)) {
    throw fail(
      `Cannot allocate IP ${ipText} on host ${hostName}: block belongs to ${block.placement.host.name} (${block.owner === null ? 'free' : ownerText(block.owner)})`,
    );
  }
  const off = v - block.start;
  if (off >= BigInt(block.pool.size)) {
    throw fail(
      `Cannot allocate ${ipText}: past the first ${block.pool.size} addresses of its block`,
    );
  }
  if (block.placement === null) {
    const k = g.reusable.indexOf(block);
    if (k >= 0) g.reusable.splice(k, 1);
    s.assign(block, owner, p);
  }
  const index = Number(off);
  block.pool.take(index);
  block.setName(index, name);
  block.revision++;
  s.names(net.family).set(name, block);
}

/** The block holding `v`, creating it (and, as free blocks, those before it) if needed. */
function blockHolding(s: State, net: Network, v: bigint, name: string): Block {
  const existing = net.blocks.get(net.blockIndex(v));
  if (existing !== undefined) return existing;
  const g = net.leafAt(v)!;
  for (;;) {
    const b = g.createBlock();
    if (b === undefined) {
      throw new RomanaError('InvalidInput', `No more blocks can be allocated in ${net.name}`, {
        semantic: true,
        resourceType: 'address',
        resourceId: name,
      });
    }
    if (v < b.start + net.blockSpan) return b;
    b.released = ++s.seq;
    g.reusable.push(b);
  }
}
