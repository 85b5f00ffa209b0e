/**
 * The address queue at its edges, over the memory store (milliseconds): an allocation or a
 * release whose transaction keeps losing to other writers is given up with a Conflict naming
 * it, and the store and every read are left as they were; how operations are combined into
 * transactions (at most 24 each, eight in flight, never two of one host, a lost one retried
 * alone). More in address-queue-edges.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isRomanaError } from '../../errors.ts';
import { rejectsWith, serviceWithHosts } from '../../../test/helpers/service.ts';
import { MemoryStore } from '../../store/memory.ts';
import { MAX_IN_FLIGHT } from './address-queue.ts';
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
    const err = await svc.allocate({ name: 'dup', host: 'h1' }).catch((e: unknown) => e);
    assert.ok(isRomanaError(err, 'AlreadyExists'));
    assert.equal(err.message, 'Address with name dup already allocated: 10.0.0.77, 10.0.0.78');
    assert.deepEqual([err.resourceType, err.resourceId], ['address', 'dup']);
    // Written by a writer of one family: no `ips`.
    await store.txn([], [{ type: 'delete', key: 'addresses/dup' }]);
    store.taken = { ip: '10.0.0.79', host: 'h2', network: other };
    await rejectsWith(
      svc.allocate({ name: 'dup', host: 'h1' }),
      'AlreadyExists',
      /^Address with name dup already allocated: 10\.0\.0\.79$/,
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
    await assert.rejects(
      svc.allocate({ name: 'p', host: 'h2' }),
      (e: unknown) =>
        isRomanaError(e, 'Conflict') && e.resourceType === 'host' && e.resourceId === 'h2',
    );
    assert.deepEqual(svc.listAddresses(), []);
    await svc.close();
  });
});

/**
 * A memory store that records every transaction writing addresses: the names it writes (their
 * host is the name's prefix, `h1-3`) and how many such transactions were in flight at once. Each
 * waits a few milliseconds, so that transactions started together are seen together.
 */
class RecordingStore extends MemoryStore {
  readonly txns: string[][] = [];
  inFlight = 0;
  maxInFlight = 0;
  /** Hosts of the transactions in flight; `sameHost` once two held one host at once. */
  readonly busy: string[] = [];
  sameHost = false;
  /** Makes the next transaction of more than one address lose its compares, once. */
  loseCombined = false;
  /** Runs while the transaction that loses is in flight. */
  duringLoss: () => void = () => undefined;
  override async txn(compares: Compare[], ops: Op[]): Promise<TxnResult> {
    const names = ops.filter((o) => o.key.startsWith('addresses/')).map((o) => o.key.slice(10));
    if (names.length === 0) return super.txn(compares, ops);
    this.txns.push(names);
    const hosts = [...new Set(names.map((n) => n.split('-')[0]!))];
    if (hosts.some((h) => this.busy.includes(h))) this.sameHost = true;
    this.busy.push(...hosts);
    this.maxInFlight = Math.max(this.maxInFlight, ++this.inFlight);
    try {
      await new Promise((res) => setTimeout(res, 5));
      if (this.loseCombined && names.length > 1) {
        this.loseCombined = false;
        this.duringLoss();
        return { succeeded: false, revision: await this.revision() };
      }
      return await super.txn(compares, ops);
    } finally {
      this.inFlight--;
      for (const h of hosts) this.busy.splice(this.busy.indexOf(h), 1);
    }
  }
}

