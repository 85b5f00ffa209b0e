/**
 * The listener's Prometheus metrics and its HTTP server: `/metrics`, `/healthz` (the process
 * serves) and `/readyz` (every informer has synced and romanad's streams are connected).
 */
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { serveProbes as serveProbeServer } from '../probe-server.ts';

export class ListenerMetrics {
  readonly registry = new Registry();
  readonly objectsSeen = new Counter({
    name: 'romana_listener_objects_seen_total',
    help: 'Kubernetes objects received from list and watch, by resource and event',
    labelNames: ['resource', 'event'] as const,
    registers: [this.registry],
  });
  readonly syncs = new Counter({
    name: 'romana_listener_syncs_total',
    help: 'Reconciles of one object with romanad, by controller and result',
    labelNames: ['controller', 'result'] as const,
    registers: [this.registry],
  });
  readonly errors = new Counter({
    name: 'romana_listener_errors_total',
    help: 'Failures, by where they happened (a controller, an informer, leader election)',
    labelNames: ['where'] as const,
    registers: [this.registry],
  });
  readonly gcReleases = new Counter({
    name: 'romana_listener_gc_released_total',
    help: 'Pod addresses released by the garbage collector, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly leader = new Gauge({
    name: 'romana_listener_leader',
    help: '1 while this replica holds the leader Lease and acts, else 0',
    registers: [this.registry],
  });
  readonly synced = new Gauge({
    name: 'romana_listener_informer_synced',
    help: '1 once the informer has applied its first list',
    labelNames: ['resource'] as const,
    registers: [this.registry],
  });
  readonly relists = new Counter({
    name: 'romana_listener_relists_total',
    help: 'Full lists made by an informer (the first one, then after 410 Gone)',
    labelNames: ['resource'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'romana_listener_' });
  }
}

/** Readiness: undefined when ready, else why not. */
export type ReadyCheck = () => string | undefined;

/** Serves the probes and `/metrics` on `host:port` (0: any free port). */
export async function serveProbes(
  metrics: ListenerMetrics,
  host: string,
  port: number,
  notReady: ReadyCheck,
): Promise<{ server: http.Server; url: string }> {
  const server = await serveProbeServer({
    registry: metrics.registry,
    port,
    host,
    healthy: () => true,
    unhealthy: 'unhealthy',
    notReady,
  });
  const a = server.address() as AddressInfo;
  const h = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  return { server, url: `http://${h}:${a.port}` };
}
