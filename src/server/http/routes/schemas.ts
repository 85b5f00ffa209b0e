/**
 * Request schemas (TypeBox, checked by fastify's Ajv before a handler runs). Every object is
 * closed (`additionalProperties: false`) at every depth, except `k8s_info`, which holds the
 * node attributes an operator chose and is stored as given. Strings carry a `format` from
 * `FORMATS`: names follow src/names.ts, other strings refuse control characters and lone
 * surrogates. The service checks meaning (a valid IP, an eligible group, a sound topology)
 * and answers 400 or 422 itself. The fuzz test (src/server/http/fuzz.test.ts) generates its bodies
 * from these schemas.
 */
import { Type, type TSchema } from 'typebox';
import { LABEL_MAX, nameProblem, showValue, textProblem } from '../../../names.ts';
import {
  dnsLabelProblem,
  dnsSubdomainProblem,
  labelKeyProblem,
  labelValueProblem,
  portNameProblem,
  uidProblem,
} from '../../state/k8s-names.ts';

/** A Kubernetes rule's problem, with the value it was found in. */
const k8s =
  (rule: (s: string) => string | undefined) =>
  (s: string): string | undefined => {
    const problem = rule(s);
    return problem === undefined ? undefined : `${showValue(s)} ${problem}`;
  };

/**
 * The string formats of the schemas, each with the problem it finds (`undefined`: valid).
 * `app.ts` registers them with Ajv; `errors.ts` words a failed format with them.
 */
export const FORMATS: Record<string, (s: string) => string | undefined> = {
  /** A name being created (host, network, group, VIP, segment). */
  'romana-name': (s) => nameProblem(s, 'name'),
  /** An address (pod) name being created. */
  'romana-address-name': (s) => nameProblem(s, 'address'),
  /** A tenant name; empty means "no tenant", as in 2.x. */
  'romana-tenant': (s) => (s === '' ? undefined : nameProblem(s, 'tenant')),
  /** A segment name; empty means "no segment", as in 2.x. */
  'romana-segment': (s) => (s === '' ? undefined : nameProblem(s, 'name')),
  /** A group name; groups may be unnamed. */
  'romana-group-name': (s) => (s === '' ? undefined : nameProblem(s, 'name')),
  /**
   * The name of an object to read or remove: looser than a new name, so that objects stored
   * before the name rule existed can still be read and removed.
   */
  'romana-lookup': (s) => (s === '' ? 'must not be empty' : textProblem(s, 1024)),
  /** A label key (host tags, group assignments). */
  'romana-label-key': (s) => (s === '' ? 'must not be empty' : textProblem(s, LABEL_MAX)),
  /** A label value. */
  'romana-label': (s) => textProblem(s, LABEL_MAX),
  /** Any other string: an IP, a CIDR, a routing mode. */
  'romana-text': (s) => textProblem(s, 1024),
  /** A Kubernetes namespace name (a DNS label). */
  'k8s-namespace': k8s(dnsLabelProblem),
  /** A Kubernetes pod name (a DNS subdomain). */
  'k8s-pod-name': k8s(dnsSubdomainProblem),
  /** A Kubernetes object uid. */
  'k8s-uid': k8s(uidProblem),
  /** A Kubernetes label key (`[prefix/]name`). */
  'k8s-label-key': k8s(labelKeyProblem),
  /** A Kubernetes label value. */
  'k8s-label-value': k8s(labelValueProblem),
  /** A container port name (IANA service name). */
  'k8s-port-name': k8s(portNameProblem),
};

const text = (max = 64) => Type.String({ format: 'romana-text', maxLength: max });
const name = () => Type.String({ format: 'romana-name', maxLength: 253 });
const lookup = () => Type.String({ format: 'romana-lookup', minLength: 1, maxLength: 1024 });
const closed = { additionalProperties: false } as const;

/** Host tags and group assignments: label → value, at most 64 of them. */
const Labels = Type.Record(
  Type.String(),
  Type.String({ format: 'romana-label', maxLength: LABEL_MAX }),
  {
    propertyNames: { type: 'string', format: 'romana-label-key', maxLength: LABEL_MAX },
    maxProperties: 64,
  },
);
const NullableLabels = Type.Union([Type.Null(), Labels]);
/** Free-form on purpose (see the file comment); bounded by the body's size and depth limits. */
const K8sInfo = Type.Union([Type.Null(), Type.Object({}, { maxProperties: 256 })]);

const podRefFields = {
  namespace: Type.String({ format: 'k8s-namespace', maxLength: 63 }),
  name: Type.String({ format: 'k8s-pod-name', maxLength: 253 }),
  uid: Type.Optional(Type.String({ format: 'k8s-uid', maxLength: 64 })),
};

