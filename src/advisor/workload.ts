/**
 * How many pods each host runs: a number, a uniform draw, or a Zipf-like skew, all from the
 * seed; and the owners (`tenant:segment`) they are spread over.
 */
import { invalidInput } from '../errors.ts';
import { Rng } from './rng.ts';
import type { PodsInput } from './types.ts';

/**
 * Pods per host, in host order.
 *
 * @example podsPerHost(['a', 'b', 'c', 'd'], { distribution: 'skewed', mean: 10 }, 1) // 40 pods, uneven
 */
export function podsPerHost(hosts: readonly string[], pods: PodsInput, seed: number): number[] {
  if (typeof pods === 'number') return new Array<number>(hosts.length).fill(pods);
  if (pods.distribution === 'given') return hosts.map((h) => pods.per_host[h] ?? 0);
  const rng = new Rng(seed);
  if (pods.distribution === 'uniform') {
    if (pods.max < pods.min) {
      throw invalidInput(`pods.max: ${pods.max} is below pods.min (${pods.min})`, {
        resourceType: 'simulation',
      });
    }
    return Array.from({ length: hosts.length }, () => rng.int(pods.min, pods.max));
  }
  const n = hosts.length;
  return zipf(n, Math.round(pods.mean * n), pods.exponent ?? 1, rng);
}

/** `total` pods over `hosts`, host of rank r weighted 1/r^s, ranks shuffled by the seed. */
function zipf(hosts: number, total: number, s: number, rng: Rng): number[] {
  const ranks = rng.shuffle(Array.from({ length: hosts }, (_, i) => i + 1));
  const weights = ranks.map((r) => 1 / r ** s);
  const sum = weights.reduce((a, b) => a + b, 0);
  const exact = weights.map((w) => (total * w) / sum);
  const out = exact.map(Math.floor);
  // Largest remainders get the pods rounding left over, so the total is exact.
  let left = total - out.reduce((a, b) => a + b, 0);
  const order = exact.map((x, i) => ({ i, r: x - Math.floor(x) })).sort((a, b) => b.r - a.r);
  for (const { i } of order) {
    if (left-- <= 0) break;
    out[i]! += 1;
  }
  return out;
}

/**
 * Picks a host index with probability proportional to `weights` (all zero: uniform).
 *
 * @example new WeightedPick([0, 1, 3]).pick(rng) // 2 three times as often as 1, never 0
 */
export class WeightedPick {
  readonly #cumulative: number[];

  constructor(weights: readonly number[]) {
    let acc = 0;
    const any = weights.some((w) => w > 0);
    this.#cumulative = weights.map((w) => (acc += any ? w : 1));
  }

  pick(rng: Rng): number {
    const c = this.#cumulative;
    const x = rng.next() * c[c.length - 1]!;
    let lo = 0;
    let hi = c.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (c[mid]! > x) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}
