/**
 * The offset pool's refusals, each with its code and message (the property test checks only
 * that they are refused), and its answers on a pool of one, an empty pool and a full one.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isRomanaError } from '../errors.ts';
import { IdPool } from './id-pool.ts';

function refused(f: () => void, code: 'InvalidInput' | 'Conflict', message: string): void {
  assert.throws(f, (e: unknown) => isRomanaError(e, code) && e.message === message);
}

describe('IdPool refusals', () => {
  it('refuses a size that is not a positive whole number, naming it', () => {
    for (const size of [0, -1, 1.5, Number.NaN, 2 ** 53]) {
      assert.throws(
        () => new IdPool(size),
        (e: unknown) =>
          e instanceof RangeError &&
          e.message === `pool size must be a positive integer, got ${size}`,
      );
    }
    assert.equal(new IdPool(1).size, 1);
  });

  it('refuses an offset outside the pool, saying whether it took or gave back', () => {
    const pool = new IdPool(8);
    for (const x of [-1, 8, 2.5]) {
      refused(
        () => pool.take(x),
        'InvalidInput',
        `Cannot allocate ${x} as it is outside of range 0-7`,
      );
      refused(
        () => pool.release(x),
        'InvalidInput',
        `Cannot reclaim ${x} as it is outside of range 0-7`,
      );
    }
    pool.take(0);
    pool.take(7);
    assert.deepEqual(pool.allocatedRanges(), [
      [0, 0],
      [7, 7],
    ]);
  });

  it('refuses an offset taken twice, or given back while free', () => {
    const pool = new IdPool(8);
    pool.take(3);
    refused(() => pool.take(3), 'Conflict', 'Cannot allocate 3: already allocated');
    refused(() => pool.release(4), 'Conflict', 'Cannot release 4: it is not allocated');
    refused(() => pool.release(0), 'Conflict', 'Cannot release 0: it is not allocated');
    refused(() => pool.release(7), 'Conflict', 'Cannot release 7: it is not allocated');
    assert.deepEqual(pool.freeRanges(), [
      [0, 2],
      [4, 7],
    ]);
  });
});

describe('IdPool at its edges', () => {
  it('counts a pool of one as empty, then full', () => {
    const pool = new IdPool(1);
    assert.deepEqual(
      [pool.isEmpty(), pool.isFull(), pool.freeCount, pool.allocatedCount],
      [true, false, 1, 0],
    );
    assert.equal(pool.takeLowest(), 0);
    assert.deepEqual(
      [pool.isEmpty(), pool.isFull(), pool.freeCount, pool.allocatedCount],
      [false, true, 0, 1],
    );
    assert.equal(pool.takeLowest(), undefined);
    assert.equal(pool.firstFreeFrom(0), undefined);
    assert.equal(pool.isFree(0), false);
    pool.release(0);
    assert.equal(pool.isFree(0), true);
  });

  it('finds the first free offset at, inside or after a free range, and none past the last', () => {
    const pool = new IdPool(10);
    for (const x of [0, 1, 4, 5, 9]) pool.take(x);
    // Free: 2-3, 6-8.
    assert.deepEqual(
      [0, 2, 3, 4, 6, 8, 9].map((x) => pool.firstFreeFrom(x)),
      [2, 2, 3, 6, 6, 8, undefined],
    );
    assert.deepEqual(
      [0, 2, 5, 8, 9, 10].map((x) => pool.isFree(x)),
      [false, true, false, true, false, false],
    );
    assert.deepEqual(
      [
        [0, 9],
        [2, 3],
        [2, 4],
        [6, 9],
        [9, 9],
        [5, 4],
      ].map(([a, b]) => pool.firstAllocatedIn(a!, b!)),
      [0, undefined, 4, 9, 9, undefined],
    );
    pool.clear();
    assert.deepEqual(pool.freeRanges(), [[0, 9]]);
    assert.deepEqual(pool.allocatedRanges(), []);
    assert.equal(pool.allocatedCount, 0);
  });
});
