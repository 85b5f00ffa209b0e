import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tenantSetName } from './hash.ts';
import type { RomanaPolicy as Policy } from './model.ts';
import { DEMO_POLICY_GOLDEN, GOLDEN_BLOCKS, GOLDEN_FIXTURES } from './render.fixtures.ts';
import {
  formatIptablesRestore,
  renderDesiredState,
  renderPolicyChains,
  Renderer,
  ruleMatches,
  type Chain,
} from './render.ts';

function chainOf(chains: Chain[], name: string): Chain {
  const c = chains.find((x) => x.name === name);
  assert.ok(c, `chain ${name} rendered`);
  return c;
}

describe('golden fixtures of the original enforcer', () => {
  it('renders the demo-policy fixture into an empty table character for character', () => {
    const demo = GOLDEN_FIXTURES.find((f) => f.name === 'demo-policy')!;
    const { chains, skipped } = renderPolicyChains([demo.policy], GOLDEN_BLOCKS, 'host1');
    assert.deepEqual(skipped, []);
    assert.equal(formatIptablesRestore(chains), DEMO_POLICY_GOLDEN);
  });

  for (const f of GOLDEN_FIXTURES) {
    it(`renders the ${f.name} fixture with chain hash ${f.hash}`, () => {
      const p = `ROMANA-P-${f.hash}`;
      const expected = [
        '*filter',
        ':ROMANA-FORWARD-IN - ',
        `:${p} - `,
        `:${p}_X - `,
        `:${p}_R - `,
        `-A ROMANA-FORWARD-IN  -j ${p}`,
        `-A ${p} -m set --match-set ${f.targetSet} dst -j ${p}_X`,
        `-A ${p}_X ${f.peerMatch} -j ${p}_R`,
        `-A ${p}_R ${f.ruleMatch} -j ACCEPT`,
        'COMMIT',
        '',
      ].join('\n');
      const { chains } = renderPolicyChains([f.policy], GOLDEN_BLOCKS, 'host1');
      assert.equal(formatIptablesRestore(chains), expected);
    });
  }
});

