/** Policies (reference §10), stored per id. */
import { invalidInput } from '../../../errors.ts';
import { showValue, textProblem } from '../../../names.ts';
import { fieldKey } from './errors.ts';
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
  // checked here rather than by a schema so that each case keeps its own status and message;
  // it is closed all the same: `{"id"}` alone, a lookup name.
  app.delete('/policies', { config: admin }, async (req, reply) => {
    await service.deletePolicy(policyIdOfBody(req.body));
    req.log.info({ policy: (req.body as { id: string }).id }, 'policy deleted');
    return sendJsonText(reply, 'null');
  });
}

/** The id a `DELETE /policies` body names; throws the documented errors, or a 400 naming the field. */
function policyIdOfBody(body: unknown): string {
  if (body === undefined || body === null) {
    throw invalidInput('body: Request must either be to /policies/{policyID} or have a body.', {
      resourceType: 'policy',
    });
  }
  if (typeof body !== 'object' || Array.isArray(body)) {
    throw invalidInput(`body: must be an object {"id"}, got ${showValue(body)}`);
  }
  const extra = Object.keys(body).find((k) => k !== 'id');
  if (extra !== undefined) {
    throw invalidInput(`body${fieldKey(extra)}: unknown field (a typo?)`);
  }
  const id = (body as { id?: unknown }).id;
  if (id === undefined || id === '') {
    throw invalidInput('body.id: Policy ID not found in input', {
      resourceType: 'policy',
      semantic: true,
    });
  }
  const problem = textProblem(id, 1024);
  if (problem !== undefined) throw invalidInput(`body.id: ${problem}`);
  return id as string;
}
