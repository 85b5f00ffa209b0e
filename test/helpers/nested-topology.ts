/**
 * Random nested topologies for property tests (route planning, BGP announcements): groups
 * within groups, several levels deep, hosts spread over them. A group's shape holds 1 to 3
 * hosts or 1 to 3 groups (a list holds only one kind); a group with a single child group of
 * several hosts is the case a planner counting direct children instead of distinct hosts gets
 * wrong.
 */
import fc from 'fast-check';
import type { GroupOrHost } from '../../src/ipam/index.ts';

export type Shape = { hosts: number } | { kids: Shape[] };

export function shapeArb(depth: number): fc.Arbitrary<Shape> {
  const leaf = fc.integer({ min: 1, max: 3 }).map((hosts): Shape => ({ hosts }));
  if (depth === 0) return leaf;
  const group = fc
    .array(shapeArb(depth - 1), { minLength: 1, maxLength: 3 })
    .map((kids): Shape => ({ kids }));
  return fc.oneof({ weight: 1, arbitrary: leaf }, { weight: 2, arbitrary: group });
}

/** Up to three top-level groups of up to three levels. */
export const rootsArb = fc.array(shapeArb(3), { minLength: 1, maxLength: 3 });

/** Addresses to allocate: [host pick, tenant]; tenants make several blocks per host. */
export const allocationsArb = (maxLength: number) =>
  fc.array(fc.tuple(fc.nat(), fc.constantFrom('t1', 't2', 't3')), { maxLength });

/**
 * The topology map of `roots`: hosts `h0`, `h1`… with `ip` 192.168.0.<n+1> (and, with `ip6`,
 * fd00:1::<n+1>), groups `g0`, `g1`…, named in walking order.
 */
export function toMap(
  roots: Shape[],
  opts: { ip6?: boolean } = {},
): { map: GroupOrHost[]; hosts: string[] } {
  const hosts: string[] = [];
  let groups = 0;
  const host = (): GroupOrHost => {
    const name = `h${hosts.length}`;
    hosts.push(name);
    const n = hosts.length;
    return {
      name,
      ip: `192.168.0.${n}`,
      ...(opts.ip6 ? { ip6: `fd00:1::${n.toString(16)}` } : {}),
    };
  };
  const build = (s: Shape): GroupOrHost => {
    const name = `g${groups++}`;
    if ('hosts' in s) return { name, groups: Array.from({ length: s.hosts }, host) };
    return { name, groups: s.kids.map(build) };
  };
  return { map: roots.map(build), hosts };
}
