/**
 * The topology advisor over HTTP: `POST /topology/simulate` (read-only role) runs the advisor
 * (src/advisor) on a topology, a generated shape, or by default the live topology; and the
 * dry run of `POST /topology?dryRun=true`, which changes nothing.
 */
import { Type, type TSchema } from 'typebox';
import {
  API_LIMITS,
  topologyPreview,
  type SimulationInput,
  type TopologyPreview,
} from '../../../advisor/index.ts';
import {
  RUNNER_DEFAULTS,
  SimulationRunner,
  type SimulationRunnerOptions,
} from '../../../advisor/worker-pool.ts';
import { invalidTopology, isRomanaError } from '../../../errors.ts';
import type { TopologyUpdateRequest } from '../../../ipam/index.ts';
import type { RomanaService } from '../../state/service.ts';
import { errorBody } from './errors.ts';
import { TopologyBody } from './schemas.ts';
import type { RouteContext, TypedApp } from './types.ts';

const closed = { additionalProperties: false } as const;
const int = (minimum: number, maximum: number) => Type.Integer({ minimum, maximum });
const text = (max = 64) => Type.String({ format: 'romana-text', maxLength: max });

/** `POST /topology/simulate`: the advisor's input (src/advisor/types.ts), closed. */
export const SimulateBody = Type.Object(
  {
    topology: Type.Optional(TopologyBody as TSchema),
    shape: Type.Optional(
      Type.Object(
        {
          zones: int(1, 1024),
          racks: int(1, 1024),
          hosts: int(1, 1024),
          cidr: text(),
          host_groups: Type.Optional(Type.Boolean()),
        },
        closed,
      ),
    ),
    hosts: Type.Optional(
      Type.Array(
        Type.Object(
          {
            name: Type.String({ format: 'romana-name', maxLength: 253 }),
            ip: text(),
            tags: Type.Optional(
              Type.Record(Type.String({ maxLength: 253 }), Type.String({ maxLength: 253 }), {
                maxProperties: 64,
              }),
            ),
          },
          closed,
        ),
        { maxItems: API_LIMITS.hosts },
      ),
    ),
    pods: Type.Union([
      int(0, API_LIMITS.podsPerHost),
      // The pods each host runs now (live addresses per host).
      Type.Literal('live'),
      Type.Object(
        {
          distribution: Type.Literal('given'),
          per_host: Type.Record(Type.String({ maxLength: 253 }), int(0, API_LIMITS.podsPerHost), {
            maxProperties: API_LIMITS.hosts,
          }),
        },
        closed,
      ),
      Type.Object(
        {
          distribution: Type.Literal('uniform'),
          min: int(0, API_LIMITS.podsPerHost),
          max: int(0, API_LIMITS.podsPerHost),
        },
        closed,
      ),
      Type.Object(
        {
          distribution: Type.Literal('skewed'),
          mean: Type.Number({ minimum: 0, maximum: API_LIMITS.podsPerHost }),
          exponent: Type.Optional(Type.Number({ minimum: 0, maximum: 10 })),
        },
        closed,
      ),
    ]),
    churn: Type.Optional(
      Type.Object(
        {
          rounds: int(0, API_LIMITS.churnRounds),
          fraction: Type.Number({ exclusiveMinimum: 0, maximum: 1 }),
        },
        closed,
      ),
    ),
    segments: Type.Optional(
      Type.Array(
        Type.Object(
          {
            tenant: Type.String({ format: 'romana-tenant', maxLength: 63 }),
            segment: text(),
          },
          closed,
        ),
        { minItems: 1, maxItems: 64 },
      ),
    ),
    block_masks: Type.Optional(
      Type.Array(int(1, 32), { minItems: 1, maxItems: API_LIMITS.blockMasks }),
    ),
    tiers: Type.Optional(Type.Object({ tor: int(0, 64), spine: int(0, 64) }, closed)),
    ecmp: Type.Optional(Type.Boolean()),
    seed: Type.Optional(int(0, 2 ** 32 - 1)),
  },
  closed,
);

/** `POST /topology` query: `dryRun=true` previews the update instead of applying it. */
export const TopologyQuery = Type.Object(
  { dryRun: Type.Optional(Type.Enum(['true', 'false'])) },
  closed,
);

/**
 * The dry run of a topology update: what it would change, computed on copies (nothing written).
 *
 * @example dryRunTopology(service, doc).addresses.all_kept // true
 */
export function dryRunTopology(service: RomanaService, doc: unknown): TopologyPreview {
  const p = service.previewTopology(doc);
  return topologyPreview(p.before, p.after, p.result);
}

/** Addresses per host in the live state. */
function livePods(service: RomanaService): Record<string, number> {
  const out: Record<string, number> = {};
  for (const a of service.listAddresses()) out[a.host] = (out[a.host] ?? 0) + 1;
  return out;
}

/**
 * The advisor's routes. Simulations run in worker threads (src/advisor/worker-pool.ts), never
 * in romanad's event loop: allocations are answered while one runs. `runner` overrides the
 * bounds (threads, queue, time limit); the threads stop when the app closes.
 */
export function advisorRoutes(
  app: TypedApp,
  ctx: RouteContext,
  runnerOptions: SimulationRunnerOptions = RUNNER_DEFAULTS,
): void {
  const { service } = ctx;
  const runner = new SimulationRunner(runnerOptions);
  app.addHook('onClose', () => runner.close());
  app.post(
    '/topology/simulate',
    {
      config: { access: 'read-only' },
      bodyLimit: ctx.topologyBodyLimit,
      schema: { body: SimulateBody },
    },
    async (req, reply) => {
      const { pods, ...rest } = req.body;
      const input = {
        ...rest,
        pods: pods === 'live' ? { distribution: 'given', per_host: livePods(service) } : pods,
      } as SimulationInput;
      if (input.topology === undefined && input.shape === undefined) {
        const live = service.getTopology();
        if (live.networks.length === 0) {
          throw invalidTopology('topology: romanad has no topology yet; give one, or a shape');
        }
        input.topology = live as TopologyUpdateRequest;
      }
      try {
        return await runner.run(input, API_LIMITS);
      } catch (err) {
        // Too much work for one request: 413, naming what to reduce.
        if (isRomanaError(err, 'InvalidInput') && err.resourceId === 'work') {
          return reply.code(413).send(errorBody(err, 413));
        }
        throw err;
      }
    },
  );
}
