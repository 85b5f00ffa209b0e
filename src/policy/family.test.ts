import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  familySetName,
  forFamily,
  forFamilyChange,
  memberFamily,
  ND_RULES,
  ruleFamily,
} from './family.ts';
import { renderKube } from './kube-render.ts';
import type { KubePolicy } from './kube-model.ts';
import type { RomanaPolicy } from './model.ts';
import { formatIptablesRestore, renderDesiredState } from './render.ts';
import type { IpSet, RenderBlock } from './render-sets.ts';

const BLOCKS: RenderBlock[] = [
  { cidr: '10.0.0.0/28', tenant: 'a', segment: 'front', host: 'h1' },
  { cidr: 'fd00::/120', tenant: 'a', segment: 'front', host: 'h1' },
  { cidr: '10.0.0.16/28', tenant: 'a', segment: 'back', host: 'h1' },
  { cidr: 'fd00::100/120', tenant: 'a', segment: 'back', host: 'h2' },
];

/** TCP 8080 to a/back from a/front and from one CIDR of each family; ICMP echo of each. */
const POLICY: RomanaPolicy = {
  id: 'p6',
  direction: 'ingress',
  applied_to: [{ tenant_id: 'a', segment_id: 'back' }],
  ingress: [
    {
      peers: [
        { tenant_id: 'a', segment_id: 'front' },
        { cidr: '10.9.0.0/16' },
        { cidr: 'fd00:9::/64' },
      ],
      rules: [{ protocol: 'tcp', ports: [8080] }],
    },
    {
      peers: [{ peer: 'any' }],
      rules: [
        { protocol: 'icmp', icmp_type: 8 },
        { protocol: 'icmpv6', icmp_type: 128 },
      ],
    },
  ],
};

// Written out by hand: sha1-based names of (a, back), (a, front), (a) and the policy.
const P = 'ROMANA-P-2528fbc56017bad3';
const BACK = '045d0176e063a2a0';
const FRONT = '6f44574252aaa74d';
const TENANT_A = 'f7d9f62f9f0b2398';

const IP6TABLES = `*filter
:ROMANA-OUTPUT - 
:ROMANA-INPUT - 
:ROMANA-FORWARD-OUT - 
:ROMANA-FORWARD-IN - 
:ROMANA-OP - 
:ROMANA-OP-IN - 
:${P} - 
:${P}_X - 
:${P}_R - 
:${P}_X1 - 
:${P}_R1 - 
-A ROMANA-OUTPUT  -j ACCEPT
-A ROMANA-INPUT  -j ACCEPT
-A ROMANA-FORWARD-OUT -p ipv6-icmp -m icmp6 --icmpv6-type 133 -j ACCEPT
-A ROMANA-FORWARD-OUT -p ipv6-icmp -m icmp6 --icmpv6-type 134 -j ACCEPT
-A ROMANA-FORWARD-OUT -p ipv6-icmp -m icmp6 --icmpv6-type 135 -j ACCEPT
-A ROMANA-FORWARD-OUT -p ipv6-icmp -m icmp6 --icmpv6-type 136 -j ACCEPT
-A ROMANA-FORWARD-OUT -p ipv6-icmp -m icmp6 --icmpv6-type 137 -j ACCEPT
-A ROMANA-FORWARD-OUT -m set --match-set ROMANA6-LOCAL-BLOCKS dst -j ROMANA-FORWARD-IN
-A ROMANA-FORWARD-OUT -m comment --comment Egress -j ACCEPT
-A ROMANA-FORWARD-IN -p ipv6-icmp -m icmp6 --icmpv6-type 133 -j ACCEPT
-A ROMANA-FORWARD-IN -p ipv6-icmp -m icmp6 --icmpv6-type 134 -j ACCEPT
-A ROMANA-FORWARD-IN -p ipv6-icmp -m icmp6 --icmpv6-type 135 -j ACCEPT
-A ROMANA-FORWARD-IN -p ipv6-icmp -m icmp6 --icmpv6-type 136 -j ACCEPT
-A ROMANA-FORWARD-IN -p ipv6-icmp -m icmp6 --icmpv6-type 137 -j ACCEPT
-A ROMANA-FORWARD-IN -m comment --comment Ingress -m state --state RELATED,ESTABLISHED -j ACCEPT
-A ROMANA-FORWARD-IN  -j ROMANA-OP
-A ROMANA-FORWARD-IN  -j ${P}
-A ROMANA-FORWARD-IN -m comment --comment DefaultDrop -j DROP
-A ROMANA-OP -m comment --comment POLICY_CHAIN_FOOTER -j RETURN
-A ROMANA-OP-IN -m comment --comment POLICY_CHAIN_FOOTER -j RETURN
-A ${P} -m set --match-set ROMANA6-${BACK} dst -j ${P}_X
-A ${P} -m set --match-set ROMANA6-${BACK} dst -j ${P}_X1
-A ${P}_X -m set --match-set ROMANA6-${FRONT} src -j ${P}_R
-A ${P}_X -s fd00:9::/64 -j ${P}_R
-A ${P}_R -p tcp --dport 8080 -j ACCEPT
-A ${P}_X1  -j ${P}_R1
-A ${P}_R1 -p ipv6-icmp -m icmp6 --icmpv6-type 128 -j ACCEPT
COMMIT
`;

