/**
 * The intent of a multi-transaction operation at its edges, in-process over the memory store
 * (milliseconds): the beat key a shared store needs, a commit whose outcome is unknown, a step
 * after a takeover, and when `AbandonWatch` calls an intent abandoned.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isRomanaError } from '../../errors.ts';
import { MemoryStore } from '../../store/memory.ts';
import type { Compare, Op, Store } from '../../store/store.ts';
import { beatKey, operationKey, type StoredOperation } from './keys.ts';
import { AbandonWatch, Operation, runsHere, type Commit } from './operations.ts';

const TIMING = { heartbeatMs: 5, staleMs: 100 };

/** The memory store, seen as a shared one (as etcd is): operations then beat. */
function sharedStore(): Store {
  const mem = new MemoryStore();
  return new Proxy(mem, {
    get(target, p) {
      if (p === 'exclusive') return false;
      const v = Reflect.get(target, p, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

function commitTo(store: Store): Commit {
  return async (compares: Compare[], ops: Op[]) => {
    const r = await store.txn(compares, ops);
    return r.succeeded ? r.revision : null;
  };
}

function intent(owner = 'o-1'): StoredOperation {
  return { kind: 'remove-host', owner, since: 1, host: 'h1', ip: '10.0.0.1' };
}

async function value(store: Store, key: string): Promise<string | undefined> {
  return (await store.get(key))?.value;
}

async function until(cond: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.fail('condition never held');
}

describe('an operation on a shared store', () => {
  it('writes its owner beat with its intent, rewrites it while it runs, deletes both at the end', async () => {
    const store = sharedStore();
    const ctx = { store, commit: commitTo(store), timing: TIMING };
    const op = await Operation.begin(
      ctx,
      'id/1',
      intent(),
      [],
      [{ type: 'put', key: 'a', value: '1' }],
    );
    assert.ok(op);
    assert.equal(op.key, operationKey('id/1'));
    assert.deepEqual(JSON.parse((await value(store, op.key))!), intent());
    assert.equal(await value(store, 'a'), '1');
    assert.ok(runsHere(op.value));
    // The beat moves on its own, apart from the steps.
    await until(async () => Number(await value(store, beatKey('o-1'))) >= 2);
    assert.equal(op.finished, false);
    const rev = await op.finish([], [{ type: 'delete', key: 'a' }]);
    assert.equal(rev, await store.revision());
    assert.equal(op.finished, true);
    assert.equal(runsHere(op.value), false);
    assert.equal(await value(store, op.key), undefined);
    assert.equal(await value(store, 'a'), undefined);
    assert.equal(await value(store, beatKey('o-1')), undefined);
    // A late beat cannot bring the key back.
    await new Promise((r) => setTimeout(r, TIMING.heartbeatMs * 6));
    assert.equal(await value(store, beatKey('o-1')), undefined);
  });

  it('writes no beat key on an exclusive store', async () => {
    const store = new MemoryStore();
    const op = await Operation.begin(
      { store, commit: commitTo(store), timing: TIMING },
      'x',
      intent('o-x'),
      [],
      [],
    );
    assert.ok(op);
    assert.equal(await value(store, beatKey('o-x')), undefined);
    assert.notEqual(await value(store, op.key), undefined);
    op.release();
  });

  it('begins nothing, and runs nothing here, when the fence or the intent key is taken', async () => {
    const store = sharedStore();
    const ctx = { store, commit: commitTo(store), timing: TIMING };
    await store.txn([], [{ type: 'put', key: operationKey('dup'), value: '{}' }]);
    const before = await store.revision();
    assert.equal(await Operation.begin(ctx, 'dup', intent('o-dup'), [], []), null);
    assert.equal(runsHere(intent('o-dup')), false);
    const fence: Compare = { key: 'fence', modRevision: 99 };
    assert.equal(await Operation.begin(ctx, 'other', intent('o-f'), [fence], []), null);
    assert.equal(runsHere(intent('o-f')), false);
    assert.equal(await store.revision(), before);
    assert.equal(await value(store, beatKey('o-dup')), undefined);
  });

  it('patches its intent with a step, and a step whose compare fails changes nothing', async () => {
    const store = sharedStore();
    const ctx = { store, commit: commitTo(store), timing: TIMING };
    const op = (await Operation.begin(ctx, 'p', intent('o-p'), [], []))!;
    const rev = await op.step([], [{ type: 'put', key: 'b', value: '2' }], { ip: '10.0.0.9' });
    assert.equal(typeof rev, 'number');
    assert.equal(op.value.kind === 'remove-host' && op.value.ip, '10.0.0.9');
    assert.equal(JSON.parse((await value(store, op.key))!).ip, '10.0.0.9');
    const at = (await store.get(op.key))!.modRevision;
    assert.equal(
      await op.step([{ key: 'b', modRevision: 1 }], [{ type: 'put', key: 'b', value: '3' }]),
      null,
    );
    assert.equal(await value(store, 'b'), '2');
    assert.equal((await store.get(op.key))!.modRevision, at);
    assert.ok(runsHere(op.value));
    op.release();
    assert.equal(runsHere(op.value), false);
  });

  it('is refused every later step once another replica took it over, which beats for it instead', async () => {
    const store = sharedStore();
    const ctx = { store, commit: commitTo(store), timing: TIMING };
    const op = (await Operation.begin(ctx, 'id%2', intent('o-old'), [], []))!;
    op.release(); // as if its process stopped
    const kv = (await store.get(op.key))!;
    const other = await Operation.takeOver(ctx, kv);
    assert.ok(other);
    assert.equal(other.id, 'id%2');
    assert.notEqual(other.value.owner, 'o-old');
    assert.equal(await value(store, beatKey('o-old')), undefined);
    assert.equal(await value(store, beatKey(other.value.owner)), '0');
    await assert.rejects(
      op.step([], [{ type: 'put', key: 'c', value: '1' }]),
      (err: unknown) =>
        isRomanaError(err, 'Unavailable') &&
        err.resourceId === 'id%2' &&
        /operation id%2 \(remove-host\) was taken over by another replica/.test(err.message),
    );
    assert.equal(await value(store, 'c'), undefined);
    assert.notEqual(await other.finish([], []), null);
  });
});

describe('an operation whose commit outcome is unknown', () => {
  /** Commits, then throws as a store that lost the answer would; or throws without committing. */
  function lossy(store: Store, apply: boolean): Commit {
    return async (compares, ops) => {
      if (apply) await store.txn(compares, ops);
      throw new Error('connection lost');
    };
  }

  it('reads its intent back and takes a step that was applied as done', async () => {
    const store = new MemoryStore();
    const op = (await Operation.begin(
      { store, commit: commitTo(store), timing: TIMING },
      'u',
      intent('o-u'),
      [],
      [],
    ))!;
    // A step through a commit that applies, then fails.
    const bad = await Operation.takeOver(
      { store, commit: lossy(store, true), timing: TIMING },
      (await store.get(op.key))!,
    ).catch((e: unknown) => e);
    op.release();
    assert.ok(bad instanceof Operation);
    assert.equal((await store.get(bad.key))!.value, JSON.stringify(bad.value));
    const rev = await bad.step([], [{ type: 'put', key: 'd', value: '1' }], { ip: '10.0.0.7' });
    assert.equal(rev, (await store.get(bad.key))!.modRevision);
    assert.equal(bad.value.kind === 'remove-host' && bad.value.ip, '10.0.0.7');
    const end = await bad.finish([], []);
    assert.equal(end, await store.revision());
    assert.equal(await value(store, bad.key), undefined);
    assert.equal(bad.finished, true);
  });

  it('fails with the store error when the step was not applied, and changes nothing', async () => {
    const store = new MemoryStore();
    const good = (await Operation.begin(
      { store, commit: commitTo(store), timing: TIMING },
      'n',
      intent('o-n'),
      [],
      [],
    ))!;
    good.release();
    const kv = (await store.get(good.key))!;
    await assert.rejects(
      Operation.takeOver({ store, commit: lossy(store, false), timing: TIMING }, kv),
      /connection lost/,
    );
    assert.equal((await store.get(good.key))!.modRevision, kv.modRevision);
  });

  it('fails a step, and its last step, with the store error when they were not applied', async () => {
    const store = new MemoryStore();
    let mode: 'ok' | 'lost' = 'ok';
    const commit: Commit = (c, o) =>
      mode === 'ok' ? commitTo(store)(c, o) : lossy(store, false)(c, o);
    const op = (await Operation.begin(
      { store, commit, timing: TIMING },
      'r',
      intent('o-r'),
      [],
      [],
    ))!;
    mode = 'lost';
    // A step that leaves the intent as it was: the same text read back is not proof.
    await assert.rejects(op.step([], [{ type: 'put', key: 'e', value: '1' }]), /connection lost/);
    await assert.rejects(op.finish([], []), /connection lost/);
    assert.equal(op.finished, false);
    assert.notEqual(await value(store, op.key), undefined);
    mode = 'ok';
    assert.notEqual(await op.finish([], []), null);
    assert.equal(op.finished, true);
  });
});

describe('abandoned intents', () => {
  const kvOf = (owner: string, modRevision = 7) => ({
    key: operationKey('w'),
    value: JSON.stringify(intent(owner)),
    modRevision,
    createRevision: 1,
    version: 1,
  });

  it('on an exclusive store: every intent whose owner does not run here, at once', async () => {
    const w = new AbandonWatch();
    assert.equal(w.abandoned(kvOf('gone'), 0, true, TIMING, 0), true);
    const store = new MemoryStore();
    const op = (await Operation.begin(
      { store, commit: commitTo(store), timing: TIMING },
      'w',
      intent('live'),
      [],
      [],
    ))!;
    assert.equal(w.abandoned(kvOf('live'), 0, true, TIMING, 0), false);
    op.release();
    assert.equal(w.abandoned(kvOf('live'), 0, true, TIMING, 0), true);
  });

  it('on a shared store: once its revision and beat stood still for exactly staleMs', () => {
    const w = new AbandonWatch();
    assert.equal(w.abandoned(kvOf('o'), 3, false, TIMING, 1000), false); // first seen
    assert.equal(w.abandoned(kvOf('o'), 3, false, TIMING, 1099), false);
    assert.equal(w.abandoned(kvOf('o'), 3, false, TIMING, 1100), true);
    // The beat moved: seen afresh.
    assert.equal(w.abandoned(kvOf('o'), 4, false, TIMING, 1200), false);
    assert.equal(w.abandoned(kvOf('o'), 4, false, TIMING, 1299), false);
    // The intent moved.
    assert.equal(w.abandoned(kvOf('o', 8), 4, false, TIMING, 1300), false);
    assert.equal(w.abandoned(kvOf('o', 8), 4, false, TIMING, 1400), true);
  });

  it('forgets the keys no longer in the store, and only those', () => {
    const w = new AbandonWatch();
    assert.equal(w.still('k1', 'm', false, TIMING, 0), false);
    assert.equal(w.still('k2', 'm', false, TIMING, 0), false);
    w.keep(new Set(['k2']));
    assert.equal(w.still('k1', 'm', false, TIMING, 500), false); // forgotten: first seen again
    assert.equal(w.still('k2', 'm', false, TIMING, 500), true);
  });
});
