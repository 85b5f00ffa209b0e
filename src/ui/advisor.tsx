/**
 * The topology advisor for the live topology: romanad simulates (`POST /topology/simulate`)
 * the topology it holds, with as many pods per host as run now (or as asked), for several
 * block sizes; the page charts routes per tier (host, ToR, spine), Romana's aggregation next to
 * one route per block and one per host, and the addresses wasted in partly used blocks, against
 * block size, with the figures in a table below.
 */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import type { SimulationInput, SimulationReport, TierRoutes } from '../advisor/types.ts';
import type { LiveStore } from './store.ts';

/**
 * Block sizes to compare: the network's own, 3 smaller and 2 larger prefixes, within the
 * network and at most /30.
 *
 * @example blockMasks(28, 12) // [25, 26, 27, 28, 29, 30]
 */
export function blockMasks(own: number, networkPrefix: number): number[] {
  const out: number[] = [];
  for (let m = own - 3; m <= own + 2; m++) if (m > networkPrefix && m <= 30) out.push(m);
  return out;
}

/** `POST /topology/simulate`'s body: the advisor's input, where `pods` may also be `live`. */
export type SimulateRequest = Omit<SimulationInput, 'pods'> & {
  pods: SimulationInput['pods'] | 'live';
};

/**
 * What the page asks of the advisor: romanad's live topology (sent as no topology at all:
 * romanad simulates the one it holds), its live pods (each host as many as it holds now) or
 * `podsPerHost` on every host, and block sizes around the first network's own.
 */
export function liveInput(
  store: LiveStore,
  podsPerHost: number | 'live',
): SimulateRequest | undefined {
  const net = store.state.topology?.networks[0];
  if (net === undefined) return undefined;
  const own = net.block_mask || 29;
  const prefix = Number(net.cidr.split('/')[1]);
  return { pods: podsPerHost, block_masks: blockMasks(own, prefix) };
}

const TIERS = [
  ['host', '#2160b8'],
  ['tor', '#23863a'],
  ['spine', '#b3591e'],
] as const;

type Row = { mask: number; size: number; report: SimulationReport['block_sizes'][number] };

function usable(r: SimulationReport): Row[] {
  return r.block_sizes
    .filter((b) => b.error === undefined && b.routes !== undefined && b.addresses !== undefined)
    .map((b) => ({ mask: b.block_mask, size: b.block_size, report: b }))
    .sort((a, b) => a.size - b.size);
}

function Chart({ opts, data }: { opts: Omit<uPlot.Options, 'width'>; data: uPlot.AlignedData }) {
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (el.current === null) return;
    const plot = new uPlot({ ...opts, width: 560 }, data, el.current);
    return () => plot.destroy();
  }, [opts, data]);
  return <div class="chart" ref={el} />;
}

/** x is log2 of the block size, one tick per size, labelled with the size. */
const xAxis: uPlot.Axis = {
  label: 'addresses per block',
  incrs: [1],
  values: (_u, vals) => vals.map((v) => (Number.isInteger(v) ? String(2 ** v) : '')),
};
const xScale: uPlot.Scale = { time: false };
const yAxis = (label: string): uPlot.Axis => ({ label, size: 64 });
const common = { height: 260, legend: { live: false }, scales: { x: xScale } };

function routeChart(rows: Row[]): [Omit<uPlot.Options, 'width'>, uPlot.AlignedData] {
  const series: uPlot.Series[] = [{ label: 'block size' }];
  const data: number[][] = [rows.map((r) => Math.log2(r.size))];
  for (const [tier, colour] of TIERS) {
    const of = (r: Row) => r.report.routes![tier] as TierRoutes;
    for (const [kind, dash, label] of [
      ['romana', undefined, 'Romana'],
      ['per_block', [6, 4], 'per block'],
      ['per_host', [2, 3], 'per host'],
    ] as const) {
      series.push({
        label: `${tier} ${label}`,
        stroke: colour,
        width: 2,
        ...(dash ? { dash: [...dash] } : {}),
      });
      data.push(rows.map((r) => of(r)[kind].max));
    }
  }
  return [
    {
      ...common,
      title: 'Routes on the busiest device of each tier',
      axes: [xAxis, yAxis('routes')],
      series,
    },
    data as uPlot.AlignedData,
  ];
}

