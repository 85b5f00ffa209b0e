/**
 * The in-memory core of the memory and embedded stores, directly: what the embedded store
 * does with it when it opens (a snapshot loaded, older log records remembered, the history
 * sealed) and when it compacts, which the store conformance tests reach only through files.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isRomanaError } from '../errors.ts';
import {
  comparesHold,
  effectiveChanges,
  KvState,
  nextValue,
  validateTxn,
  type Change,
} from './kv-state.ts';
import type { WatchEvent } from './store.ts';

const put = (key: string, value: string): Change => ({ key, value });
const del = (key: string): Change => ({ key, value: null });

/** Everything a watch from `from` on `prefix` gets until the microtasks run out. */
async function watched(
  s: KvState,
  from: number,
  prefix = '',
): Promise<{ revs: number[]; events: WatchEvent[]; error?: Error }> {
  const out: { revs: number[]; events: WatchEvent[]; error?: Error } = { revs: [], events: [] };
  const w = s.watch(
    prefix,
    from,
    (evs, rev) => {
      out.revs.push(rev);
      out.events.push(...evs);
    },
    (err) => (out.error = err),
  );
  await new Promise((r) => setImmediate(r));
  w.close();
  return out;
}

function applied(n: number, opts?: { historyRevisions?: number }): KvState {
  const s = new KvState(opts);
  for (let r = 1; r <= n; r++) s.apply(r, [put(`k/${r}`, `v${r}`)]);
  return s;
}

