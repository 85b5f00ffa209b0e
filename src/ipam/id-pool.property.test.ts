/**
 * `IdPool` against a naive model (a `Set` of allocated offsets) over random operation
 * sequences, plus the reference's IDRing bug examples (§2.10) as plain cases.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { RomanaError } from '../errors.ts';
import { IdPool } from './id-pool.ts';

type Op =
  | { kind: 'takeLowest' }
  | { kind: 'take'; x: number }
  | { kind: 'release'; x: number }
  | { kind: 'clear' }
  | { kind: 'firstFreeFrom'; x: number }
  | { kind: 'firstAllocatedIn'; from: number; to: number };

/** The naive model: which offsets of `0 .. size-1` are allocated. */
class Model {
  readonly allocated = new Set<number>();
  constructor(readonly size: number) {}

  isValidOffset(x: number): boolean {
    return Number.isInteger(x) && x >= 0 && x < this.size;
  }

  freeRanges(): Array<[number, number]> {
    return ranges(this.size, (x) => !this.allocated.has(x));
  }

  allocatedRanges(): Array<[number, number]> {
    return ranges(this.size, (x) => this.allocated.has(x));
  }

  lowestFreeFrom(from: number): number | undefined {
    for (let x = Math.max(0, from); x < this.size; x++) if (!this.allocated.has(x)) return x;
    return undefined;
  }

  firstAllocatedIn(from: number, to: number): number | undefined {
    for (let x = Math.max(0, from); x <= Math.min(to, this.size - 1); x++) {
      if (this.allocated.has(x)) return x;
    }
    return undefined;
  }
}

/** Maximal runs of offsets satisfying `pred`, ascending. */
function ranges(size: number, pred: (x: number) => boolean): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let x = 0; x < size; x++) {
    if (!pred(x)) continue;
    const last = out[out.length - 1];
    if (last !== undefined && last[1] === x - 1) last[1] = x;
    else out.push([x, x]);
  }
  return out;
}

/** Structural checks on the pool's own ranges, then equality with the model. */
function checkPool(pool: IdPool, model: Model): void {
  const free = pool.freeRanges();
  for (let i = 0; i < free.length; i++) {
    const [min, max] = free[i]!;
    assert.ok(min <= max, `free range ${i} [${min}, ${max}] is inverted`);
    assert.ok(min >= 0 && max < pool.size, `free range ${i} [${min}, ${max}] is out of bounds`);
    if (i > 0) {
      const prevMax = free[i - 1]![1];
      assert.ok(prevMax + 1 < min, `free ranges ${i - 1} and ${i} overlap or touch: ${show(free)}`);
    }
  }
  assert.deepEqual(free, model.freeRanges(), 'free ranges differ from the model');
  assert.deepEqual(pool.allocatedRanges(), model.allocatedRanges(), 'allocated ranges differ');
  assert.equal(pool.allocatedCount, model.allocated.size, 'allocatedCount');
  assert.equal(pool.freeCount, model.size - model.allocated.size, 'freeCount');
  assert.equal(pool.isEmpty(), model.allocated.size === 0, 'isEmpty');
  assert.equal(pool.isFull(), model.allocated.size === model.size, 'isFull');
  for (let x = 0; x < model.size; x++) {
    assert.equal(pool.isFree(x), !model.allocated.has(x), `isFree(${x})`);
  }
}

function show(r: Array<[number, number]>): string {
  return r.map(([a, b]) => `[${a}-${b}]`).join(',');
}

/** Runs `f`, which must fail with a `RomanaError` and leave the pool unchanged. */
function expectRejected(pool: IdPool, f: () => void, what: string): void {
  const before = pool.freeRanges();
  assert.throws(f, RomanaError, `${what} should be rejected`);
  assert.deepEqual(pool.freeRanges(), before, `${what} failed but changed the pool`);
}

function apply(pool: IdPool, model: Model, op: Op): void {
  switch (op.kind) {
    case 'takeLowest': {
      const want = model.lowestFreeFrom(0);
      assert.equal(pool.takeLowest(), want, 'takeLowest');
      if (want !== undefined) model.allocated.add(want);
      return;
    }
    case 'take':
      if (model.isValidOffset(op.x) && !model.allocated.has(op.x)) {
        pool.take(op.x);
        model.allocated.add(op.x);
      } else {
        expectRejected(pool, () => pool.take(op.x), `take(${op.x})`);
      }
      return;
    case 'release':
      if (model.isValidOffset(op.x) && model.allocated.has(op.x)) {
        pool.release(op.x);
        model.allocated.delete(op.x);
      } else {
        expectRejected(pool, () => pool.release(op.x), `release(${op.x})`);
      }
      return;
    case 'clear':
      pool.clear();
      model.allocated.clear();
      return;
    case 'firstFreeFrom':
      assert.equal(pool.firstFreeFrom(op.x), model.lowestFreeFrom(op.x), `firstFreeFrom(${op.x})`);
      return;
    case 'firstAllocatedIn':
      assert.equal(
        pool.firstAllocatedIn(op.from, op.to),
        model.firstAllocatedIn(op.from, op.to),
        `firstAllocatedIn(${op.from}, ${op.to})`,
      );
      return;
  }
}

