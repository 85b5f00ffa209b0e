/**
 * In-process ordering of operations. Operations on one host run one at a time (they share
 * blocks); operations that rebuild everything (topology update, host removal) run alone.
 * Across replicas, store transactions decide; these locks only avoid needless conflicts.
 */

/** Runs functions one at a time per key, in arrival order. */
export class KeyedMutex {
  #tails = new Map<string, Promise<void>>();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = prev.then(() => mine);
    this.#tails.set(key, tail);
    await prev;
    try {
      return await fn();
    } finally {
      release();
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }
}

/** Many readers or one writer; a waiting writer holds back new readers. */
export class RwLock {
  #readers = 0;
  #writer = false;
  #waiting: Array<{ write: boolean; go: () => void }> = [];

  async read<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#writer || this.#waiting.length > 0) {
      await new Promise<void>((go) => this.#waiting.push({ write: false, go }));
    } else this.#readers++;
    try {
      return await fn();
    } finally {
      this.#readers--;
      this.#wake();
    }
  }

  async write<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#writer || this.#readers > 0 || this.#waiting.length > 0) {
      await new Promise<void>((go) => this.#waiting.push({ write: true, go }));
    } else this.#writer = true;
    try {
      return await fn();
    } finally {
      this.#writer = false;
      this.#wake();
    }
  }

  #wake(): void {
    while (this.#waiting.length > 0 && !this.#writer) {
      const next = this.#waiting[0]!;
      if (next.write) {
        if (this.#readers > 0) return;
        this.#waiting.shift();
        this.#writer = true;
        next.go();
        return;
      }
      this.#waiting.shift();
      this.#readers++;
      next.go();
    }
  }
}
