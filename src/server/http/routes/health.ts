/** Probes and Prometheus metrics. */
import { RomanaError } from '../../../errors.ts';
import type { RouteContext, TypedApp } from './types.ts';

export function healthRoutes(app: TypedApp, ctx: RouteContext): void {
  const { service, metrics } = ctx;
  const pub = { access: 'public' } as const;

  /** Liveness: the process answers HTTP. */
  app.get('/healthz', { config: pub, logLevel: 'warn' }, async () => ({ status: 'ok' }));

  /** Readiness: the service has loaded its state and its store takes writes (503 otherwise). */
  app.get('/readyz', { config: pub, logLevel: 'warn' }, async () => {
    if (!service.ready()) {
      throw new RomanaError(
        'Unavailable',
        'romanad is not ready yet: it is still loading its state',
        {
          resourceType: 'service',
        },
      );
    }
    const store = service.storeHealth?.();
    if (store !== undefined && !store.writable) {
      throw new RomanaError(
        'Unavailable',
        `romanad is not ready: its store cannot take writes: ${store.problem ?? 'no reason given'}`,
        { resourceType: 'store' },
      );
    }
    return { status: 'ready', revision: service.revision() };
  });

  app.get(
    '/metrics',
    { config: { access: 'read-only' }, logLevel: 'warn' },
    async (_req, reply) => {
      const text = await metrics.registry.metrics();
      return reply.type(metrics.registry.contentType).send(text);
    },
  );
}
