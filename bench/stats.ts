/**
 * Samples for benchmark figures: warm up, then measure several times and report the median
 * with the min and max, so that one noisy run on a shared machine shows as spread, not as the
 * figure.
 */
import type { Report } from './run.ts';

/**
 * Smallest, middle and largest of a set of samples.
 *
 * @example spread([3, 1, 2]) // { min: 1, median: 2, max: 3, n: 3 }
 */
export interface Spread {
  min: number;
  median: number;
  max: number;
  n: number;
}

/** The spread of `xs` (the median of an even count is the lower middle one). */
export function spread(xs: readonly number[]): Spread {
  if (xs.length === 0) throw new Error('no samples');
  const s = [...xs].sort((a, b) => a - b);
  return { min: s[0]!, median: s[(s.length - 1) >> 1]!, max: s[s.length - 1]!, n: s.length };
}

function shown(v: number): string {
  return String(Number.isInteger(v) ? v : Number(v.toPrecision(4)));
}

/** Reports the median of `xs` as `metric`, with min, max and sample count alongside. */
export function reportSpread(
  report: Report,
  metric: string,
  xs: readonly number[],
  unit: string,
  note?: string,
): void {
  const s = spread(xs);
  const range = `min ${shown(s.min)} / max ${shown(s.max)} of ${s.n}`;
  report(metric, s.median, unit, note ? `${note}; ${range}` : range, s);
}

/**
 * Runs `once` `warmup` times without keeping the result, then `n` times; resolves to what each
 * measured run returned (typically milliseconds).
 *
 * @example const ms = await samples(5, 1, async () => timeIt(() => reconciler.sync()));
 */
export async function samples(
  n: number,
  warmup: number,
  once: (i: number) => Promise<number> | number,
): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await once(-1 - i);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(await once(i));
  return out;
}

/** Milliseconds `f` took. */
export async function timeIt(f: () => Promise<unknown> | unknown): Promise<number> {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
}
