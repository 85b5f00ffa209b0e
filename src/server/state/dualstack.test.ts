/**
 * Dual-stack in the replicated state, over the real service and the memory store: a store
 * written by the version before IPv6 loads unchanged and an IPv4-only allocation still writes
 * exactly what that version wrote; a dual-stack pair is one transaction (both block keys and the
 * address key); a second replica and a restart see both addresses; a release frees both.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryStore } from '../../store/memory.ts';
import type { Compare, Op, Store, TxnResult } from '../../store/store.ts';
import { rejectsWith } from '../../../test/helpers/service.ts';
import { createRomanaService } from './romana-service.ts';

/**
 * Every key and value the version before IPv6 (commit 60566a2) stored after: the topology
 * below, host h1 (tags rack=r1), pod-a and pod-b allocated for t:s, pod-a released, blackout
 * 10.0.255.0/24. Dumped from that version's own service over a memory store.
 */
const PREVIOUS_VERSION_STORE: Array<[string, string]> = [
  ['addresses/pod-b', '{"ip":"10.0.0.1","host":"h1","network":"pods"}'],
  [
    'g/1/blocks/pods/10.0.0.0_29',
    '{"owner":"t:s","host":"h1","acquired":2,"released":0,"names":[[1,"pod-b"]]}',
  ],
  ['g/1/networks/pods', '{"blackouts":["10.0.255.0/24"]}'],
  ['g/1/placements/h1', '{"groups":{"pods":"0"}}'],
  ['hostips/192.168.0.1', 'h1'],
  [
    'hosts/h1',
    '{"name":"h1","ip":"192.168.0.1","agent_port":9604,"tags":{"rack":"r1"},"k8s_info":null,"seq":1}',
  ],
  [
    'topology',
    '{"doc":{"networks":[{"name":"pods","cidr":"10.0.0.0/16","block_mask":29}],"topologies":[{"networks":["pods"],"map":[{"name":"r1"},{"name":"r2"}]}]},"generation":1}',
  ],
];

const V4_TOPOLOGY = {
  networks: [{ name: 'pods', cidr: '10.0.0.0/16', block_mask: 29 }],
  topologies: [{ networks: ['pods'], map: [{ name: 'r1' }, { name: 'r2' }] }],
};

const DUAL_TOPOLOGY = {
  networks: [
    { name: 'pods', cidr: '10.0.0.0/16', block_mask: 29 },
    { name: 'pods6', cidr: 'fd00:10::/48' },
  ],
  topologies: [{ networks: ['pods', 'pods6'], map: [{ name: 'r1' }, { name: 'r2' }] }],
};

async function dump(store: Store): Promise<Array<[string, string]>> {
  return (await store.range('')).kvs.map((kv) => [kv.key, kv.value]);
}

/** A memory store that records every transaction's ops. */
class RecordingStore extends MemoryStore {
  readonly txns: Op[][] = [];
  override async txn(compares: Compare[], ops: Op[]): Promise<TxnResult> {
    this.txns.push(ops);
    return super.txn(compares, ops);
  }
}