describe('one rendering, two families', () => {
  const desired = renderDesiredState([POLICY], BLOCKS, 'h1');

  it('gives ip6tables the IPv6 CIDR, icmpv6, inet6 set names and neighbour discovery', () => {
    assert.deepEqual(desired.skipped, []);
    assert.equal(formatIptablesRestore(forFamily(desired, 6).chains), IP6TABLES);
  });

  it('gives iptables the IPv4 CIDR and icmp only, with the IPv4 set names', () => {
    const v4 = formatIptablesRestore(forFamily(desired, 4).chains).split('\n');
    const rules = v4.filter((l) => l.startsWith(`-A ${P}`));
    assert.deepEqual(rules, [
      `-A ${P} -m set --match-set ROMANA-${BACK} dst -j ${P}_X`,
      `-A ${P} -m set --match-set ROMANA-${BACK} dst -j ${P}_X1`,
      `-A ${P}_X -m set --match-set ROMANA-${FRONT} src -j ${P}_R`,
      `-A ${P}_X -s 10.9.0.0/16 -j ${P}_R`,
      `-A ${P}_R -p tcp --dport 8080 -j ACCEPT`,
      `-A ${P}_X1  -j ${P}_R1`,
      `-A ${P}_R1 -p icmp --icmp-type 8 -j ACCEPT`,
    ]);
    assert.ok(!v4.some((l) => l.includes('icmp6') || l.includes('fd00')), 'no IPv6 in iptables');
    assert.ok(v4.includes('-A ROMANA-FORWARD-IN -m comment --comment DefaultDrop -j DROP'));
  });

  it('splits every set by family; IPv6 sets are ROMANA6-, family inet6', () => {
    const byName = (sets: IpSet[]) => new Map(sets.map((s) => [s.name, s]));
    const v4 = byName(forFamily(desired, 4).sets);
    const v6 = byName(forFamily(desired, 6).sets);
    assert.deepEqual(v4.get(`ROMANA-${FRONT}`)?.members, ['10.0.0.0/28']);
    assert.deepEqual(v4.get('ROMANA-LOCAL-BLOCKS')?.members, ['10.0.0.0/28', '10.0.0.16/28']);
    assert.deepEqual(v6.get(`ROMANA6-${FRONT}`), {
      name: `ROMANA6-${FRONT}`,
      type: 'hash:net',
      members: ['fd00::/120'],
      family: 'inet6',
    });
    assert.deepEqual(v6.get(`ROMANA6-${BACK}`)?.members, ['fd00::100/120']);
    assert.deepEqual(v6.get('ROMANA6-LOCAL-BLOCKS')?.members, ['fd00::/120']);
    assert.deepEqual(v6.get(`ROMANA6-${TENANT_A}`), {
      name: `ROMANA6-${TENANT_A}`,
      type: 'list:set',
      members: [`ROMANA6-${BACK}`, `ROMANA6-${FRONT}`],
    });
  });

  it('hands back the same arrays for the same rendering (the no-op check is by identity)', () => {
    for (const f of [4, 6] as const) {
      const a = forFamily(desired, f);
      const b = forFamily(desired, f);
      a.chains.forEach((c, i) => assert.equal(c.rules, b.chains[i]!.rules));
      a.sets.forEach((s, i) => assert.equal(s.members, b.sets[i]!.members));
    }
  });

  it('an IPv4-only rendering is IPv4 unchanged, and default deny on IPv6 with empty sets', () => {
    const v4only = renderDesiredState(
      [POLICY],
      BLOCKS.filter((b) => !b.cidr.includes(':')),
      'h1',
    );
    const v4 = forFamily(v4only, 4);
    v4only.chains
      .filter((c) => !c.rules.some((r) => r.match.includes('fd00') || r.match.includes('ipv6')))
      .forEach((c) => assert.ok(v4.chains.includes(c), `${c.name} passed through as is`));
    const v6 = forFamily(v4only, 6);
    assert.ok(v6.sets.every((s) => s.type === 'list:set' || s.members.length === 0));
    const fwdIn = v6.chains.find((c) => c.name === 'ROMANA-FORWARD-IN')!;
    assert.deepEqual(fwdIn.rules.at(-1), {
      match: '-m comment --comment DefaultDrop',
      target: 'DROP',
    });
  });
});

