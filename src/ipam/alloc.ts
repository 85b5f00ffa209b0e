/**
 * Allocation and release (reference §2.4–2.6), and the specific allocation a topology update
 * uses to keep every address where it was (§2.9).
 */
import { alreadyExists, invalidInput, noAvailableIp, notFound, RomanaError } from '../errors.ts';
import { Addr } from './addr.ts';
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
 * Allocates an address for `r.name` on `r.host`: the lowest free address of the first block
 * that has one among the owner's blocks on that host, then the group's released blocks in
 * release order, then a new block (reference §2.4).
 */
export function allocate(s: State, r: AllocationRequest): AddressLocation {
  const owner = checkRequest(r);
  const existing = s.addresses.get(r.name);
  if (existing !== undefined) {
    const ip = addressOf(existing, r.name);
    throw alreadyExists('address', r.name, `Address with name ${r.name} already allocated: ${ip}`);
  }
  const tenant = r.tenant ?? '';
  const nets = s.networksFor(tenant);
  if (nets.length === 0) {
    throw notFound('tenant', tenant, `No networks found for tenant ${tenant}.`);
  }
  const host = s.hosts.get(r.host);
  if (host === undefined) {
    throw notFound('host', r.host, `Host ${r.host} not found: add it before allocating on it`);
  }
  for (const net of nets) {
    const p = host.placementIn(net);
    if (p === undefined) continue;
    const found = allocateInGroup(s, p, owner);
    if (found !== undefined) {
      const [block, index] = found;
      block.names[index] = r.name;
      s.addresses.set(r.name, block);
      net.revision++;
      s.revisions.allocation++;
      return { name: r.name, block, index };
    }
  }
  const names = nets.map((n) => n.name).join(', ');
  throw noAvailableIp(
    `No available IP. Host ${r.host} has no free address for ${owner} in network(s) ${names}.`,
  );
}

function allocateInGroup(s: State, p: Placement, owner: string): [Block, number] | undefined {
  for (const b of p.owned.get(owner) ?? []) {
    const i = takeLowest(b);
    if (i !== undefined) {
      s.touched.add(b);
      return [b, i];
    }
  }
  const g = p.group;
  for (let k = 0; k < g.reusable.length; k++) {
    const b = g.reusable[k]!;
    const i = takeLowest(b);
    if (i !== undefined) {
      g.reusable.splice(k, 1);
      s.assign(b, owner, p);
      return [b, i];
    }
  }
  const seq = s.seq;
  const skipped: Block[] = [];
  for (;;) {
    const b = g.createBlock();
    if (b === undefined) {
      dropNewBlocks(s, skipped, seq);
      return undefined;
    }
    const i = takeLowest(b);
    if (i === undefined) {
      // Entirely blacked out: keep it for reuse once the blackout is lifted.
      b.released = ++s.seq;
      g.reusable.push(b);
      s.touched.add(b);
      skipped.push(b);
      continue;
    }
    s.assign(b, owner, p);
    return [b, i];
  }
}

/** Undoes the blacked-out blocks a failed allocation created (they are the group's last). */
function dropNewBlocks(s: State, blocks: Block[], seq: number): void {
  for (const b of blocks.reverse()) {
    const g = b.group;
    g.blocks.pop();
    g.reusable.splice(g.reusable.indexOf(b), 1);
    b.network.blocks.delete(b.offset / b.network.blockSize);
    s.touched.delete(b);
  }
  s.seq = seq;
}

/** Takes the lowest free, not blacked-out address of a block. */
function takeLowest(b: Block): number | undefined {
  const pool = b.pool;
  if (pool.isFull()) return undefined;
  const net = b.network;
  let i = pool.firstFreeFrom(0);
  if (net.blackouts.length > 0) {
    while (i !== undefined) {
      const bo = net.blackoutAt(b.offset + i);
      if (bo === undefined) break;
      const next = bo.end - b.offset + 1;
      i = next >= pool.size ? undefined : pool.firstFreeFrom(next);
    }
  }
  if (i === undefined) return undefined;
  pool.take(i);
  b.revision++;
  return i;
}

/** Finds an address by name, or by its IP text when no name matches. */
export function locate(s: State, nameOrIp: string): AddressLocation {
  const block = s.addresses.get(nameOrIp);
  if (block !== undefined) {
    return { name: nameOrIp, block, index: block.names.indexOf(nameOrIp) };
  }
  const a = Addr.tryParse(nameOrIp);
  if (a === undefined) {
    throw notFound(
      'address',
      nameOrIp,
      `No address named '${nameOrIp}' (and it is not an IP address)`,
    );
  }
  const net = s.networkOf(a);
  const off = net?.offsetOf(a);
  if (net !== undefined && off !== undefined) {
    const b = net.blocks.get(Math.floor(off / net.blockSize));
    const index = off - (b?.offset ?? 0);
    const name = b?.names[index];
    if (b !== undefined && name !== undefined) return { name, block: b, index };
  }
  throw notFound('IP', nameOrIp, `No address named or holding IP ${nameOrIp}`);
}

/** Releases a located address; an emptied block goes back to its group's reuse list. */
export function release(s: State, loc: AddressLocation): void {
  const { block, index } = loc;
  block.pool.release(index);
  block.names[index] = undefined;
  block.revision++;
  block.network.revision++;
  s.addresses.delete(loc.name);
  s.revisions.allocation++;
  s.touched.add(block);
  if (block.pool.isEmpty()) s.unassign(block);
}

export function addressOf(b: Block, name: string): string {
  return b.network.addrText(b.offset + b.names.indexOf(name));
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
      `No suitable network found to allocate ${name}: ${ipText} (Host ${hostName}, tenant ${tenant}, segment ${segment})`,
    );
  }
  const p = s.hosts.get(hostName)?.placementIn(net);
  if (p === undefined) {
    throw fail(`Host ${hostName} not found in network ${net.name}, but it holds ${ipText}`);
  }
  const off = net.offsetOf(ip)!;
  const g = p.group;
  if (off < g.offset || off >= g.offset + g.size) {
    throw fail(
      `Cannot allocate IP ${ipText} in group ${g.label} (${g.spec.cidr}) of host ${hostName}`,
    );
  }
  const bo = net.blackoutAt(off);
  if (bo !== undefined) throw fail(`Cannot allocate ${ipText}: blacked out by ${bo.cidr}`);
  const block = blockHolding(s, net, off, name);
  if (block.placement !== null && (block.placement !== p || block.owner !== owner)) {
    throw fail(
      `Cannot allocate IP ${ipText} on host ${hostName}: block belongs to ${block.placement.host.name} (${block.owner})`,
    );
  }
  if (block.placement === null) {
    const k = g.reusable.indexOf(block);
    if (k >= 0) g.reusable.splice(k, 1);
    s.assign(block, owner, p);
  }
  const index = off - block.offset;
  block.pool.take(index);
  block.names[index] = name;
  block.revision++;
  s.addresses.set(name, block);
}

/** The block holding `off`, creating it (and, as free blocks, those before it) if needed. */
function blockHolding(s: State, net: Network, off: number, name: string): Block {
  const existing = net.blocks.get(Math.floor(off / net.blockSize));
  if (existing !== undefined) return existing;
  const g = net.leafAt(off)!;
  for (;;) {
    const b = g.createBlock();
    if (b === undefined) {
      throw new RomanaError('InvalidInput', `No more blocks can be allocated in ${net.name}`, {
        semantic: true,
        resourceType: 'address',
        resourceId: name,
      });
    }
    if (off < b.offset + net.blockSize) return b;
    b.released = ++s.seq;
    g.reusable.push(b);
  }
}
