/**
 * Benchmark runner: `npm run bench` runs every benchmark, `npm run bench -- NAME` one.
 * Each figure is printed as readable text and as one JSON line
 * `{"bench": NAME, "metric": "...", "value": N, "unit": "..."}` (plus `min`, `max` and `n` when
 * the value is the median of several samples); `npm run bench:record` collects these lines.
 */
import type { Spread } from './stats.ts';

export type Report = (
  metric: string,
  value: number,
  unit: string,
  note?: string,
  spread?: Spread,
) => void;

interface BenchModule {
  run(report: Report): Promise<void>;
}

const BENCHES: Record<string, () => Promise<BenchModule>> = {
  ipam: () => import('./ipam.ts'),
  api: () => import('./api.ts'),
  store: () => import('./store.ts'),
  node: () => import('./node.ts'),
  policy: () => import('./policy.ts'),
  netpol: () => import('./netpol.ts'),
  start: () => import('./start.ts'),
  listener: () => import('./listener.ts'),
  bgp: () => import('./bgp.ts'),
  'etcd-wire': () => import('./etcd-wire.ts'),
};

function round(v: number): number {
  return Number.isInteger(v) ? v : Number(v.toPrecision(4));
}

async function main(argv: string[]): Promise<number> {
  const wanted = argv.filter((a) => !a.startsWith('-'));
  const unknown = wanted.filter((w) => !(w in BENCHES));
  if (unknown.length > 0) {
    process.stderr.write(
      `unknown benchmark(s): ${unknown.join(', ')}; available: ${Object.keys(BENCHES).join(', ')}\n`,
    );
    return 2;
  }
  for (const name of wanted.length > 0 ? wanted : Object.keys(BENCHES)) {
    process.stdout.write(`# ${name}\n`);
    const mod = await BENCHES[name]!();
    await mod.run((metric, value, unit, note, spread) => {
      const shown = round(value);
      const s = spread && { min: round(spread.min), max: round(spread.max), n: spread.n };
      process.stdout.write(`${name} ${metric}: ${shown} ${unit}${note ? ` (${note})` : ''}\n`);
      process.stdout.write(
        `${JSON.stringify({ bench: name, metric, value: shown, unit, ...s })}\n`,
      );
    });
  }
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
