/**
 * Topology updates through the real service over the memory store (milliseconds a case): the
 * transactions an update commits (fence with its intent, the next generation in chunks of at
 * most 100 keys, the switch, the clean-up), what lands in the store (block names by offset in
 * both families, blocks and names in address order, the keys of hosts the document adds, drops
 * or gives an IPv6 address) and the events watchers get. Refusals: topology-writer-refusals;
 * failures and recovery: topology-writer-recovery.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  collectEvents,
  eventually,
  PODS_TOPOLOGY,
  type TopologyDoc,
  withHosts,
} from '../../../test/helpers/service.ts';
import { ControlledStore, type Txn } from '../../../test/helpers/controlled-store.ts';
import { Addr, BOTH_FAMILIES, Cidr } from '../../net/addr.ts';
import type { Op } from '../../store/store.ts';
import { createRomanaService } from './romana-service.ts';
type Doc = TopologyDoc;
const PODS = PODS_TOPOLOGY;

const show = (op: Op) => (op.type === 'put' ? `put ${op.key}` : `delete ${op.key}`);
const puts = (t: Txn) => t.ops.filter((o) => o.type === 'put');
const valueOf = (t: Txn, key: string): unknown => {
  const op = t.ops.find((o) => o.key === key);
  assert.ok(op?.type === 'put', `${key} is written`);
  return JSON.parse(op.value);
};

describe('a topology update, step by step', () => {
  it('writes the first topology as fence and intent, one chunk, and a switch that ends it', async () => {
    const store = new ControlledStore();
    const svc = await createRomanaService({ store });
    const seen = collectEvents(svc);
    const t0 = Date.now();
    const doc = withHosts([{ name: 'd1', ip: '192.168.1.1' }]);
    assert.deepEqual(await svc.updateTopology(doc), { droppedHosts: [], droppedBlackouts: [] });
    const [fence, chunk, flip, ...rest] = store.txns;
    assert.deepEqual(rest, [], 'three transactions');
    const opKey = fence!.ops[1]!.key;
    const id = opKey.slice('ops/'.length);
    assert.deepEqual(fence!.ops.map(show), ['put topology', `put ${opKey}`]);
    assert.deepEqual(fence!.compares, [
      { key: 'topology', modRevision: 0 },
      { key: opKey, modRevision: 0 },
    ]);
    const fenced = valueOf(fence!, 'topology') as { updating: { since: number } };
    const since = fenced.updating.since;
    assert.ok(since >= t0 && since <= Date.now(), 'since is the time it began');
    assert.deepEqual(fenced, {
      doc: { networks: [], topologies: [] },
      generation: 0,
      updating: { to: 1, since, op: id },
    });
    const intent = valueOf(fence!, opKey) as { owner: string };
    assert.notEqual(intent.owner, id, 'the owner is a token of its own');
    const base = { kind: 'topology', owner: intent.owner, since, from: 0, to: 1, base: null };
    assert.deepEqual(intent, { ...base, phase: 'writing', added: [], dropped: [] });
    assert.deepEqual(chunk!.ops.map(show), [
      'put g/1/networks/pods',
      'put g/1/placements/d1',
      'put hosts/d1',
      'put hostips/192.168.1.1',
      `put ${opKey}`,
    ]);
    assert.deepEqual(valueOf(chunk!, 'g/1/networks/pods'), { blackouts: [] });
    assert.deepEqual(valueOf(chunk!, 'g/1/placements/d1'), { groups: { pods: '0' } });
    assert.deepEqual(valueOf(chunk!, 'hosts/d1'), {
      name: 'd1',
      ip: '192.168.1.1',
      agent_port: 9604,
      tags: null,
      k8s_info: null,
      seq: 1,
    });
    assert.equal((chunk!.ops[3] as { value: string }).value, 'd1');
    const added = [{ name: 'd1', ip: '192.168.1.1' }];
    assert.deepEqual(valueOf(chunk!, opKey), { ...base, phase: 'writing', added, dropped: [] });
    assert.deepEqual(flip!.ops.map(show), ['put topology', `delete ${opKey}`]);
    assert.deepEqual(valueOf(flip!, 'topology'), { doc, generation: 1 });
    assert.deepEqual(
      (await store.range('ops/')).kvs.map((kv) => kv.key),
      [],
    );
    await eventually(() => {
      assert.deepEqual(seen.at(-1), { ...seen.at(-1)!, kind: 'hosts', type: 'put', id: 'd1' });
      // One topology event, the real one: not the empty placeholder the fence held first.
      const topologies = seen.filter((e) => e.kind === 'topology');
      assert.equal(topologies.length, 1);
      assert.deepEqual((topologies[0]!.value as Doc).topologies[0]!.map[0]!['groups'], [
        { name: 'd1', ip: '192.168.1.1' },
      ]);
    });
    await svc.close();
  });

  it('moves to the next generation: the switch marks the intent, then the old one goes', async () => {
    const store = new ControlledStore();
    const svc = await createRomanaService({ store, initialTopology: PODS });
    await svc.addHost({ name: 'h1', ip: '192.168.0.1' });
    await svc.addHost({ name: 'h2', ip: '192.168.0.2' });
    for (let i = 0; i < 12; i++) await svc.allocate({ name: `p${i}`, host: `h${(i % 2) + 1}` });
    for (const n of ['p0', 'p3', 'p6']) await svc.release(n);
    const old = (await store.range('g/1/')).kvs.map((kv) => kv.key);
    const before = (await store.get('topology'))!.value;
    const addresses = svc.listAddresses();
    const seen = collectEvents(svc);
    store.txns.length = 0;
    const doc = structuredClone(PODS);
    doc.networks[0]!['block_mask'] = 28;
    await svc.updateTopology(doc);
    const [fence, chunk, flip, clean, end, ...rest] = store.txns;
    assert.deepEqual(rest, []);
    const opKey = fence!.ops[1]!.key;
    const intent = valueOf(fence!, opKey) as Record<string, unknown>;
    assert.deepEqual([intent['from'], intent['to']], [1, 2]);
    assert.deepEqual(intent['base'], JSON.parse(before), 'the record before the fence');
    assert.ok(puts(chunk!).every((o) => o.key.startsWith('g/2/') || o.key === opKey));
    assert.deepEqual(flip!.ops.map(show), ['put topology', `put ${opKey}`]);
    assert.deepEqual(valueOf(flip!, 'topology'), { doc, generation: 2 });
    assert.deepEqual(valueOf(flip!, opKey), { ...intent, phase: 'switched' });
    assert.deepEqual(clean!.ops.map(show), [...old.map((k) => `delete ${k}`), `put ${opKey}`]);
    assert.deepEqual(end!.ops.map(show), [`delete ${opKey}`]);
    assert.deepEqual((await store.range('g/1/')).kvs, [], 'the old generation is gone');
    // Each block of generation 2 lists its names by offset from its start, in order.
    const expected = new Map<string, Array<[number, string]>>();
    for (const a of svc.listAddresses()) {
      const block = Cidr.parse(a.block, 'block', BOTH_FAMILIES);
      const off = Number(Addr.parse(a.ip, 'ip', BOTH_FAMILIES).value - block.start);
      const key = `g/2/blocks/pods/${a.block.replace('/', '_')}`;
      expected.set(key, [...(expected.get(key) ?? []), [off, a.name]]);
    }
    for (const list of expected.values()) list.sort((x, y) => x[0] - y[0]);
    const stored = (await store.range('g/2/blocks/')).kvs.map((kv) => [
      kv.key,
      (JSON.parse(kv.value) as { names: Array<[number, string]> }).names,
    ]);
    assert.deepEqual(stored, [...expected].sort());
    const ips = (list: typeof addresses) => list.map((a) => `${a.name} ${a.ip}`).sort();
    assert.deepEqual(ips(svc.listAddresses()), ips(addresses), 'addresses stay where they were');
    await eventually(() => {
      assert.ok(seen.some((e) => e.kind === 'topology' && e.type === 'put'));
      assert.ok(seen.some((e) => e.kind === 'blocks' && e.type === 'delete'));
      assert.ok(seen.some((e) => e.kind === 'blocks' && e.id.endsWith('/28')));
    });
    await svc.close();
  });

  it('writes a large update in chunks of at most 100 keys, and deletes the old one likewise', async () => {
    const store = new ControlledStore();
    const svc = await createRomanaService({ store, initialTopology: PODS });
    const many = Array.from({ length: 133 }, (_, i) => ({ name: `d${i}`, ip: `192.168.2.${i}` }));
    store.txns.length = 0;
    await svc.updateTopology(withHosts(many));
    const chunks = store.txns.slice(1, -3);
    assert.equal(chunks.length, 4, '400 keys: four chunks, none empty');
    const opKey = store.txns[0]!.ops[1]!.key;
    const intents = chunks.map((t) => valueOf(t, opKey) as { added: unknown[] });
    for (const [i, t] of chunks.entries()) {
      assert.equal(t.ops.length, 101, 'each chunk: its keys and the intent');
      assert.deepEqual(intents[i], intents[0], 'the added hosts are recorded by the first');
    }
    assert.equal(intents[0]!.added.length, 133);
    const written = chunks.flatMap((t) => t.ops.map((o) => o.key)).filter((k) => k !== opKey);
    assert.equal(new Set(written).size, 400);
    for (const h of many) {
      assert.ok(written.includes(`hosts/${h.name}`) && written.includes(`hostips/${h.ip}`));
    }
    const g2 = (await store.range('g/2/')).kvs.length;
    store.txns.length = 0;
    await svc.updateTopology(withHosts(many, { ...PODS, networks: [{ ...PODS.networks[0]! }] }));
    const deletes = store.txns.filter((t) => t.ops.some((o) => o.type === 'delete'));
    assert.deepEqual(
      deletes.map((t) => t.ops.filter((o) => o.type === 'delete').length),
      [100, g2 - 100, 1],
      'the old generation in chunks of 100, then the intent',
    );
    assert.deepEqual((await store.range('g/2/')).kvs, []);
    await svc.close();
  });
});

describe('hosts across a topology update', () => {
  it('drops the hosts that fit no group, deleting their keys once switched', async () => {
    const store = new ControlledStore();
    const racks = (...r: string[]): Doc => ({
      networks: PODS.networks,
      topologies: [
        { networks: ['pods'], map: r.map((rack) => ({ name: rack, assignment: { rack } })) },
      ],
    });
    const svc = await createRomanaService({ store, initialTopology: racks('1', '2') });
    await svc.addHost({ name: 'y', ip: '192.168.0.1', tags: { rack: '1' } });
    await svc.addHost({ name: 'z', ip: '192.168.0.2', tags: { rack: '2' } });
    const seen = collectEvents(svc);
    store.txns.length = 0;
    assert.deepEqual(await svc.updateTopology(racks('1')), {
      droppedHosts: ['z'],
      droppedBlackouts: [],
    });
    const opKey = store.txns[0]!.ops[1]!.key;
    assert.deepEqual((valueOf(store.txns[1]!, opKey) as { dropped: unknown }).dropped, [
      { name: 'z', ip: '192.168.0.2' },
    ]);
    const clean = store.txns.at(-2)!.ops.map(show);
    assert.ok(clean.includes('delete hosts/z') && clean.includes('delete hostips/192.168.0.2'));
    assert.equal(await store.get('hosts/z'), undefined);
    assert.equal(await store.get('hostips/192.168.0.2'), undefined);
    assert.equal((await store.get('hostips/192.168.0.1'))?.value, 'y');
    assert.deepEqual(
      svc.listHosts().hosts.map((h) => h.name),
      ['y'],
    );
    await eventually(() =>
      assert.ok(seen.some((e) => `${e.kind} ${e.type} ${e.id}` === 'hosts delete z')),
    );
    // A host added back later takes the dropped one's IP.
    await svc.addHost({ name: 'z2', ip: '192.168.0.2', tags: { rack: '1' } });
    assert.equal((await store.get('hostips/192.168.0.2'))?.value, 'z2');
    await svc.close();
  });

  it('rewrites the host key of a host the document gives a new ip6, keeping all else, and only that', async () => {
    const store = new ControlledStore();
    const dual: Doc = {
      networks: [...PODS.networks, { name: 'pods6', cidr: 'fd00:10::/48' }],
      topologies: [{ networks: ['pods', 'pods6'], map: [{ name: 'r1' }, { name: 'r2' }] }],
    };
    const svc = await createRomanaService({ store, initialTopology: dual });
    await svc.addHost({ name: 'h1', ip: '192.168.0.1', tags: { rack: 'a' }, agent_port: 9700 });
    await svc.addHost({ name: 'h2', ip: '192.168.0.2' });
    const h1 = JSON.parse((await store.get('hosts/h1'))!.value) as Record<string, unknown>;
    store.txns.length = 0;
    const doc = withHosts([{ name: 'h1', ip: '192.168.0.1', ip6: 'fd00:ff::1' }], dual);
    await svc.updateTopology(doc);
    const hostPuts = store.txns.flatMap((t) => puts(t).filter((o) => o.key.startsWith('host')));
    assert.deepEqual(hostPuts.map(show), ['put hosts/h1'], 'neither h2 nor an IP key');
    assert.deepEqual(JSON.parse((await store.get('hosts/h1'))!.value), {
      ...h1,
      ip6: 'fd00:ff::1',
    });
    assert.equal(svc.getHost('h1').ip6, 'fd00:ff::1');
    // The same ip6 again: the host key is not written.
    store.txns.length = 0;
    await svc.updateTopology(doc);
    assert.deepEqual(
      store.txns.flatMap((t) => puts(t).filter((o) => o.key.startsWith('host'))),
      [],
    );
    await svc.close();
  });

  it('keeps the names of IPv4 and IPv6 blocks that start at the same number apart', async () => {
    const store = new ControlledStore();
    const doc: Doc = {
      networks: [
        { name: 'pods', cidr: '10.0.0.0/16', block_mask: 29 },
        { name: 'pods6', cidr: '::a00:0/112', block_mask: 124 },
      ],
      topologies: [{ networks: ['pods', 'pods6'], map: [{ name: 'r1' }] }],
    };
    const svc = await createRomanaService({ store, initialTopology: doc });
    await svc.addHost({ name: 'h1', ip: '192.168.0.1' });
    for (let i = 0; i < 11; i++) await svc.allocate({ name: `p${i}`, host: 'h1' });
    await svc.release('p1');
    const next = structuredClone(doc);
    next.topologies[0]!.map.push({ name: 'r2' });
    await svc.updateTopology(next);
    const names = async (key: string) =>
      (JSON.parse((await store.get(key))!.value) as { names: unknown }).names;
    assert.deepEqual(await names('g/2/blocks/pods/10.0.0.0_29'), [
      [0, 'p0'],
      [2, 'p2'],
      [3, 'p3'],
      [4, 'p4'],
      [5, 'p5'],
      [6, 'p6'],
      [7, 'p7'],
    ]);
    assert.deepEqual(await names('g/2/blocks/pods/10.0.0.8_29'), [
      [0, 'p8'],
      [1, 'p9'],
      [2, 'p10'],
    ]);
    assert.deepEqual(await names('g/2/blocks/pods6/::a00:0_124'), [
      [0, 'p0'],
      [2, 'p2'],
      [3, 'p3'],
      [4, 'p4'],
      [5, 'p5'],
      [6, 'p6'],
      [7, 'p7'],
      [8, 'p8'],
      [9, 'p9'],
      [10, 'p10'],
    ]);
    const again = await createRomanaService({ store: store.inner });
    assert.deepEqual(again.listAddresses(), svc.listAddresses());
    await svc.close();
    await again.close();
  });

  it('lists blocks and names in address order, whatever order the engine holds them in', async () => {
    const store = new ControlledStore();
    // Blocks of network 'hi' come first in the engine; the store's key order puts block
    // 10.0.0.16/29 before 10.0.0.8/29, so a reload holds their names out of order.
    const doc: Doc = {
      networks: [
        { name: 'hi', cidr: '10.1.0.0/16', block_mask: 29, tenants: ['t1'] },
        { name: 'lo', cidr: '10.0.0.0/16', block_mask: 29, tenants: ['t2'] },
      ],
      topologies: [{ networks: ['hi', 'lo'], map: [{ name: 'r1' }] }],
    };
    const svc = await createRomanaService({ store, initialTopology: doc });
    await svc.addHost({ name: 'h1', ip: '192.168.0.1' });
    for (let i = 0; i < 17; i++) await svc.allocate({ name: `a${i}`, host: 'h1', tenant: 't2' });
    for (let i = 0; i < 2; i++) await svc.allocate({ name: `b${i}`, host: 'h1', tenant: 't1' });
    const next = structuredClone(doc);
    next.networks[1]!['block_mask'] = 27;
    await svc.updateTopology(next);
    const blocks = (await store.range('g/2/blocks/')).kvs.map((kv) => [
      kv.key,
      (JSON.parse(kv.value) as { names: Array<[number, string]> }).names,
    ]);
    assert.deepEqual(blocks, [
      [
        'g/2/blocks/hi/10.1.0.0_29',
        [
          [0, 'b0'],
          [1, 'b1'],
        ],
      ],
      ['g/2/blocks/lo/10.0.0.0_27', Array.from({ length: 17 }, (_, i) => [i, `a${i}`])],
    ]);
    await svc.close();
  });
});
