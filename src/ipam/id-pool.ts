/**
 * The address pool of one block: the free offsets `0 .. size-1` kept as sorted, disjoint,
 * non-adjacent inclusive ranges in one flat array `[min0, max0, min1, max1, …]`.
 *
 * Unlike the original's IDRing, a release inserts its range at the right place and merges
 * with both neighbours, so no free range is ever dropped (reference §2.10, BUG 1), and the
 * allocated count is kept exactly (BUG 2).
 */
import { RomanaError } from '../errors.ts';

export class IdPool {
  readonly size: number;
  #free: number[];
  #freeCount: number;

  /** A pool of `size` offsets, all free. */
  constructor(size: number) {
    if (!Number.isSafeInteger(size) || size < 1) {
      throw new RangeError(`pool size must be a positive integer, got ${size}`);
    }
    this.size = size;
    this.#free = [0, size - 1];
    this.#freeCount = size;
  }

  get freeCount(): number {
    return this.#freeCount;
  }

  get allocatedCount(): number {
    return this.size - this.#freeCount;
  }

  /** True when every offset is free. */
  isEmpty(): boolean {
    return this.#freeCount === this.size;
  }

  /** True when no offset is free. */
  isFull(): boolean {
    return this.#freeCount === 0;
  }

  isFree(x: number): boolean {
    const i = this.#rangeAtOrBefore(x);
    return i >= 0 && x <= this.#free[i + 1]!;
  }

  /**
   * The smallest free offset that is `>= from`, or `undefined`.
   *
   * @example new IdPool(8).firstFreeFrom(3) // 3
   */
  firstFreeFrom(from: number): number | undefined {
    const f = this.#free;
    if (f.length === 0) return undefined;
    if (from <= f[0]!) return f[0];
    const i = this.#rangeAtOrBefore(from);
    if (i >= 0 && from <= f[i + 1]!) return from;
    return i + 2 < f.length ? f[i + 2] : undefined;
  }

  /** Takes the lowest free offset, or returns `undefined` when the pool is full. */
  takeLowest(): number | undefined {
    const f = this.#free;
    if (f.length === 0) return undefined;
    const x = f[0]!;
    this.take(x);
    return x;
  }

  /** Marks `x` allocated; fails when it is outside the pool or already allocated. */
  take(x: number): void {
    this.#checkRange(x, 'allocate');
    const f = this.#free;
    const i = this.#rangeAtOrBefore(x);
    if (i < 0 || x > f[i + 1]!) {
      throw new RomanaError('Conflict', `Cannot allocate ${x}: already allocated`);
    }
    const min = f[i]!;
    const max = f[i + 1]!;
    if (min === max) f.splice(i, 2);
    else if (x === min) f[i] = x + 1;
    else if (x === max) f[i + 1] = x - 1;
    else f.splice(i, 2, min, x - 1, x + 1, max);
    this.#freeCount--;
  }

  /** Returns `x` to the pool, merging with the free ranges on either side. */
  release(x: number): void {
    this.#checkRange(x, 'reclaim');
    const f = this.#free;
    const i = this.#rangeAtOrBefore(x);
    if (i >= 0 && x <= f[i + 1]!) {
      throw new RomanaError('Conflict', `Cannot release ${x}: it is not allocated`);
    }
    const joinsLeft = i >= 0 && f[i + 1]! + 1 === x;
    const next = i + 2;
    const joinsRight = next < f.length && f[next]! - 1 === x;
    if (joinsLeft && joinsRight) f.splice(i + 1, 2);
    else if (joinsLeft) f[i + 1] = x;
    else if (joinsRight) f[next] = x;
    else f.splice(next, 0, x, x);
    this.#freeCount++;
  }

  /** Frees every offset. */
  clear(): void {
    this.#free = [0, this.size - 1];
    this.#freeCount = this.size;
  }

  /** Free ranges as `[min, max]` pairs, ascending. */
  freeRanges(): Array<[number, number]> {
    return pairs(this.#free);
  }

  /** Allocated ranges as `[min, max]` pairs, ascending: the complement of the free ranges. */
  allocatedRanges(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    let next = 0;
    const f = this.#free;
    for (let i = 0; i < f.length; i += 2) {
      if (f[i]! > next) out.push([next, f[i]! - 1]);
      next = f[i + 1]! + 1;
    }
    if (next < this.size) out.push([next, this.size - 1]);
    return out;
  }

  /** The first allocated offset in `[from, to]`, or `undefined`. */
  firstAllocatedIn(from: number, to: number): number | undefined {
    if (from > to) return undefined;
    for (const [min, max] of this.allocatedRanges()) {
      if (max < from) continue;
      if (min > to) return undefined;
      return Math.max(min, from);
    }
    return undefined;
  }

  #checkRange(x: number, verb: 'allocate' | 'reclaim'): void {
    if (!Number.isInteger(x) || x < 0 || x >= this.size) {
      throw new RomanaError(
        'InvalidInput',
        `Cannot ${verb} ${x} as it is outside of range 0-${this.size - 1}`,
      );
    }
  }

  /** Index (even) of the last free range whose min is `<= x`, or -2 when there is none. */
  #rangeAtOrBefore(x: number): number {
    const f = this.#free;
    let lo = 0;
    let hi = f.length / 2 - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (f[mid * 2]! <= x) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found * 2;
  }
}

function pairs(flat: number[]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
  return out;
}