describe('family of a rule and of a member', () => {
  it('reads the family from addresses and ICMP protocols only', () => {
    assert.equal(ruleFamily('-s fd00::/64 -p tcp --dport 80'), 6);
    assert.equal(ruleFamily('-d 10.0.0.0/8'), 4);
    assert.equal(ruleFamily('-p icmp --icmp-type 8'), 4);
    assert.equal(ruleFamily('-p ipv6-icmp -m icmp6 --icmpv6-type 128'), 6);
    assert.equal(ruleFamily('-p tcp --dport 80'), undefined);
    assert.equal(ruleFamily('-m set --match-set ROMANA-x src'), undefined);
    assert.equal(ruleFamily(''), undefined);
  });

  it('reads a member family from its address part', () => {
    assert.equal(memberFamily('fd00::5,tcp:80'), 6);
    assert.equal(memberFamily('10.0.0.5,tcp:80'), 4);
    assert.equal(memberFamily('10.0.0.0/8 nomatch'), 4);
    assert.equal(memberFamily('fd00::/8 nomatch'), 6);
    assert.equal(memberFamily('ROMANA-0123456789abcdef'), undefined);
  });

  it('renames sets and member changes for IPv6 only', () => {
    assert.equal(familySetName('ROMANA-KS-0123456789abcdef', 6), 'ROMANA6-KS-0123456789abcdef');
    assert.equal(familySetName('ROMANA-KS-0123456789abcdef', 4), 'ROMANA-KS-0123456789abcdef');
    const add6 = { op: 'add' as const, set: 'ROMANA-KS-x', member: 'fd00::5' };
    assert.deepEqual(forFamilyChange(add6, 6), { ...add6, set: 'ROMANA6-KS-x' });
    assert.equal(forFamilyChange(add6, 4), undefined);
    const add4 = { op: 'add' as const, set: 'ROMANA-KS-x', member: '10.0.0.5' };
    assert.equal(forFamilyChange(add4, 4), add4);
    assert.equal(forFamilyChange(add4, 6), undefined);
  });

  it('property: the two projections partition every hash set and keep every neutral rule', () => {
    const v4 = fc.tuple(fc.nat(255), fc.nat(255)).map(([a, b]) => `10.${a}.${b}.0/28`);
    const v6 = fc
      .tuple(fc.nat(0xffff), fc.nat(0xff))
      .map(([a, b]) => `fd00:${a.toString(16)}::${(b * 16).toString(16)}/124`);
    const rule = fc.oneof(
      fc.constantFrom('', '-p tcp --dport 80', '-m set --match-set ROMANA-x src'),
      v4.map((c) => `-s ${c}`),
      v6.map((c) => `-d ${c}`),
      fc.constantFrom('-p icmp', '-p ipv6-icmp'),
    );
    fc.assert(
      fc.property(fc.array(fc.oneof(v4, v6)), fc.array(rule), (members, matches) => {
        const state = {
          sets: [{ name: 'ROMANA-s', type: 'hash:net' as const, members }],
          chains: [
            { name: 'ROMANA-c', rules: matches.map((match) => ({ match, target: 'ACCEPT' })) },
          ],
        };
        const [a, b] = [forFamily(state, 4), forFamily(state, 6)];
        assert.deepEqual(
          [...a.sets[0]!.members, ...b.sets[0]!.members].sort(),
          [...members].sort(),
        );
        assert.ok(b.sets[0]!.members.every((m) => m.includes(':')));
        const neutral = matches.filter((m) => ruleFamily(m) === undefined).length;
        const count = a.chains[0]!.rules.length + b.chains[0]!.rules.length;
        assert.equal(count, matches.length + neutral);
      }),
    );
  });
});

