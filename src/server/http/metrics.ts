/**
 * romanad's Prometheus metrics, in a registry of their own per app (never prom-client's
 * global one, so several apps in one process — tests, replicas — do not collide).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
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
  readonly httpRequests: Counter<'route' | 'method' | 'status'>;
  readonly httpDuration: Histogram<'route' | 'method'>;
  readonly addresses: Gauge;
  readonly blocks: Gauge;
  readonly hosts: Gauge;
  readonly revision: Gauge;
  readonly ready: Gauge;
  readonly watchStreams: Gauge;

  constructor(service?: RomanaService, opts: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.httpRequests = new Counter({
      name: 'romanad_http_requests_total',
      help: 'HTTP requests answered, by route pattern, method and status',
      labelNames: ['route', 'method', 'status'],
      registers,
    });
    this.httpDuration = new Histogram({
      name: 'romanad_http_request_duration_seconds',
      help: 'HTTP request duration (watch streams excluded), by route pattern and method',
      labelNames: ['route', 'method'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
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
