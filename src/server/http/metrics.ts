/**
 * romanad's Prometheus metrics, in a registry of their own per app (never prom-client's
 * global one, so several apps in one process — tests, replicas — do not collide).
 */
import { collectDefaultMetrics, Gauge, Registry, type Metric } from 'prom-client';
import type { RomanaService } from '../state/service.ts';

/**
 * The metrics of one app. HTTP metrics are recorded by the app; the state gauges are read
 * from the service at scrape time, and can also be set directly by whoever owns better
 * figures (e.g. a service that counts as it goes).
 *
 * @example
 * const m = new RomanadMetrics(service);
 * m.addresses.set(42);
 * await m.registry.metrics(); // text exposition
 */
export class RomanadMetrics {
  readonly registry = new Registry();
  /** Requests answered and their durations (`romanad_http_request…`). */
  readonly http: HttpMetrics;
  readonly addresses: Gauge;
  readonly blocks: Gauge;
  readonly hosts: Gauge;
  readonly revision: Gauge;
  readonly ready: Gauge;
  readonly watchStreams: Gauge;

  constructor(service?: RomanaService, opts: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.http = new HttpMetrics(this.registry);
    const fromService = (read: (s: RomanaService) => number) =>
      service === undefined
        ? undefined
        : function (this: Gauge) {
            if (!service.ready()) return;
            try {
              this.set(read(service));
            } catch {
              // a scrape must not fail because the state is momentarily unreadable
            }
          };
    this.addresses = gauge(
      'romanad_addresses_allocated',
      'Addresses allocated',
      registers,
      fromService((s) => s.listBlocks().blocks.reduce((n, b) => n + b.allocated_ip_count, 0)),
    );
    this.blocks = gauge(
      'romanad_blocks',
      'Blocks carved (owned by a host or free)',
      registers,
      fromService((s) => s.listBlocks().blocks.length),
    );
    this.hosts = gauge(
      'romanad_hosts',
      'Hosts registered',
      registers,
      fromService((s) => s.listHosts().hosts.length),
    );
    this.revision = gauge(
      'romanad_store_revision',
      'Store revision this replica has applied',
      registers,
      fromService((s) => s.revision()),
    );
    this.ready = gauge(
      'romanad_ready',
      '1 once the service serves requests',
      registers,
      service === undefined
        ? undefined
        : function (this: Gauge) {
            this.set(service.ready() ? 1 : 0);
          },
    );
    this.watchStreams = gauge('romanad_watch_streams', 'Open watch streams', registers, undefined);
    if (opts.processMetrics === true) collectDefaultMetrics({ register: this.registry });
  }
}

function gauge(
  name: string,
  help: string,
  registers: Registry[],
  collect: ((this: Gauge) => void) | undefined,
): Gauge {
  return collect === undefined
    ? new Gauge({ name, help, registers })
    : new Gauge({ name, help, registers, collect });
}

/** Upper bounds (seconds) of the request duration histogram's buckets. */
const DURATION_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
];

/** One route and method's figures. */
interface Cell {
  route: string;
  method: string;
  /** Requests by status code. */
  statuses: Map<number, number>;
  /** Observations per bucket (not cumulative); the last one is above every bound. */
  buckets: number[];
  sum: number;
  count: number;
}

/** One line of a metric as the registry prints it. */
interface Sample {
  labels: Record<string, string | number>;
  value: number;
  metricName: string;
}

/** What the registry reads of a metric (prom-client's types describe only its own classes). */
interface Exposed {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  aggregator: 'sum';
  get(): Promise<Omit<Exposed, 'get' | 'reset'> & { values: Sample[] }>;
  reset(): void;
}

/**
 * `romanad_http_requests_total` (counter: route, method, status) and
 * `romanad_http_request_duration_seconds` (histogram: route, method). Each request adds to
 * plain numbers of its route and method; the registry reads them at scrape time. prom-client's
 * own counter and histogram check and hash their labels at every call, which every allocation
 * would pay.
 *
 * @example
 * const m = new HttpMetrics(registry);
 * m.record('/address', 'POST', 200, 0.004);
 */
export class HttpMetrics {
  /** Route, then method. */
  readonly #cells = new Map<string, Map<string, Cell>>();

  constructor(registry: Registry) {
    const exposed = (
      name: string,
      help: string,
      type: Exposed['type'],
      values: (name: string) => Sample[],
    ): Exposed => ({
      name,
      help,
      type,
      aggregator: 'sum',
      get: async () => ({ name, help, type, aggregator: 'sum', values: values(name) }),
      reset: () => this.#cells.clear(),
    });
    const counter = exposed(
      'romanad_http_requests_total',
      'HTTP requests answered, by route pattern, method and status',
      'counter',
      (name) => this.#counts(name),
    );
    const histogram = exposed(
      'romanad_http_request_duration_seconds',
      'HTTP request duration (watch streams excluded), by route pattern and method',
      'histogram',
      (name) => this.#durations(name),
    );
    registry.registerMetric(counter as unknown as Metric);
    registry.registerMetric(histogram as unknown as Metric);
  }

  /** One request answered: its route pattern, method, status and duration in seconds. */
  record(route: string, method: string, status: number, seconds: number): void {
    let methods = this.#cells.get(route);
    if (methods === undefined) this.#cells.set(route, (methods = new Map()));
    let cell = methods.get(method);
    if (cell === undefined) {
      const buckets = new Array<number>(DURATION_BUCKETS.length + 1).fill(0);
      cell = { route, method, statuses: new Map(), buckets, sum: 0, count: 0 };
      methods.set(method, cell);
    }
    cell.statuses.set(status, (cell.statuses.get(status) ?? 0) + 1);
    let b = 0;
    while (b < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[b]!) b++;
    cell.buckets[b]!++;
    cell.sum += seconds;
    cell.count++;
  }

  *#all(): Generator<Cell> {
    for (const methods of this.#cells.values()) yield* methods.values();
  }

  #counts(name: string): Sample[] {
    const out: Sample[] = [];
    for (const c of this.#all()) {
      for (const [status, value] of c.statuses) {
        const labels = { route: c.route, method: c.method, status: String(status) };
        out.push({ labels, value, metricName: name });
      }
    }
    return out;
  }

  /** Cumulative buckets, then sum and count, per route and method (Prometheus' layout). */
  #durations(name: string): Sample[] {
    const out: Sample[] = [];
    for (const c of this.#all()) {
      const labels = { route: c.route, method: c.method };
      let seen = 0;
      DURATION_BUCKETS.forEach((le, i) => {
        seen += c.buckets[i]!;
        out.push({ labels: { le, ...labels }, value: seen, metricName: `${name}_bucket` });
      });
      out.push({ labels: { le: '+Inf', ...labels }, value: c.count, metricName: `${name}_bucket` });
      out.push({ labels, value: c.sum, metricName: `${name}_sum` });
      out.push({ labels, value: c.count, metricName: `${name}_count` });
    }
    return out;
  }
}