function wasteChart(rows: Row[]): [Omit<uPlot.Options, 'width'>, uPlot.AlignedData] {
  return [
    {
      ...common,
      title: 'Addresses in blocks in use, and wasted',
      axes: [xAxis, yAxis('addresses')],
      series: [
        { label: 'block size' },
        { label: 'in blocks', stroke: '#67707a', width: 2 },
        { label: 'wasted', stroke: '#b3261e', width: 2, fill: 'rgba(179,38,30,0.08)' },
      ],
    },
    [
      rows.map((r) => Math.log2(r.size)),
      rows.map((r) => r.report.addresses!.block_addresses),
      rows.map((r) => r.report.addresses!.wasted),
    ],
  ];
}

function Table({ report }: { report: SimulationReport }) {
  return (
    <table data-testid="advisor-table">
      <thead>
        <tr>
          <th>block</th>
          <th>host routes</th>
          <th>ToR routes</th>
          <th>spine routes</th>
          <th>per block (spine)</th>
          <th>per host (spine)</th>
          <th>blocks</th>
          <th>wasted</th>
          <th>pods/host before full</th>
        </tr>
      </thead>
      <tbody>
        {report.block_sizes.map((b) => (
          <tr key={b.block_mask} data-mask={b.block_mask}>
            <td>
              /{b.block_mask} ({b.block_size})
            </td>
            {b.error !== undefined || b.routes === undefined || b.addresses === undefined ? (
              <td colSpan={8}>{b.error ?? 'no figures'}</td>
            ) : (
              <>
                <td data-col="host">{b.routes.host.romana.max}</td>
                <td data-col="tor">{b.routes.tor.romana.max}</td>
                <td data-col="spine">{b.routes.spine.romana.max}</td>
                <td>{b.routes.spine.per_block.max}</td>
                <td>{b.routes.spine.per_host.max}</td>
                <td data-col="blocks">{b.addresses.blocks}</td>
                <td data-col="wasted">
                  {b.addresses.wasted} ({Math.round(b.addresses.wasted_ratio * 100)}%)
                </td>
                <td>{b.capacity?.pods_per_host ?? '—'}</td>
              </>
            )}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

type Result = { report: SimulationReport } | { error: string } | undefined;

export function Advisor({ store }: { store: LiveStore }) {
  /** Empty: the live pods; else this many on every host. */
  const [pods, setPods] = useState('');
  const [result, setResult] = useState<Result>(undefined);
  const [busy, setBusy] = useState(false);
  const run = () => {
    const input = liveInput(store, pods === '' ? 'live' : Math.max(0, Math.floor(Number(pods))));
    if (input === undefined) return setResult({ error: 'romanad holds no topology yet' });
    setBusy(true);
    store.api.json<SimulationReport>('/topology/simulate', 'POST', input).then(
      (report) => (setResult({ report }), setBusy(false)),
      (err: unknown) => (
        setResult({ error: err instanceof Error ? err.message : String(err) }),
        setBusy(false)
      ),
    );
  };
  useEffect(run, []); // once when the tab opens; again on demand
  // Charts are drawn again only for a new report, not at each change of the live state.
  const [routes, waste, rows] = useMemo(() => {
    const r = result !== undefined && 'report' in result ? usable(result.report) : [];
    return [routeChart(r), wasteChart(r), r] as const;
  }, [result]);
  return (
    <div class="advisor" data-testid="advisor">
      <form
        class="advisor-form"
        onSubmit={(e) => {
          e.preventDefault();
          run();
        }}
      >
        Simulate this topology with its pods as they run now, or with{' '}
        <input
          type="number"
          name="pods"
          min={0}
          placeholder="—"
          value={pods}
          onInput={(e) => setPods((e.currentTarget as HTMLInputElement).value)}
        />{' '}
        pods on every host <button type="submit">{busy ? 'Simulating…' : 'Simulate'}</button>
      </form>
      {result !== undefined && 'error' in result && <p class="found error">{result.error}</p>}
      {result !== undefined && 'report' in result && (
        <>
          <p class="meta">
            {result.report.hosts} hosts, {result.report.pods} pods; routes are the largest count on
            one device of the tier.
          </p>
          {rows.length > 0 && (
            <div class="charts">
              <Chart opts={routes[0]} data={routes[1]} />
              <Chart opts={waste[0]} data={waste[1]} />
            </div>
          )}
          <Table report={result.report} />
        </>
      )}
    </div>
  );
}
