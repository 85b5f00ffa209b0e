/** Hosts and the topology. */
import { invalidInput } from '../../../errors.ts';
import { Addr, BOTH_FAMILIES, Cidr } from '../../../ipam/addr.ts';
import { hostIpProblem, showValue } from '../../../names.ts';
import type { RomanaService } from '../../state/service.ts';
import { sendJsonText } from './ipam.ts';
import { HostBody, HostDeleteQuery, HostParams, HostPatchBody, TopologyBody } from './schemas.ts';
import type { RouteContext, TypedApp } from './types.ts';
import { dryRunTopology, TopologyQuery } from './advisor.ts';

export function hostRoutes(app: TypedApp, ctx: RouteContext): void {
  const { service } = ctx;
  const read = { access: 'read-only' } as const;
  const node = { access: 'node' } as const;
  const admin = { access: 'admin' } as const;

  app.get('/hosts', { config: read }, async () => service.listHosts());

  // 2.x answers null; GET /hosts/{name} gives the placement.
  app.post('/hosts', { config: node, schema: { body: HostBody } }, async (req, reply) => {
    checkHostIp(service, req.body.ip);
    if (req.body.ip6 !== undefined && req.body.ip6 !== '') {
      checkHostIp(service, req.body.ip6, 'ip6');
    }
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
    async (req) => {
      if ('managed_by' in req.body) {
        throw invalidInput(
          `body.managed_by: ${showValue(req.body.managed_by)} refused: who manages a host is set when it is added (POST /hosts) and never changed`,
          { resourceType: 'host', resourceId: req.params.name },
        );
      }
      const { tags, k8s_info } = req.body;
      return service.patchHost(req.params.name, {
        ...(tags === undefined ? {} : { tags }),
        ...(k8s_info === undefined ? {} : { k8s_info }),
      });
    },
  );

  app.get('/topology', { config: read }, async () => service.getTopology());

  // 2.x answers null; hosts or blackouts the new topology could not keep are logged.
  app.post(
    '/topology',
    {
      config: admin,
      bodyLimit: ctx.topologyBodyLimit,
      schema: { body: TopologyBody, querystring: TopologyQuery },
    },
    async (req, reply) => {
      if (req.query.dryRun === 'true') return dryRunTopology(service, req.body);
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

/**
 * A host's IP must be a unicast address outside every Romana network: those addresses belong
 * to pods, and a host holding one would take a pod's traffic. (A topology update that would
 * cover a host is the topology writer's to refuse.)
 */
export function checkHostIp(service: RomanaService, ip: string, field = 'ip'): void {
  const addr = Addr.tryParse(ip);
  if (addr === undefined) return; // the service names a malformed IP itself
  const special = hostIpProblem(addr);
  if (special !== undefined) {
    throw invalidInput(`body.${field}: ${special}`, { resourceType: 'host' });
  }
  for (const n of service.listNetworks()) {
    if (Cidr.parse(n.cidr, 'cidr', BOTH_FAMILIES).containsAddr(addr)) {
      throw invalidInput(
        `body.${field}: '${ip}' lies inside Romana network ${n.id} (${n.cidr}), whose addresses go to pods`,
        { resourceType: 'host', semantic: true },
      );
    }
  }
}
