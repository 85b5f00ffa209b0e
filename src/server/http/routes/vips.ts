/** Virtual IPs (docs/api.md, "VIPs"): one per name, held by one host. */
import { sendJsonText } from './ipam.ts';
import { VipBody, VipParams, VipPutParams } from './schemas.ts';
import type { RouteContext, TypedApp } from './types.ts';

export function vipRoutes(app: TypedApp, ctx: RouteContext): void {
  const { service } = ctx;
  const read = { access: 'read-only' } as const;
  const admin = { access: 'admin' } as const;

  app.get('/vips', { config: read }, async () => service.listVips());

  app.get('/vips/:name', { config: read, schema: { params: VipParams } }, async (req) =>
    service.getVip(req.params.name),
  );

  app.put(
    '/vips/:name',
    { config: admin, schema: { params: VipPutParams, body: VipBody } },
    async (req) => {
      const vip = await service.putVip(req.params.name, req.body);
      req.log.info({ vip: vip.name, ip: vip.ip, host: vip.host }, 'VIP stored');
      return vip;
    },
  );

  app.delete(
    '/vips/:name',
    { config: admin, schema: { params: VipParams } },
    async (req, reply) => {
      await service.deleteVip(req.params.name);
      req.log.info({ vip: req.params.name }, 'VIP deleted');
      return sendJsonText(reply, 'null');
    },
  );
}
