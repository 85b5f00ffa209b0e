/**
 * Blackouts (reference §2.7): ranges inside a network that allocation skips. A blackout may
 * not cover any allocated address, partially overlapping blocks included.
 */
import { invalidInput, notFound, RomanaError } from '../errors.ts';
import { Cidr } from './addr.ts';
import type { Network } from './model.ts';
import type { State } from './state.ts';

export interface BlackoutView {
  network: string;
  cidr: string;
}

/** Parses a blackout CIDR and finds the network that holds it. */
function locateBlackout(s: State, text: string): { cidr: Cidr; net: Network } {
  if (typeof text !== 'string' || text === '') throw invalidInput('cidr: required');
  const cidr = Cidr.parse(text, 'cidr');
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
  const { start, end } = net.rangeOf(cidr);
  const used = firstAllocated(net, start, end);
  if (used !== undefined) {
    throw new RomanaError(
      'Conflict',
      `Blackout block contains already allocated IPs. ${cidr} holds ${net.addrText(used)}.`,
      { resourceType: 'blackout', resourceId: cidr.toString() },
    );
  }
  net.blackouts = net.blackouts
    .filter((b) => !cidr.contains(b.cidr))
    .concat({ cidr, start, end })
    .sort((a, b) => a.start - b.start);
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

/** Offset of the first allocated address in `[start, end]`, or `undefined`. */
function firstAllocated(net: Network, start: number, end: number): number | undefined {
  const first = Math.floor(start / net.blockSize);
  const last = Math.floor(end / net.blockSize);
  const blocks =
    last - first + 1 <= net.blocks.size
      ? range(first, last).flatMap((i) => net.blocks.get(i) ?? [])
      : [...net.blocks.values()].filter((b) => b.offset + net.blockSize > start && b.offset <= end);
  let found: number | undefined;
  for (const b of blocks) {
    const lo = Math.max(start - b.offset, 0);
    const hi = Math.min(end - b.offset, net.blockSize - 1);
    const i = b.pool.firstAllocatedIn(lo, hi);
    if (i !== undefined && (found === undefined || b.offset + i < found)) found = b.offset + i;
  }
  return found;
}

function range(a: number, b: number): number[] {
  const out: number[] = [];
  for (let i = a; i <= b; i++) out.push(i);
  return out;
}
