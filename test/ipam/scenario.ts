/**
 * The driver of the IPAM property scenarios: run a random operation sequence against the engine
 * and, after every step, check the invariants, the revisions, and the addresses against the
 * model. Each operation is checked against what the reference rules (§2.3–2.9) say must happen,
 * computed from the state's public views before the step; a failed operation must leave
 * `toSnapshot()` unchanged. Topology changes: topology-change.ts.
 */
import assert from 'node:assert/strict';
import { Ipam, type TopologyUpdateRequest } from '../../src/ipam/index.ts';
import { type BlackoutMode, type Op } from './arbitraries.ts';
import { checkInvariants, cidrRange, intToIp, ipToInt, rangeContains } from './invariants.ts';
import {
  type Ctx,
  accepts,
  blackoutRanges,
  expectFailure,
  expectUnchanged,
  hostRef,
  modelView,
  pathTo,
  predictAddHost,
  predictAllocate,
  predictFindHost,
  readNets,
  sameTags,
  sorted,
} from './prediction.ts';
import { runChangeTopology } from './topology-change.ts';

function runOp(ctx: Ctx, op: Op): void {
  switch (op.kind) {
    case 'addHost':
      return runAddHost(ctx, op);
    case 'allocate':
      return runAllocate(ctx, op);
    case 'releaseName': {
      const held = [...ctx.model.keys()];
      const name =
        typeof op.name === 'string' ? op.name : (held[op.name % held.length] ?? 'nobody');
      return runRelease(ctx, name);
    }
    case 'releaseIp':
      return runRelease(ctx, pickIp(ctx, op));
    case 'removeHost':
      return runRemoveHost(ctx, op);
    case 'updateTags':
      return runUpdateTags(ctx, op);
    case 'blackOut':
      return runBlackOut(ctx, blackoutCidr(ctx.ipam, op));
    case 'unBlackOut':
      return runUnBlackOut(ctx, blackoutCidr(ctx.ipam, op));
    case 'repost': {
      const before = modelView(ctx.ipam);
      const result = ctx.ipam.updateTopology(ctx.ipam.getTopology());
      assert.deepEqual(
        result,
        { droppedHosts: [], droppedBlackouts: [] },
        're-posting getTopology()',
      );
      assert.deepEqual(modelView(ctx.ipam), before, 're-posting getTopology() moved addresses');
      return;
    }
    case 'changeTopology':
      return runChangeTopology(ctx, op.change);
    case 'roundTrip':
      ctx.ipam = new Ipam(ctx.ipam.toSnapshot());
      return;
  }
}

function runAddHost(ctx: Ctx, op: Extract<Op, { kind: 'addHost' }>): void {
  const want = predictAddHost(ctx.ipam, op);
  const req = { name: op.host, ip: op.ip, tags: op.tags };
  const what = `addHost(${JSON.stringify(req)})`;
  if (!want.ok) return expectFailure(ctx, what, want.code, () => ctx.ipam.addHost(req));
  const view = ctx.ipam.addHost(req);
  const got = new Map(view.groups.map((g) => [g.network, cidrRange(g.cidr)]));
  assert.deepEqual(got, want.value, `${what}: placed in other groups than the smallest eligible`);
}

function runAllocate(ctx: Ctx, op: Extract<Op, { kind: 'allocate' }>): void {
  const hosts = ctx.ipam.listHosts().hosts;
  const host =
    typeof op.host === 'string' ? op.host : (hosts[op.host % hosts.length]?.name ?? 'ghost');
  const req = { name: op.name, host, tenant: op.tenant, segment: op.segment };
  const want = predictAllocate(ctx.ipam, ctx.model, req);
  const what = `allocate(${JSON.stringify(req)})`;
  if (!want.ok) return expectFailure(ctx, what, want.code, () => ctx.ipam.allocate(req));
  const v = ctx.ipam.allocate(req);
  assert.deepEqual(
    { ip: v.ip, network: v.network, host: v.host, tenant: v.tenant, segment: v.segment },
    { ...want.value, host, tenant: op.tenant, segment: op.segment },
    `${what}: not the address reference §2.4 gives`,
  );
  ctx.model.set(op.name, { ip: v.ip, host, tenant: op.tenant, segment: op.segment });
}

