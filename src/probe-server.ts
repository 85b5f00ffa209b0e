/**
 * The small HTTP server every node-side program runs beside its work: `/metrics` (Prometheus
 * text from its registry), `/healthz` (200 while healthy, else 503 with the reason) and,
 * where the program has one, `/readyz`. Anything else is a 404.
 */
import http from 'node:http';
import type { Registry } from 'prom-client';

export interface ProbeServerOptions {
  registry: Registry;
  port: number;
  host: string;
  /** Whether the program is healthy; `unhealthy` says why when it is not. */
  healthy: () => boolean;
  unhealthy: string;
  /** Whether the program is ready to serve; absent: no `/readyz`. */
  ready?: () => boolean;
}

function status(res: http.ServerResponse, ok: boolean, okText: string, notOk: string): void {
  res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ status: ok ? okText : notOk }));
}

/**
 * Starts the server; resolves once it listens (rejects on e.g. `EADDRINUSE`).
 *
 * @example
 * const server = await serveProbes({ registry, port: 9607, host: '127.0.0.1',
 *   healthy: () => true, unhealthy: 'reconcile failing' });
 */
export function serveProbes(o: ProbeServerOptions): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path === '/healthz') status(res, o.healthy(), 'ok', o.unhealthy);
    else if (path === '/readyz' && o.ready) status(res, o.ready(), 'ready', 'not ready');
    else if (path === '/metrics') {
      o.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': o.registry.contentType });
          res.end(text);
        },
        (err: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(`metrics failed: ${String(err)}\n`);
        },
      );
    } else res.writeHead(404).end();
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve(server));
  });
}
