import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { policy, problemsOf, withRule } from './validate.fixtures.ts';
import { validatePolicies, validatePolicy, validateRomanaPolicy } from './validate.ts';

describe('validatePolicy: the whole policy', () => {
  const cases: { name: string; input: unknown; problems: string[] }[] = [
    { name: 'accepts the base policy', input: policy(), problems: [] },
    {
      name: 'rejects input that is not an object',
      input: [1],
      problems: ['policy: must be an object, got an array ([1])'],
    },
    { name: 'rejects null', input: null, problems: ['policy: must be an object, got null'] },
    { name: 'requires an id', input: policy({ id: undefined }), problems: ['id: is required'] },
    {
      name: 'requires the id to be a string',
      input: policy({ id: 7 }),
      problems: ['id: must be a string, got number 7'],
    },
    {
      name: 'rejects an empty id',
      input: policy({ id: '' }),
      problems: ['id: required, must not be empty'],
    },
    {
      name: 'rejects an id longer than 253 characters',
      input: policy({ id: 'x'.repeat(254) }),
      problems: ['id: must be at most 253 characters, got 254'],
    },
    {
      name: 'accepts an id of 253 characters',
      input: policy({ id: 'x'.repeat(253) }),
      problems: [],
    },
    {
      name: "rejects an id with a '/', which would nest storage keys",
      input: policy({ id: 'a/b' }),
      problems: [
        `id: must be 1-253 letters, digits, '.', '_' or '-', beginning and ending with a letter or digit, not an IP address, got "a/b"`,
      ],
    },
    {
      name: "rejects the id '..'",
      input: policy({ id: '..' }),
      problems: [
        `id: must be 1-253 letters, digits, '.', '_' or '-', beginning and ending with a letter or digit, not an IP address, got ".."`,
      ],
    },
    {
      name: 'rejects an unknown direction, case included',
      input: policy({ direction: 'Ingress' }),
      problems: ["direction: must be 'ingress' or 'egress', got 'Ingress'"],
    },
    {
      name: 'rejects a description that is not a string',
      input: policy({ description: ['x'] }),
      problems: ['description: must be a string, got an array (["x"])'],
    },
    {
      name: 'reports a misspelt key instead of dropping it silently',
      input: policy({ appliedTo: [] }),
      problems: ["appliedTo: unknown field; did you mean 'applied_to'?"],
    },
    {
      name: 'points a 1.x policy sent as 2.x to the 1.x form',
      input: { ...policy({ ingress: undefined }), peers: [{ peer: 'any' }], rules: [] },
      problems: [
        'peers: is a 1.x field: put peers and rules in an ingress entry, or send the 1.x form {"securitypolicies": [...]}',
        'rules: is a 1.x field: put peers and rules in an ingress entry, or send the 1.x form {"securitypolicies": [...]}',
        'ingress: field empty; a policy needs at least one ingress entry',
      ],
    },
    {
      name: 'requires applied_to (rule 1)',
      input: policy({ applied_to: [] }),
      problems: ['applied_to: field empty; a policy needs at least one target'],
    },
    {
      name: 'requires ingress (rule 1)',
      input: policy({ ingress: undefined }),
      problems: ['ingress: field empty; a policy needs at least one ingress entry'],
    },
    {
      name: 'requires peers and rules in every ingress entry (rule 1)',
      input: policy({ ingress: [{ peers: [], rules: null }] }),
      problems: [
        'ingress[0].peers: field empty; an ingress entry needs at least one peer',
        'ingress[0].rules: field empty; an ingress entry needs at least one rule',
      ],
    },
    {
      name: 'reports a malformed array once, not also as empty',
      input: policy({ applied_to: { tenant_id: 't' } }),
      problems: ['applied_to: must be an array, got an object'],
    },
    {
      name: 'rejects an ingress entry that is not an object',
      input: policy({ ingress: ['x'] }),
      problems: ["ingress[0]: must be an object, got the string 'x'"],
    },
  ];
  for (const c of cases) {
    it(`${c.name}`, () => assert.deepEqual(problemsOf(c.input), c.problems));
  }
});

