/** Hosts and the topology. */
import { sendJsonText } from './ipam.ts';
import { HostBody, HostDeleteQuery, HostParams, HostPatchBody, TopologyBody } from './schemas.ts';
import type { RouteContext, TypedApp } from './types.ts';

export function hostRoutes(app: TypedApp, ctx: RouteContext): void {
  const { service } = ctx;
  const read = { access: 'read-only' } as const;
  const node = { access: 'node' } as const;
  const admin = { access: 'admin' } as const;

  app.get('/hosts', { config: read }, async () => service.listHosts());

  // 2.x answers null; GET /hosts/{name} gives the placement.
  app.post('/hosts', { config: node, schema: { body: HostBody } }, async (req, reply) => {
    const host = await service.addHost(req.body);
    req.log.info({ host: host.name, ip: host.ip, groups: host.groups }, 'host added');
    return sendJsonText(reply, 'null');
  });

  app.get('/hosts/:name', { config: read, schema: { params: HostParams } }, async (req) =>
    service.getHost(req.params.name),
  );

  app.delete(
    '/hosts/:name',
    { config: admin, schema: { params: HostParams, querystring: HostDeleteQuery } },
    async (req) => {
      const removed = await service.removeHost(req.params.name, {
        force: req.query.force === 'true',
      });
      req.log.info({ removed }, 'host removed');
      return removed;
    },
  );

  app.patch(
    '/hosts/:name',
    { config: node, schema: { params: HostParams, body: HostPatchBody } },
    async (req) => service.patchHost(req.params.name, req.body),
  );

  app.get('/topology', { config: read }, async () => service.getTopology());

  // 2.x answers null; hosts or blackouts the new topology could not keep are logged.
  app.post(
    '/topology',
    { config: admin, bodyLimit: ctx.topologyBodyLimit, schema: { body: TopologyBody } },
    async (req, reply) => {
      const result = await service.updateTopology(req.body);
      if (result.droppedHosts.length > 0 || result.droppedBlackouts.length > 0) {
        req.log.warn(
          result,
          'topology updated; some hosts or blackouts did not fit and were dropped',
        );
      } else req.log.info('topology updated');
      return sendJsonText(reply, 'null');
    },
  );
}
