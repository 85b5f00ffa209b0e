/**
 * The intent of a multi-transaction operation, more edges (milliseconds, over the memory store;
 * one child process of ~1 s for the crash hook): the crash hook stops the process right after
 * the n-th committed transaction; the beat goes on when one is slower than the heartbeat and is
 * never written again by an owner that was taken over; a commit whose outcome is unknown is
 * settled against an intent that moved or went.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { isRomanaError } from '../../errors.ts';
import { MemoryStore } from '../../store/memory.ts';
import type { Compare, Op, Store, TxnResult } from '../../store/store.ts';
import { beatKey, type StoredOperation } from './keys.ts';
import { DEFAULT_TIMING, newOperationId, Operation, runsHere, type Commit } from './operations.ts';

/** The memory store seen as a shared one (operations beat); `beatDelayMs` slows each beat. */
class SharedStore extends MemoryStore {
  beatDelayMs = 0;
  constructor() {
    super();
    Object.defineProperty(this, 'exclusive', { value: false });
  }
  override async txn(compares: Compare[], ops: Op[]): Promise<TxnResult> {
    if (this.beatDelayMs > 0 && ops.length === 1 && ops[0]!.key.startsWith('beats/')) {
      await new Promise((r) => setTimeout(r, this.beatDelayMs));
    }
    return super.txn(compares, ops);
  }
}

const commitTo =
  (store: Store): Commit =>
  async (compares, ops) => {
    const r = await store.txn(compares, ops);
    return r.succeeded ? r.revision : null;
  };

const lost: Commit = () => Promise.reject(new Error('connection lost'));

function intent(owner: string): StoredOperation {
  return { kind: 'remove-host', owner, since: 1, host: 'h1', ip: '10.0.0.1' };
}

async function value(store: Store, key: string): Promise<string | undefined> {
  return (await store.get(key))?.value;
}

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('operation ids and timing', () => {
  it('gives every operation an id of its own', () => {
    const ids = new Set(Array.from({ length: 20 }, () => newOperationId()));
    assert.equal(ids.size, 20);
    for (const id of ids) assert.match(id, /^[0-9a-f-]{36}$/);
  });

  it('beats every second and calls an intent stale after ten, by default', () => {
    assert.deepEqual(DEFAULT_TIMING, { heartbeatMs: 1000, staleMs: 10_000 });
  });
});

describe('the beat of an operation on a shared store', () => {
  it('starts at 0 with the intent', async () => {
    const store = new SharedStore();
    const timing = { heartbeatMs: 60_000, staleMs: 600_000 };
    const op = (await Operation.begin(
      { store, commit: commitTo(store), timing },
      'b0',
      intent('o-b0'),
      [],
      [],
    ))!;
    assert.equal(await value(store, beatKey('o-b0')), '0');
    op.release();
  });

  it('goes on when a beat takes longer than the heartbeat', async () => {
    const store = new SharedStore();
    store.beatDelayMs = 15;
    const timing = { heartbeatMs: 5, staleMs: 1000 };
    const op = (await Operation.begin(
      { store, commit: commitTo(store), timing },
      'slow',
      intent('o-slow'),
      [],
      [],
    ))!;
    for (let i = 0; i < 200 && Number(await value(store, beatKey('o-slow'))) < 8; i++) {
      await tick(5);
    }
    assert.ok(Number(await value(store, beatKey('o-slow'))) >= 8, 'the beat stopped');
    op.release();
  });

  it('is never written again by an owner that was taken over, though it still runs', async () => {
    const store = new SharedStore();
    const timing = { heartbeatMs: 5, staleMs: 1000 };
    const ctx = { store, commit: commitTo(store), timing };
    const old = (await Operation.begin(ctx, 't', intent('o-old'), [], []))!;
    const other = (await Operation.takeOver(ctx, (await store.get(old.key))!))!;
    assert.equal(await value(store, beatKey('o-old')), undefined);
    // Several of the old owner's heartbeats.
    await tick(40);
    assert.equal(await value(store, beatKey('o-old')), undefined);
    assert.ok(Number(await value(store, beatKey(other.value.owner))) >= 1);
    const err = await old.step([], []).catch((e: unknown) => e);
    assert.ok(isRomanaError(err, 'Unavailable'));
    assert.deepEqual([err.resourceType, err.resourceId], ['operation', 't']);
    old.release();
    other.release();
  });
});

describe('the last step of an operation', () => {
  it('whose compare fails leaves the operation running, not finished', async () => {
    const store = new MemoryStore();
    const op = (await Operation.begin(
      { store, commit: commitTo(store), timing: DEFAULT_TIMING },
      'f',
      intent('o-f'),
      [],
      [],
    ))!;
    assert.equal(await op.finish([{ key: 'x', modRevision: 42 }], []), null);
    assert.equal(op.finished, false);
    assert.ok(runsHere(op.value));
    assert.notEqual(await value(store, op.key), undefined);
    assert.notEqual(await op.finish([], []), null);
    assert.equal(op.finished, true);
  });
});

