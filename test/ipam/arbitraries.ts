/** Generators of random topologies and operation sequences for the IPAM property tests. */
import fc from 'fast-check';
import { type GroupOrHost, type TopologyUpdateRequest } from '../../src/ipam/index.ts';

export type Tags = Record<string, string>;

// ------------------------------------------------------------------------------------------
// Random topologies

export interface GenGroup {
  assignment: Tags | null;
  dummy: boolean;
  children: GenGroup[] | null;
}

export interface GenNet {
  tenants: string[] | null;
  mask: number;
  /** Blocks per leaf group = 2^extraBits. */
  extraBits: number;
  groups: GenGroup[];
  /** The map is a list of hosts (the declared ones) instead of groups. */
  hostList: boolean;
  /** [declared host index, leaf pick]. */
  declared: Array<[number, number]>;
}

/** Hosts the tests use: `d*` may also be written in a topology. */
export const HOSTS = ['h0', 'h1', 'h2', 'h3', 'd0', 'd1', 'd2'];
/** Address names; one looks like an IP, to check that release looks names up first. */
export const NAMES = ['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7', 'p8', '10.0.0.1'];
export const TENANTS = ['', 't1', 't2', 't3'];
export const SEGMENTS = ['', 's1', 's2'];

export function hostIp(h: string): string {
  return h.startsWith('d') ? `192.168.1.${h.slice(1)}` : `192.168.0.${h.slice(1)}`;
}

export const assignmentArb: fc.Arbitrary<Tags | null> = fc.oneof(
  { weight: 6, arbitrary: fc.constant(null) },
  { weight: 3, arbitrary: fc.constantFrom<Tags>({ rack: 'r0' }, { rack: 'r1' }) },
  { weight: 1, arbitrary: fc.constant<Tags>({ zone: 'z0' }) },
);

export const tagsArb: fc.Arbitrary<Tags | null> = fc.constantFrom<Tags | null>(
  null,
  {},
  { rack: 'r0' },
  { rack: 'r1' },
  { rack: 'r0', zone: 'z0' },
  { zone: 'z0' },
);

export function groupsArb(levels: number): fc.Arbitrary<GenGroup[]> {
  const children: fc.Arbitrary<GenGroup[] | null> =
    levels <= 1 ? fc.constant(null) : fc.option(groupsArb(levels - 1), { nil: null });
  const group = fc.record({
    assignment: assignmentArb,
    dummy: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
    children,
  });
  return fc.array(group, { minLength: 1, maxLength: 5 });
}

export const netArb: fc.Arbitrary<GenNet> = fc.record({
  tenants: fc.constantFrom<string[] | null>(null, null, ['t1'], ['t2'], ['t1', 't2']),
  mask: fc.integer({ min: 28, max: 32 }),
  extraBits: fc.integer({ min: 0, max: 3 }),
  groups: fc.oneof(groupsArb(1), groupsArb(2), groupsArb(3)),
  hostList: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
  declared: fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.nat()), { maxLength: 3 }),
});

export const topologyArb: fc.Arbitrary<TopologyUpdateRequest> = fc
  .array(netArb, { minLength: 1, maxLength: 3 })
  .map(buildDoc);

export function nextPow2(k: number): number {
  let p = 1;
  while (p < k) p *= 2;
  return p;
}

/** Prefix bits a list of groups (and their descendants) takes. */
export function bitsOf(list: GenGroup[]): number {
  const below = Math.max(0, ...list.map((g) => (g.children === null ? 0 : bitsOf(g.children))));
  return Math.log2(nextPow2(list.length)) + below;
}

export function buildDoc(nets: GenNet[]): TopologyUpdateRequest {
  const doc: TopologyUpdateRequest = { networks: [], topologies: [] };
  nets.forEach((n, i) => {
    const name = `n${i}`;
    const only = n.groups[0]!;
    const depth = n.hostList
      ? 0
      : n.groups.length === 1
        ? only.children === null
          ? 0
          : bitsOf(only.children)
        : bitsOf(n.groups);
    const prefix = n.mask - depth - n.extraBits;
    const def: TopologyUpdateRequest['networks'][number] = {
      name,
      cidr: `10.${i}.0.0/${prefix}`,
      block_mask: n.mask,
    };
    if (n.tenants !== null) def.tenants = [...n.tenants];
    doc.networks.push(def);
    const declared = [...new Map(n.declared.map(([k, pick]) => [k, pick])).entries()];
    let map: GroupOrHost[];
    if (n.hostList) {
      map = declared.map(([k]) => ({ name: `d${k}`, ip: hostIp(`d${k}`) }));
    } else {
      const leaves: GroupOrHost[] = [];
      map = n.groups.map((g, j) => entryOf(g, `${name}.${j}`, false, leaves));
      for (const [k, pick] of declared) {
        const leaf = leaves[pick % Math.max(1, leaves.length)];
        if (leaf === undefined) continue;
        (leaf.groups ??= []).push({ name: `d${k}`, ip: hostIp(`d${k}`) });
      }
    }
    doc.topologies.push({ networks: [name], map });
  });
  return doc;
}

/** A group entry; collects the leaves a declared host may be written into. */
export function entryOf(
  g: GenGroup,
  name: string,
  underDummy: boolean,
  leaves: GroupOrHost[],
): GroupOrHost {
  const e: GroupOrHost = { name };
  if (g.assignment !== null) e.assignment = { ...g.assignment };
  if (g.dummy) e.dummy = true;
  if (g.children !== null) {
    e.groups = g.children.map((c, j) => entryOf(c, `${name}.${j}`, underDummy || g.dummy, leaves));
  } else if (!underDummy && !g.dummy) {
    leaves.push(e);
  }
  return e;
}