/** Offsets around the pool's bounds, with a few that are not offsets at all. */
function offsetArb(size: number): fc.Arbitrary<number> {
  return fc.oneof(
    { weight: 12, arbitrary: fc.integer({ min: 0, max: size - 1 }) },
    { weight: 1, arbitrary: fc.constantFrom(-1, size, size + 1, 0.5, Number.NaN) },
  );
}

function opArb(size: number): fc.Arbitrary<Op> {
  const x = offsetArb(size);
  const inRange = fc.integer({ min: -2, max: size + 1 });
  return fc.oneof(
    { weight: 4, arbitrary: fc.constant<Op>({ kind: 'takeLowest' }) },
    { weight: 4, arbitrary: x.map((v): Op => ({ kind: 'take', x: v })) },
    { weight: 6, arbitrary: x.map((v): Op => ({ kind: 'release', x: v })) },
    { weight: 1, arbitrary: fc.constant<Op>({ kind: 'clear' }) },
    { weight: 2, arbitrary: inRange.map((v): Op => ({ kind: 'firstFreeFrom', x: v })) },
    {
      weight: 2,
      arbitrary: fc.tuple(inRange, inRange).map(([a, b]): Op => ({
        kind: 'firstAllocatedIn',
        from: Math.min(a, b),
        to: Math.max(a, b),
      })),
    },
  );
}

const scenarioArb = fc
  .integer({ min: 1, max: 40 })
  .chain((size) =>
    fc.tuple(fc.constant(size), fc.array(opArb(size), { maxLength: 120, size: 'max' })),
  );

describe('IdPool against a Set model', () => {
  it('keeps sorted, disjoint, non-adjacent free ranges equal to the model after every operation', () => {
    fc.assert(
      fc.property(scenarioArb, ([size, ops]) => {
        const pool = new IdPool(size);
        const model = new Model(size);
        checkPool(pool, model);
        for (const op of ops) {
          apply(pool, model, op);
          checkPool(pool, model);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('hands out every offset once, lowest first, and takes them all back in any order', () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 64 })
          .chain((n) =>
            fc.tuple(
              fc.constant(n),
              fc.shuffledSubarray([...Array(n).keys()], { minLength: n, maxLength: n }),
            ),
          ),
        ([n, order]) => {
          const pool = new IdPool(n);
          const got = [...Array(n)].map(() => pool.takeLowest());
          assert.deepEqual(got, [...Array(n).keys()]);
          assert.equal(pool.takeLowest(), undefined);
          for (const x of order) pool.release(x);
          assert.ok(pool.isEmpty());
          assert.deepEqual(pool.freeRanges(), [[0, n - 1]]);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('IdPool and the original IDRing bugs (reference §2.10)', () => {
  it('keeps every freed range when a release lands before a range that is not the last', () => {
    const pool = new IdPool(8);
    for (let i = 0; i < 8; i++) pool.takeLowest();
    for (const x of [5, 2, 7, 1]) pool.release(x);
    // The original's IDRing dropped [5-5] and [7-7] here and could never become empty again.
    assert.deepEqual(pool.freeRanges(), [
      [1, 2],
      [5, 5],
      [7, 7],
    ]);
    assert.deepEqual(pool.allocatedRanges(), [
      [0, 0],
      [3, 4],
      [6, 6],
    ]);
    assert.equal(pool.allocatedCount, 4);
    for (const x of [0, 3, 4, 6]) pool.release(x);
    assert.ok(pool.isEmpty());
  });

  it('counts allocated ranges right when the first free range starts at 0 and more follow', () => {
    const pool = new IdPool(8);
    for (let i = 0; i < 8; i++) pool.takeLowest();
    for (const x of [0, 1, 4, 7]) pool.release(x);
    assert.deepEqual(pool.freeRanges(), [
      [0, 1],
      [4, 4],
      [7, 7],
    ]);
    assert.deepEqual(pool.allocatedRanges(), [
      [2, 3],
      [5, 6],
    ]);
    assert.equal(pool.allocatedCount, 4);
    assert.equal(pool.firstAllocatedIn(0, 1), undefined);
    assert.equal(pool.firstAllocatedIn(0, 7), 2);
    assert.equal(pool.firstAllocatedIn(4, 4), undefined);
    assert.equal(pool.firstAllocatedIn(4, 6), 5);
  });
});

describe('IdPool regressions', () => {
  it('finds no allocated offset in an empty interval (from > to)', () => {
    const pool = new IdPool(8);
    for (let i = 0; i < 8; i++) pool.takeLowest();
    // [5, 3] holds no offset at all; the pool answered 5.
    assert.equal(pool.firstAllocatedIn(5, 3), undefined);
  });
});
