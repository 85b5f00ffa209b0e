/**
 * Bounds on a simulation, so that a request to romanad stays a fraction of a second to a few
 * seconds: the work is pods placed (initially and by churn) times block sizes.
 */
import { invalidInput, RomanaError } from '../errors.ts';
import type { SimulationInput } from './types.ts';

export interface Limits {
  blockMasks: number;
  hosts: number;
  podsPerHost: number;
  work: number;
  churnRounds: number;
}

/** Bounds of the CLI, which runs on the operator's machine. */
export const LIMITS: Limits = {
  /** Block sizes compared in one simulation. */
  blockMasks: 8,
  /** Hosts, generated or given. */
  hosts: 20_000,
  /** Pods per host (a number, a distribution's max or mean). */
  podsPerHost: 10_000,
  /** Pods placed over all block sizes, churn included. */
  work: 4_000_000,
  churnRounds: 100,
};

/**
 * Bounds of `POST /topology/simulate`: it runs in romanad's thread, so the work stays near a
 * few seconds (about 30 µs per pod placed on a 2-core machine).
 */
export const API_LIMITS: Limits = { ...LIMITS, work: 250_000 };

/** Work too large to run: the API answers 413 with it. */
export function tooMuchWork(message: string): RomanaError {
  return invalidInput(message, { resourceType: 'simulation', resourceId: 'work' });
}

/**
 * Refuses input out of bounds (400 for a field, `tooMuchWork` for the product), naming the
 * field and value.
 */
export function checkLimits(input: SimulationInput, limits: Limits = LIMITS): void {
  const bad = (field: string, msg: string) =>
    invalidInput(`${field}: ${msg}`, { resourceType: 'simulation' });
  if ((input.topology === undefined) === (input.shape === undefined)) {
    throw bad('topology', 'give exactly one of topology and shape');
  }
  const masks = input.block_masks ?? [0];
  if (masks.length === 0 || masks.length > limits.blockMasks) {
    throw bad('block_masks', `${masks.length} block sizes; give 1 to ${limits.blockMasks}`);
  }
  const hosts = hostCount(input);
  if (hosts > limits.hosts) throw bad('shape', `${hosts} hosts; at most ${limits.hosts}`);
  const perHost = podsBound(input);
  if (perHost > limits.podsPerHost) {
    throw bad('pods', `${perHost} pods per host; at most ${limits.podsPerHost}`);
  }
  const rounds = input.churn?.rounds ?? 0;
  if (rounds > limits.churnRounds) {
    throw bad('churn.rounds', `${rounds}; at most ${limits.churnRounds}`);
  }
  const fraction = input.churn?.fraction ?? 0;
  const work = Math.ceil(hosts * perHost * (1 + 2 * rounds * fraction) * masks.length);
  if (work > limits.work) {
    throw tooMuchWork(
      `pods: ${hosts} hosts x ${perHost} pods x ${masks.length} block sizes` +
        (rounds > 0 ? ` with ${rounds} churn rounds` : '') +
        ` is ${work} placements; at most ${limits.work}: fewer hosts, pods, block sizes or rounds`,
    );
  }
}

function hostCount(input: SimulationInput): number {
  let n = input.hosts?.length ?? 0;
  if (input.shape !== undefined) n += input.shape.zones * input.shape.racks * input.shape.hosts;
  if (input.topology !== undefined) {
    const count = (list: unknown): number =>
      Array.isArray(list)
        ? list.reduce<number>((acc, e: { ip?: unknown; groups?: unknown }) => {
            return acc + (e?.ip !== undefined ? 1 : count(e?.groups));
          }, 0)
        : 0;
    for (const t of input.topology.topologies ?? []) n += count(t.map);
  }
  return n;
}

function podsBound(input: SimulationInput): number {
  const p = input.pods;
  if (typeof p === 'number') return p;
  if (p.distribution === 'given') return Math.max(0, ...Object.values(p.per_host));
  return p.distribution === 'uniform' ? p.max : p.mean;
}