// ------------------------------------------------------------------------------------------
// Operations

export type TopologyChange =
  | { type: 'tenants'; net: number; tenants: string[] | null }
  | { type: 'mask'; net: number; delta: number }
  | { type: 'append'; net: number; pick: number; assignment: Tags | null }
  | { type: 'dropHost'; pick: number }
  | { type: 'moveHost'; pick: number; to: number }
  | { type: 'fresh'; doc: TopologyUpdateRequest };

export type HostHow = 'name' | 'ip' | 'both' | 'mismatch';
export type BlackoutMode = 'near' | 'any' | 'whole' | 'outside' | 'existing';

export type Op =
  | { kind: 'addHost'; host: string; ip: string; tags: Tags | null }
  /** `host`/`name` as a number: pick a registered host / a held name by index. */
  | { kind: 'allocate'; name: string; host: string | number; tenant: string; segment: string }
  | { kind: 'releaseName'; name: string | number }
  | { kind: 'releaseIp'; known: boolean; net: number; pick: number }
  | { kind: 'removeHost'; host: string; how: HostHow }
  | { kind: 'updateTags'; host: string; how: HostHow; tags: Tags | null }
  | { kind: 'blackOut'; mode: BlackoutMode; net: number; a: number; b: number }
  | { kind: 'unBlackOut'; mode: BlackoutMode; net: number; a: number; b: number }
  | { kind: 'repost' }
  | { kind: 'changeTopology'; change: TopologyChange }
  | { kind: 'roundTrip' };

export const hostArb = fc.constantFrom(...HOSTS);
export const howArb = fc.constantFrom<HostHow>('name', 'name', 'ip', 'both', 'mismatch');

export const addHostArb: fc.Arbitrary<Op> = fc
  .record({
    host: hostArb,
    ip: fc.option(fc.constantFrom(...HOSTS.map(hostIp)), { nil: undefined, freq: 6 }),
    tags: tagsArb,
  })
  .map(({ host, ip, tags }) => ({ kind: 'addHost', host, ip: ip ?? hostIp(host), tags }));

export const changeArb: fc.Arbitrary<TopologyChange> = fc.oneof(
  fc
    .record({
      net: fc.nat(),
      tenants: fc.constantFrom<string[] | null>(null, ['t1'], ['t2'], ['t1', 't2'], ['t3']),
    })
    .map((r): TopologyChange => ({ type: 'tenants', ...r })),
  fc
    .record({ net: fc.nat(), delta: fc.constantFrom(-2, -1, 1, 2) })
    .map((r): TopologyChange => ({ type: 'mask', ...r })),
  fc
    .record({ net: fc.nat(), pick: fc.nat(), assignment: assignmentArb })
    .map((r): TopologyChange => ({ type: 'append', ...r })),
  fc.nat().map((pick): TopologyChange => ({ type: 'dropHost', pick })),
  fc
    .record({ pick: fc.nat(), to: fc.nat() })
    .map((r): TopologyChange => ({ type: 'moveHost', ...r })),
  topologyArb.map((doc): TopologyChange => ({ type: 'fresh', doc })),
);

export const blackoutArb = fc.record({
  mode: fc.constantFrom<BlackoutMode>(
    'near',
    'near',
    'near',
    'any',
    'whole',
    'outside',
    'existing',
  ),
  net: fc.nat(),
  a: fc.nat(),
  b: fc.nat(),
});

export const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: addHostArb },
  {
    weight: 10,
    arbitrary: fc
      .record({
        name: fc.constantFrom(...NAMES),
        host: fc.oneof(
          { weight: 8, arbitrary: fc.nat() },
          { weight: 1, arbitrary: fc.constantFrom(...HOSTS, 'ghost') },
        ),
        tenant: fc.constantFrom(...TENANTS),
        segment: fc.constantFrom(...SEGMENTS),
      })
      .map((r): Op => ({ kind: 'allocate', ...r })),
  },
  {
    weight: 3,
    arbitrary: fc
      .oneof(fc.nat(), fc.constantFrom(...NAMES, 'nobody'))
      .map((name): Op => ({ kind: 'releaseName', name })),
  },
  {
    weight: 2,
    arbitrary: fc
      .record({ known: fc.boolean(), net: fc.nat(), pick: fc.nat() })
      .map((r): Op => ({ kind: 'releaseIp', ...r })),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({ host: hostArb, how: howArb })
      .map((r): Op => ({ kind: 'removeHost', ...r })),
  },
  {
    weight: 2,
    arbitrary: fc
      .record({ host: hostArb, how: howArb, tags: tagsArb })
      .map((r): Op => ({ kind: 'updateTags', ...r })),
  },
  { weight: 2, arbitrary: blackoutArb.map((r): Op => ({ kind: 'blackOut', ...r })) },
  { weight: 1, arbitrary: blackoutArb.map((r): Op => ({ kind: 'unBlackOut', ...r })) },
  { weight: 1, arbitrary: fc.constant<Op>({ kind: 'repost' }) },
  { weight: 2, arbitrary: changeArb.map((change): Op => ({ kind: 'changeTopology', change })) },
  { weight: 1, arbitrary: fc.constant<Op>({ kind: 'roundTrip' }) },
);

export const scenarioArb = fc.record({
  topology: topologyArb,
  ops: fc
    .tuple(
      fc.uniqueArray(addHostArb, {
        minLength: 1,
        maxLength: 5,
        selector: (op) => (op.kind === 'addHost' ? op.host : ''),
      }),
      fc.array(opArb, { maxLength: 40, size: 'max' }),
    )
    .map(([hosts, rest]) => [...hosts, ...rest]),
});