describe('renderDesiredState', () => {
  const demo = GOLDEN_FIXTURES[1]!.policy;

  it('puts the base chains first, with policy jumps above the default drop', () => {
    const { chains } = renderDesiredState([demo], GOLDEN_BLOCKS, 'host1');
    assert.deepEqual(chains.map((c) => c.name).slice(0, 6), [
      'ROMANA-OUTPUT',
      'ROMANA-INPUT',
      'ROMANA-FORWARD-OUT',
      'ROMANA-FORWARD-IN',
      'ROMANA-OP',
      'ROMANA-OP-IN',
    ]);
    assert.deepEqual(chainOf(chains, 'ROMANA-FORWARD-IN').rules, [
      {
        match: '-m comment --comment Ingress -m state --state RELATED,ESTABLISHED',
        target: 'ACCEPT',
      },
      { match: '', target: 'ROMANA-OP' },
      { match: '', target: 'ROMANA-P-aca884e8b43cc0e7' },
      { match: '-m comment --comment DefaultDrop', target: 'DROP' },
    ]);
  });

  it('renders the base chains of §6.3 when there is no policy', () => {
    const text = formatIptablesRestore(renderDesiredState([], [], 'host1').chains);
    assert.equal(
      text,
      [
        '*filter',
        ':ROMANA-OUTPUT - ',
        ':ROMANA-INPUT - ',
        ':ROMANA-FORWARD-OUT - ',
        ':ROMANA-FORWARD-IN - ',
        ':ROMANA-OP - ',
        ':ROMANA-OP-IN - ',
        '-A ROMANA-OUTPUT  -j ACCEPT',
        '-A ROMANA-INPUT  -j ACCEPT',
        '-A ROMANA-FORWARD-OUT -m set --match-set ROMANA-LOCAL-BLOCKS dst -j ROMANA-FORWARD-IN',
        '-A ROMANA-FORWARD-OUT -m comment --comment Egress -j ACCEPT',
        '-A ROMANA-FORWARD-IN -m comment --comment Ingress -m state --state RELATED,ESTABLISHED -j ACCEPT',
        '-A ROMANA-FORWARD-IN  -j ROMANA-OP',
        '-A ROMANA-FORWARD-IN -m comment --comment DefaultDrop -j DROP',
        '-A ROMANA-OP -m comment --comment POLICY_CHAIN_FOOTER -j RETURN',
        '-A ROMANA-OP-IN -m comment --comment POLICY_CHAIN_FOOTER -j RETURN',
        'COMMIT',
        '',
      ].join('\n'),
    );
  });

  it('skips an invalid policy, reports it, and still renders the others', () => {
    const bad = { id: 'broken', direction: 'ingress', applied_to: [], ingress: [] } as Policy;
    const { chains, skipped } = renderDesiredState([bad, demo], GOLDEN_BLOCKS, 'host1');
    assert.equal(skipped.length, 1);
    assert.equal(skipped[0]!.id, 'broken');
    assert.ok(skipped[0]!.problems.length > 0);
    chainOf(chains, 'ROMANA-P-aca884e8b43cc0e7_R');
  });

  it('skips an untranslatable combination instead of rendering part of it', () => {
    const bad: Policy = { ...demo, id: 'cidr-target', applied_to: [{ cidr: '10.0.0.0/8' }] };
    const { chains, skipped } = renderDesiredState([bad], GOLDEN_BLOCKS, 'host1');
    assert.deepEqual(
      skipped.map((s) => s.id),
      ['cidr-target'],
    );
    assert.equal(chains.length, 6);
  });

  it('gives each ingress entry its own _X/_R chains, so peers keep their own ports', () => {
    const policy: Policy = {
      id: 'two-entries',
      direction: 'ingress',
      applied_to: [{ tenant_id: 'tenant-a', segment_id: 'backend' }],
      ingress: [
        {
          peers: [{ tenant_id: 'tenant-a', segment_id: 'frontend' }],
          rules: [{ protocol: 'tcp', ports: [80] }],
        },
        { peers: [{ cidr: '192.168.0.0/16' }], rules: [{ protocol: 'udp', ports: [53] }] },
      ],
    };
    const { chains } = renderPolicyChains([policy], GOLDEN_BLOCKS, 'host1');
    const text = formatIptablesRestore(chains);
    const h = chains[1]!.name;
    assert.match(h, /^ROMANA-P-[0-9a-f]{16}$/);
    assert.deepEqual(chainOf(chains, h).rules, [
      { match: '-m set --match-set ROMANA-446f0022c0a89d93 dst', target: `${h}_X` },
      { match: '-m set --match-set ROMANA-446f0022c0a89d93 dst', target: `${h}_X1` },
    ]);
    assert.deepEqual(chainOf(chains, `${h}_X`).rules, [
      { match: '-m set --match-set ROMANA-78c82e6c585c36a6 src', target: `${h}_R` },
    ]);
    assert.deepEqual(chainOf(chains, `${h}_R`).rules, [
      { match: '-p tcp --dport 80', target: 'ACCEPT' },
    ]);
    assert.deepEqual(chainOf(chains, `${h}_X1`).rules, [
      { match: '-s 192.168.0.0/16', target: `${h}_R1` },
    ]);
    assert.deepEqual(chainOf(chains, `${h}_R1`).rules, [
      { match: '-p udp --dport 53', target: 'ACCEPT' },
    ]);
    for (const c of chains)
      assert.ok(c.name.length <= 28, `${c.name} fits iptables' 28 characters`);
    assert.ok(!text.includes('_R -p udp'));
  });

  it('names entries 1..35 with one base-36 character and refuses a policy with more', () => {
    const entry = { peers: [{ peer: 'any' }], rules: [{ protocol: 'any' }] };
    const make = (n: number): Policy => ({
      id: `p${n}`,
      direction: 'ingress',
      applied_to: [{ tenant_id: 'tenant-a' }],
      ingress: Array.from({ length: n }, (_, i) => ({
        ...entry,
        rules: [{ protocol: 'tcp', ports: [i + 1] }],
      })),
    });
    const ok = renderPolicyChains([make(36)], GOLDEN_BLOCKS, 'host1');
    assert.ok(ok.chains.some((c) => c.name.endsWith('_Rz')));
    assert.ok(ok.chains.every((c) => c.name.length <= 28));
    const tooMany = renderPolicyChains([make(37)], GOLDEN_BLOCKS, 'host1');
    assert.equal(tooMany.skipped.length, 1);
    assert.equal(tooMany.chains.length, 0);
  });

  it('renders egress policies into ROMANA-FORWARD-OUT with DROP verdicts and dst peers', () => {
    const policy: Policy = {
      id: 'no-dns-out',
      direction: 'egress',
      applied_to: [{ tenant_id: 'tenant-a', segment_id: 'frontend' }],
      ingress: [
        {
          peers: [{ cidr: '8.8.8.0/24' }, { tenant_id: 'tenant-b' }],
          rules: [{ protocol: 'udp', ports: [53] }],
        },
      ],
    };
    const { chains } = renderDesiredState([policy], GOLDEN_BLOCKS, 'host1');
    const out = chainOf(chains, 'ROMANA-FORWARD-OUT').rules;
    assert.equal(out.length, 3);
    const p = out[1]!.target;
    assert.equal(out[2]!.match, '-m comment --comment Egress');
    assert.deepEqual(chainOf(chains, p).rules, [
      { match: '-m set --match-set ROMANA-78c82e6c585c36a6 src', target: `${p}_X` },
    ]);
    assert.deepEqual(chainOf(chains, `${p}_X`).rules, [
      { match: '-d 8.8.8.0/24', target: `${p}_R` },
      { match: `-m set --match-set ${tenantSetName('tenant-b')} dst`, target: `${p}_R` },
    ]);
    assert.deepEqual(chainOf(chains, `${p}_R`).rules, [
      { match: '-p udp --dport 53', target: 'DROP' },
    ]);
  });

  it('puts host-target peers directly in the policy chain (no _X)', () => {
    const policy: Policy = {
      id: 'to-host',
      direction: 'ingress',
      applied_to: [{ dest: 'host' }],
      ingress: [
        { peers: [{ peer: 'local' }, { tenant_id: 'tenant-b' }], rules: [{ protocol: 'icmp' }] },
      ],
    };
    const { chains } = renderPolicyChains([policy], GOLDEN_BLOCKS, 'host1');
    const p = chains[1]!.name;
    assert.deepEqual(
      chains.map((c) => c.name),
      ['ROMANA-FORWARD-IN', p, `${p}_R`],
    );
    assert.deepEqual(chainOf(chains, p).rules, [
      { match: '', target: `${p}_R` },
      { match: `-m set --match-set ${tenantSetName('tenant-b')} src`, target: `${p}_R` },
    ]);
  });

  it('skips targets whose tenant or segment has no block on this host', () => {
    const policy: Policy = { ...demo, applied_to: [{ tenant_id: 'tenant-b' }] };
    assert.equal(renderPolicyChains([policy], GOLDEN_BLOCKS, 'host1').chains.length, 0);
    assert.equal(renderPolicyChains([policy], GOLDEN_BLOCKS, 'host2').chains.length, 4);
  });

  it('inserts terminal rules above the trailing terminal run, as the original did', () => {
    const policy: Policy = {
      ...demo,
      ingress: [
        {
          peers: [{ peer: 'any' }],
          rules: [{ protocol: 'tcp', ports: [80, 443], port_ranges: [[8000, 8080]] }],
        },
      ],
    };
    const { chains } = renderPolicyChains([policy], GOLDEN_BLOCKS, 'host1');
    assert.deepEqual(
      chains[3]!.rules.map((r) => r.match),
      ['-p tcp --dport 8000:8080', '-p tcp --dport 443', '-p tcp --dport 80'],
    );
  });

  it('creates empty sets for peers no block has yet, and orders hash:net before list:set', () => {
    const { sets } = renderDesiredState([GOLDEN_FIXTURES[2]!.policy], GOLDEN_BLOCKS, 'host1');
    const kube = sets.find((s) => s.name === 'ROMANA-fe6dda4923beb047');
    assert.deepEqual(kube, { name: 'ROMANA-fe6dda4923beb047', type: 'list:set', members: [] });
    const firstList = sets.findIndex((s) => s.type === 'list:set');
    assert.ok(sets.slice(firstList).every((s) => s.type === 'list:set'));
    for (const s of sets) assert.ok(s.name.startsWith('ROMANA-'));
  });

  it('gives the same output whatever the order of the policies', () => {
    const all = GOLDEN_FIXTURES.map((f) => f.policy);
    const a = renderDesiredState(all, GOLDEN_BLOCKS, 'host1');
    const b = renderDesiredState([...all].reverse(), GOLDEN_BLOCKS, 'host1');
    assert.deepEqual(a, b);
  });
});

