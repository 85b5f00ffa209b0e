/** ShardedMap behaves as a Map, but for the order of iteration; its shards share the load. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ShardedMap } from './sharded-map.ts';

const key = fc.oneof(fc.string({ maxLength: 6 }), fc.stringMatching(/^pod-[0-9]{1,4}$/));
const op = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), key, value: fc.integer() }),
  fc.record({ kind: fc.constant('delete' as const), key }),
  fc.record({ kind: fc.constant('clear' as const) }),
);

test('any sequence of set, delete and clear leaves the same entries as a Map', () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
      const model = new Map<string, number>();
      const m = new ShardedMap<number>();
      for (const o of ops) {
        if (o.kind === 'set') {
          assert.equal(m.set(o.key, o.value), m);
          model.set(o.key, o.value);
        } else if (o.kind === 'delete') assert.equal(m.delete(o.key), model.delete(o.key));
        else {
          m.clear();
          model.clear();
        }
        assert.equal(m.size, model.size);
      }
      for (const [k, v] of model) {
        assert.equal(m.get(k), v);
        assert.equal(m.has(k), true);
      }
      const sorted = <T>(xs: Iterable<T>) => [...xs].sort();
      assert.deepEqual(sorted(m.keys()), sorted(model.keys()));
      assert.deepEqual(
        sorted([...m].map(([k, v]) => `${k}=${v}`)),
        sorted([...model].map(([k, v]) => `${k}=${v}`)),
      );
      assert.deepEqual(sorted(m.values()), sorted(model.values()));
      assert.equal(m.get('absent key'), model.get('absent key'));
    }),
    { numRuns: 500 },
  );
});

test('names ending in a counter spread over every shard, none holding more than twice its share', () => {
  const m = new ShardedMap<number>([]);
  for (let i = 0; i < 16_000; i++) m.set(`g/1/addresses/bench-3-${i}`, i);
  assert.equal(m.size, 16_000);
  const perShard = shardSizes(m);
  assert.equal(perShard.length, 16);
  for (const n of perShard) assert.ok(n > 0 && n <= 2_000, `shard sizes ${perShard.join(', ')}`);
});

/** Shard sizes, read from the order of iteration: shard by shard, each in insertion order. */
function shardSizes(m: ShardedMap<number>): number[] {
  const sizes: number[] = [];
  let last = -1;
  for (const [, v] of m) {
    // Within a shard the values come in insertion order, which is ascending here.
    if (v < last || sizes.length === 0) sizes.push(0);
    sizes[sizes.length - 1]!++;
    last = v;
  }
  return sizes;
}