describe('KvState', () => {
  it('loads a snapshot: values as given, the revision, and no history before it', async () => {
    const s = new KvState();
    s.load({ key: 'b', value: '2', modRevision: 4, createRevision: 2 }, 7);
    s.load({ key: 'a', value: '1', modRevision: 7, createRevision: 7 }, 7);
    s.load({ key: 'a', value: '1b', modRevision: 7, createRevision: 6 }, 7);
    assert.equal(s.revision, 7);
    s.setRevision(7);
    assert.equal(s.revision, 7);
    assert.equal(s.size, 2);
    assert.equal(s.oldestWatchable, 8);
    assert.deepEqual(s.range('').kvs, [
      { key: 'a', value: '1b', modRevision: 7, createRevision: 6 },
      { key: 'b', value: '2', modRevision: 4, createRevision: 2 },
    ]);
    assert.deepEqual(
      [...s.entries()].map((kv) => kv.key),
      ['a', 'b'],
    );
    const early = await watched(s, 7);
    assert.ok(early.error && isRomanaError(early.error, 'Compacted'), String(early.error));
    s.apply(8, [put('a', '3')]);
    assert.deepEqual(s.get('a'), { key: 'a', value: '3', modRevision: 8, createRevision: 6 });
    assert.deepEqual((await watched(s, 8)).revs, [8]);
  });

  it('keeps the history of a state that has one when its revision is set', async () => {
    const s = applied(3);
    s.setRevision(3);
    assert.equal(s.oldestWatchable, 1);
    assert.deepEqual((await watched(s, 1)).revs, [1, 2, 3]);
  });

  it('an empty store set to a revision starts there, its history empty', async () => {
    const s = new KvState();
    s.setRevision(12);
    s.setRevision(5); // never goes back
    assert.equal(s.revision, 12);
    assert.equal(s.oldestWatchable, 13);
    assert.throws(
      () => s.apply(12, [put('a', '1')]),
      (e: unknown) =>
        isRomanaError(e, 'Internal') && /revision 12 applied after 12/.test(e.message),
    );
    assert.throws(() => s.apply(14, [put('a', '1')]), /revision 14 applied after 12/);
    s.apply(13, [put('a', '1')]);
    assert.equal(s.oldestWatchable, 13);
    assert.deepEqual((await watched(s, 13)).revs, [13]);
  });

  it('keeps the log records older than the snapshot as history when they reach its revision', async () => {
    const s = new KvState();
    s.load({ key: 'a', value: '2', modRevision: 5, createRevision: 3 }, 5);
    s.setRevision(5);
    s.rememberOnly(3, [put('a', '1')]);
    s.rememberOnly(4, [put('x', 'gone')]);
    s.rememberOnly(5, [put('a', '2'), del('x')]);
    s.sealHistory();
    assert.equal(s.oldestWatchable, 3);
    assert.equal(s.size, 1); // remembered only: not applied
    const w = await watched(s, 3);
    assert.equal(w.error, undefined);
    assert.deepEqual(w.revs, [3, 4, 5]);
    assert.deepEqual(w.events, [
      { type: 'put', key: 'a', value: '1', modRevision: 3 },
      { type: 'put', key: 'x', value: 'gone', modRevision: 4 },
      { type: 'put', key: 'a', value: '2', modRevision: 5 },
      { type: 'delete', key: 'x', value: null, modRevision: 5 },
    ]);
    assert.deepEqual(s.recentHistory(2), [
      { revision: 4, changes: [put('x', 'gone')] },
      { revision: 5, changes: [put('a', '2'), del('x')] },
    ]);
    assert.deepEqual(
      s.recentHistory(100).map((h) => h.revision),
      [3, 4, 5],
    );
  });

  it('forgets remembered history that does not reach the current revision, or has a gap', async () => {
    const short = new KvState();
    short.setRevision(9);
    short.rememberOnly(7, [put('a', '1')]);
    short.rememberOnly(8, [put('a', '2')]);
    short.sealHistory();
    assert.equal(short.oldestWatchable, 10);
    assert.deepEqual(short.recentHistory(10), []);
    assert.ok(isRomanaError((await watched(short, 8)).error, 'Compacted'));

    const gap = new KvState();
    gap.setRevision(9);
    gap.rememberOnly(6, [put('a', '1')]);
    gap.rememberOnly(8, [put('a', '2')]);
    gap.rememberOnly(9, [put('a', '3')]);
    gap.sealHistory();
    assert.equal(gap.oldestWatchable, 8);
    assert.deepEqual((await watched(gap, 8)).revs, [8, 9]);
    assert.ok(isRomanaError((await watched(gap, 7)).error, 'Compacted'));

    const none = new KvState();
    none.setRevision(3);
    none.sealHistory();
    assert.equal(none.oldestWatchable, 4);
  });

  it('compacts: watches from before the revision fail, later ones still replay', async () => {
    const s = applied(10);
    assert.equal(s.oldestWatchable, 1);
    s.compact(6);
    assert.equal(s.oldestWatchable, 6);
    const failed = await watched(s, 5);
    assert.ok(failed.error && isRomanaError(failed.error, 'Compacted'));
    assert.match(failed.error.message, /\b5\b/);
    assert.match(failed.error.message, /\b6\b/);
    assert.deepEqual((await watched(s, 6)).revs, [6, 7, 8, 9, 10]);
    assert.deepEqual(
      s.recentHistory(3).map((h) => h.revision),
      [8, 9, 10],
    );
    s.compact(3); // never goes back
    assert.equal(s.oldestWatchable, 6);
    s.compact(50); // past the end: everything but what comes next
    assert.equal(s.oldestWatchable, 11);
    assert.deepEqual(s.recentHistory(5), []);
    s.apply(11, [put('a', '1')]);
    assert.deepEqual((await watched(s, 11)).revs, [11]);
  });

  it('a watch that is running when its revisions are compacted away gets the error', async () => {
    const s = applied(3);
    const got: number[] = [];
    let error: Error | undefined;
    const w = s.watch(
      '',
      0,
      (_e, rev) => got.push(rev),
      (e) => (error = e),
    );
    s.compact(4);
    s.apply(4, [put('a', '1')]);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(got, [4]);
    assert.equal(error, undefined);
    w.close();
  });

  it('keeps at most historyRevisions revisions, however many are applied', async () => {
    const s = applied(3000, { historyRevisions: 10 });
    assert.equal(s.oldestWatchable, 2991);
    const w = await watched(s, 2991);
    assert.deepEqual(
      w.revs,
      Array.from({ length: 10 }, (_, i) => 2991 + i),
    );
    assert.deepEqual(w.events[0], {
      type: 'put',
      key: 'k/2991',
      value: 'v2991',
      modRevision: 2991,
    });
    assert.ok(isRomanaError((await watched(s, 2990)).error, 'Compacted'));
    assert.deepEqual(
      s.recentHistory(3).map((h) => h.revision),
      [2998, 2999, 3000],
    );
    // After a compaction the limit still counts only the revisions retained.
    const compacted = applied(10, { historyRevisions: 10 });
    compacted.compact(6);
    compacted.apply(11, [put('a', '1')]);
    assert.equal(compacted.oldestWatchable, 6);
    const one = applied(5, { historyRevisions: 0 });
    assert.equal(one.oldestWatchable, 5);
    assert.equal(applied(20_001).oldestWatchable, 10_002); // 10,000 by default
  });

  it('delivers in revision order from any point of a history that was trimmed', async () => {
    const s = applied(2100, { historyRevisions: 1500 });
    s.compact(1900);
    for (const from of [1900, 1901, 2050, 2100]) {
      const w = await watched(s, from);
      assert.deepEqual(w.revs[0], from);
      assert.equal(w.revs.length, 2101 - from);
      assert.ok(w.revs.every((r, i) => r === from + i));
    }
  });

  it('watches a prefix only, and skips revisions with nothing under it', async () => {
    const s = new KvState();
    s.apply(1, [put('a/1', 'x'), put('b/1', 'y')]);
    s.apply(2, [put('b/2', 'z')]);
    s.apply(3, [del('a/1')]);
    const w = await watched(s, 1, 'a/');
    assert.deepEqual(w.revs, [1, 3]);
    assert.deepEqual(w.events, [
      { type: 'put', key: 'a/1', value: 'x', modRevision: 1 },
      { type: 'delete', key: 'a/1', value: null, modRevision: 3 },
    ]);
    assert.ok(Object.isFrozen(w.events[0]));
    assert.equal(s.get('a/1'), undefined);
    assert.deepEqual(
      s.range('b/').kvs.map((kv) => kv.key),
      ['b/1', 'b/2'],
    );
    assert.equal(s.range('b/').revision, 3);
  });

  it('stops a watch whose callback throws, with that error, and one closed from inside', async () => {
    const s = applied(3);
    let calls = 0;
    let error: Error | undefined;
    s.watch(
      '',
      1,
      () => {
        calls++;
        throw new Error('listener broke');
      },
      (e) => (error = e),
    );
    await new Promise((r) => setImmediate(r));
    assert.equal(calls, 1);
    assert.equal(error?.message, 'listener broke');
    let strings: Error | undefined;
    s.watch(
      '',
      1,
      () => {
        throw 'plain';
      },
      (e) => (strings = e),
    );
    await new Promise((r) => setImmediate(r));
    assert.ok(strings instanceof Error && strings.message === 'plain');

    const revs: number[] = [];
    const w = s.watch(
      '',
      1,
      (_e, rev) => {
        revs.push(rev);
        w.close();
      },
      () => assert.fail('no error'),
    );
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(revs, [1]);
    s.apply(4, [put('a', '1')]);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(revs, [1]);

    const quiet: number[] = [];
    s.watch(
      '',
      1,
      (_e, rev) => quiet.push(rev),
      () => assert.fail('no error'),
    );
    s.closeWatches();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(quiet, []);
  });

  it('hands out copies: changing what get and range return changes nothing stored', () => {
    const s = applied(1);
    const kv = s.get('k/1')!;
    kv.value = 'changed';
    s.range('')!.kvs[0]!.value = 'changed too';
    assert.equal(s.get('k/1')?.value, 'v1');
    assert.equal(s.peek('k/1')?.value, 'v1');
  });
});