describe('dual-stack state', () => {
  it('loads a store written before IPv6 unchanged, and writes IPv4 exactly as it did', async () => {
    const old = new MemoryStore();
    await old.txn(
      [],
      PREVIOUS_VERSION_STORE.map(([key, value]): Op => ({ type: 'put', key, value })),
    );
    const svc = await createRomanaService({ store: old });
    assert.deepEqual(svc.listAddresses(), [
      {
        name: 'pod-b',
        ip: '10.0.0.1',
        host: 'h1',
        tenant: 't',
        segment: 's',
        network: 'pods',
        block: '10.0.0.0/29',
        ips: [{ ip: '10.0.0.1', network: 'pods', block: '10.0.0.0/29' }],
      },
    ]);
    assert.deepEqual(svc.listHosts().hosts, [
      { name: 'h1', ip: '192.168.0.1', agent_port: 9604, tags: { rack: 'r1' }, k8s_info: null },
    ]);
    assert.deepEqual(svc.listBlackouts(), [{ network: 'pods', cidr: '10.0.255.0/24' }]);
    assert.equal(
      (await svc.allocate({ name: 'pod-c', host: 'h1', tenant: 't', segment: 's' })).ip,
      '10.0.0.0',
    );
    await svc.close();

    // The same operations by this version write the very same keys and values.
    const fresh = new MemoryStore();
    const now = await createRomanaService({ store: fresh, initialTopology: V4_TOPOLOGY });
    await now.addHost({ name: 'h1', ip: '192.168.0.1', tags: { rack: 'r1' } });
    await now.allocate({ name: 'pod-a', host: 'h1', tenant: 't', segment: 's' });
    await now.allocate({ name: 'pod-b', host: 'h1', tenant: 't', segment: 's' });
    await now.release('pod-a');
    await now.addBlackout('10.0.255.0/24');
    assert.deepEqual(await dump(fresh), PREVIOUS_VERSION_STORE);
    await now.close();
  });

  it('commits a dual-stack pair in one transaction; a restart and a replica see both', async () => {
    const store = new RecordingStore();
    const a = await createRomanaService({ store, initialTopology: DUAL_TOPOLOGY });
    await a.addHost({ name: 'h1', ip: '192.168.0.1', ip6: 'fd00:ff::1' });
    const b = await createRomanaService({ store });
    store.txns.length = 0;
    const v = await a.allocate({ name: 'pod-a', host: 'h1', tenant: 't' });
    assert.deepEqual(
      v.ips.map((x) => x.ip),
      ['10.0.0.0', 'fd00:10::'],
    );
    assert.equal(store.txns.length, 1, 'one transaction');
    assert.deepEqual(store.txns[0]!.map((op) => `${op.type} ${op.key}`).sort(), [
      'put addresses/pod-a',
      'put g/1/blocks/pods/10.0.0.0_29',
      'put g/1/blocks/pods6/fd00:10::_120',
    ]);
    const stored = JSON.parse((await store.get('addresses/pod-a'))!.value) as unknown;
    assert.deepEqual(stored, {
      ip: '10.0.0.0',
      host: 'h1',
      network: 'pods',
      ips: [
        { ip: '10.0.0.0', network: 'pods' },
        { ip: 'fd00:10::', network: 'pods6' },
      ],
    });
    // The replica follows; its view is the same, found by either IP.
    for (let i = 0; i < 200 && b.listAddresses().length === 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.deepEqual(b.getAddress('fd00:10::'), v);
    await rejectsWith(
      b.allocate({ name: 'pod-a', host: 'h1' }),
      'AlreadyExists',
      /10\.0\.0\.0, fd00:10::/,
    );
    const again = await createRomanaService({ store });
    assert.deepEqual(again.listAddresses(), [v]);
    assert.deepEqual(again.getHost('h1').ip6, 'fd00:ff::1');
    // A release through the replica frees both, in one transaction.
    store.txns.length = 0;
    await b.release('fd00:10::');
    assert.equal(store.txns.length, 1);
    assert.equal(await store.get('addresses/pod-a'), undefined);
    const fresh = await createRomanaService({ store });
    assert.deepEqual(fresh.listAddresses(), []);
    assert.deepEqual(
      fresh.listBlocks().blocks.map((x) => [x.cidr, x.allocated_ip_count]),
      [
        ['10.0.0.0/29', 0],
        ['fd00:10::/120', 0],
      ],
    );
    for (const s of [a, b, again, fresh]) await s.close();
  });

  it('a watch of addresses carries both families in put events, one delete per name', async () => {
    const svc = await createRomanaService({
      store: new MemoryStore(),
      initialTopology: DUAL_TOPOLOGY,
    });
    await svc.addHost({ name: 'h1', ip: '192.168.0.1' });
    const events: Array<{ type: string; id: string; value: unknown }> = [];
    const w = svc.watch(
      ['addresses'],
      svc.revision() + 1,
      (e) => events.push(e),
      (err) => {
        throw err;
      },
    );
    const v = await svc.allocate({ name: 'p1', host: 'h1' });
    await svc.release('p1');
    for (let i = 0; i < 200 && events.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    w.close();
    assert.deepEqual(
      events.map((e) => [e.type, e.id, e.value]),
      [
        ['put', 'p1', v],
        ['delete', 'p1', null],
      ],
    );
    assert.equal(v.ips.length, 2);
    await svc.close();
  });

  it('a topology update that adds an IPv6 network and gives a host its ip6 persists both', async () => {
    const store = new MemoryStore();
    const svc = await createRomanaService({ store, initialTopology: V4_TOPOLOGY });
    await svc.addHost({ name: 'h1', ip: '192.168.0.1' });
    const old = await svc.allocate({ name: 'old', host: 'h1' });
    const doc = structuredClone(DUAL_TOPOLOGY) as unknown as {
      topologies: Array<{ map: Array<Record<string, unknown>> }>;
    };
    doc.topologies[0]!.map[0]!['groups'] = [{ name: 'h1', ip: '192.168.0.1', ip6: 'fd00:ff::1' }];
    await svc.updateTopology(doc);
    assert.equal(svc.getHost('h1').ip6, 'fd00:ff::1');
    const pair = await svc.allocate({ name: 'new', host: 'h1' });
    assert.deepEqual(
      pair.ips.map((x) => x.ip),
      ['10.0.0.1', 'fd00:10::'],
    );
    const again = await createRomanaService({ store });
    assert.equal(again.getHost('h1').ip6, 'fd00:ff::1');
    assert.deepEqual(again.getAddress('old'), old, 'an IPv4 address stays IPv4-only');
    assert.deepEqual(again.getAddress('new'), pair);
    await svc.close();
    await again.close();
  });

  it('a forced host removal frees both families and lists each name once', async () => {
    const store = new MemoryStore();
    const svc = await createRomanaService({ store, initialTopology: DUAL_TOPOLOGY });
    await svc.addHost({ name: 'h1', ip: '192.168.0.1' });
    await svc.allocate({ name: 'p1', host: 'h1' });
    await svc.allocate({ name: 'p2', host: 'h1' });
    const removed = await svc.removeHost('h1', { force: true });
    assert.deepEqual([...removed.releasedAddresses].sort(), ['p1', 'p2']);
    assert.deepEqual(removed.releasedBlocks, ['10.0.0.0/29', 'fd00:10::/120']);
    assert.deepEqual((await store.range('addresses/')).kvs, []);
    const after = await createRomanaService({ store });
    assert.deepEqual(after.listAddresses(), []);
    await svc.close();
    await after.close();
  });
});