describe('validatePolicy: rules (rule 3)', () => {
  const R = 'ingress[0].rules[0]';
  const cases: { name: string; rule: unknown; problems: string[] }[] = [
    {
      name: 'accepts tcp with ports and ranges',
      rule: {
        protocol: 'tcp',
        ports: [0, 65535],
        port_ranges: [
          [1, 1],
          [8000, 8080],
        ],
      },
      problems: [],
    },
    { name: 'accepts icmp echo request', rule: { protocol: 'icmp', icmp_type: 8 }, problems: [] },
    {
      name: 'accepts the protocol in any case and with spaces',
      rule: { protocol: ' UDP ' },
      problems: [],
    },
    { name: 'requires a protocol', rule: {}, problems: [`${R}: No protocol specified.`] },
    {
      name: 'treats a blank protocol as none',
      rule: { protocol: '  ' },
      problems: [`${R}: No protocol specified.`],
    },
    {
      name: 'rejects an unknown protocol, normalised',
      rule: { protocol: 'SCTP' },
      problems: [`${R}: Invalid protocol: sctp.`],
    },
    {
      name: 'rejects inverted and out-of-range port ranges',
      rule: {
        protocol: 'udp',
        port_ranges: [
          [90, 80],
          [1, 2],
          [65535, 65536],
        ],
      },
      problems: [`${R}: The following port ranges are invalid: 90-80, 65535-65536.`],
    },
    {
      name: 'rejects ports above 65535',
      rule: { protocol: 'tcp', ports: [80, 65536, 70000] },
      problems: [`${R}: The following ports are invalid: 65536, 70000.`],
    },
    {
      name: 'rejects ICMP type or code on other protocols',
      rule: { protocol: 'tcp', icmp_code: 1 },
      problems: [
        `${R}: icmp_type 0 and icmp_code 1 apply to protocol 'icmp' or 'icmpv6' only; this rule has protocol 'tcp'`,
      ],
    },
    {
      name: 'rejects ports on icmp',
      rule: { protocol: 'icmp', port_ranges: [[1, 2]] },
      problems: [`${R}: ICMP protocol is specified but ports are also specified.`],
    },
    {
      name: 'rejects ICMP types above 255',
      rule: { protocol: 'icmp', icmp_type: 256 },
      problems: [`${R}: Invalid ICMP type: 256.`],
    },
    {
      name: 'rejects ports on protocol any, which would open every port',
      rule: { protocol: 'any', ports: [80] },
      problems: [`${R}: Protocol any matches every port, but ports are also specified.`],
    },
    {
      name: 'reports every problem of a rule',
      rule: { protocol: 'icmp', ports: [1], icmp_type: 300, icmp_code: 2 },
      problems: [
        `${R}: ICMP protocol is specified but ports are also specified.`,
        `${R}: Invalid ICMP type: 300.`,
        `${R}: Invalid ICMP code for type 300: 2.`,
      ],
    },
    {
      name: 'rejects a port that is not a non-negative integer, by path',
      rule: { protocol: 'tcp', ports: [80, -1, 8.5, '443'] },
      problems: [
        `${R}.ports[1]: must be a non-negative integer, got number -1`,
        `${R}.ports[2]: must be a non-negative integer, got number 8.5`,
        `${R}.ports[3]: must be a non-negative integer, got the string '443'`,
      ],
    },
    {
      name: 'rejects a port range that is not a pair',
      rule: {
        protocol: 'tcp',
        port_ranges: [
          [1, 2, 3],
          [4, 'x'],
        ],
      },
      problems: [
        `${R}.port_ranges[0]: must be a pair [low, high] of port numbers, got an array ([1,2,3])`,
        `${R}.port_ranges[1][1]: must be a non-negative integer, got the string 'x'`,
      ],
    },
    {
      name: 'rejects a protocol that is not a string and skips the checks that need it',
      rule: { protocol: 6, icmp_type: 1 },
      problems: [`${R}.protocol: must be a string, got number 6`],
    },
    {
      name: 'rejects is_stateful that is not a boolean',
      rule: { protocol: 'tcp', is_stateful: 'yes' },
      problems: [`${R}.is_stateful: must be true or false, got the string 'yes'`],
    },
    {
      name: 'rejects a misspelt rule key',
      rule: { protocol: 'tcp', portRanges: [[1, 2]] },
      problems: [`${R}.portRanges: unknown field; did you mean 'port_ranges'?`],
    },
  ];
  for (const c of cases) {
    it(`${c.name}`, () => assert.deepEqual(problemsOf(withRule(c.rule)), c.problems));
  }

  it('numbers rules by their position, not Rule #0 for all of them', () => {
    const input = policy({
      ingress: [
        { peers: [{ peer: 'any' }], rules: [{ protocol: 'tcp' }] },
        { peers: [{ peer: 'any' }], rules: [{ protocol: 'gre' }, { protocol: 'sctp' }] },
      ],
    });
    assert.deepEqual(problemsOf(input), [
      'ingress[1].rules[0]: Invalid protocol: gre.',
      'ingress[1].rules[1]: Invalid protocol: sctp.',
    ]);
  });
});

