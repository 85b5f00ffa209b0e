/**
 * A sorted set of strings with cheap insert, delete and prefix scans: a list of sorted chunks
 * (the "sorted containers" layout). Inserting into one flat sorted array costs a shift of the
 * whole array; chunks bound that shift to `CHUNK` entries while scans stay sequential.
 */

const CHUNK = 512;

/**
 * Sorted string set used as the key index of the in-memory stores.
 *
 * @example
 * const s = new SortedKeys();
 * s.add('b'); s.add('a'); s.add('ab');
 * [...s.withPrefix('a')] // ['a', 'ab']
 */
export class SortedKeys {
  #chunks: string[][] = [];
  #size = 0;

  get size(): number {
    return this.#size;
  }

  /** Adds `key`; returns false when it was already present. */
  add(key: string): boolean {
    if (this.#chunks.length === 0) {
      this.#chunks.push([key]);
      this.#size = 1;
      return true;
    }
    const ci = this.#chunkFor(key);
    const chunk = this.#chunks[ci]!;
    const i = lowerBound(chunk, key);
    if (chunk[i] === key) return false;
    chunk.splice(i, 0, key);
    this.#size++;
    if (chunk.length > CHUNK * 2)
      this.#chunks.splice(ci, 1, chunk.slice(0, CHUNK), chunk.slice(CHUNK));
    return true;
  }

  /** Removes `key`; returns false when it was absent. */
  delete(key: string): boolean {
    if (this.#chunks.length === 0) return false;
    const ci = this.#chunkFor(key);
    const chunk = this.#chunks[ci]!;
    const i = lowerBound(chunk, key);
    if (chunk[i] !== key) return false;
    chunk.splice(i, 1);
    this.#size--;
    if (chunk.length === 0) this.#chunks.splice(ci, 1);
    return true;
  }

  /** Every key, in order, as a new array. */
  toArray(): string[] {
    const out = new Array<string>(this.#size);
    let i = 0;
    for (const chunk of this.#chunks) for (const key of chunk) out[i++] = key;
    return out;
  }

  /** Keys starting with `prefix`, in order. */
  *withPrefix(prefix: string): Generator<string> {
    if (this.#chunks.length === 0) return;
    let ci = this.#chunkFor(prefix);
    let i = lowerBound(this.#chunks[ci]!, prefix);
    for (; ci < this.#chunks.length; ci++, i = 0) {
      const chunk = this.#chunks[ci]!;
      for (; i < chunk.length; i++) {
        const key = chunk[i]!;
        if (!key.startsWith(prefix)) return;
        yield key;
      }
    }
  }

  /** Index of the chunk where `key` belongs: the last chunk whose first key is <= key. */
  #chunkFor(key: string): number {
    let lo = 0;
    let hi = this.#chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.#chunks[mid]![0]! <= key) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}

function lowerBound(arr: string[], key: string): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (arr[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
