import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { httpStatusOf, isRomanaError } from '../errors.ts';
import { convertV1, normalizePolicyInput, parsePolicyInput, v1WrapperKey } from './convert.ts';
import { PolicyProblemsError } from './errors.ts';
import { policyHash } from './hash.ts';
import type { RomanaPolicy } from './model.ts';

type Json = Record<string, unknown>;

/** The sample policy of the 1.x documentation (reference §10.2). */
const V1_SAMPLE: Json = {
  name: 'policy1',
  description: 'sample policy opening ssh, http and https ports',
  direction: 'ingress',
  applied_to: [{ tenant: 'demo', segment: 'default' }],
  peers: [{ peer: 'any' }],
  rules: [{ protocol: 'tcp', ports: [22, 80, 443] }],
};

function v1(...policies: Json[]): Json {
  return { securitypolicies: policies };
}

function problemsOf(input: unknown): string[] {
  try {
    normalizePolicyInput(input);
  } catch (e) {
    if (e instanceof PolicyProblemsError) return [...e.problems];
    throw e;
  }
  return [];
}

describe('convertV1', () => {
  it('converts the documented 1.x sample: name to id, peers and rules to one ingress entry', () => {
    assert.deepEqual(convertV1(v1(V1_SAMPLE)), {
      ok: true,
      policies: [
        {
          id: 'policy1',
          direction: 'ingress',
          description: 'sample policy opening ssh, http and https ports',
          applied_to: [{ tenant_id: 'demo', segment_id: 'default' }],
          ingress: [
            { peers: [{ peer: 'any' }], rules: [{ protocol: 'tcp', ports: [22, 80, 443] }] },
          ],
        },
      ],
    });
  });

  const endpointCases: { name: string; endpoint: Json; converted: Json }[] = [
    {
      name: 'tenant and segment names',
      endpoint: { tenant: 't', segment: 's' },
      converted: { tenant_id: 't', segment_id: 's' },
    },
    {
      name: 'a string tenant_id and segment_id',
      endpoint: { tenant_id: 't', segment_id: 's' },
      converted: { tenant_id: 't', segment_id: 's' },
    },
    { name: 'a cidr', endpoint: { cidr: '10.0.0.0/8' }, converted: { cidr: '10.0.0.0/8' } },
    { name: 'a dest', endpoint: { dest: 'host' }, converted: { dest: 'host' } },
    {
      name: 'other tenant ids next to the tenant name (the name wins)',
      endpoint: { tenant: 't', tenant_id: 3, tenant_external_id: 'e', tenant_network_id: 4 },
      converted: { tenant_id: 't' },
    },
    {
      name: 'other segment ids next to the segment name (the name wins)',
      endpoint: {
        tenant: 't',
        segment: 's',
        segment_id: 9,
        segment_external_id: 'x',
        segment_network_id: 2,
      },
      converted: { tenant_id: 't', segment_id: 's' },
    },
  ];
  for (const c of endpointCases) {
    it(`converts an endpoint with ${c.name}`, () => {
      const r = convertV1(v1({ ...V1_SAMPLE, applied_to: [c.endpoint] }));
      assert.ok(r.ok, JSON.stringify(r));
      assert.deepEqual(r.policies[0]!['applied_to'], [c.converted]);
    });
  }

  const failures: { name: string; policy: Json; problems: string[] }[] = [
    {
      name: 'a tenant_external_id without a tenant name',
      policy: { ...V1_SAMPLE, applied_to: [{ tenant_external_id: 'ext-1', segment: 's' }] },
      problems: [
        "securitypolicies[0].applied_to[0].tenant_external_id: cannot be converted: 2.x identifies tenants by name only; give the tenant name in 'tenant'",
      ],
    },
    {
      name: 'a numeric (1.x database) tenant_id without a tenant name',
      policy: { ...V1_SAMPLE, peers: [{ tenant_id: 12 }] },
      problems: [
        "securitypolicies[0].peers[0].tenant_id: cannot be converted: 2.x identifies tenants by name only; give the tenant name in 'tenant'",
      ],
    },
    {
      name: 'a segment_network_id without a segment name',
      policy: { ...V1_SAMPLE, applied_to: [{ tenant: 't', segment_network_id: 2 }] },
      problems: [
        "securitypolicies[0].applied_to[0].segment_network_id: cannot be converted: 2.x identifies segments by name only; give the segment name in 'segment'",
      ],
    },
    {
      name: 'a tenant name and a tenant_id that disagree',
      policy: { ...V1_SAMPLE, applied_to: [{ tenant: 'a', tenant_id: 'b' }] },
      problems: ["securitypolicies[0].applied_to[0]: tenant 'a' and tenant_id 'b' disagree"],
    },
    {
      name: 'a policy without a name',
      policy: { ...V1_SAMPLE, name: undefined },
      problems: ['securitypolicies[0].name: is required (it becomes the policy id)'],
    },
    {
      name: 'a name that is not a string',
      policy: { ...V1_SAMPLE, name: 5 },
      problems: ['securitypolicies[0].name: must be a string, got number 5'],
    },
    {
      name: 'both 1.x peers/rules and a 2.x ingress',
      policy: { ...V1_SAMPLE, ingress: [] },
      problems: [
        'securitypolicies[0]: give either peers and rules (1.x) or ingress (2.x), not both',
      ],
    },
    {
      name: 'a policy that is not an object',
      policy: 'policy1' as unknown as Json,
      problems: ["securitypolicies[0]: must be an object, got the string 'policy1'"],
    },
    {
      name: 'a misspelt key',
      policy: { ...V1_SAMPLE, Applied_To: [] },
      problems: ["securitypolicies[0].Applied_To: unknown field; did you mean 'applied_to'?"],
    },
  ];
  for (const c of failures) {
    it(`refuses to convert ${c.name}`, () => {
      assert.deepEqual(convertV1(v1(c.policy)), { ok: false, problems: c.problems });
    });
  }

  it('collects the problems of every policy in the document', () => {
    const r = convertV1(
      v1({ ...V1_SAMPLE, name: undefined }, V1_SAMPLE, { ...V1_SAMPLE, name: 7 }),
    );
    assert.deepEqual(r, {
      ok: false,
      problems: [
        'securitypolicies[0].name: is required (it becomes the policy id)',
        'securitypolicies[2].name: must be a string, got number 7',
      ],
    });
  });

  it('uses a string id when there is no name', () => {
    const r = convertV1(v1({ ...V1_SAMPLE, name: undefined, id: 'by-id' }));
    assert.ok(r.ok);
    assert.equal(r.policies[0]!['id'], 'by-id');
  });

  it('converts the peers of a 2.x ingress found inside a 1.x document', () => {
    const r = convertV1(
      v1({
        name: 'n',
        applied_to: [{ tenant: 't' }],
        ingress: [{ peers: [{ tenant: 'u', segment: 'v' }], rules: [{ protocol: 'any' }] }],
      }),
    );
    assert.ok(r.ok);
    assert.deepEqual(r.policies[0]!['ingress'], [
      { peers: [{ tenant_id: 'u', segment_id: 'v' }], rules: [{ protocol: 'any' }] },
    ]);
  });
});