describe('validatePolicy: normal form', () => {
  it('refuses unknown fields at every depth, naming each (a dropped "port" would open every port)', () => {
    const v = validatePolicy({
      id: 'p',
      name: 'x',
      applied_to: [{ tenant_id: 't', extra: 1 }],
      ingress: [
        {
          peers: [{ peer: 'any', cidrr: '10.0.0.0/8' }],
          rules: [{ protocol: 'tcp', port: [22] }],
          note: 'x',
        },
      ],
    });
    assert.deepEqual(v.ok ? [] : v.problems.map((p) => p.replace(/ \(known: .*\)$/, '')), [
      'name: unknown field',
      'applied_to[0].extra: unknown field',
      'ingress[0].note: unknown field',
      'ingress[0].peers[0].cidrr: unknown field',
      'ingress[0].rules[0].port: unknown field',
    ]);
  });

  it('refuses tenant and segment names that break the name rule, and control characters in the description', () => {
    const v = validatePolicy({
      id: 'p',
      description: 'a\u0007b',
      applied_to: [{ tenant_id: 'a.b', segment_id: 'x\ud800' }],
      ingress: [{ peers: [{ peer: 'any' }], rules: [{ protocol: 'tcp' }] }],
    });
    assert.equal(v.ok, false);
    const problems = v.ok ? [] : v.problems;
    assert.ok(
      problems.some((p) => p.startsWith('description: must not hold control characters')),
      problems.join('\n'),
    );
    assert.ok(
      problems.some((p) => p.startsWith('applied_to[0].tenant_id: must be 1-63')),
      problems.join('\n'),
    );
    assert.ok(
      problems.some((p) => p.startsWith('applied_to[0].segment_id: must be 1-253')),
      problems.join('\n'),
    );
  });

  it('drops nulls and empty strings, lower-cases protocols, keeps the rest', () => {
    const v = validatePolicy({
      id: 'p',
      description: '',
      direction: 'egress',
      applied_to: [{ tenant_id: 't', segment_id: '' }],
      ingress: [
        {
          peers: [{ cidr: '10.0.0.0/8', peer: null }],
          rules: [
            {
              protocol: ' TCP',
              ports: [443, 80],
              port_ranges: [],
              icmp_type: 0,
              is_stateful: true,
            },
          ],
        },
      ],
    });
    assert.deepEqual(v, {
      ok: true,
      policy: {
        id: 'p',
        direction: 'egress',
        applied_to: [{ tenant_id: 't' }],
        ingress: [
          {
            peers: [{ cidr: '10.0.0.0/8' }],
            rules: [{ protocol: 'tcp', ports: [443, 80], icmp_type: 0, is_stateful: true }],
          },
        ],
      },
    });
  });

  it('reads an absent direction as ingress and says so in the normal form', () => {
    const v = validateRomanaPolicy(policy({ direction: undefined }));
    assert.ok(v.ok);
    assert.equal(v.policy.direction, 'ingress');
  });

  it('keeps the description when there is one', () => {
    const v = validatePolicy(policy({ description: 'web to backend' }));
    assert.ok(v.ok);
    assert.equal(v.policy.description, 'web to backend');
  });
});

describe('validatePolicies', () => {
  it('accepts a list of valid policies in order', () => {
    const v = validatePolicies([policy({ id: 'a' }), policy({ id: 'b' })]);
    assert.ok(v.ok);
    assert.deepEqual(
      v.policies.map((p) => p.id),
      ['a', 'b'],
    );
  });

  it('prefixes each problem with the index of its policy', () => {
    assert.deepEqual(
      validatePolicies([policy(), { ...withRule({ protocol: 'sctp' }), id: 'other' }, 3]),
      {
        ok: false,
        problems: [
          '[1].ingress[0].rules[0]: Invalid protocol: sctp.',
          '[2]: must be an object, got number 3',
        ],
      },
    );
  });

  it('rejects two policies with the same id', () => {
    assert.deepEqual(validatePolicies([policy(), policy({ direction: 'egress' })]), {
      ok: false,
      problems: ["[1].id: duplicate id 'allow-web' (also at [0])"],
    });
  });

  it('rejects input that is not an array', () => {
    assert.deepEqual(validatePolicies(policy()), {
      ok: false,
      problems: ['policies: must be an array of policies, got an object'],
    });
  });
});
