/**
 * The address queue at its edges, over the memory store (milliseconds): an allocation or a
 * release whose transaction keeps losing to other writers is given up with a Conflict naming
 * it, and the store and every read are left as they were.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rejectsWith, serviceWithHosts } from '../../../test/helpers/service.ts';
import { MemoryStore } from '../../store/memory.ts';
import type { Compare, Op, TxnResult } from '../../store/store.ts';

/** A memory store whose address writes, while `racing`, always lose their compares. */
class RacyStore extends MemoryStore {
  racing = false;
  override async txn(compares: Compare[], ops: Op[]): Promise<TxnResult> {
    if (this.racing && ops.some((o) => o.key.startsWith('addresses/'))) {
      return { succeeded: false, revision: await this.revision() };
    }
    return super.txn(compares, ops);
  }
}

describe('an address operation that keeps racing other writers', () => {
  it('is given up after every attempt, naming what it was, and leaves nothing behind', async () => {
    const store = new RacyStore();
    const svc = await serviceWithHosts(store);
    await svc.allocate({ name: 'kept', host: 'h1' });
    const before = JSON.stringify(svc.listAddresses());
    const rev = await store.revision();
    store.racing = true;
    await rejectsWith(
      svc.allocate({ name: 'new-pod', host: 'h1' }),
      'Conflict',
      /^gave up after 30 attempts: allocating new-pod kept racing other writers$/,
    );
    await rejectsWith(
      svc.release('kept'),
      'Conflict',
      /^gave up after 30 attempts: releasing kept kept racing other writers$/,
    );
    assert.equal(await store.revision(), rev);
    assert.equal(JSON.stringify(svc.listAddresses()), before);
    store.racing = false;
    const a = await svc.allocate({ name: 'new-pod', host: 'h1' });
    assert.equal(a.name, 'new-pod');
    await svc.close();
  });
});

/** A memory store where another writer takes the name `dup` just before this one commits it. */
class TakenStore extends MemoryStore {
  taken: object | undefined;
  override async txn(compares: Compare[], ops: Op[]): Promise<TxnResult> {
    if (this.taken !== undefined && ops.some((o) => o.key === 'addresses/dup')) {
      const value = JSON.stringify(this.taken);
      this.taken = undefined;
      await super.txn([], [{ type: 'put', key: 'addresses/dup', value }]);
    }
    return super.txn(compares, ops);
  }
}

describe('an address name another writer takes first', () => {
  it('is refused as AlreadyExists, naming every IP the other writer holds', async () => {
    const store = new TakenStore();
    const svc = await serviceWithHosts(store);
    const other = 'pods';
    store.taken = {
      ip: '10.0.0.77',
      host: 'h2',
      network: other,
      ips: [
        { ip: '10.0.0.77', network: other },
        { ip: '10.0.0.78', network: other },
      ],
    };
    await rejectsWith(
      svc.allocate({ name: 'dup', host: 'h1' }),
      'AlreadyExists',
      /^Address with name dup already allocated: 10\.0\.0\.77, 10\.0\.0\.78$/,
    );
    await svc.close();
  });
});

describe('an allocation on a host being removed', () => {
  it('is refused as a Conflict naming the host', async () => {
    const store = new MemoryStore();
    const svc = await serviceWithHosts(store);
    const host = JSON.parse((await store.get('hosts/h2'))!.value) as object;
    const r = await store.txn(
      [],
      [{ type: 'put', key: 'hosts/h2', value: JSON.stringify({ ...host, removing: true }) }],
    );
    // Once the service has seen the fence.
    for (let i = 0; i < 200 && svc.listHosts().revision < r.revision; i++) {
      await new Promise((res) => setTimeout(res, 5));
    }
    assert.ok(svc.listHosts().revision >= r.revision);
    await rejectsWith(
      svc.allocate({ name: 'p', host: 'h2' }),
      'Conflict',
      /^Host h2 is being removed$/,
    );
    assert.deepEqual(svc.listAddresses(), []);
    await svc.close();
  });
});
