/** Networks, blocks, addresses and blackouts. */
import type { FastifyReply } from 'fastify';
import { addressViewJson } from '../../../ipam/index.ts';
import { jsonString } from '../../../json-text.ts';
import { logField } from '../request-log.ts';
import {
  AddressesQuery,
  AddressQuery,
  AllocateBody,
  BlackoutBody,
  BlackoutQuery,
  NetworkParams,
} from './schemas.ts';
import type { RouteContext, TypedApp } from './types.ts';

const JSON_TYPE = 'application/json; charset=utf-8';

/** Sends a literal JSON text (2.x answered `null` or a bare string for several routes). */
export function sendJsonText(reply: FastifyReply, text: string): FastifyReply {
  return reply.type(JSON_TYPE).send(text);
}

/**
 * The answer of `POST /address`: the bare IP string for an IPv4 address alone (the 2.x shape),
 * else `{ ip, ips }` with every family's IP, IPv4 first.
 *
 * @example allocationAnswer({ ip: '10.0.0.5', ips: [{ ip: '10.0.0.5' }] }) // '10.0.0.5'
 */
export function allocationAnswer(view: {
  ip: string;
  ips: ReadonlyArray<{ ip: string }>;
}): string | { ip: string; ips: string[] } {
  const ips = view.ips.map((a) => a.ip);
  if (ips.length === 1 && !ips[0]!.includes(':')) return ips[0]!;
  return { ip: view.ip, ips };
}

export function ipamRoutes(app: TypedApp, ctx: RouteContext): void {
  const { service } = ctx;
  const read = { access: 'read-only' } as const;
  const node = { access: 'node' } as const;
  const admin = { access: 'admin' } as const;

  app.get('/networks', { config: read }, async () => service.listNetworks());

  app.get(
    '/networks/:network/blocks',
    { config: read, schema: { params: NetworkParams } },
    async (req) => service.listNetworkBlocks(req.params.network),
  );

  app.get('/blocks', { config: read }, async () => service.listBlocks());

  // 2.x answers the bare IP as a JSON string, e.g. "10.0.0.5": still so for an IPv4 address
  // alone. Otherwise (IPv6, or both families) an object: { "ip": first, "ips": [IPv4, IPv6] }.
  app.post('/address', { config: node, schema: { body: AllocateBody } }, async (req, reply) => {
    const view = await service.allocate(req.body);
    req.logDetail = logField('address', addressViewJson(view)); // on the request's one log line
    const answer = allocationAnswer(view);
    return sendJsonText(
      reply,
      typeof answer === 'string' ? jsonString(answer) : JSON.stringify(answer),
    );
  });

  app.get('/address', { config: read, schema: { querystring: AddressQuery } }, async (req) =>
    service.getAddress(req.query.addressName),
  );

  app.delete(
    '/address',
    { config: node, schema: { querystring: AddressQuery } },
    async (req, reply) => {
      const view = await service.release(req.query.addressName);
      req.logDetail = logField('address', addressViewJson(view));
      return sendJsonText(reply, 'null');
    },
  );

  app.get('/addresses', { config: read, schema: { querystring: AddressesQuery } }, async (req) =>
    service.listAddresses(req.query.host === undefined ? undefined : { host: req.query.host }),
  );

  app.get('/blackouts', { config: read }, async () => service.listBlackouts());

  app.post('/blackouts', { config: admin, schema: { body: BlackoutBody } }, async (req) =>
    service.addBlackout(req.body.cidr),
  );

  app.delete(
    '/blackouts',
    { config: admin, schema: { querystring: BlackoutQuery } },
    async (req, reply) => {
      await service.removeBlackout(req.query.cidr);
      return sendJsonText(reply, 'null');
    },
  );
}
