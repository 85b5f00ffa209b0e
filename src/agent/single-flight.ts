/**
 * Runs a task one at a time: a request while it runs makes it run exactly once more after,
 * however many requests came (changes that arrive during a sync are all picked up by the next).
 */
export class SingleFlight {
  readonly #task: () => Promise<void>;
  #running: Promise<void> | undefined;
  #again = false;

  constructor(task: () => Promise<void>) {
    this.#task = task;
  }

  /** Resolves when a run that started after this call has finished. */
  run(): Promise<void> {
    if (this.#running !== undefined) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      do {
        this.#again = false;
        await this.#task();
      } while (this.#again);
    })().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }
}