function pickIp(ctx: Ctx, op: Extract<Op, { kind: 'releaseIp' }>): string {
  const held = [...ctx.model.values()];
  if (op.known && held.length > 0) return held[op.pick % held.length]!.ip;
  const nets = ctx.ipam.listNetworks();
  const net = cidrRange(nets[op.net % nets.length]!.cidr);
  return intToIp(net.start + (op.pick % (net.end - net.start + 1)));
}

/** Release by name, or by IP when no name matches (reference §2.5). */
function runRelease(ctx: Ctx, arg: string): void {
  const what = `release(${arg})`;
  const name = ctx.model.has(arg) ? arg : [...ctx.model].find(([, h]) => h.ip === arg)?.[0];
  if (name === undefined) return expectFailure(ctx, what, 'NotFound', () => ctx.ipam.release(arg));
  const held = ctx.model.get(name)!;
  const v = ctx.ipam.release(arg);
  assert.deepEqual(
    { name: v.name, ip: v.ip, host: v.host, tenant: v.tenant, segment: v.segment },
    { name, ...held },
    `${what} released another address`,
  );
  ctx.model.delete(name);
}

function runRemoveHost(ctx: Ctx, op: Extract<Op, { kind: 'removeHost' }>): void {
  const ref = hostRef(op.host, op.how);
  const what = `removeHost(${JSON.stringify(ref)})`;
  const found = predictFindHost(ctx.ipam, ref);
  if (!found.ok) return expectFailure(ctx, what, found.code, () => ctx.ipam.removeHost(ref));
  const mine = [...ctx.model].filter(([, h]) => h.host === found.value.name).map(([n]) => n);
  const r = ctx.ipam.removeHost(ref);
  assert.equal(r.name, found.value.name, what);
  assert.deepEqual(sorted(r.releasedAddresses), sorted(mine), `${what}: released addresses`);
  for (const n of mine) ctx.model.delete(n);
}

function runUpdateTags(ctx: Ctx, op: Extract<Op, { kind: 'updateTags' }>): void {
  const ref = hostRef(op.host, op.how);
  const what = `updateHostTags(${JSON.stringify(ref)}, ${JSON.stringify(op.tags)})`;
  const found = predictFindHost(ctx.ipam, ref);
  if (!found.ok)
    return expectFailure(ctx, what, found.code, () => ctx.ipam.updateHostTags(ref, op.tags));
  const h = found.value;
  if (sameTags(h.tags, op.tags)) {
    return expectUnchanged(ctx, what, () =>
      assert.equal(ctx.ipam.updateHostTags(ref, op.tags), false),
    );
  }
  const nets = readNets(ctx.ipam);
  const fits = [...h.groups].every(([net, g]) => {
    const root = nets.find((n) => n.name === net)!.root;
    return pathTo(root, g).every((n) => accepts(n, op.tags));
  });
  if (!fits)
    return expectFailure(ctx, what, 'InvalidInput', () => ctx.ipam.updateHostTags(ref, op.tags));
  assert.equal(ctx.ipam.updateHostTags(ref, op.tags), true, what);
  assert.deepEqual(ctx.ipam.getHost({ name: h.name }).tags, op.tags, `${what}: tags not replaced`);
}

function blackoutCidr(
  ipam: Ipam,
  op: { mode: BlackoutMode; net: number; a: number; b: number },
): string {
  const nets = ipam.listNetworks();
  const existing = ipam.listBlackouts();
  if (op.mode === 'outside') return '172.16.0.0/24';
  if (op.mode === 'existing' && existing.length > 0) return existing[op.a % existing.length]!.cidr;
  const n = nets[op.net % nets.length]!;
  const r = cidrRange(n.cidr);
  if (op.mode === 'whole' || r.prefix === 32) return n.cidr;
  const prefix =
    op.mode === 'near'
      ? Math.min(32, Math.max(r.prefix + 1, n.block_mask - 1 + (op.a % 4)))
      : r.prefix + 1 + (op.a % (32 - r.prefix));
  const size = 2 ** (32 - prefix);
  return `${intToIp(r.start + (op.b % ((r.end - r.start + 1) / size)) * size)}/${prefix}`;
}

