/** Policies (reference §10), stored per id. */
import { invalidInput } from '../../../errors.ts';
import { sendJsonText } from './ipam.ts';
import { PolicyBody, PolicyParams } from './schemas.ts';
import type { RouteContext, TypedApp } from './types.ts';

export function policyRoutes(app: TypedApp, ctx: RouteContext): void {
  const { service } = ctx;
  const read = { access: 'read-only' } as const;
  const admin = { access: 'admin' } as const;

  app.get('/policies', { config: read }, async () => service.listPolicies());

  // Fixed 2.x bug: GET /policies/{id} looked up the wrong variable and always failed.
  app.get('/policies/:policyID', { config: read, schema: { params: PolicyParams } }, async (req) =>
    service.getPolicy(req.params.policyID),
  );

  // 2.x answers null; the policy is validated (422 listing every problem) before it is stored.
  app.post('/policies', { config: admin, schema: { body: PolicyBody } }, async (req, reply) => {
    const policy = await service.putPolicy(req.body);
    req.log.info({ policy: policy.id }, 'policy stored');
    return sendJsonText(reply, 'null');
  });

  app.delete(
    '/policies/:policyID',
    { config: admin, schema: { params: PolicyParams } },
    async (req, reply) => {
      await service.deletePolicy(req.params.policyID);
      req.log.info({ policy: req.params.policyID }, 'policy deleted');
      return sendJsonText(reply, 'null');
    },
  );

  // 2.x's delete-by-body, with its three documented errors (400, 422, 404). The body is
  // checked here rather than by a schema so that each case keeps its own status and message.
  app.delete('/policies', { config: admin }, async (req, reply) => {
    const body: unknown = req.body;
    if (body === undefined || body === null) {
      throw invalidInput('body: Request must either be to /policies/{policyID} or have a body.', {
        resourceType: 'policy',
      });
    }
    const id =
      typeof body === 'object' && !Array.isArray(body) ? (body as { id?: unknown }).id : undefined;
    if (typeof id !== 'string' || id === '') {
      throw invalidInput('body.id: Policy ID not found in input', {
        resourceType: 'policy',
        semantic: true,
      });
    }
    await service.deletePolicy(id);
    req.log.info({ policy: id }, 'policy deleted');
    return sendJsonText(reply, 'null');
  });
}
