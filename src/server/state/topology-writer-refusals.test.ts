/**
 * Refused topology updates, through the real service over the memory store (milliseconds a
 * case), each with its code and changing nothing: a malformed or impossible document, an update
 * in progress on another replica, a topology that moved under a replica, and a host another
 * replica added between the check and the fence (the update is then undone).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  collectEvents,
  dumpStore,
  eventually,
  PODS_TOPOLOGY,
  withHosts,
} from '../../../test/helpers/service.ts';
import { ControlledStore } from '../../../test/helpers/controlled-store.ts';
import { isRomanaError } from '../../errors.ts';
import type { Op } from '../../store/store.ts';
import { createRomanaService } from './romana-service.ts';

const PODS = PODS_TOPOLOGY;

const show = (op: Op) => (op.type === 'put' ? `put ${op.key}` : `delete ${op.key}`);

describe('a refused topology update', () => {
  async function refusedWith(p: Promise<unknown>, code: string, re: RegExp) {
    const err = await p.then(
      () => assert.fail('not refused'),
      (e: unknown) => e,
    );
    assert.ok(isRomanaError(err), String(err));
    assert.equal(err.code, code);
    assert.match(err.message, re);
    return err;
  }

  it('is answered before anything is written when the document is malformed or impossible', async () => {
    const store = new ControlledStore();
    const svc = await createRomanaService({ store, initialTopology: PODS });
    await svc.addHost({ name: 'h1', ip: '192.168.0.1' });
    const seen = collectEvents(svc);
    const before = await dumpStore(store);
    const n = store.txns.length;
    const bad = await refusedWith(
      svc.updateTopology({ networks: 'x', topologies: 'y' }),
      'InvalidInput',
      /networks/,
    );
    assert.equal(bad.resourceId, 'topology');
    assert.deepEqual(bad.message.split('\n'), [
      'networks: required, a list of networks',
      'topologies: required, a list of topologies',
    ]);
    const clash = withHosts([{ name: 'other', ip: '192.168.0.1' }]);
    await refusedWith(svc.updateTopology(clash), 'InvalidInput', /h1 \(192\.168\.0\.1\).*other/);
    assert.equal(store.txns.length, n, 'no transaction');
    assert.deepEqual(await dumpStore(store), before);
    await svc.allocate({ name: 'p', host: 'h1' });
    await eventually(() => assert.equal(seen.length, 2));
    assert.deepEqual(
      seen.map((e) => e.kind),
      ['blocks', 'addresses'],
      'watchers saw nothing of the refused ones',
    );
    await svc.close();
  });

  it('is refused by a replica while another one updates, and that replica then follows', async () => {
    const store = new ControlledStore();
    const a = await createRomanaService({ store, initialTopology: PODS });
    const b = await createRomanaService({ store: store.inner });
    store.hold = (ops) => ops.some((o) => o.key.startsWith('g/2/'));
    const doc = withHosts([{ name: 'd1', ip: '192.168.1.1' }]);
    const update = a.updateTopology(doc);
    // Held at its first chunk (an update that ends before it fails the case at once).
    await Promise.race([store.held, update.then(() => assert.fail('not held'))]);
    const rev = await store.revision();
    await eventually(async () => {
      const err = await refusedWith(b.updateTopology(PODS), 'Unavailable', /in progress/);
      assert.equal(err.resourceType, 'topology');
    });
    await refusedWith(b.addHost({ name: 'h9', ip: '192.168.0.9' }), 'Unavailable', /in progress/);
    assert.equal(await store.revision(), rev, 'the refused replica wrote nothing');
    store.release();
    await update;
    await eventually(() =>
      assert.deepEqual(b.getTopology().topologies, a.getTopology().topologies),
    );
    assert.equal(b.getHost('d1').ip, '192.168.1.1');
    const wider = structuredClone(PODS);
    wider.networks[0]!['block_mask'] = 28;
    await b.updateTopology(wider);
    await eventually(() => assert.equal(a.getTopology().networks[0]!.block_mask, 28));
    await a.close();
    await b.close();
  });

  it('is a conflict when the topology moved under a replica, which may retry once it caught up', async () => {
    const store = new ControlledStore();
    const a = await createRomanaService({ store, initialTopology: PODS });
    const b = await createRomanaService({ store: store.inner });
    store.pauseWatch = true;
    await b.updateTopology(withHosts([{ name: 'd1', ip: '192.168.1.1' }]));
    const before = await dumpStore(store);
    const err = await refusedWith(
      a.updateTopology(withHosts([{ name: 'd2', ip: '192.168.1.2' }])),
      'Conflict',
      /topology changed while updating it/,
    );
    assert.equal(err.resourceType, 'topology');
    assert.deepEqual(await dumpStore(store), before, 'nothing written');
    store.resumeWatch();
    await eventually(() => assert.equal(a.getHost('d1').ip, '192.168.1.1'));
    await a.updateTopology(withHosts([{ name: 'd2', ip: '192.168.1.2' }]));
    assert.equal(a.getHost('d2').ip, '192.168.1.2');
    await a.close();
    await b.close();
  });

  it('is undone when a host added meanwhile makes it impossible under the fence', async () => {
    const store = new ControlledStore();
    const a = await createRomanaService({ store, initialTopology: PODS });
    const b = await createRomanaService({ store: store.inner });
    store.pauseWatch = true;
    await b.addHost({ name: 'z', ip: '192.168.0.9' });
    const before = await dumpStore(store);
    store.txns.length = 0;
    await refusedWith(
      a.updateTopology(withHosts([{ name: 'w', ip: '192.168.0.9' }])),
      'InvalidInput',
      /host z \(192\.168\.0\.9\) is registered, but the new topology gives its IP to host w/,
    );
    assert.deepEqual(await dumpStore(store), before, 'fence, intent and all undone');
    assert.deepEqual(
      store.txns.map((t) => t.ops.map(show)),
      [
        ['put topology', `put ${store.txns[0]!.ops[1]!.key}`],
        ['put topology', `delete ${store.txns[0]!.ops[1]!.key}`],
      ],
      'the fence, then the undo in one transaction: it wrote nothing else',
    );
    store.resumeWatch();
    // The other replica goes on (this one, see the next case).
    await b.updateTopology(withHosts([{ name: 'w', ip: '192.168.0.10' }]));
    assert.equal(b.getHost('w').ip, '192.168.0.10');
    await a.close();
    await b.close();
  });

  // The undo commits the restored `topology` record through this replica's runner, which
  // records its revision, so the watch's copy of it (on etcd it comes after the transaction's
  // answer; `pauseWatch` makes the memory store do the same) is taken for one already applied.
  // The replica kept the fence it reloaded under and refused every write as "a topology update
  // is in progress", with nothing to lift it (recovery finds no fence in the store); a failed
  // update now reads the store again.
  it('leaves the replica whose update was undone writable again', async () => {
    const store = new ControlledStore();
    const a = await createRomanaService({ store, initialTopology: PODS });
    const b = await createRomanaService({ store: store.inner });
    store.pauseWatch = true;
    await b.addHost({ name: 'z', ip: '192.168.0.9' });
    await refusedWith(
      a.updateTopology(withHosts([{ name: 'w', ip: '192.168.0.9' }])),
      'InvalidInput',
      /gives its IP to host w/,
    );
    store.resumeWatch();
    try {
      await eventually(() => a.addHost({ name: 'y', ip: '192.168.0.11' }).then(() => undefined));
      assert.equal(a.getHost('y').ip, '192.168.0.11');
    } finally {
      await a.close();
      await b.close();
    }
  });
});