/** Kubernetes labels (pods, namespaces): key → value by the Kubernetes label rules. */
const K8sLabels = Type.Record(
  Type.String(),
  Type.String({ format: 'k8s-label-value', maxLength: 63 }),
  {
    propertyNames: { type: 'string', format: 'k8s-label-key', maxLength: 317 },
    maxProperties: 256,
  },
);

/** `POST /address`, as 2.x: `{"name","host","tenant","segment"}`, plus the pod it is for. */
export const AllocateBody = Type.Object(
  {
    name: Type.String({ format: 'romana-address-name', maxLength: 512 }),
    host: name(),
    tenant: Type.Optional(Type.String({ format: 'romana-tenant', maxLength: 63 })),
    segment: Type.Optional(Type.String({ format: 'romana-segment', maxLength: 253 })),
    pod: Type.Optional(Type.Object(podRefFields, closed)),
  },
  closed,
);

/** `PUT /addresses/{name}/pod`: the pod, its labels and its named container ports. */
export const PodBody = Type.Object(
  {
    ...podRefFields,
    labels: Type.Optional(K8sLabels),
    ports: Type.Optional(
      Type.Array(
        Type.Object(
          {
            name: Type.Optional(Type.String({ format: 'k8s-port-name', maxLength: 15 })),
            port: Type.Integer({ minimum: 1, maximum: 65535 }),
            protocol: Type.Enum(['TCP', 'UDP', 'SCTP']),
          },
          closed,
        ),
        { maxItems: 256 },
      ),
    ),
  },
  closed,
);

/** `/addresses/{name}/pod`. */
export const AddressParams = Type.Object({ name: lookup() }, closed);

/** `PUT /namespaces/{name}`: its labels (absent: none). */
export const NamespaceBody = Type.Object({ labels: Type.Optional(K8sLabels) }, closed);

/** `PUT /namespaces/{name}` creates: a DNS label. */
export const NamespacePutParams = Type.Object(
  { name: Type.String({ format: 'k8s-namespace', maxLength: 63 }) },
  closed,
);

/** `GET|DELETE /namespaces/{name}`. */
export const NamespaceParams = Type.Object({ name: lookup() }, closed);

/** `?addressName=` of `GET|DELETE /address`: a name or an IP. */
export const AddressQuery = Type.Object({ addressName: lookup() }, closed);

export const AddressesQuery = Type.Object({ host: Type.Optional(lookup()) }, closed);

/** `POST /hosts`, as 2.x `api.Host`. */
export const HostBody = Type.Object(
  {
    name: name(),
    ip: Type.String({ format: 'romana-text', minLength: 1, maxLength: 64 }),
    /** The host's own IPv6 address (next hop of IPv6 routes to its blocks). */
    ip6: Type.Optional(Type.String({ format: 'romana-text', maxLength: 64 })),
    tags: Type.Optional(NullableLabels),
    agent_port: Type.Optional(
      Type.Union([Type.Null(), Type.Integer({ minimum: 0, maximum: 65535 })]),
    ),
    k8s_info: Type.Optional(K8sInfo),
    /** Who registers the host and may remove it, e.g. `romana-listener`; set once. */
    managed_by: Type.Optional(name()),
  },
  closed,
);

/**
 * `PATCH /hosts/{name}`: a field left out is kept, `null` clears it. `managed_by` is named
 * only to be refused with a clear message: it is set when the host is added, never changed.
 */
export const HostPatchBody = Type.Object(
  {
    tags: Type.Optional(NullableLabels),
    k8s_info: Type.Optional(K8sInfo),
    managed_by: Type.Optional(Type.String({ maxLength: 253 })),
  },
  { ...closed, minProperties: 1 },
);

export const HostParams = Type.Object({ name: lookup() }, closed);

export const HostDeleteQuery = Type.Object(
  { force: Type.Optional(Type.Enum(['true', 'false'])) },
  closed,
);

export const NetworkParams = Type.Object({ network: lookup() }, closed);

/** A group, or a host (with `ip`), of a topology map; groups nest. */
const GROUP_ID = 'RomanaTopologyGroup';
const Group = Type.Cyclic(
  {
    [GROUP_ID]: Type.Object(
      {
        name: Type.Optional(Type.String({ format: 'romana-group-name', maxLength: 253 })),
        ip: Type.Optional(text()),
        ip6: Type.Optional(text()),
        cidr: Type.Optional(text()),
        routing: Type.Optional(text()),
        dummy: Type.Optional(Type.Boolean()),
        assignment: Type.Optional(NullableLabels),
        groups: Type.Optional(
          Type.Union([Type.Null(), Type.Array(Type.Ref(GROUP_ID), { maxItems: 4096 })]),
        ),
      },
      closed,
    ),
  },
  GROUP_ID,
);

