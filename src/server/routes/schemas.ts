/**
 * Request schemas (TypeBox, checked by fastify's Ajv before a handler runs). They check shape
 * and types and refuse unknown fields; the service checks meaning (a valid IP, an eligible
 * group, a sound topology) and answers 400 or 422 itself.
 */
import { Type } from 'typebox';

const Labels = Type.Record(Type.String(), Type.String());
const NullableLabels = Type.Union([Type.Null(), Labels]);
const NullableObject = Type.Union([Type.Null(), Type.Object({})]);

/** `POST /address`, as 2.x: `{"name","host","tenant","segment"}`. */
export const AllocateBody = Type.Object(
  {
    name: Type.String({ maxLength: 1024 }),
    host: Type.String({ maxLength: 253 }),
    tenant: Type.Optional(Type.String({ maxLength: 253 })),
    segment: Type.Optional(Type.String({ maxLength: 253 })),
  },
  { additionalProperties: false },
);

/** `?addressName=` of `GET|DELETE /address`: a name or an IP. */
export const AddressQuery = Type.Object(
  { addressName: Type.String({ minLength: 1, maxLength: 1024 }) },
  { additionalProperties: false },
);

export const AddressesQuery = Type.Object(
  { host: Type.Optional(Type.String({ minLength: 1, maxLength: 253 })) },
  { additionalProperties: false },
);

/** `POST /hosts`, as 2.x `api.Host`. */
export const HostBody = Type.Object(
  {
    name: Type.String({ maxLength: 253 }),
    ip: Type.String({ maxLength: 64 }),
    tags: Type.Optional(NullableLabels),
    agent_port: Type.Optional(
      Type.Union([Type.Null(), Type.Integer({ minimum: 0, maximum: 65535 })]),
    ),
    k8s_info: Type.Optional(NullableObject),
  },
  { additionalProperties: false },
);

/** `PATCH /hosts/{name}`: a field left out is kept, `null` clears it. */
export const HostPatchBody = Type.Object(
  { tags: Type.Optional(NullableLabels), k8s_info: Type.Optional(NullableObject) },
  { additionalProperties: false, minProperties: 1 },
);

export const HostParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 253 }) });

export const HostDeleteQuery = Type.Object(
  { force: Type.Optional(Type.Enum(['true', 'false'])) },
  { additionalProperties: false },
);

export const NetworkParams = Type.Object({
  network: Type.String({ minLength: 1, maxLength: 253 }),
});

const GroupOrHost = Type.Object({
  name: Type.Optional(Type.String()),
  ip: Type.Optional(Type.String()),
  cidr: Type.Optional(Type.String()),
  routing: Type.Optional(Type.String()),
  dummy: Type.Optional(Type.Boolean()),
  assignment: Type.Optional(NullableLabels),
  // Nesting is checked by the service, which names the path of every problem.
  groups: Type.Optional(Type.Union([Type.Null(), Type.Array(Type.Object({}))])),
});

/** `POST /topology`: a TopologyUpdateRequest (reference §1.1). */
export const TopologyBody = Type.Object({
  networks: Type.Array(
    Type.Object({
      name: Type.String(),
      cidr: Type.String(),
      block_mask: Type.Optional(Type.Union([Type.Null(), Type.Integer()])),
      tenants: Type.Optional(Type.Union([Type.Null(), Type.Array(Type.String())])),
    }),
  ),
  topologies: Type.Array(
    Type.Object({
      networks: Type.Array(Type.String()),
      map: Type.Optional(Type.Union([Type.Null(), Type.Array(GroupOrHost)])),
    }),
  ),
});

export const BlackoutBody = Type.Object(
  { cidr: Type.String({ minLength: 1, maxLength: 64 }) },
  { additionalProperties: false },
);

export const BlackoutQuery = Type.Object(
  { cidr: Type.String({ minLength: 1, maxLength: 64 }) },
  { additionalProperties: false },
);

/** A policy's shape is checked by the policy validator (422 with every problem). */
export const PolicyBody = Type.Object({ id: Type.Optional(Type.String({ maxLength: 253 })) });

export const PolicyParams = Type.Object({
  policyID: Type.String({ minLength: 1, maxLength: 253 }),
});

export const WatchQuery = Type.Object(
  {
    kinds: Type.Optional(Type.String({ maxLength: 200 })),
    revision: Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$' })),
  },
  { additionalProperties: false },
);

/** `PUT /vips/{name}`: the address, the host that holds it, and the Service's namespace. */
export const VipBody = Type.Object(
  {
    ip: Type.String({ maxLength: 64 }),
    host: Type.String({ maxLength: 253 }),
    namespace: Type.Optional(Type.String({ maxLength: 253 })),
  },
  { additionalProperties: false },
);

export const VipParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 253 }) });
