/**
 * Policy rendering at its edges, written to kill the mutants of `src/policy/render.ts` the
 * other tests let live (docs/testing.md, "Mutation testing"): policies skipped before
 * rendering (Kubernetes form in Romana mode, too many ingress entries), the order policies
 * are rendered in, and the empty sets added for peers no block fills.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Policy as AnyPolicy, RomanaPolicy as Policy } from './model.ts';
import { GOLDEN_BLOCKS, GOLDEN_FIXTURES } from './render.fixtures.ts';
import { makeBlockSets, segmentSetName, tenantListName } from './render-sets.ts';
import {
  formatIptablesRestore,
  KUBE_IN_ROMANA_MODE,
  MAX_RENDERED_ENTRIES,
  renderDesiredState,
  renderPolicyChains,
  Renderer,
  ruleMatches,
} from './render.ts';

const demo = GOLDEN_FIXTURES.find((f) => f.name === 'demo-policy')!.policy;

describe('rendering at the edges', () => {
  it('skips a Kubernetes-form policy in Romana mode, naming it and the mode', () => {
    const kube = { id: 'k1', namespace: 'shop', podSelector: {} } as unknown as AnyPolicy;
    const noId = { id: 7, podSelector: {} } as unknown as AnyPolicy;
    for (const render of [
      (ps: AnyPolicy[]) => renderDesiredState(ps, GOLDEN_BLOCKS, 'host1'),
      (ps: AnyPolicy[]) => new Renderer().render(ps, GOLDEN_BLOCKS, 'host1'),
    ]) {
      const out = render([kube, noId, null as unknown as AnyPolicy, demo]);
      assert.deepEqual(out.skipped, [
        { id: 'k1', problems: [KUBE_IN_ROMANA_MODE] },
        { id: '', problems: [KUBE_IN_ROMANA_MODE] },
        { id: '', problems: ['policy: must be an object, got null'] },
      ]);
      assert.deepEqual(out.chains, render([demo]).chains, 'only the Romana policy rendered');
    }
    assert.match(KUBE_IN_ROMANA_MODE, /^a Kubernetes-form policy is enforced only in Kubernetes/);
  });

  it(`skips a policy of more than ${MAX_RENDERED_ENTRIES} ingress entries, saying so`, () => {
    const entries = MAX_RENDERED_ENTRIES + 1;
    const big: Policy = {
      ...demo,
      id: 'big',
      ingress: Array.from({ length: entries }, (_, i) => ({
        peers: demo.ingress[0]!.peers,
        rules: [{ protocol: 'tcp', ports: [1000 + i] }],
      })),
    };
    const atMost: Policy = { ...big, id: 'at-most', ingress: big.ingress.slice(1) };
    const out = renderDesiredState([big, atMost], GOLDEN_BLOCKS, 'host1');
    assert.deepEqual(out.skipped, [
      {
        id: 'big',
        problems: [`ingress: ${entries} entries, at most ${MAX_RENDERED_ENTRIES} can be rendered`],
      },
    ]);
    assert.ok(out.chains.some((c) => c.rules.some((r) => r.match === '-p tcp --dport 1001')));
    assert.ok(!out.chains.some((c) => c.rules.some((r) => r.match === '-p tcp --dport 1000')));
  });

  it('renders the rules of an entry as the original did: each new one above the last ACCEPTs', () => {
    const rules = [
      { protocol: 'tcp', ports: [80, 443], port_ranges: [[22, 22]] as [number, number][] },
      { protocol: ' TCP ', ports: [8080] },
    ];
    const policy: Policy = { ...demo, id: 'multi', ingress: [{ ...demo.ingress[0]!, rules }] };
    const { chains } = renderPolicyChains([policy], GOLDEN_BLOCKS, 'host1');
    const r = chains.find((c) => c.name.endsWith('_R'))!;
    assert.deepEqual(
      r.rules.map((x) => `${x.match} -j ${x.target}`),
      [
        '-p tcp --dport 8080 -j ACCEPT',
        '-p tcp --dport 22:22 -j ACCEPT',
        '-p tcp --dport 443 -j ACCEPT',
        '-p tcp --dport 80 -j ACCEPT',
      ],
    );
  });

  it('renders policies in id order, whatever order they come in', () => {
    const policies = GOLDEN_FIXTURES.map((f) => f.policy);
    const sorted = [...policies].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const expected = renderDesiredState(sorted, GOLDEN_BLOCKS, 'host1').chains;
    const jumps = expected.find((c) => c.name === 'ROMANA-FORWARD-IN')!.rules;
    assert.ok(jumps.filter((r) => r.target.startsWith('ROMANA-P-')).length > 1);
    const idOf = new Map(GOLDEN_FIXTURES.map((f) => [`ROMANA-P-${f.hash}`, f.policy.id]));
    const ids = jumps
      .filter((r) => r.target.startsWith('ROMANA-P-'))
      .map((r) => idOf.get(r.target)!);
    assert.deepEqual(ids, [...ids].sort(), 'the jumps to policy chains come in ascending id order');
    for (const order of [policies, [...sorted].reverse(), [sorted[1]!, sorted[0]!, ...sorted]]) {
      assert.deepEqual(renderDesiredState(order, GOLDEN_BLOCKS, 'host1').chains, expected);
    }
  });

  it('adds an empty set for each peer set no block fills: hash sets, then list sets', () => {
    const peers = [
      { tenant_id: 'tenant-z', segment_id: 'web' },
      { tenant_id: 'tenant-y' },
      { tenant_id: 'tenant-z', segment_id: 'web' },
      { tenant_id: 'tenant-a', segment_id: 'frontend' },
    ];
    const policy: Policy = { ...demo, id: 'peers', ingress: [{ ...demo.ingress[0]!, peers }] };
    const { sets } = renderDesiredState([policy], GOLDEN_BLOCKS, 'host1');
    const blockSets = makeBlockSets(GOLDEN_BLOCKS, 'host1');
    const firstList = blockSets.findIndex((s) => s.type === 'list:set');
    assert.ok(firstList > 0, 'the blocks give both kinds of set');
    assert.deepEqual(sets, [
      ...blockSets.slice(0, firstList),
      { name: segmentSetName('tenant-z', 'web'), type: 'hash:net', members: [] },
      ...blockSets.slice(firstList),
      { name: tenantListName('tenant-y'), type: 'list:set', members: [] },
    ]);
  });
  it('adds peer sets after the local blocks set when no block has a tenant yet', () => {
    const peers = [{ tenant_id: 'tenant-y' }, { tenant_id: 'tenant-z', segment_id: 'web' }];
    const policy: Policy = {
      id: 'to-host',
      direction: 'ingress',
      applied_to: [{ dest: 'host' }],
      ingress: [{ peers, rules: [{ protocol: 'tcp', ports: [22] }] }],
    };
    for (const blocks of [[], [{ cidr: '10.9.0.0/28', tenant: '', segment: '', host: 'host1' }]]) {
      const blockSets = makeBlockSets(blocks, 'host1');
      assert.ok(!blockSets.some((s) => s.type === 'list:set'), 'no tenant list from the blocks');
      const out = renderDesiredState([policy], blocks, 'host1');
      assert.deepEqual(out.skipped, []);
      assert.deepEqual(out.sets, [
        ...blockSets,
        { name: segmentSetName('tenant-z', 'web'), type: 'hash:net', members: [] },
        { name: tenantListName('tenant-y'), type: 'list:set', members: [] },
      ]);
      assert.deepEqual(out.sets[0], {
        name: 'ROMANA-LOCAL-BLOCKS',
        type: 'hash:net',
        members: blocks.map((b) => b.cidr),
      });
    }
  });

  it('renders icmpv6 as ipv6-icmp with its type and code, type 0 meaning every type', () => {
    const cases: [Parameters<typeof ruleMatches>[0], string[]][] = [
      [{ protocol: 'icmpv6' }, ['-p ipv6-icmp']],
      [{ protocol: 'ICMPv6', icmp_type: 0, icmp_code: 3 }, ['-p ipv6-icmp']],
      [{ protocol: 'icmpv6', icmp_type: 128 }, ['-p ipv6-icmp -m icmp6 --icmpv6-type 128']],
      [
        { protocol: 'icmpv6', icmp_type: 1, icmp_code: 4 },
        ['-p ipv6-icmp -m icmp6 --icmpv6-type 1/4'],
      ],
      [{ protocol: 'icmp', icmp_code: 4 }, ['-p icmp']],
      [{ protocol: 'icmp', icmp_type: 8, icmp_code: 0 }, ['-p icmp --icmp-type 8']],
    ];
    for (const [rule, out] of cases) assert.deepEqual(ruleMatches(rule), out, JSON.stringify(rule));
  });

  it('reads a protocol with spaces around it or in capitals as the protocol', () => {
    assert.deepEqual(ruleMatches({ protocol: ' TCP ', ports: [80] }), ['-p tcp --dport 80']);
    assert.deepEqual(ruleMatches({ protocol: ' Any' }), ['']);
    assert.deepEqual(ruleMatches({ protocol: 'udp', port_ranges: [[5000, 5010]] }), [
      '-p udp --dport 5000:5010',
    ]);
  });

  it('ends an iptables-restore payload with a -X line per chain to delete, then COMMIT', () => {
    const chains = [{ name: 'ROMANA-OP', rules: [{ match: '', target: 'RETURN' }] }];
    assert.equal(
      formatIptablesRestore(chains, ['ROMANA-P-0123456789abcdef', 'ROMANA-P-fedcba9876543210']),
      '*filter\n:ROMANA-OP - \n-A ROMANA-OP  -j RETURN\n' +
        '-X ROMANA-P-0123456789abcdef\n-X ROMANA-P-fedcba9876543210\nCOMMIT\n',
    );
  });
});
