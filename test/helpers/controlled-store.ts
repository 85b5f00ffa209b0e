/**
 * A memory store that records every transaction, can hold one back, and can hold back watch
 * events: for tests of a replica in the middle of a multi-transaction write (milliseconds).
 */
import { MemoryStore } from '../../src/store/memory.ts';
import type {
  Compare,
  Op,
  Store,
  TxnResult,
  WatchEvent as StoreEvent,
} from '../../src/store/store.ts';

export interface Txn {
  compares: Compare[];
  ops: Op[];
}

/**
 * The memory store, recording every transaction; `hold` makes the first transaction it matches
 * wait until `release()` (`held` resolves when it does), and `pauseWatch` keeps watch events
 * back until `resumeWatch()` (a replica whose watch lags, as on etcd, where a transaction's
 * answer usually comes before its watch event).
 *
 * @example
 * const store = new ControlledStore();
 * store.hold = (ops) => ops.some((o) => o.key.startsWith('g/2/'));
 * const update = svc.updateTopology(doc);
 * await store.held; // the update is between two transactions
 * store.release();
 */
export class ControlledStore implements Store {
  readonly inner: MemoryStore;
  readonly exclusive = true;
  readonly txns: Txn[] = [];
  hold: ((ops: Op[]) => boolean) | null = null;
  #gate: Promise<void> | null = null;
  #open: () => void = () => undefined;
  held: Promise<void>;
  #heldNow: () => void = () => undefined;
  pauseWatch = false;
  readonly #queued: Array<() => void> = [];

  constructor(inner = new MemoryStore()) {
    this.inner = inner;
    this.held = new Promise((r) => (this.#heldNow = r));
  }
  get(key: string) {
    return this.inner.get(key);
  }
  range(prefix: string) {
    return this.inner.range(prefix);
  }
  async txn(compares: Compare[], ops: Op[]): Promise<TxnResult> {
    if (this.hold?.(ops) === true) {
      this.hold = null;
      this.#gate = new Promise((r) => (this.#open = r));
      this.#heldNow();
      await this.#gate;
    }
    this.txns.push({ compares, ops });
    return this.inner.txn(compares, ops);
  }
  release(): void {
    this.#open();
  }
  watch(
    prefix: string,
    from: number,
    onEvents: (events: StoreEvent[], revision: number) => void,
    onError: (err: Error) => void,
  ) {
    return this.inner.watch(
      prefix,
      from,
      (events, rev) => {
        if (this.pauseWatch) this.#queued.push(() => onEvents(events, rev));
        else onEvents(events, rev);
      },
      onError,
    );
  }
  resumeWatch(): void {
    this.pauseWatch = false;
    for (const f of this.#queued.splice(0)) f();
  }
  revision() {
    return this.inner.revision();
  }
  close() {
    return this.inner.close();
  }
}
