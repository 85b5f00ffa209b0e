/**
 * Runs `simulate()` off the caller's thread, for romanad: each simulation in its own
 * `node:worker_threads` Worker (src/advisor/worker.ts), at most `concurrency` at a time, at most
 * `queue` more waiting, each stopped (its thread terminated) after `timeoutMs`. A full queue and
 * a simulation over its time are `Unavailable` errors (503) that say so and name the bound.
 */
import { Worker } from 'node:worker_threads';
import { RomanaError } from '../errors.ts';
import type { Limits } from './limits.ts';
import type { SimulationInput, SimulationReport } from './types.ts';
import type { WorkerAnswer, WorkerJob } from './worker.ts';
import { workerScript, type WorkerScript } from './worker-script.ts';

export interface SimulationRunnerOptions {
  /** Simulations running at once (threads). */
  concurrency: number;
  /** Simulations waiting for a thread; one more is refused. */
  queue: number;
  /** A simulation still running after this is stopped. */
  timeoutMs: number;
  /** The worker's script (default: `workerScript()`, the sources or the bundle's). */
  script?: WorkerScript;
}

/** romanad's bounds: one simulation at a time (2 cores), four waiting, 30 s each. */
export const RUNNER_DEFAULTS: SimulationRunnerOptions = {
  concurrency: 1,
  queue: 4,
  timeoutMs: 30_000,
};

const unavailable = (message: string, resourceId: string) =>
  new RomanaError('Unavailable', message, { resourceType: 'simulation', resourceId });

/** The typed error a worker answered with, as thrown in the caller's thread. */
function rethrown(e: Extract<WorkerAnswer, { error: unknown }>['error']): RomanaError {
  return new RomanaError(e.code, e.message, {
    resourceType: e.resourceType,
    resourceId: e.resourceId,
    semantic: e.semantic,
  });
}

/**
 * @example
 * const runner = new SimulationRunner(RUNNER_DEFAULTS);
 * const report = await runner.run(input, API_LIMITS);
 * await runner.close();
 */
export class SimulationRunner {
  readonly #opts: SimulationRunnerOptions;
  readonly #script: WorkerScript;
  #running = 0;
  readonly #waiting: Array<() => void> = [];
  readonly #workers = new Set<Worker>();
  #closed = false;

  constructor(opts: SimulationRunnerOptions) {
    this.#opts = opts;
    this.#script = opts.script ?? workerScript();
  }

  /** Simulations running and waiting now. */
  get load(): { running: number; waiting: number } {
    return { running: this.#running, waiting: this.#waiting.length };
  }

  /** The report of `simulate(input, limits)`, computed in a worker thread. */
  async run(input: SimulationInput, limits: Limits): Promise<SimulationReport> {
    if (this.#closed) throw unavailable('the advisor is shutting down', 'closed');
    if (this.#running >= this.#opts.concurrency) {
      if (this.#waiting.length >= this.#opts.queue) {
        throw unavailable(
          `the advisor is busy: ${this.#running} simulation(s) running and ` +
            `${this.#waiting.length} waiting (at most ${this.#opts.queue}); try again later`,
          'queue',
        );
      }
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    } else {
      this.#running += 1;
    }
    try {
      return await this.#inWorker({ input, limits });
    } finally {
      const next = this.#waiting.shift();
      // The slot passes straight to the next in line (which counts as running already).
      if (next !== undefined) next();
      else this.#running -= 1;
    }
  }

  /** Stops every running simulation; later calls are refused. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#workers].map((w) => w.terminate()));
  }

  #inWorker(job: WorkerJob): Promise<SimulationReport> {
    if (this.#closed) return Promise.reject(unavailable('the advisor is shutting down', 'closed'));
    const { timeoutMs } = this.#opts;
    const worker = new Worker(this.#script.script, {
      eval: this.#script.eval,
      workerData: job,
      stdout: false,
      stderr: false,
    });
    this.#workers.add(worker);
    return new Promise<SimulationReport>((resolve, reject) => {
      let settled = false;
      const settle = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#workers.delete(worker);
        void worker.terminate();
        fn();
      };
      const timer = setTimeout(
        () =>
          settle(() =>
            reject(
              unavailable(
                `the simulation ran past its time limit of ${timeoutMs} ms and was stopped; ` +
                  'simulate fewer hosts, pods, block sizes or churn rounds',
                'timeout',
              ),
            ),
          ),
        timeoutMs,
      );
      worker.once('message', (a: WorkerAnswer) =>
        settle(() => ('report' in a ? resolve(a.report) : reject(rethrown(a.error)))),
      );
      worker.once('error', (err) => settle(() => reject(err)));
      worker.once('exit', (code) =>
        settle(() =>
          reject(
            this.#closed
              ? unavailable('the advisor is shutting down', 'closed')
              : new Error(`the simulation worker exited with ${code} before answering`),
          ),
        ),
      );
    });
  }
}