describe('ruleMatches', () => {
  const cases: { rule: Parameters<typeof ruleMatches>[0]; out: string[] }[] = [
    { rule: { protocol: 'tcp' }, out: ['-p tcp'] },
    {
      rule: { protocol: 'UDP', ports: [53, 5353] },
      out: ['-p udp --dport 53', '-p udp --dport 5353'],
    },
    { rule: { protocol: 'tcp', port_ranges: [[1, 1024]] }, out: ['-p tcp --dport 1:1024'] },
    { rule: { protocol: 'icmp' }, out: ['-p icmp'] },
    { rule: { protocol: 'icmp', icmp_type: 8 }, out: ['-p icmp --icmp-type 8'] },
    { rule: { protocol: 'ICMP', icmp_type: 3, icmp_code: 4 }, out: ['-p icmp --icmp-type 3/4'] },
    { rule: { protocol: 'any' }, out: [''] },
    { rule: { protocol: 'sctp' }, out: [] },
  ];
  for (const c of cases) {
    it(`renders ${JSON.stringify(c.rule)} as ${JSON.stringify(c.out)}`, () => {
      assert.deepEqual(ruleMatches(c.rule), c.out);
    });
  }
});

describe('Renderer', () => {
  it('renders exactly what renderDesiredState renders, across changes', () => {
    const renderer = new Renderer();
    const all = GOLDEN_FIXTURES.map((f) => f.policy);
    const bad = { id: 'bad', direction: 'ingress', applied_to: [], ingress: [] } as Policy;
    const steps: Policy[][] = [
      [...all, bad],
      [...all, bad],
      [all[0]!, { ...all[1]!, description: 'changed' }, bad],
      [],
      all,
    ];
    for (const policies of steps) {
      assert.deepEqual(
        renderer.render(policies, GOLDEN_BLOCKS, 'host1'),
        renderDesiredState(policies, GOLDEN_BLOCKS, 'host1'),
      );
    }
  });
});