describe('Kubernetes mode on two families', () => {
  const pods = [
    {
      namespace: 'x',
      name: 'front',
      ip: '10.0.0.2',
      ips: ['10.0.0.2', 'fd00::2'],
      labels: { role: 'front' },
      ports: [],
    },
    {
      namespace: 'x',
      name: 'back',
      ip: '10.0.0.3',
      ips: ['10.0.0.3', 'fd00::3'],
      labels: { role: 'back' },
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    },
  ];
  const policy: KubePolicy = {
    id: 'kube.x.back',
    namespace: 'x',
    podSelector: { matchLabels: { role: 'back' } },
    policyTypes: ['Ingress'],
    ingress: [
      {
        from: [{ podSelector: { matchLabels: { role: 'front' } } }],
        ports: [{ protocol: 'TCP', port: 'http' }],
      },
      { from: [{ ipBlock: { cidr: 'fd00:9::/64' } }], ports: [] },
    ],
  };

  it('fills each family set with that family of the pods, ipBlocks with their own family', () => {
    const desired = renderKube([policy], pods, [], BLOCKS, 'h1');
    const v6 = new Map(forFamily(desired, 6).sets.map((s) => [s.name, s]));
    const v4 = new Map(forFamily(desired, 4).sets.map((s) => [s.name, s]));
    const members = (m: Map<string, IpSet>) =>
      [...m.values()]
        .filter(
          (s) =>
            s.name !== familySetName('ROMANA-LOCAL-BLOCKS', 6) && s.name !== 'ROMANA-LOCAL-BLOCKS',
        )
        .map((s) => s.members)
        .sort();
    assert.deepEqual(members(v4), [[], ['10.0.0.2'], ['10.0.0.3'], ['10.0.0.3,tcp:8080']].sort());
    assert.deepEqual(
      members(v6),
      [['fd00:9::/64'], ['fd00::2'], ['fd00::3'], ['fd00::3,tcp:8080']].sort(),
    );
    assert.ok([...v6.keys()].every((n) => n.startsWith('ROMANA6-')));
    const chains = forFamily(desired, 6).chains;
    const fwdIn = chains.find((c) => c.name === 'ROMANA-FORWARD-IN')!;
    assert.deepEqual(fwdIn.rules.slice(0, ND_RULES.length), ND_RULES);
    const ingress = chains.find((c) => c.name === 'ROMANA-K-INGRESS')!;
    assert.deepEqual(ingress.rules[0], {
      match: '-m set ! --match-set ROMANA6-LOCAL-BLOCKS dst',
      target: 'ACCEPT',
    });
  });
});
