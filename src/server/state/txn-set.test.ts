import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Compare, Op } from '../../store/store.ts';
import type { ServiceCore } from './core.ts';
import { TxnSet } from './txn-runner.ts';

/** `TxnSet.read` asks the core only for the revision it holds of a key. */
function coreHolding(revs: Record<string, number>): ServiceCore {
  return { cmp: (key: string) => ({ key, modRevision: revs[key] ?? 0 }) } as ServiceCore;
}

type Step =
  | { kind: 'read' | 'readAbsent' | 'delete'; key: string }
  | { kind: 'put'; key: string; value: string };

/** The sets' rules written with maps: first read wins, readAbsent sets 0, last write wins. */
class Model {
  reads = new Map<string, number>();
  writes = new Map<string, Op>();

  apply(s: Step, revs: Record<string, number>): void {
    if (s.kind === 'read') {
      if (!this.reads.has(s.key)) this.reads.set(s.key, revs[s.key] ?? 0);
    } else if (s.kind === 'readAbsent') this.reads.set(s.key, 0);
    else if (s.kind === 'put') this.writes.set(s.key, { type: 'put', key: s.key, value: s.value });
    else this.writes.set(s.key, { type: 'delete', key: s.key });
  }

  merge(o: Model): void {
    for (const [k, r] of o.reads) if (!this.reads.has(k)) this.reads.set(k, r);
    for (const [k, op] of o.writes) this.writes.set(k, op);
  }

  compares(): Compare[] {
    return [...this.reads].map(([key, modRevision]) => ({ key, modRevision }));
  }
}

function build(steps: Step[], revs: Record<string, number>): [TxnSet, Model] {
  const core = coreHolding(revs);
  const set = new TxnSet();
  const model = new Model();
  for (const s of steps) {
    if (s.kind === 'read') set.read(core, s.key);
    else if (s.kind === 'readAbsent') set.readAbsent(s.key);
    else if (s.kind === 'put') set.put(s.key, s.value);
    else set.delete(s.key);
    model.apply(s, revs);
  }
  return [set, model];
}

// Up to 30 keys: sets both below and above the size where lookups switch to a map.
const key = fc.integer({ min: 0, max: 29 }).map((i) => `k/${i}`);
const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constantFrom('read', 'readAbsent', 'delete'), key }),
  fc.record({ kind: fc.constant('put'), key, value: fc.string({ maxLength: 4 }) }),
) as fc.Arbitrary<Step>;
const revs = fc.dictionary(key, fc.integer({ min: 1, max: 1000 }));

describe('TxnSet', () => {
  it('keeps each key once, in first-seen order: first read wins, readAbsent compares absent, last write wins', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 80 }), revs, (steps, held) => {
        const [set, model] = build(steps, held);
        assert.deepEqual(set.compares(), model.compares());
        assert.deepEqual(set.ops(), [...model.writes.values()]);
        assert.deepEqual(set.readKeys(), [...model.reads.keys()]);
      }),
    );
  });

  it('merges as the same rules say, whatever the sizes of the sets', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(step, { maxLength: 30 }), { minLength: 1, maxLength: 6 }),
        revs,
        (parts, held) => {
          const all = new TxnSet();
          const model = new Model();
          for (const steps of parts) {
            const [set, m] = build(steps, held);
            all.merge(set);
            model.merge(m);
          }
          assert.deepEqual(all.compares(), model.compares());
          assert.deepEqual(all.ops(), [...model.writes.values()]);
        },
      ),
    );
  });

  it('writes a value that is not a string as its JSON text', () => {
    const set = new TxnSet().put('a', { ip: '10.0.0.1' }).put('b', 'text');
    assert.deepEqual(set.ops(), [
      { type: 'put', key: 'a', value: '{"ip":"10.0.0.1"}' },
      { type: 'put', key: 'b', value: 'text' },
    ]);
  });
});
