/**
 * Benchmark runner: `npm run bench` runs every benchmark, `npm run bench -- NAME` one.
 * Each figure is printed as readable text and as one JSON line
 * `{"bench": NAME, "metric": "...", "value": N, "unit": "..."}`.
 */
export type Report = (metric: string, value: number, unit: string, note?: string) => void;

interface BenchModule {
  run(report: Report): Promise<void>;
}

const BENCHES: Record<string, () => Promise<BenchModule>> = {
  ipam: () => import('./ipam.ts'),
  api: () => import('./api.ts'),
  store: () => import('./store.ts'),
  node: () => import('./node.ts'),
  policy: () => import('./policy.ts'),
  start: () => import('./start.ts'),
};

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
    await mod.run((metric, value, unit, note) => {
      const shown = Number.isInteger(value) ? value : Number(value.toPrecision(4));
      process.stdout.write(`${name} ${metric}: ${shown} ${unit}${note ? ` (${note})` : ''}\n`);
      process.stdout.write(`${JSON.stringify({ bench: name, metric, value: shown, unit })}\n`);
    });
  }
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
