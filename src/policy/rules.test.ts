import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ruleProblems } from './rules.ts';

describe('ruleProblems: ICMP codes by type', () => {
  const limits: [type: number, maxCode: number][] = [
    [3, 15],
    [4, 0],
    [5, 3],
    [11, 1],
    [8, 0],
    [0, 0],
  ];
  for (const [type, max] of limits) {
    it(`accepts code ${max} and rejects code ${max + 1} for ICMP type ${type}`, () => {
      assert.deepEqual(ruleProblems({ protocol: 'icmp', icmp_type: type, icmp_code: max }), []);
      assert.deepEqual(ruleProblems({ protocol: 'icmp', icmp_type: type, icmp_code: max + 1 }), [
        `Invalid ICMP code for type ${type}: ${max + 1}.`,
      ]);
    });
  }
});

describe('ruleProblems: the original texts', () => {
  const cases: { name: string; rule: Parameters<typeof ruleProblems>[0]; problems: string[] }[] = [
    { name: 'a valid udp rule', rule: { protocol: 'udp', ports: [53] }, problems: [] },
    { name: 'a missing protocol', rule: { protocol: '' }, problems: ['No protocol specified.'] },
    {
      name: 'ports on an unknown protocol (not checked, as in the original)',
      rule: { protocol: 'gre', ports: [70000] },
      problems: ['Invalid protocol: gre.'],
    },
    {
      name: 'bad ports and ranges together, ranges first',
      rule: { protocol: 'tcp', ports: [99999], port_ranges: [[2, 1]] },
      problems: [
        'The following port ranges are invalid: 2-1.',
        'The following ports are invalid: 99999.',
      ],
    },
    {
      name: 'ICMP fields on protocol any',
      rule: { protocol: 'any', icmp_type: 8 },
      problems: [
        "icmp_type 8 and icmp_code 0 apply to protocol 'icmp' or 'icmpv6' only; this rule has protocol 'any'",
      ],
    },
  ];
  for (const c of cases) {
    it(`reports ${c.name} as ${JSON.stringify(c.problems)}`, () => {
      assert.deepEqual(ruleProblems(c.rule), c.problems);
    });
  }
});
