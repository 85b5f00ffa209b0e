/**
 * Ephemeral in-memory backend: for tests and `--store memory:`. Everything is lost when the
 * process exits. Semantics are exactly those of the durable backends (same conformance suite).
 */
import { RomanaError } from '../errors.ts';
import { KvState, comparesHold, effectiveChanges, validateTxn } from './kv-state.ts';
import type {
  Compactable,
  Compare,
  KeyValue,
  Op,
  Store,
  StoreHealth,
  TxnResult,
  Watch,
  WatchEvent,
} from './store.ts';

/**
 * Options of `MemoryStore`.
 *
 * @example new MemoryStore({ historyRevisions: 100 })
 */
export interface MemoryStoreOptions {
  /** How many recent revisions a watch can resume from. Default 10,000. */
  historyRevisions?: number;
}

/**
 * A `Store` held in memory.
 *
 * @example
 * const store = new MemoryStore();
 * await store.txn([], [{ type: 'put', key: 'a', value: '1' }]);
 * (await store.get('a'))?.value // '1'
 */
export class MemoryStore implements Store, Compactable {
  /** Only this process writes it (see `Store.exclusive`). */
  readonly exclusive = true;
  #state: KvState;
  #closed = false;

  constructor(options: MemoryStoreOptions = {}) {
    this.#state = new KvState(options);
  }

  async get(key: string): Promise<KeyValue | undefined> {
    this.#checkOpen();
    return this.#state.get(key);
  }

  async range(prefix: string): Promise<{ kvs: KeyValue[]; revision: number }> {
    this.#checkOpen();
    return this.#state.range(prefix);
  }

  async txn(compares: Compare[], ops: Op[]): Promise<TxnResult> {
    this.#checkOpen();
    validateTxn(compares, ops);
    const lookup = (k: string): KeyValue | undefined => this.#state.peek(k);
    if (!comparesHold(lookup, compares))
      return { succeeded: false, revision: this.#state.revision };
    const changes = effectiveChanges(lookup, ops);
    if (changes.length > 0) this.#state.apply(this.#state.revision + 1, changes);
    return { succeeded: true, revision: this.#state.revision };
  }

  watch(
    prefix: string,
    fromRevision: number,
    onEvents: (events: WatchEvent[], revision: number) => void,
    onError: (err: Error) => void,
  ): Watch {
    this.#checkOpen();
    return this.#state.watch(prefix, fromRevision, onEvents, onError);
  }

  async revision(): Promise<number> {
    this.#checkOpen();
    return this.#state.revision;
  }

  async compact(revision: number): Promise<void> {
    this.#checkOpen();
    this.#state.compact(revision);
  }

  health(): StoreHealth {
    return this.#closed
      ? { writable: false, problem: 'memory store is closed' }
      : { writable: true };
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#state.closeWatches();
  }

  #checkOpen(): void {
    if (this.#closed) throw new RomanaError('Unavailable', 'memory store is closed');
  }
}
