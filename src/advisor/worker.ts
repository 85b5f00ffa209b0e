/**
 * The simulation worker: a `node:worker_threads` thread that runs one `simulate()` for romanad
 * (src/advisor/worker-pool.ts), so that the CPU-bound advisor never holds romanad's event loop.
 * It takes `{ input, limits }` as its `workerData`, posts one `WorkerAnswer` and ends.
 * Built to dist/advisor-worker.cjs (scripts/build.mjs); run from this file under tsx otherwise.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { isRomanaError, type ErrorCode } from '../errors.ts';
import type { Limits } from './limits.ts';
import { simulate } from './simulate.ts';
import type { SimulationInput, SimulationReport } from './types.ts';

/** What the worker is given. */
export interface WorkerJob {
  input: SimulationInput;
  limits: Limits;
}

/** A typed error as it crosses the thread boundary (a structured clone loses the class). */
export interface WorkerError {
  code: ErrorCode;
  message: string;
  resourceType?: string | undefined;
  resourceId?: string | undefined;
  semantic: boolean;
}

/** The worker's one message: the report, or the typed error `simulate()` threw. */
export type WorkerAnswer = { report: SimulationReport } | { error: WorkerError };

/** Runs the job; a typed error becomes an answer, anything else is thrown (the thread fails). */
export function runJob(job: WorkerJob): WorkerAnswer {
  try {
    return { report: simulate(job.input, job.limits) };
  } catch (err) {
    if (!isRomanaError(err)) throw err;
    return {
      error: {
        code: err.code,
        message: err.message,
        resourceType: err.resourceType,
        resourceId: err.resourceId,
        semantic: err.semantic,
      },
    };
  }
}

if (parentPort !== null && workerData !== null && typeof workerData === 'object') {
  parentPort.postMessage(runJob(workerData as WorkerJob));
}