describe('v1WrapperKey', () => {
  const cases: [input: unknown, key: string | undefined][] = [
    [{ securitypolicies: [] }, 'securitypolicies'],
    [{ SecurityPolicies: [] }, 'SecurityPolicies'],
    [{ id: 'p' }, undefined],
    [[{ securitypolicies: [] }], undefined],
    ['securitypolicies', undefined],
  ];
  for (const [input, key] of cases) {
    it(`finds ${String(key)} in ${JSON.stringify(input)}`, () =>
      assert.equal(v1WrapperKey(input), key));
  }
});

describe('normalizePolicyInput', () => {
  const p2 = { id: 'p', applied_to: [{ tenant_id: 't' }] };

  it('wraps one policy object in a list', () => {
    assert.deepEqual(normalizePolicyInput(p2), [p2]);
  });

  it('passes an array of policies through', () => {
    assert.deepEqual(normalizePolicyInput([p2, { id: 'q' }]), [p2, { id: 'q' }]);
  });

  it('converts a 1.x document, whatever the case of its key', () => {
    const list = normalizePolicyInput({ SecurityPolicies: [V1_SAMPLE] });
    assert.equal(list.length, 1);
    assert.equal((list[0] as Json)['id'], 'policy1');
  });

  const errors: { name: string; input: unknown; problems: string[] }[] = [
    {
      name: 'an empty 1.x document',
      input: { securitypolicies: [] },
      problems: ['securitypolicies: is empty; give at least one policy'],
    },
    {
      name: 'a 1.x document whose list is not an array',
      input: { securitypolicies: {} },
      problems: ['securitypolicies: must be an array of policies, got an object'],
    },
    {
      name: 'an empty array',
      input: [],
      problems: ['policies: the list is empty; give at least one policy'],
    },
    {
      name: 'a string',
      input: 'policy',
      problems: [
        `policy input must be a policy object, an array of policies or {"securitypolicies": [...]}, got the string 'policy'`,
      ],
    },
    {
      name: 'null',
      input: null,
      problems: [
        `policy input must be a policy object, an array of policies or {"securitypolicies": [...]}, got null`,
      ],
    },
  ];
  for (const c of errors) {
    it(`rejects ${c.name}`, () => assert.deepEqual(problemsOf(c.input), c.problems));
  }

  it('throws an InvalidInput error that maps to 400', () => {
    try {
      normalizePolicyInput([]);
      assert.fail('expected an error');
    } catch (e) {
      assert.ok(isRomanaError(e, 'InvalidInput'));
      assert.equal(httpStatusOf(e), 400);
    }
  });
});

describe('parsePolicyInput', () => {
  it('returns the converted 1.x sample in normal form', () => {
    const [policy, ...rest] = parsePolicyInput(v1(V1_SAMPLE));
    assert.equal(rest.length, 0);
    assert.deepEqual(policy, {
      id: 'policy1',
      direction: 'ingress',
      description: 'sample policy opening ssh, http and https ports',
      applied_to: [{ tenant_id: 'demo', segment_id: 'default' }],
      ingress: [{ peers: [{ peer: 'any' }], rules: [{ protocol: 'tcp', ports: [22, 80, 443] }] }],
    });
    assert.match(policyHash(policy as RomanaPolicy), /^[0-9a-f]{16}$/);
  });

  it('reports the problems of a single policy without an index, as a 422', () => {
    try {
      parsePolicyInput({ id: 'p', applied_to: [{ tenant_id: 't' }] });
      assert.fail('expected an error');
    } catch (e) {
      assert.ok(e instanceof PolicyProblemsError);
      assert.deepEqual(e.problems, [
        'ingress: field empty; a policy needs at least one ingress entry',
      ]);
      assert.equal(httpStatusOf(e), 422);
    }
  });

  it('reports the problems of converted 1.x policies by their index', () => {
    try {
      parsePolicyInput(v1(V1_SAMPLE, { ...V1_SAMPLE, name: 'two', rules: [{ protocol: 'gre' }] }));
      assert.fail('expected an error');
    } catch (e) {
      assert.ok(e instanceof PolicyProblemsError);
      assert.deepEqual(e.problems, ['[1].ingress[0].rules[0]: Invalid protocol: gre.']);
    }
  });
});
