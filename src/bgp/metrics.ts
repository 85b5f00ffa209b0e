/**
 * The publisher's metrics (prom-client, its own registry) and the `/metrics` + `/healthz`
 * server.
 */
import http from 'node:http';
import { Counter, Gauge, Registry } from 'prom-client';
import type { ProtocolState } from './bird.ts';

/** BGP states reported by `romana_bgp_session_state`. */
export const BGP_STATES = [
  'Idle',
  'Connect',
  'Active',
  'OpenSent',
  'OpenConfirm',
  'Established',
  'Close',
  'Down',
] as const;

export class PublisherMetrics {
  readonly registry = new Registry();
  readonly reloads = new Counter({
    name: 'romana_bgp_reloads_total',
    help: 'BIRD configurations loaded (birdc configure)',
    registers: [this.registry],
  });
  readonly errors = new Counter({
    name: 'romana_bgp_config_errors_total',
    help: 'Configurations not applied: render (template or input refused), rejected (BIRD refused it), birdc',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly announced = new Gauge({
    name: 'romana_bgp_announced_prefixes',
    help: 'Prefixes this host announces',
    registers: [this.registry],
  });
  readonly sessionUp = new Gauge({
    name: 'romana_bgp_session_up',
    help: '1 when the BGP session with the peer is Established',
    labelNames: ['protocol', 'neighbor'],
    registers: [this.registry],
  });
  readonly sessionState = new Gauge({
    name: 'romana_bgp_session_state',
    help: "1 for the session's current BGP state, 0 for the others",
    labelNames: ['protocol', 'neighbor', 'state'],
    registers: [this.registry],
  });
  readonly watchReconnects = new Counter({
    name: 'romana_bgp_watch_reconnects_total',
    help: "Reconnections of romanad's watch stream",
    registers: [this.registry],
  });

  /** Replaces the session gauges with `protocols`' BGP sessions. */
  setSessions(protocols: readonly ProtocolState[]): void {
    this.sessionUp.reset();
    this.sessionState.reset();
    for (const p of protocols) {
      if (p.proto !== 'BGP') continue;
      const labels = { protocol: p.name, neighbor: p.neighbor ?? '' };
      const state = p.bgpState?.split(/\s/)[0] ?? 'Down';
      this.sessionUp.set(labels, state === 'Established' ? 1 : 0);
      for (const s of BGP_STATES)
        this.sessionState.set({ ...labels, state: s }, s === state ? 1 : 0);
    }
  }
}

/** Serves `/metrics` and `/healthz` (200 while `healthy()`, else 503). */
export function serveMetrics(
  metrics: PublisherMetrics,
  port: number,
  host: string,
  healthy: () => boolean,
): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    if (req.url === '/healthz') {
      const ok = healthy();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: ok ? 'ok' : 'not applied' }));
    } else if (req.url === '/metrics') {
      void metrics.registry.metrics().then((text) => {
        res.writeHead(200, { 'content-type': metrics.registry.contentType });
        res.end(text);
      });
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
