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
  /** Why the program is not ready to serve, or undefined when it is; absent: no `/readyz`. */
  notReady?: () => string | undefined;
}

function json(res: http.ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
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
    if (path === '/healthz') {
      const ok = o.healthy();
      json(res, ok ? 200 : 503, { status: ok ? 'ok' : o.unhealthy });
    } else if (path === '/readyz' && o.notReady) {
      const why = o.notReady();
      json(
        res,
        why === undefined ? 200 : 503,
        why === undefined ? { status: 'ready' } : { status: 'not ready', reason: why },
      );
    } else if (path === '/metrics') {
      o.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': o.registry.contentType });
          res.end(text);
        },
        (err: unknown) => json(res, 500, { error: String(err) }),
      );
    } else {
      const routes = o.notReady ? '/metrics, /healthz or /readyz' : '/metrics or /healthz';
      json(res, 404, { error: `no route ${path}; try ${routes}` });
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve(server));
  });
}
