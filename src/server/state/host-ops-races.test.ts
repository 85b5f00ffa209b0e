/**
 * Host removals (and host writes) while other replicas write between their steps, over one
 * memory store (milliseconds): replica `b` removes a host through a view of the store that runs
 * another replica's write right before one of its transactions; the removal is then refused
 * with the code that says so and finished by the next removal, no address of another host is
 * lost, and a write that lands between steps is kept. Also: a replica whose store watch is
 * behind publishes its own removal and patch to its watchers, an abandoned removal of a host
 * not placed in this generation is finished, and a store that fails the removal and then the
 * reload leaves the replica refusing writes until it could reload.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { laggingView } from '../../../test/helpers/lagging-store.ts';
import { PODS_TOPOLOGY, rejectsWith, serviceWithHosts } from '../../../test/helpers/service.ts';
import { isRomanaError } from '../../errors.ts';
import { MemoryStore } from '../../store/memory.ts';
import type { Compare, Op, Store, TxnResult } from '../../store/store.ts';
import type { RomanaService, WatchEvent } from './service.ts';
import { createRomanaService } from './romana-service.ts';
import { GENERATIONS, operationKey, placementKey } from './keys.ts';

/** No sweeper at work during a case: only the calls of the case settle an abandoned removal. */
const QUIET = { operationTiming: { heartbeatMs: 60_000 } };

/**
 * The memory store as replica `b` sees it: `before` runs once, right before the first
 * transaction whose writes it matches (another replica's write between two steps);
 * `failTxn` makes matching transactions throw; `failRange` makes reading everything throw.
 */