/** `POST /topology`: a TopologyUpdateRequest (reference §1.1). */
export const TopologyBody = Type.Object(
  {
    networks: Type.Array(
      Type.Object(
        {
          name: name(),
          cidr: text(),
          block_mask: Type.Optional(Type.Union([Type.Null(), Type.Integer()])),
          tenants: Type.Optional(
            Type.Union([
              Type.Null(),
              Type.Array(Type.String({ format: 'romana-tenant', maxLength: 63 }), {
                maxItems: 4096,
              }),
            ]),
          ),
        },
        closed,
      ),
      { maxItems: 1024 },
    ),
    topologies: Type.Array(
      Type.Object(
        {
          networks: Type.Array(name(), { maxItems: 1024 }),
          map: Type.Optional(
            Type.Union([Type.Null(), Type.Array(Group as TSchema, { maxItems: 4096 })]),
          ),
          ecmp: Type.Optional(Type.Union([Type.Null(), Type.Boolean()])),
        },
        closed,
      ),
      { maxItems: 1024 },
    ),
    vip_cidr: Type.Optional(Type.Union([Type.Null(), text()])),
  },
  closed,
);

export const BlackoutBody = Type.Object({ cidr: Type.String({ ...text(), minLength: 1 }) }, closed);

export const BlackoutQuery = Type.Object(
  { cidr: Type.String({ ...text(), minLength: 1 }) },
  closed,
);

/**
 * `POST /policies`. Only the top is checked here: the policy validator (src/policy/shape.ts)
 * checks the rest and lists every problem with its path (422), unknown fields included.
 * `PolicyShape` below is what it accepts, for the fuzz test.
 */
export const PolicyBody = Type.Object({ id: Type.Optional(Type.String({ maxLength: 253 })) });

const Endpoint = Type.Object(
  {
    peer: Type.Optional(Type.Enum(['any', 'local', 'host'])),
    cidr: Type.Optional(text()),
    dest: Type.Optional(Type.Enum(['local', 'host'])),
    tenant_id: Type.Optional(Type.String({ format: 'romana-tenant', maxLength: 63 })),
    segment_id: Type.Optional(Type.String({ format: 'romana-segment', maxLength: 253 })),
  },
  closed,
);
const Port = Type.Integer({ minimum: 0, maximum: 65535 });

/** The policy document the validator accepts (reference §10.1), closed at every depth. */
export const PolicyShape = Type.Object(
  {
    id: name(),
    direction: Type.Optional(Type.Enum(['ingress', 'egress'])),
    description: Type.Optional(Type.String({ format: 'romana-text', maxLength: 1024 })),
    applied_to: Type.Array(Endpoint, { minItems: 1 }),
    ingress: Type.Array(
      Type.Object(
        {
          peers: Type.Array(Endpoint, { minItems: 1 }),
          rules: Type.Array(
            Type.Object(
              {
                protocol: Type.Enum(['tcp', 'udp', 'icmp', 'icmpv6', 'any']),
                ports: Type.Optional(Type.Array(Port)),
                port_ranges: Type.Optional(Type.Array(Type.Tuple([Port, Port]))),
                icmp_type: Type.Optional(Type.Integer({ minimum: 0, maximum: 255 })),
                icmp_code: Type.Optional(Type.Integer({ minimum: 0, maximum: 255 })),
                is_stateful: Type.Optional(Type.Boolean()),
              },
              closed,
            ),
            { minItems: 1 },
          ),
        },
        closed,
      ),
      { minItems: 1 },
    ),
  },
  closed,
);

export const PolicyParams = Type.Object({ policyID: lookup() }, closed);

export const WatchQuery = Type.Object(
  {
    kinds: Type.Optional(Type.String({ maxLength: 200 })),
    revision: Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$' })),
  },
  closed,
);

/** `PUT /vips/{name}`: the address, the host that holds it, and the Service's namespace. */
export const VipBody = Type.Object(
  {
    ip: text(),
    host: name(),
    namespace: Type.Optional(Type.String({ format: 'romana-tenant', maxLength: 63 })),
  },
  closed,
);

/** `PUT /vips/{name}` creates: the name follows the name rule. */
export const VipPutParams = Type.Object({ name: name() }, closed);

/** `GET|DELETE /vips/{name}`. */
export const VipParams = Type.Object({ name: lookup() }, closed);