function runBlackOut(ctx: Ctx, cidr: string): void {
  const what = `blackOut(${cidr})`;
  const r = cidrRange(cidr);
  const net = ctx.ipam.listNetworks().find((n) => rangeContains(cidrRange(n.cidr), r));
  if (net === undefined) return expectFailure(ctx, what, 'NotFound', () => ctx.ipam.blackOut(cidr));
  if (net.cidr === cidr)
    return expectFailure(ctx, what, 'InvalidInput', () => ctx.ipam.blackOut(cidr));
  const mine = blackoutRanges(ctx.ipam).filter((b) => b.network === net.id);
  if (mine.some((b) => rangeContains(b, r))) {
    return expectUnchanged(ctx, what, () => assert.equal(ctx.ipam.blackOut(cidr), false, what));
  }
  if (
    [...ctx.model.values()].some((h) =>
      rangeContains(r, { start: ipToInt(h.ip), end: ipToInt(h.ip) }),
    )
  ) {
    return expectFailure(ctx, what, 'Conflict', () => ctx.ipam.blackOut(cidr));
  }
  const others = ctx.ipam.listBlackouts().filter((b) => b.network !== net.id);
  assert.equal(ctx.ipam.blackOut(cidr), true, what);
  const want = [...mine.filter((b) => !rangeContains(r, b)).map((b) => b.cidr), cidr];
  const got = ctx.ipam.listBlackouts();
  assert.deepEqual(
    sorted(got.filter((b) => b.network === net.id).map((b) => b.cidr)),
    sorted(want),
    what,
  );
  assert.deepEqual(
    got.filter((b) => b.network !== net.id),
    others,
    `${what} changed other networks`,
  );
}

function runUnBlackOut(ctx: Ctx, cidr: string): void {
  const what = `unBlackOut(${cidr})`;
  const before = ctx.ipam.listBlackouts();
  if (!before.some((b) => b.cidr === cidr)) {
    return expectFailure(ctx, what, 'NotFound', () => ctx.ipam.unBlackOut(cidr));
  }
  ctx.ipam.unBlackOut(cidr);
  assert.deepEqual(
    ctx.ipam.listBlackouts(),
    before.filter((b) => b.cidr !== cidr),
    what,
  );
}

/** Revisions only grow; the ones an operation is about grow when it succeeds. */
function checkRevisions(
  before: Ipam,
  after: Ipam,
  op: Op,
  model: { before: number; after: number },
) {
  const [a, b] = [before.revisions, after.revisions];
  assert.ok(b.allocation >= a.allocation && b.topology >= a.topology, 'a revision went back');
  const nets = new Map(before.listNetworks().map((n) => [n.id, n.revision]));
  for (const n of after.listNetworks()) {
    assert.ok(n.revision >= (nets.get(n.id) ?? 0), `revision of network ${n.id} went back`);
  }
  if ((op.kind === 'allocate' || op.kind.startsWith('release')) && model.before !== model.after) {
    assert.ok(b.allocation > a.allocation, 'the allocation revision did not grow');
  }
  assert.equal(after.listAllBlocks().revision, b.allocation, 'listAllBlocks().revision');
  assert.equal(after.listHosts().revision, b.topology, 'listHosts().revision');
}

export function runScenario(topology: TopologyUpdateRequest, ops: Op[]): void {
  const ctx: Ctx = { ipam: new Ipam(), model: new Map() };
  ctx.ipam.updateTopology(structuredClone(topology));
  checkInvariants(ctx.ipam);
  ops.forEach((op, step) => {
    try {
      const before = new Ipam(ctx.ipam.toSnapshot());
      const held = ctx.model.size;
      runOp(ctx, op);
      checkRevisions(before, ctx.ipam, op, { before: held, after: ctx.model.size });
      checkInvariants(ctx.ipam);
      assert.deepEqual(modelView(ctx.ipam), ctx.model, 'addresses differ from the model');
    } catch (err) {
      if (err instanceof Error) err.message = `step ${step} ${JSON.stringify(op)}: ${err.message}`;
      throw err;
    }
  });
}
