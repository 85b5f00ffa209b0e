import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { SortedKeys } from './sorted-keys.ts';

describe('SortedKeys', () => {
  it('behaves like a sorted set under any sequence of adds and deletes', () => {
    // Short keys collide a lot; numbered keys are many enough to split chunks.
    const key = fc.oneof(
      fc.stringMatching(/^[a-c/]{0,4}$/),
      fc.nat(4000).map((n) => `n/${n}`),
    );
    const op = fc.record({ add: fc.boolean(), key });
    fc.assert(
      fc.property(fc.array(op, { minLength: 2000, maxLength: 6000 }), key, (ops, prefix) => {
        const s = new SortedKeys();
        const model = new Set<string>();
        for (const o of ops) {
          if (o.add) {
            assert.equal(s.add(o.key), !model.has(o.key));
            model.add(o.key);
          } else {
            assert.equal(s.delete(o.key), model.has(o.key));
            model.delete(o.key);
          }
        }
        assert.equal(s.size, model.size);
        const expected = [...model].filter((k) => k.startsWith(prefix)).sort();
        assert.deepEqual([...s.withPrefix(prefix)], expected);
      }),
      { numRuns: 60 },
    );
  });

  it('keeps order across many chunks', () => {
    const s = new SortedKeys();
    const keys = Array.from(
      { length: 5000 },
      (_, i) => `k/${String((i * 7919) % 5000).padStart(5, '0')}`,
    );
    for (const k of keys) s.add(k);
    for (let i = 0; i < 5000; i += 3) s.delete(`k/${String(i).padStart(5, '0')}`);
    const all = [...s.withPrefix('k/')];
    assert.deepEqual(all, [...all].sort());
    assert.equal(all.length, 5000 - Math.ceil(5000 / 3));
    assert.deepEqual(
      [...s.withPrefix('k/0499')],
      ['k/04990', 'k/04991', 'k/04993', 'k/04994', 'k/04996', 'k/04997', 'k/04999'],
    );
  });
});