describe('KvState.snapshotView', () => {
  const key = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h');
  /** One step while the view is open: a revision of changes, or a read of a slice. */
  const step = fc.oneof(
    fc.record({
      changes: fc.array(
        fc.record({ key, value: fc.option(fc.string({ maxLength: 3 }), { nil: null }) }),
        { minLength: 1, maxLength: 4 },
      ),
    }),
    fc.record({ from: fc.nat(9), len: fc.nat(9) }),
  );

  it('reads the values as they were when it opened, whatever changes meanwhile', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ key, value: fc.string({ maxLength: 3 }) }), { maxLength: 8 }),
        fc.array(step, { maxLength: 30 }),
        (initial, steps) => {
          const s = new KvState();
          let rev = 0;
          for (const ch of initial) s.apply(++rev, [ch]);
          const expected = [...s.entries()].map((kv) => ({ ...kv }));
          const view = s.snapshotView();
          assert.equal(view.revision, rev);
          assert.equal(view.count, expected.length);
          for (const st of steps) {
            if ('changes' in st) {
              // One change per key and revision, as a transaction's effective changes are.
              const once = new Map(st.changes.map((c) => [c.key, c]));
              s.apply(++rev, [...once.values()]);
            } else {
              const to = st.from + st.len;
              assert.deepEqual(view.slice(st.from, to), expected.slice(st.from, to));
            }
          }
          assert.deepEqual(view.slice(0, view.count), expected);
          view.close();
          // Closed, it keeps nothing: a new view sees the state as it is now.
          const again = s.snapshotView();
          assert.deepEqual(again.slice(0, again.count), [...s.entries()]);
          again.close();
        },
      ),
    );
  });

  it('opens one view at a time', () => {
    const s = new KvState();
    s.apply(1, [put('a', '1')]);
    const view = s.snapshotView();
    assert.throws(
      () => s.snapshotView(),
      (err: unknown) => isRomanaError(err, 'Internal'),
    );
    view.close();
    s.snapshotView().close();
  });
});

