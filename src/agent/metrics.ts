/**
 * The agent's Prometheus metrics and its small HTTP server: `/metrics` and `/healthz`.
 */
import type http from 'node:http';
import { serveProbes } from '../probe-server.ts';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export class AgentMetrics {
  readonly registry = new Registry();
  readonly managedRoutes = new Gauge({
    name: 'romana_managed_routes',
    help: 'Routes in table romana that the agent manages',
    registers: [this.registry],
  });
  readonly reconcileSeconds = new Histogram({
    name: 'romana_reconcile_duration_seconds',
    help: 'Time to plan and apply the routes of table romana',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly reconcileErrors = new Counter({
    name: 'romana_reconcile_errors_total',
    help: 'Route reconciles that failed',
    registers: [this.registry],
  });
  readonly policyRules = new Gauge({
    name: 'romana_policy_rules',
    help: 'iptables rules in the Romana chains the agent manages',
    registers: [this.registry],
  });
  readonly managedSets = new Gauge({
    name: 'romana_managed_sets',
    help: 'ipsets the agent manages',
    registers: [this.registry],
  });
  readonly policyRenderSeconds = new Histogram({
    name: 'romana_policy_render_duration_seconds',
    help: 'Time to render the desired chains and sets from policies and blocks',
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1],
    registers: [this.registry],
  });
  readonly policyApplySeconds = new Histogram({
    name: 'romana_policy_apply_duration_seconds',
    help: 'Time to apply the firewall changes (ipset restore, iptables-restore)',
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly policyErrors = new Counter({
    name: 'romana_policy_errors_total',
    help: 'Policy renders or applies that failed',
    registers: [this.registry],
  });
  readonly skippedPolicies = new Gauge({
    name: 'romana_policies_skipped',
    help: 'Policies that could not be rendered (see the log for why)',
    registers: [this.registry],
  });
  readonly refusedPolicies = new Gauge({
    name: 'romana_policy_refused',
    help: 'Policies whose part the kernel refused at the last apply (1 per policy; closed meanwhile)',
    labelNames: ['policy'],
    registers: [this.registry],
  });
  readonly vips = new Gauge({
    name: 'romana_vips_held',
    help: 'VIP addresses this node holds on its primary link',
    registers: [this.registry],
  });
  readonly vipErrors = new Counter({
    name: 'romana_vip_errors_total',
    help: 'VIP syncs that failed',
    registers: [this.registry],
  });
  readonly watchReconnects = new Counter({
    name: 'romana_watch_reconnects_total',
    help: 'Times the watch stream to romanad was interrupted and reconnected',
    registers: [this.registry],
  });
}

/** Serves `/metrics` and `/healthz` (200 while `healthy()`, else 503). */
export function serveMetrics(
  metrics: AgentMetrics,
  port: number,
  host: string,
  healthy: () => boolean,
): Promise<http.Server> {
  return serveProbes({
    registry: metrics.registry,
    port,
    host,
    healthy,
    unhealthy: 'reconcile failing',
  });
}