function hookedView(mem: MemoryStore) {
  const view = {
    before: undefined as { when: (ops: Op[]) => boolean; run: () => Promise<void> } | undefined,
    failTxn: undefined as ((ops: Op[]) => boolean) | undefined,
    failRange: false,
    store: undefined as unknown as Store,
  };
  view.store = new Proxy(mem, {
    get(target, p) {
      if (p === 'txn') {
        return async (compares: Compare[], ops: Op[]): Promise<TxnResult> => {
          const hook = view.before;
          if (hook !== undefined && hook.when(ops)) {
            view.before = undefined;
            await hook.run();
          }
          if (view.failTxn?.(ops)) throw new Error('disk gone');
          return target.txn(compares, ops);
        };
      }
      if (p === 'range') {
        return (prefix: string) => {
          if (view.failRange) return Promise.reject(new Error('disk gone'));
          return target.range(prefix);
        };
      }
      const v = Reflect.get(target, p, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return view;
}

const writes = (prefix: string) => (ops: Op[]) => ops.some((o) => o.key.startsWith(prefix));

/** Replica `a` on the store itself, `b` through a hooked view; h1 holds p1, p2; h2 holds p3. */
async function replicas() {
  const mem = new MemoryStore();
  const a = await createRomanaService({ store: mem, initialTopology: PODS_TOPOLOGY, ...QUIET });
  await a.addHost({ name: 'h1', ip: '192.168.0.1' });
  await a.addHost({ name: 'h2', ip: '192.168.0.2' });
  const p1 = await a.allocate({ name: 'p1', host: 'h1' });
  await a.allocate({ name: 'p2', host: 'h1' });
  const p3 = await a.allocate({ name: 'p3', host: 'h2' });
  const view = hookedView(mem);
  const b = await createRomanaService({ store: view.store, ...QUIET });
  const close = async () => {
    await a.close();
    await b.close();
  };
  return { mem, a, b, view, p1, p3, close };
}

async function until(what: string, cond: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.fail(`never saw ${what}`);
}

/** What the store holds of h1 once its removal finished: nothing; of h2: all of it. */
/** The next removal of h1 by `b` found it gone, and `b` holds only p3, at `p3ip`. */
async function finishedByNextRemoval(mem: MemoryStore, b: RomanaService, p3ip: string) {
  await rejectsWith(b.removeHost('h1', { force: true }), 'NotFound', /h1/);
  await assertH1Gone(mem);
  assert.deepEqual(
    b.listAddresses().map((x) => [x.name, x.ip]),
    [['p3', p3ip]],
  );
}

async function assertH1Gone(mem: MemoryStore): Promise<void> {
  for (const k of ['hosts/h1', 'hostips/192.168.0.1', 'addresses/p1', 'addresses/p2']) {
    assert.equal(await mem.get(k), undefined, k);
  }
  assert.deepEqual((await mem.range('ops/')).kvs, []);
  assert.deepEqual(
    (await mem.range(GENERATIONS)).kvs.filter((kv) => kv.key.endsWith('/placements/h1')),
    [],
  );
  assert.notEqual(await mem.get('hosts/h2'), undefined);
  assert.notEqual(await mem.get('addresses/p3'), undefined);
}

describe('removing a host while another replica writes between its steps', () => {
  it('refuses an allocation on the fenced host on the other replica, then finishes', async () => {
    const { mem, a, b, view, p3, close } = await replicas();
    let refused: unknown;
    view.before = {
      when: writes(GENERATIONS),
      run: async () => {
        // The fence is written: the other replica sees the host as being removed.
        const fence = (await mem.get('hosts/h1'))!.modRevision;
        await until('the fence on a', () => a.revision() >= fence);
        refused = await a.allocate({ name: 'late', host: 'h1' }).catch((e: unknown) => e);
      },
    };
    const removed = await b.removeHost('h1', { force: true });
    assert.ok(isRomanaError(refused, 'Conflict'), String(refused));
    assert.match(refused.message, /being removed/);
    assert.deepEqual([...removed.releasedAddresses].sort(), ['p1', 'p2']);
    assert.equal(await mem.get('addresses/late'), undefined);
    await assertH1Gone(mem);
    // Nothing of h1 is handed out again while h2 keeps its address.
    await until('h1 gone on a', () => !a.listHosts().hosts.some((h) => h.name === 'h1'));
    assert.deepEqual(
      a.listAddresses().map((x) => [x.name, x.ip]),
      [['p3', p3.ip]],
    );
    await close();
  });

  it('is refused as a Conflict when the other frees an address of its block, and finished by the next removal', async () => {
    const { mem, a, b, view, p1, p3, close } = await replicas();
    view.before = {
      when: writes(GENERATIONS),
      run: async () => {
        assert.equal((await a.release('p1')).ip, p1.ip);
      },
    };
    await rejectsWith(
      b.removeHost('h1', { force: true }),
      'Conflict',
      /^a block of host h1 changed while removing it; retry$/,
    );
    // Left fenced, its intent in the store: the next removal finishes it first.
    assert.equal((await mem.range('ops/')).kvs.length, 1);
    assert.equal(JSON.parse((await mem.get('hosts/h1'))!.value).removing, true);
    await finishedByNextRemoval(mem, b, p3.ip);
    await close();
  });

  it('is refused as a Conflict when the other patches the host before its last step, keeping the patch, and finished by the next removal', async () => {
    const { mem, a, b, view, p3, close } = await replicas();
    view.before = {
      when: (ops) => ops.some((o) => o.type === 'delete' && o.key === 'hosts/h1'),
      run: async () => {
        await a.patchHost('h1', { tags: { rack: 'late' } });
      },
    };
    await rejectsWith(
      b.removeHost('h1', { force: true }),
      'Conflict',
      /^host h1 changed while removing it; retry$/,
    );
    const held = JSON.parse((await mem.get('hosts/h1'))!.value) as Record<string, unknown>;
    assert.deepEqual([held['tags'], held['removing']], [{ rack: 'late' }, true]);
    // Its addresses went with their block, before the last step.
    assert.equal(await mem.get('addresses/p1'), undefined);
    await finishedByNextRemoval(mem, b, p3.ip);
    await close();
  });
});

describe('a removal whose store fails, and then fails the reload', () => {
  it('leaves the replica refusing writes until it could reload; the next removal finishes it', async () => {
    const { mem, b, view, p3, close } = await replicas();
    view.failTxn = writes(GENERATIONS);
    view.failRange = true;
    await rejectsWith(
      b.removeHost('h1', { force: true }),
      'Unavailable',
      /^the datastore failed: disk gone$/,
    );
    view.failTxn = undefined;
    // Its engine may hold what the store never got: no write builds on it.
    await rejectsWith(
      b.allocate({ name: 'q', host: 'h2' }),
      'Unavailable',
      /re-reading its state after a datastore failure/,
    );
    assert.equal(await mem.get('addresses/q'), undefined);
    view.failRange = false;
    let got: unknown;
    await until('b writable again', async () => {
      got = await b.allocate({ name: 'q', host: 'h2' }).catch((e: unknown) => e);
      return !isRomanaError(got, 'Unavailable');
    });
    assert.equal((got as { host: string }).host, 'h2');
    await rejectsWith(b.removeHost('h1', { force: true }), 'NotFound', /h1/);
    await assertH1Gone(mem);
    assert.equal(b.getAddress('p3').ip, p3.ip);
    await close();
  });
});

describe('a replica whose store watch is behind', () => {
  async function lagging() {
    const mem = new MemoryStore();
    const a = await serviceWithHosts(mem);
    const view = laggingView(mem);
    const b = await createRomanaService({ store: view.store, ...QUIET });
    // b sees nothing of the store's changes any more, its own included.
    view.lagging = true;
    view.flushOnGet = false;
    const events: WatchEvent[] = [];
    const watch = (svc: RomanaService) =>
      svc.watch(
        ['addresses', 'hosts', 'blocks'],
        svc.revision() + 1,
        (e) => events.push(e),
        (err) => {
          throw err;
        },
      );
    const close = async () => {
      await a.close();
      await b.close();
    };
    return { b, events, watch, close };
  }

  it('publishes its own removal: the freed block, each address and the host deleted', async () => {
    const { b, events, watch, close } = await lagging();
    await b.allocate({ name: 'p1', host: 'h1' });
    await b.allocate({ name: 'p2', host: 'h1' });
    const block = b.listAddresses()[0]!.block;
    const w = watch(b);
    const removed = await b.removeHost('h1', { force: true });
    await until('the host deleted', () => events.some((e) => e.kind === 'hosts'));
    w.close();
    const rev = events.at(-1)!.revision;
    assert.deepEqual(
      events.map((e) => `${e.kind} ${e.type} ${e.id}`),
      ['blocks put ' + block, 'addresses delete p1', 'addresses delete p2', 'hosts delete h1'],
    );
    assert.equal(events[0]!.revision, events[1]!.revision);
    // The block goes back free: no host, no address.
    const freed = events[0]!.value as { host: string; allocated_ip_count: number };
    assert.deepEqual([freed.host, freed.allocated_ip_count], ['', 0]);
    assert.ok(events[1]!.revision < rev);
    assert.deepEqual(
      events.slice(1).map((e) => e.value),
      [null, null, null],
    );
    assert.deepEqual(removed.releasedBlocks, [block]);
    await close();
  });

  it('publishes its own patch of a host', async () => {
    const { b, events, watch, close } = await lagging();
    const w = watch(b);
    await b.patchHost('h1', { tags: { rack: 'r9' } });
    await until('the patch', () => events.length > 0);
    w.close();
    assert.deepEqual(
      events.map((e) => [e.kind, e.type, e.id, (e.value as { tags?: unknown }).tags]),
      [['hosts', 'put', 'h1', { rack: 'r9' }]],
    );
    await close();
  });
});

describe('a host removal its writer abandoned, of a host not placed in this generation', () => {
  it('is finished by the next service: the host and its IP key go', async () => {
    const store = new MemoryStore();
    const svc = await serviceWithHosts(store);
    await svc.close();
    const g = JSON.parse((await store.get('topology'))!.value).generation as number;
    const host = JSON.parse((await store.get('hosts/h2'))!.value) as object;
    await store.txn(
      [],
      [
        { type: 'delete', key: placementKey(g, 'h2') },
        { type: 'put', key: 'hosts/h2', value: JSON.stringify({ ...host, removing: true }) },
        {
          type: 'put',
          key: operationKey('r1'),
          value: JSON.stringify({
            kind: 'remove-host',
            owner: 'gone',
            since: 1,
            host: 'h2',
            ip: '192.168.0.2',
          }),
        },
      ],
    );
    const next = await createRomanaService({ store, ...QUIET });
    assert.equal(await store.get('hosts/h2'), undefined);
    assert.equal(await store.get('hostips/192.168.0.2'), undefined);
    assert.deepEqual((await store.range('ops/')).kvs, []);
    assert.deepEqual(
      next.listHosts().hosts.map((h) => h.name),
      ['h1'],
    );
    assert.notEqual(await store.get('hostips/192.168.0.1'), undefined);
    await next.close();
  });
});

describe('a host write that loses every attempt to other writers', () => {
  /** A memory store on which every transaction writing a host key loses its compares. */
  class LosingStore extends MemoryStore {
    lose = false;
    override async txn(compares: Compare[], ops: Op[]): Promise<TxnResult> {
      if (this.lose && ops.some((o) => o.key.startsWith('hosts/'))) {
        return { succeeded: false, revision: await this.revision() };
      }
      return super.txn(compares, ops);
    }
  }

  it('gives up naming the add, keeping nothing of the host', async () => {
    const store = new LosingStore();
    const svc = await serviceWithHosts(store);
    store.lose = true;
    const rev = await store.revision();
    await rejectsWith(
      svc.addHost({ name: 'h3', ip: '192.168.0.3' }),
      'Conflict',
      /^gave up after \d+ attempts: adding host h3 raced another writer$/,
    );
    assert.equal(await store.revision(), rev);
    await rejectsWith(
      Promise.resolve().then(() => svc.getHost('h3')),
      'NotFound',
      /h3/,
    );
    await svc.close();
  });

  it('gives up naming the patch, keeping the host as it was', async () => {
    const store = new LosingStore();
    const svc = await serviceWithHosts(store);
    store.lose = true;
    const before = svc.getHost('h1');
    await rejectsWith(
      svc.patchHost('h1', { tags: { rack: 'r9' } }),
      'Conflict',
      /^gave up after \d+ attempts: updating host h1 raced another writer$/,
    );
    assert.deepEqual(svc.getHost('h1'), before);
    await svc.close();
  });
});