describe('KvState.apply with the changes as decided', () => {
  it('ends in the same state, history and index as apply looking each key up', async () => {
    const key = fc.constantFrom('a', 'b', 'c', 'd/1', 'd/2');
    const revision = fc.array(
      fc.record({ key, value: fc.option(fc.string({ maxLength: 2 }), { nil: null }) }),
      { minLength: 1, maxLength: 4 },
    );
    await fc.assert(
      fc.asyncProperty(fc.array(revision, { maxLength: 20 }), async (revs) => {
        const looked = new KvState();
        const told = new KvState();
        let rev = 0;
        for (const raw of revs) {
          // One change per key; deletes of absent keys dropped, as effectiveChanges does.
          const once = [...new Map(raw.map((c) => [c.key, c])).values()];
          const changes = once.filter((c) => c.value !== null || told.peek(c.key) !== undefined);
          if (changes.length === 0) continue;
          rev++;
          const decided = changes.map((ch) => {
            const held = told.peek(ch.key);
            return { held, kv: nextValue(held, ch, rev) };
          });
          looked.apply(rev, changes);
          told.apply(rev, changes, decided);
        }
        assert.deepEqual([...told.entries()], [...looked.entries()]);
        assert.deepEqual(told.range('d/'), looked.range('d/'));
        assert.deepEqual(await watched(told, 1), await watched(looked, 1));
      }),
    );
  });
});

describe('transaction helpers', () => {
  it('refuses bad keys, revisions, values, op types and a key twice, naming them', () => {
    const refuses = (fn: () => void, re: RegExp) =>
      assert.throws(fn, (e: unknown) => isRomanaError(e, 'InvalidInput') && re.test(e.message));
    refuses(
      () => validateTxn([{ key: '', modRevision: 0 }], []),
      /compare needs a non-empty string key, got ""/,
    );
    refuses(
      () => validateTxn([{ key: 'a', modRevision: -1 }], []),
      /compare on 'a' has invalid modRevision -1/,
    );
    refuses(() => validateTxn([{ key: 'a', modRevision: 1.5 }], []), /invalid modRevision 1.5/);
    refuses(
      () => validateTxn([], [{ type: 'put', key: 7 as unknown as string, value: '' }]),
      /put needs a non-empty string key, got 7/,
    );
    refuses(() => validateTxn([], [{ type: 'delete', key: '' }]), /delete needs a non-empty/);
    refuses(
      () => validateTxn([], [{ type: 'put', key: 'a', value: 1 as unknown as string }]),
      /put of 'a' has a non-string value/,
    );
    refuses(
      () =>
        validateTxn([], [{ type: 'get', key: 'a' } as unknown as { type: 'delete'; key: string }]),
      /unknown op type 'get'/,
    );
    refuses(
      () =>
        validateTxn(
          [],
          [
            { type: 'put', key: 'a', value: '1' },
            { type: 'delete', key: 'a' },
          ],
        ),
      /key 'a' appears in more than one op/,
    );
    validateTxn(
      [
        { key: 'a', modRevision: 0 },
        { key: 'a', modRevision: 3 },
      ],
      [
        { type: 'put', key: 'a', value: '' },
        { type: 'delete', key: 'b' },
      ],
    );
  });

  it('decides compares, effective changes and next values', () => {
    const s = applied(2);
    const look = (k: string) => s.peek(k);
    assert.equal(
      comparesHold(look, [
        { key: 'k/1', modRevision: 1 },
        { key: 'no', modRevision: 0 },
      ]),
      true,
    );
    assert.equal(comparesHold(look, [{ key: 'k/1', modRevision: 2 }]), false);
    assert.equal(comparesHold(look, [{ key: 'no', modRevision: 1 }]), false);
    assert.deepEqual(
      effectiveChanges(look, [
        { type: 'delete', key: 'no' },
        { type: 'delete', key: 'k/2' },
        { type: 'put', key: 'n', value: 'x' },
      ]),
      [del('k/2'), put('n', 'x')],
    );
    assert.deepEqual(nextValue(undefined, put('a', '1'), 5), {
      key: 'a',
      value: '1',
      modRevision: 5,
      createRevision: 5,
    });
    assert.deepEqual(nextValue(s.peek('k/1'), put('k/1', '2'), 5), {
      key: 'k/1',
      value: '2',
      modRevision: 5,
      createRevision: 1,
    });
    assert.equal(nextValue(s.peek('k/1'), del('k/1'), 5), undefined);
  });
});
