/**
 * The `changeTopology` step of the IPAM property scenarios: derive a changed topology document
 * from the engine's current one (or take a fresh one), post it, and check what the engine kept,
 * dropped and declared against the state before the step.
 */
import assert from 'node:assert/strict';
import { RomanaError } from '../../src/errors.ts';
import { type GroupOrHost, type Ipam, type TopologyUpdateRequest } from '../../src/ipam/index.ts';
import { type TopologyChange } from './arbitraries.ts';
import { cidrRange, rangeContains } from './invariants.ts';
import { type Ctx, blackoutRanges, readHosts, sorted } from './prediction.ts';

/** Lists of group entries (not host lists) in a map, the map itself included. */
function groupLists(map: GroupOrHost[]): GroupOrHost[][] {
  const out: GroupOrHost[][] = [];
  const visit = (list: GroupOrHost[]) => {
    if (list.length === 0 || list[0]!.ip !== undefined) return;
    out.push(list);
    for (const e of list) visit(e.groups ?? []);
  };
  visit(map);
  return out;
}

/** Every list holding a host entry, with the entry's index and its topology. */
function hostSlots(
  doc: TopologyUpdateRequest,
): Array<{ list: GroupOrHost[]; i: number; t: number }> {
  const out: Array<{ list: GroupOrHost[]; i: number; t: number }> = [];
  doc.topologies.forEach((topo, t) => {
    const visit = (list: GroupOrHost[]) =>
      list.forEach((e, i) => {
        if (e.ip !== undefined) out.push({ list, i, t });
        else visit(e.groups ?? []);
      });
    visit(topo.map);
  });
  return out;
}

/** Groups that may hold hosts (no sub-groups, not dummy) in a map. */
function leafEntries(map: GroupOrHost[]): GroupOrHost[] {
  const out: GroupOrHost[] = [];
  const visit = (list: GroupOrHost[]) => {
    for (const e of list) {
      if (e.ip !== undefined || e.dummy === true) continue;
      const g = e.groups ?? [];
      if (g.length === 0 || g[0]!.ip !== undefined) out.push(e);
      else visit(g);
    }
  };
  visit(map);
  return out;
}

function changedDoc(ipam: Ipam, change: TopologyChange): TopologyUpdateRequest {
  if (change.type === 'fresh') return structuredClone(change.doc);
  const doc = structuredClone(ipam.getTopology());
  const net = doc.networks[('net' in change ? change.net : 0) % doc.networks.length]!;
  const topo = doc.topologies.find((t) => t.networks.includes(net.name))!;
  switch (change.type) {
    case 'tenants':
      if (change.tenants === null) delete net.tenants;
      else net.tenants = [...change.tenants];
      break;
    case 'mask':
      net.block_mask = (net.block_mask ?? 29) + change.delta;
      break;
    case 'append': {
      const lists = groupLists(topo.map);
      const list = lists[change.pick % Math.max(1, lists.length)] ?? topo.map;
      const e: GroupOrHost = { name: `new${list.length}` };
      if (change.assignment !== null) e.assignment = { ...change.assignment };
      list.push(e);
      break;
    }
    case 'dropHost':
    case 'moveHost': {
      const slots = hostSlots(doc);
      const slot = slots[change.pick % Math.max(1, slots.length)];
      if (slot === undefined) break;
      const [entry] = slot.list.splice(slot.i, 1);
      if (change.type === 'dropHost' || entry === undefined) break;
      const leaves = leafEntries(doc.topologies[slot.t]!.map);
      const to = leaves[change.to % Math.max(1, leaves.length)];
      if (to !== undefined) (to.groups ??= []).push(entry);
      break;
    }
  }
  return doc;
}

function declaredHosts(doc: TopologyUpdateRequest): Set<string> {
  return new Set(hostSlots(doc).map(({ list, i }) => list[i]!.name ?? ''));
}

export function runChangeTopology(ctx: Ctx, change: TopologyChange): void {
  const doc = changedDoc(ctx.ipam, change);
  const what = `updateTopology(${change.type})`;
  const before = ctx.ipam.toSnapshot();
  const hostsBefore = readHosts(ctx.ipam);
  const blackoutsBefore = ctx.ipam.listBlackouts();
  let result;
  try {
    result = ctx.ipam.updateTopology(structuredClone(doc));
  } catch (err) {
    assert.ok(err instanceof RomanaError, `${what} threw a non-Romana error: ${String(err)}`);
    assert.equal(err.code, 'InvalidInput', `${what}: ${err.message}`);
    assert.deepEqual(
      ctx.ipam.toSnapshot(),
      before,
      `${what} failed (${err.message}) but changed the state`,
    );
    return;
  }
  // Addresses: the per-step comparison with the model checks they did not move.
  const holding = new Set([...ctx.model.values()].map((h) => h.host));
  const declared = declaredHosts(doc);
  for (const d of result.droppedHosts) {
    assert.ok(!holding.has(d), `${what} dropped host ${d}, which holds addresses`);
    assert.ok(!declared.has(d), `${what} dropped host ${d}, which the document declares`);
  }
  const want = new Set([
    ...hostsBefore.map((h) => h.name).filter((h) => !result.droppedHosts.includes(h)),
    ...declared,
  ]);
  assert.deepEqual(sorted(readHosts(ctx.ipam).map((h) => h.name)), sorted(want), `${what}: hosts`);
  const after = blackoutRanges(ctx.ipam);
  for (const b of blackoutsBefore) {
    const r = cidrRange(b.cidr);
    const kept = after.some((x) => rangeContains(x, r));
    assert.ok(kept || result.droppedBlackouts.includes(b.cidr), `${what} lost blackout ${b.cidr}`);
  }
  for (const x of after) {
    assert.ok(
      blackoutsBefore.some((b) => b.cidr === x.cidr),
      `${what} made up blackout ${x.cidr}`,
    );
  }
}