describe('address operations combined into transactions', () => {
  it('writes at most 24 of them in one transaction, in the order asked', async () => {
    const store = new RecordingStore();
    const svc = await serviceWithHosts(store);
    const names = Array.from({ length: 30 }, (_, i) => `h1-${i}`);
    const got = await Promise.all(names.map((name) => svc.allocate({ name, host: 'h1' })));
    assert.deepEqual(
      got.map((a) => a.name),
      names,
    );
    // The first goes alone at once; the others wait for it (same host), then 24 and the rest.
    assert.deepEqual(store.txns, [names.slice(0, 1), names.slice(1, 25), names.slice(25)]);
    assert.equal(store.sameHost, false);
    store.txns.length = 0;
    // Once the last batch has freed its host.
    await new Promise((res) => setImmediate(res));
    await Promise.all(names.map((n) => svc.release(n)));
    assert.deepEqual(store.txns, [names.slice(0, 1), names.slice(1, 25), names.slice(25)]);
    assert.deepEqual(svc.listAddresses(), []);
    await svc.close();
  });

  /** A service over `store` with hosts h1 to h6. */
  async function sixHosts(store: RecordingStore) {
    const svc = await serviceWithHosts(store);
    const hosts = ['h1', 'h2', 'h3', 'h4', 'h5', 'h6'];
    for (const [i, h] of hosts.slice(2).entries()) {
      await svc.addHost({ name: h, ip: `192.168.0.${i + 3}` });
    }
    return { svc, hosts };
  }

  it('starts a second transaction beside one in flight only with a full batch queued', async () => {
    const store = new RecordingStore();
    const { svc, hosts } = await sixHosts(store);
    const reqs = hosts.flatMap((h) => [0, 1, 2].map((i) => ({ name: `${h}-${i}`, host: h })));
    const got = await Promise.all(reqs.map((r) => svc.allocate(r)));
    assert.deepEqual(
      got.map((a) => [a.name, a.host]),
      reqs.map((r) => [r.name, r.host]),
    );
    // 17 waiting are fewer than a batch: they wait for the first, then go together.
    assert.equal(store.maxInFlight, 1);
    assert.deepEqual(store.txns, [['h1-0'], reqs.slice(1).map((r) => r.name)]);
    await svc.close();
  });

  it(`keeps ${MAX_IN_FLIGHT} full transactions in flight at most`, async () => {
    const store = new RecordingStore();
    const svc = await serviceWithHosts(store);
    const hosts = Array.from({ length: MAX_IN_FLIGHT + 3 }, (_, i) => `h${i + 1}`);
    for (const [i, h] of hosts.slice(2).entries()) {
      await svc.addHost({ name: h, ip: `192.168.0.${i + 3}` });
    }
    // Host by host, a full batch each: each transaction holds one host, so only the cap bounds
    // how many are in flight.
    const reqs = hosts.flatMap((h) =>
      Array.from({ length: 24 }, (_, i) => ({ name: `${h}-${i}`, host: h })),
    );
    const got = await Promise.all(reqs.map((r) => svc.allocate(r)));
    assert.equal(got.length, reqs.length);
    assert.equal(store.maxInFlight, MAX_IN_FLIGHT);
    assert.equal(store.sameHost, false);
    assert.deepEqual(store.txns.flat().sort(), reqs.map((r) => r.name).sort());
    await svc.close();
  });

  it('keeps several transactions of different hosts in flight, never two of one host', async () => {
    const store = new RecordingStore();
    const { svc, hosts } = await sixHosts(store);
    // h1-0 first, then ten per host, round the hosts.
    const reqs = [{ name: 'h1-0', host: 'h1' }];
    for (let i = 1; i <= 10; i++) for (const h of hosts) reqs.push({ name: `${h}-${i}`, host: h });
    const got = await Promise.all(reqs.map((r) => svc.allocate(r)));
    assert.deepEqual(
      got.map((a) => [a.name, a.host]),
      reqs.map((r) => [r.name, r.host]),
    );
    assert.ok(store.maxInFlight >= 2 && store.maxInFlight <= MAX_IN_FLIGHT, `${store.maxInFlight}`);
    assert.equal(store.sameHost, false);
    // With 24 queued beside h1-0, a batch took those of the 24 whose host was free.
    const first24 = reqs.slice(1, 25).map((r) => r.name);
    assert.deepEqual(store.txns.slice(0, 2), [
      ['h1-0'],
      first24.filter((n) => !n.startsWith('h1-')),
    ]);
    assert.deepEqual(store.txns.flat().sort(), reqs.map((r) => r.name).sort());
    await svc.close();
  });

  it('retries the jobs of a combined transaction that lost one at a time, in order', async () => {
    const store = new RecordingStore();
    const svc = await serviceWithHosts(store);
    const later: Array<Promise<unknown>> = [];
    store.loseCombined = true;
    // Asked while the combined transaction is losing: combined again, after the retries.
    store.duringLoss = () => {
      for (const name of ['h1-e', 'h1-f']) later.push(svc.allocate({ name, host: 'h1' }));
    };
    const first = ['h1-a', 'h1-b', 'h1-c', 'h1-d'];
    const got = await Promise.all(first.map((name) => svc.allocate({ name, host: 'h1' })));
    await Promise.all(later);
    assert.deepEqual(
      got.map((a) => a.name),
      first,
    );
    assert.deepEqual(store.txns, [
      ['h1-a'],
      ['h1-b', 'h1-c', 'h1-d'],
      ['h1-b'],
      ['h1-c'],
      ['h1-d'],
      ['h1-e', 'h1-f'],
    ]);
    assert.deepEqual(
      svc
        .listAddresses()
        .map((a) => a.name)
        .sort(),
      [...first, 'h1-e', 'h1-f'],
    );
    await svc.close();
  });
});
