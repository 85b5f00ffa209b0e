import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { policyCanonicalString, policyChainName, policyHash, tenantSetName } from './hash.ts';
import type { RomanaPolicy as Policy, Rule } from './model.ts';
import { GOLDEN_FIXTURES } from './render.fixtures.ts';
import { validateRomanaPolicy } from './validate.ts';

/** The original's enforcer golden fixtures, shared with the rendering tests. */
const FIXTURES = GOLDEN_FIXTURES;

describe('policyHash', () => {
  for (const f of FIXTURES) {
    it(`gives the ${f.name} fixture the chain hash ${f.hash} of the original`, () => {
      assert.equal(policyHash(f.policy), f.hash);
      assert.equal(policyChainName(f.policy), `ROMANA-P-${f.hash}`);
    });

    it(`gives the same hash to the ${f.name} fixture after validation (normal form)`, () => {
      const v = validateRomanaPolicy(JSON.parse(JSON.stringify(f.policy)));
      assert.ok(v.ok, JSON.stringify(v));
      assert.equal(policyHash(v.policy), f.hash);
    });
  }

  it('hashes the any-source fixture from exactly the documented canonical string', () => {
    assert.equal(
      policyCanonicalString(FIXTURES[0]!.policy),
      'ingress..kube.tenant-a.pol1.d3122af3-a4cc-11e7-a1ea-068bf013416e.tenant-abackend.any.tcp00false80',
    );
  });

  it('does not depend on the order of targets, of peers or of ports', () => {
    const a: Policy = {
      id: 'p',
      direction: 'ingress',
      applied_to: [{ tenant_id: 'b' }, { tenant_id: 'a', segment_id: 's' }],
      ingress: [
        {
          peers: [{ cidr: '10.0.0.0/8' }, { peer: 'any' }],
          rules: [{ protocol: 'tcp', ports: [443, 80, 8080] }],
        },
      ],
    };
    const b: Policy = {
      ...a,
      applied_to: [...a.applied_to].reverse(),
      ingress: [
        {
          peers: [...a.ingress[0]!.peers].reverse(),
          rules: [{ protocol: 'tcp', ports: [8080, 443, 80] }],
        },
      ],
    };
    assert.equal(policyCanonicalString(a), 'ingress..p.as.b.10.0.0.0/8.any.tcp00false804438080');
    assert.equal(policyHash(a), policyHash(b));
  });

  it('depends on the order of rules and of ingress entries, as the original did', () => {
    const r1: Rule = { protocol: 'tcp', ports: [80] };
    const r2: Rule = { protocol: 'udp', ports: [53] };
    const base = FIXTURES[1]!.policy;
    const frontend = { tenant_id: 'tenant-a', segment_id: 'frontend' };
    const one: Policy = { ...base, ingress: [{ peers: [frontend], rules: [r1, r2] }] };
    const two: Policy = { ...base, ingress: [{ peers: [frontend], rules: [r2, r1] }] };
    assert.notEqual(policyHash(one), policyHash(two));
  });

  it('writes icmp type and code, is_stateful and absent fields as the original did', () => {
    const p: Policy = {
      id: 'icmp',
      direction: 'egress',
      description: 'ping',
      applied_to: [{ dest: 'host' }],
      ingress: [
        {
          peers: [{ tenant_id: 't' }],
          rules: [
            { protocol: 'icmp', icmp_type: 8, icmp_code: 0, is_stateful: true },
            { protocol: 'any' },
          ],
        },
      ],
    };
    assert.equal(policyCanonicalString(p), 'egress.ping.icmp.host.t.icmp80true.any00false');
  });

  const rangeCases: { ranges: [number, number][]; expected: string }[] = [
    // lo = hi first (difference 0), then the widest proper range first.
    {
      ranges: [
        [1000, 2000],
        [5, 5],
        [1, 65535],
        [80, 90],
      ],
      expected: '55165535100020008090',
    },
    // Inverted ranges wrap to small differences: after lo = hi, before every proper range.
    {
      ranges: [
        [10, 20],
        [30, 25],
        [7, 7],
        [50, 40],
      ],
      expected: '77302550401020',
    },
    // Equal differences keep their input order.
    {
      ranges: [
        [200, 300],
        [100, 200],
        [1, 101],
      ],
      expected: '2003001002001101',
    },
  ];
  for (const { ranges, expected } of rangeCases) {
    it(`orders port ranges ${JSON.stringify(ranges)} by the wrapped difference lo-hi`, () => {
      const p: Policy = {
        id: 'r',
        direction: 'ingress',
        applied_to: [{ tenant_id: 't' }],
        ingress: [{ peers: [{ peer: 'any' }], rules: [{ protocol: 'tcp', port_ranges: ranges }] }],
      };
      assert.equal(policyCanonicalString(p), `ingress..r.t.any.tcp00false${expected}`);
    });
  }

  it('places ports before ranges in a rule', () => {
    const p: Policy = {
      id: 'r',
      direction: 'ingress',
      applied_to: [{ tenant_id: 't' }],
      ingress: [
        {
          peers: [{ peer: 'any' }],
          rules: [{ protocol: 'udp', ports: [53], port_ranges: [[1, 2]] }],
        },
      ],
    };
    assert.equal(policyCanonicalString(p), 'ingress..r.t.any.udp00false5312');
  });

  it('sorts endpoint strings by their UTF-8 bytes, as Go compares strings', () => {
    // U+FF5E sorts before U+1F600 in UTF-8 but after it in UTF-16 code units.
    const p: Policy = {
      id: 'u',
      direction: 'ingress',
      applied_to: [{ tenant_id: '\u{1F600}' }, { tenant_id: '\uFF5E' }],
      ingress: [{ peers: [{ peer: 'any' }], rules: [{ protocol: 'any' }] }],
    };
    assert.equal(policyCanonicalString(p), 'ingress..u.\uFF5E.\u{1F600}.any.any00false');
  });
});

describe('tenantSetName', () => {
  const cases: { tenant: string; segment?: string; name: string }[] = [
    { tenant: 'tenant-a', segment: 'backend', name: 'ROMANA-446f0022c0a89d93' },
    { tenant: 'tenant-a', segment: 'frontend', name: 'ROMANA-78c82e6c585c36a6' },
    { tenant: 'tenant-a', name: 'ROMANA-bc42e93f0aa666e1' },
    { tenant: 'kube-system', name: 'ROMANA-fe6dda4923beb047' },
  ];
  for (const c of cases) {
    it(`names the set of ${c.tenant}${c.segment ? `/${c.segment}` : ''} ${c.name}`, () => {
      assert.equal(tenantSetName(c.tenant, c.segment), c.name);
    });
  }

  it('treats an empty segment as no segment', () => {
    assert.equal(tenantSetName('tenant-a', ''), tenantSetName('tenant-a'));
  });
});
