/**
 * Blackouts (reference §2.7): ranges inside a network that allocation skips. A blackout may
 * not cover any allocated address, partially overlapping blocks included.
 */
import { invalidInput, notFound, RomanaError } from '../errors.ts';
import { BOTH_FAMILIES, Cidr } from './addr.ts';
import type { Block, Network } from './model.ts';
import type { State } from './state.ts';

export interface BlackoutView {
  network: string;
  cidr: string;
}

/** Parses a blackout CIDR and finds the network that holds it. */
function locateBlackout(s: State, text: string): { cidr: Cidr; net: Network } {
  if (typeof text !== 'string' || text === '') throw invalidInput('cidr: required');
  const cidr = Cidr.parse(text, 'cidr', BOTH_FAMILIES);
  const net = s.networks.find((n) => n.cidr.contains(cidr));
  if (net === undefined) {
    throw notFound('network', text, `No network found for ${cidr}`);
  }
  return { cidr, net };
}

/** Adds a blackout; returns false when an existing one already covers it. */
export function blackOut(s: State, text: string): boolean {
  const { cidr, net } = locateBlackout(s, text);
  if (cidr.equals(net.cidr)) {
    throw invalidInput(`Cannot black out the entire network (${cidr} vs ${net.cidr})`, {
      semantic: true,
    });
  }
  if (net.blackouts.some((b) => b.cidr.contains(cidr))) return false;
  const { start, end } = cidr;
  const used = firstAllocated(net, start, end);
  if (used !== undefined) {
    throw new RomanaError(
      'Conflict',
      `Blackout block contains already allocated IPs. ${cidr} holds ${net.addrText(used[0], used[1])}.`,
      { resourceType: 'blackout', resourceId: cidr.toString() },
    );
  }
  net.blackouts = net.blackouts
    .filter((b) => !cidr.contains(b.cidr))
    .concat({ cidr, start, end })
    .sort(byStart);
  net.revision++;
  return true;
}

/** Removes a blackout given exactly as it was added. */
export function unBlackOut(s: State, text: string): void {
  const { cidr, net } = locateBlackout(s, text);
  const i = net.blackouts.findIndex((b) => b.cidr.equals(cidr));
  if (i < 0) {
    const list = s.networks.flatMap((n) => n.blackouts.map((b) => b.cidr.toString()));
    throw notFound(
      'blackout',
      cidr.toString(),
      `No such CIDR ${cidr} found in the blackout list: [${list.join(' ')}]`,
    );
  }
  net.blackouts.splice(i, 1);
  net.revision++;
}

export function listBlackouts(s: State): BlackoutView[] {
  return s.networks.flatMap((n) =>
    n.blackouts.map((b) => ({ network: n.name, cidr: b.cidr.toString() })),
  );
}

/** Orders blackouts by their first address. */
export function byStart(a: { start: bigint }, b: { start: bigint }): number {
  return a.start < b.start ? -1 : a.start > b.start ? 1 : 0;
}

/** The lowest allocated address in `[start, end]`, as its block and offset, or `undefined`. */
function firstAllocated(net: Network, start: bigint, end: bigint): [Block, number] | undefined {
  let found: [Block, number] | undefined;
  const last = BigInt(net.blockSize - 1);
  for (const b of net.blocks.values()) {
    if (b.start > end || b.start + last < start) continue;
    const lo = start > b.start ? Number(start - b.start) : 0;
    const hi = end - b.start < last ? Number(end - b.start) : net.blockSize - 1;
    const i = b.pool.firstAllocatedIn(lo, hi);
    if (
      i !== undefined &&
      (found === undefined || b.start + BigInt(i) < found[0].start + BigInt(found[1]))
    ) {
      found = [b, i];
    }
  }
  return found;
}
