import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { SortedKeys } from './sorted-keys.ts';

describe('SortedKeys', () => {
  it('finds every key again across chunk splits, and keeps order once whole chunks are emptied', () => {
    const s = new SortedKeys();
    const key = (i: number) => `k/${String(i).padStart(4, '0')}`;
    const all = Array.from({ length: 3000 }, (_, i) => key(i));
    for (const k of all) assert.equal(s.add(k), true, k);
    // Every key, the first of each chunk included, is found: a second add or a delete says so.
    for (const k of all) assert.equal(s.add(k), false, k);
    assert.equal(s.size, 3000);
    // Empty the middle, whole chunks of it, then add into and around the hole.
    for (let i = 300; i < 2700; i++) assert.equal(s.delete(key(i)), true);
    assert.equal(s.delete(key(1000)), false);
    for (const i of [1500, 299, 2700, 2999, 3500, 100]) s.add(key(i));
    const expected = [...all.slice(0, 300), key(1500), ...all.slice(2700), key(3500)];
    assert.deepEqual([...s.withPrefix('k/')], expected);
    assert.equal(s.size, expected.length);
    assert.deepEqual([...s.withPrefix('k/15')], [key(1500)]);
    assert.deepEqual([...s.withPrefix('k/2')], all.slice(2700));
    assert.deepEqual([...s.withPrefix('k/27')], all.slice(2700, 2800));
    assert.deepEqual([...new SortedKeys().withPrefix('')], []);
    assert.equal(new SortedKeys().delete('a'), false);
  });

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
