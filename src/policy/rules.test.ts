import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_ICMP_TYPE, MAX_PORT, PROTOCOLS, protocolFamily, ruleProblems } from './rules.ts';

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

describe('ruleProblems: ICMPv6 codes by type', () => {
  const limits: [type: number, maxCode: number][] = [
    [1, 8],
    [3, 1],
    [4, 10],
    [128, 0],
    [2, 0],
    [0, 0],
  ];
  for (const [type, max] of limits) {
    it(`accepts code ${max} and rejects code ${max + 1} for ICMPv6 type ${type}`, () => {
      assert.deepEqual(ruleProblems({ protocol: 'icmpv6', icmp_type: type, icmp_code: max }), []);
      assert.deepEqual(ruleProblems({ protocol: 'icmpv6', icmp_type: type, icmp_code: max + 1 }), [
        `Invalid ICMPv6 code for type ${type}: ${max + 1}.`,
      ]);
    });
  }

  it('accepts every code up to 255 for router renumbering (type 138)', () => {
    assert.deepEqual(ruleProblems({ protocol: 'icmpv6', icmp_type: 138, icmp_code: 255 }), []);
  });
});

describe('ruleProblems: limits and fields of each protocol', () => {
  it(`accepts ports and ranges up to ${MAX_PORT}, and a range of one port`, () => {
    assert.equal(MAX_PORT, 65535);
    for (const protocol of ['tcp', 'udp']) {
      const rule = { protocol, ports: [0, MAX_PORT], port_ranges: [[MAX_PORT, MAX_PORT]] };
      assert.deepEqual(ruleProblems(rule as Parameters<typeof ruleProblems>[0]), []);
    }
  });

  it('names every bad range and port of a udp rule, each list joined with commas', () => {
    const rule = {
      protocol: 'udp',
      ports: [80, 65536, 70000],
      port_ranges: [
        [1, 2],
        [5, 4],
        [65536, 65537],
        [10, 65536],
      ] as [number, number][],
    };
    assert.deepEqual(ruleProblems(rule), [
      'The following port ranges are invalid: 5-4, 65536-65537, 10-65536.',
      'The following ports are invalid: 65536, 70000.',
    ]);
  });

  it(`takes ICMP and ICMPv6 types up to ${MAX_ICMP_TYPE}`, () => {
    assert.equal(MAX_ICMP_TYPE, 255);
    assert.deepEqual(ruleProblems({ protocol: 'icmp', icmp_type: 255 }), []);
    assert.deepEqual(ruleProblems({ protocol: 'icmpv6', icmp_type: 255 }), []);
    assert.deepEqual(ruleProblems({ protocol: 'icmp', icmp_type: 256 }), [
      'Invalid ICMP type: 256.',
    ]);
    assert.deepEqual(ruleProblems({ protocol: 'icmpv6', icmp_type: 256 }), [
      'Invalid ICMPv6 type: 256.',
    ]);
  });

  it('refuses ports or ranges on icmp, icmpv6 and any, each with its own text', () => {
    const texts: Record<string, string> = {
      icmp: 'ICMP protocol is specified but ports are also specified.',
      icmpv6: 'protocol icmpv6 has no ports, but ports are also specified.',
      any: 'Protocol any matches every port, but ports are also specified.',
    };
    for (const [protocol, text] of Object.entries(texts)) {
      assert.deepEqual(ruleProblems({ protocol, ports: [80] }), [text], protocol);
      assert.deepEqual(ruleProblems({ protocol, port_ranges: [[1, 2]] }), [text], protocol);
      assert.deepEqual(ruleProblems({ protocol, ports: [], port_ranges: [] }), [], protocol);
    }
  });

  it('refuses an ICMP type or code on any other protocol, or on none', () => {
    assert.deepEqual(ruleProblems({ protocol: 'tcp', icmp_code: 1 }), [
      "icmp_type 0 and icmp_code 1 apply to protocol 'icmp' or 'icmpv6' only; this rule has protocol 'tcp'",
    ]);
    assert.deepEqual(ruleProblems({ protocol: '', icmp_type: 3, icmp_code: 2 }), [
      'No protocol specified.',
      "icmp_type 3 and icmp_code 2 apply to protocol 'icmp' or 'icmpv6' only; this rule has no protocol",
    ]);
    assert.deepEqual(ruleProblems({ protocol: 'udp', icmp_type: 0, icmp_code: 0 }), []);
  });

  it('does not check the ports of a protocol it does not know, nor the ICMP limits of tcp', () => {
    assert.deepEqual(ruleProblems({ protocol: 'sctp', port_ranges: [[9, 1]] }), [
      'Invalid protocol: sctp.',
    ]);
  });

  it('knows five protocols, icmp enforced on IPv4 only and icmpv6 on IPv6 only', () => {
    assert.deepEqual(PROTOCOLS, ['tcp', 'udp', 'icmp', 'icmpv6', 'any']);
    for (const protocol of PROTOCOLS) {
      assert.deepEqual(ruleProblems({ protocol }), [], protocol);
    }
    assert.equal(protocolFamily('icmp'), 4);
    assert.equal(protocolFamily('icmpv6'), 6);
    for (const protocol of ['tcp', 'udp', 'any', '']) {
      assert.equal(protocolFamily(protocol), undefined, protocol);
    }
  });
});