describe('a commit whose outcome is unknown', () => {
  /** An operation over `store` whose commits go through `commit()` once switched. */
  async function begun(store: Store, id: string) {
    let mode: 'ok' | 'lost' = 'ok';
    const commit: Commit = (c, o) => (mode === 'ok' ? commitTo(store)(c, o) : lost(c, o));
    const op = (await Operation.begin(
      { store, commit, timing: DEFAULT_TIMING },
      id,
      intent(`o-${id}`),
      [],
      [],
    ))!;
    return { op, lose: () => (mode = 'lost') };
  }

  it('is not taken as applied when the intent moved to another owner', async () => {
    const store = new MemoryStore();
    const { op, lose } = await begun(store, 'm');
    // Another replica rewrote the intent (a takeover) meanwhile.
    const kv = (await store.get(op.key))!;
    const moved = JSON.stringify({ ...intent('o-other'), ip: '10.0.0.1' });
    await store.txn([], [{ type: 'put', key: kv.key, value: moved }]);
    lose();
    await assert.rejects(op.step([], []), /connection lost/);
    await assert.rejects(op.step([], [], { ip: '10.0.0.2' }), /connection lost/);
    assert.equal(await value(store, op.key), moved);
    op.release();
  });

  it('fails with the store error when the intent is gone, and so does a last step', async () => {
    const store = new MemoryStore();
    const { op, lose } = await begun(store, 'g');
    await store.txn([], [{ type: 'delete', key: op.key }]);
    lose();
    await assert.rejects(op.step([], []), /connection lost/);
    op.release();
  });

  it('fails with the store error when the intent cannot be read back either', async () => {
    const mem = new MemoryStore();
    let reads = true;
    const store = new Proxy(mem, {
      get(target, p) {
        if (p === 'get' && !reads) return () => Promise.reject(new Error('read failed'));
        const v = Reflect.get(target, p, target) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const { op, lose } = await begun(store, 'r');
    lose();
    reads = false;
    await assert.rejects(op.step([], []), /connection lost/);
    await assert.rejects(op.finish([], []), /connection lost/);
    assert.equal(op.finished, false);
    op.release();
  });

  it('with a compare that failed and an intent that is gone, says it was taken over', async () => {
    const store = new MemoryStore();
    const { op } = await begun(store, 'x');
    await store.txn([], [{ type: 'delete', key: op.key }]);
    const err = await op.step([], []).catch((e: unknown) => e);
    assert.ok(isRomanaError(err, 'Unavailable'));
    assert.match(err.message, /^operation x \(remove-host\) was taken over by another replica$/);
    op.release();
  });
});

/** Runs an operation of three steps in a child process with the crash hook set to `at`. */
function crashRun(at: string): {
  out: string;
  signal: NodeJS.Signals | null;
  status: number | null;
} {
  const here = import.meta.dirname;
  const script = `
    import { MemoryStore } from ${JSON.stringify(path.join(here, '../../store/memory.ts'))};
    import { Operation } from ${JSON.stringify(path.join(here, 'operations.ts'))};
    const store = new MemoryStore();
    const commit = async (c, o) => { const r = await store.txn(c, o); return r.succeeded ? r.revision : null; };
    const say = (s) => process.stdout.write(s + ' ');
    const op = await Operation.begin({ store, commit, timing: { heartbeatMs: 1000, staleMs: 10000 } },
      'c', { kind: 'remove-host', owner: 'o', since: 1, host: 'h', ip: '10.0.0.1' }, [], []);
    say('begun');
    await op.step([], [{ type: 'put', key: 'a', value: '1' }]); say('step');
    // A step whose compare fails commits nothing: not counted.
    await op.step([{ key: 'a', modRevision: 99 }], []); say('refused');
    await op.step([], [{ type: 'put', key: 'b', value: '1' }]); say('step');
    await op.finish([], []); say('finished');
  `;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    env: { ...process.env, ROMANAD_TEST_CRASH_AFTER: at },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { out: r.stdout.trim(), signal: r.signal, status: r.status };
}

describe('the crash hook (ROMANAD_TEST_CRASH_AFTER)', () => {
  it('kills the process right after the n-th committed transaction of that kind', () => {
    assert.deepEqual(crashRun('remove-host:3'), {
      out: 'begun step refused',
      signal: 'SIGKILL',
      status: null,
    });
    assert.deepEqual(crashRun('remove-host:4'), {
      out: 'begun step refused step',
      signal: 'SIGKILL',
      status: null,
    });
  });
});
