import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isolateRefused } from './policy-isolate.ts';

/** A kernel stand-in for the search alone: it refuses any state where a bad policy is open. */
function kernel(bad: ReadonlySet<string>, closedFormBad = new Set<string>()) {
  const states: Set<string>[] = [];
  let held: Set<string> | undefined;
  const tryApply = (closed: ReadonlySet<string>) => {
    states.push(new Set(closed));
    const open = [...bad].filter((id) => !closed.has(id));
    const closedBad = [...closedFormBad].filter((id) => closed.has(id));
    if (open.length + closedBad.length > 0) {
      return Promise.resolve(`refused ${[...open, ...closedBad].join(',')}`);
    }
    held = new Set(closed);
    return Promise.resolve(undefined);
  };
  return { tryApply, states, held: () => held };
}

describe('isolateRefused', () => {
  it('finds exactly the refused policies and ends on the state with only those closed', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.stringMatching(/^[a-z]{1,4}$/), { minLength: 1, maxLength: 40 }),
        fc.array(fc.nat(), { maxLength: 5 }),
        async (ids, picks) => {
          const bad = new Set(picks.map((i) => ids[i % ids.length]!));
          const k = kernel(bad);
          const r = await isolateRefused(ids, k.tryApply);
          assert.ok(r.ok);
          assert.deepEqual(
            r.refused.map((x) => x.id),
            [...bad].sort(),
          );
          for (const x of r.refused) assert.match(x.message, new RegExp(x.id));
          assert.deepEqual([...k.held()!].sort(), [...bad].sort());
          assert.deepEqual([...k.states.at(-1)!].sort(), [...bad].sort());
          // Every state tried keeps every bad policy closed or fails: nothing refused opens.
          assert.equal(r.applies, k.states.length);
          // Few applies: about two per refused policy per halving.
          const log2 = Math.ceil(Math.log2(ids.length)) + 1;
          assert.ok(r.applies <= 2 + 2 * Math.max(1, bad.size) * log2, `${r.applies} applies`);
        },
      ),
    );
  });

  it('gives up when even every suspect closed is refused (the cause is elsewhere)', async () => {
    const k = kernel(new Set(), new Set(['b']));
    const r = await isolateRefused(['a', 'b', 'c'], k.tryApply);
    assert.deepEqual(r, { ok: false, message: 'refused b', applies: 1 });
  });
});
