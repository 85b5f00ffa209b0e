/**
 * Policy enforcement's apply layer on a real kernel, inside a throwaway network namespace
 * (every command runs through `nsenter`, so the host's firewall is never touched):
 * first apply, no-op re-apply, a changed policy, a removed policy, a block change, a rule
 * deleted by hand, and a foreign chain and set that must survive every apply; and the kernel's
 * rules compared with rules written out by hand (not the renderer's output). Needs root.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Exec } from '../../src/exec.ts';
import { parseIpsetSave, parseIptablesSave } from '../../src/policy/firewall-state.ts';
import { Firewall, isEmptyPlan, type FirewallPlan } from '../../src/policy/firewall.ts';
import { policyChainName, tenantSetName } from '../../src/policy/hash.ts';
import type { Policy } from '../../src/policy/model.ts';
import { GOLDEN_BLOCKS, GOLDEN_FIXTURES } from '../../src/policy/render.fixtures.ts';
import { renderDesiredState, type DesiredState } from '../../src/policy/render.ts';
import type { RenderBlock } from '../../src/policy/render-sets.ts';
import { createNetns, netnsHandle, uniqueNetnsName } from '../helpers/netns.ts';

const ns = netnsHandle(uniqueNetnsName(`romana-test-${randomBytes(2).toString('hex')}`));
const HOST = 'host1';
const isRoot = process.getuid?.() === 0;

function inNs(...args: string[]): string {
  return ns.run(args);
}

/** Counts the commands that change state, to prove a no-op apply runs none. */
class CountingExec implements Exec {
  writes = 0;
  readonly #inner: Exec;
  constructor(inner: Exec) {
    this.#inner = inner;
  }
  run(program: string, args: readonly string[], stdin?: string) {
    if (program.endsWith('-restore') || args[0] === 'restore') this.writes++;
    return this.#inner.run(program, args, stdin);
  }
}

const ranges: Policy = {
  id: 'ranges',
  direction: 'ingress',
  applied_to: [{ tenant_id: 'tenant-a' }],
  ingress: [
    {
      peers: [{ cidr: '192.168.7.0/24' }, { peer: 'any' }],
      rules: [
        {
          protocol: 'tcp',
          ports: [22],
          port_ranges: [
            [80, 80],
            [1, 1000],
            [1000, 65535],
          ],
        },
        { protocol: 'udp' },
        { protocol: 'icmp', icmp_type: 8 },
      ],
    },
    { peers: [{ tenant_id: 'tenant-b', segment_id: 'default' }], rules: [{ protocol: 'any' }] },
  ],
};
const egress: Policy = {
  id: 'no-dns',
  direction: 'egress',
  applied_to: [{ tenant_id: 'tenant-a', segment_id: 'frontend' }],
  ingress: [{ peers: [{ cidr: '8.8.8.8/32' }], rules: [{ protocol: 'udp', ports: [53] }] }],
};
const fixtures = GOLDEN_FIXTURES.map((f) => f.policy);
/** Several rules per entry, single-port and multi-port ranges, two entries, two protocols. */
const literal: Policy = {
  id: 'literal',
  direction: 'ingress',
  applied_to: [{ tenant_id: 'tenant-a', segment_id: 'backend' }],
  ingress: [
    {
      peers: [{ cidr: '192.168.9.0/24' }],
      rules: [
        {
          protocol: 'tcp',
          ports: [443, 8443],
          port_ranges: [
            [22, 22],
            [6000, 6010],
          ],
        },
        {
          protocol: 'udp',
          port_ranges: [
            [53, 53],
            [5000, 5100],
          ],
        },
      ],
    },
    {
      peers: [{ tenant_id: 'tenant-b' }],
      rules: [
        { protocol: 'icmp', icmp_type: 3, icmp_code: 4 },
        { protocol: 'tcp', ports: [5432] },
      ],
    },
  ],
};

describe('policy firewall in a network namespace', { skip: !isRoot && 'needs root' }, () => {
  let fw: Firewall;
  let counting: CountingExec;
  // tenant-c has more segments than a list:set holds by default (8).
  const manySegments: RenderBlock[] = Array.from({ length: 10 }, (_, i) => ({
    cidr: `10.3.${i}.0/28`,
    tenant: 'tenant-c',
    segment: `seg-${i}`,
    host: 'host9',
  }));
  let blocks: RenderBlock[] = [...GOLDEN_BLOCKS, ...manySegments];

  before(() => {
    createNetns(ns.name);
    counting = new CountingExec(ns.exec);
    fw = new Firewall(counting);
    // Somebody else's chain, jumped to from FORWARD, and somebody else's set.
    inNs('iptables', '-N', 'FOREIGN');
    inNs('iptables', '-A', 'FOREIGN', '-s', '10.9.0.0/16', '-j', 'ACCEPT');
    inNs('iptables', '-A', 'FORWARD', '-j', 'FOREIGN');
    inNs('ipset', 'create', 'foreign-set', 'hash:ip');
    inNs('ipset', 'add', 'foreign-set', '10.9.9.9');
  });

  after(() => {
    try {
      inNs('iptables', '-F');
      inNs('iptables', '-X');
      inNs('ipset', 'flush'); // list:sets hold their members: empty them first
      inNs('ipset', 'destroy');
    } finally {
      ns.remove();
    }
  });

  function desired(policies: Policy[]): DesiredState {
    const d = renderDesiredState(policies, blocks, HOST);
    assert.deepEqual(d.skipped, []);
    return d;
  }

  async function apply(policies: Policy[]): Promise<FirewallPlan> {
    const d = desired(policies);
    const plan = await fw.apply(d);
    const again = await fw.plan(d);
    assert.ok(isEmptyPlan(again), `kernel holds the desired state:\n${JSON.stringify(again)}`);
    assertForeignIntact();
    return plan;
  }

  function assertForeignIntact(): void {
    const save = inNs('iptables-save', '-t', 'filter');
    assert.match(save, /^-A FOREIGN -s 10\.9\.0\.0\/16 -j ACCEPT$/m);
    assert.match(save, /^-A FORWARD -j FOREIGN$/m);
    assert.match(inNs('ipset', 'list', 'foreign-set'), /^10\.9\.9\.9$/m);
  }

  function kernelChains(): Map<string, string[]> {
    return parseIptablesSave(inNs('iptables-save', '-t', 'filter')).chains;
  }

  it('applies the rendered state from scratch', async () => {
    const plan = await apply([...fixtures, ranges, egress]);
    const chains = kernelChains();
    for (const c of desired([...fixtures, ranges, egress]).chains) {
      assert.ok(chains.has(c.name), `${c.name} exists`);
    }
    assert.ok(plan.chainsWritten.includes('ROMANA-FORWARD-IN'));
    assert.deepEqual(plan.chainsDeleted, []);
    const sets = parseIpsetSave(inNs('ipset', 'save'));
    assert.deepEqual([...sets.get(tenantSetName('tenant-a', 'frontend'))!.members].sort(), [
      '10.0.0.16/28',
      '10.0.1.0/28',
    ]);
    assert.deepEqual([...sets.get('ROMANA-LOCAL-BLOCKS')!.members].sort(), [
      '10.0.0.0/28',
      '10.0.0.16/28',
    ]);
    assert.ok(sets.has(tenantSetName('kube-system')), 'empty peer set created');
    assert.equal(sets.get(tenantSetName('tenant-c'))!.members.size, 10);
    // The CNI plugin's divert rules (§6.4) can now refer to the base chains.
    inNs('iptables', '-A', 'FORWARD', '-o', 'veth0', '-j', 'ROMANA-FORWARD-IN');
    inNs('iptables', '-A', 'FORWARD', '-i', 'veth0', '-j', 'ROMANA-FORWARD-OUT');
  });

  it('changes nothing when the same state is applied again', async () => {
    const writes = counting.writes;
    const plan = await apply([...fixtures, ranges, egress]);
    assert.ok(isEmptyPlan(plan));
    assert.equal(counting.writes, writes, 'no restore command ran');
  });

  it('rewrites only the chains of a changed policy', async () => {
    const demo = fixtures[1]!;
    const changed: Policy = {
      ...demo,
      ingress: [{ peers: demo.ingress[0]!.peers, rules: [{ protocol: 'tcp', ports: [8080] }] }],
    };
    const others = fixtures.filter((p) => p !== demo);
    const plan = await apply([...others, changed, ranges, egress]);
    const oldP = policyChainName(demo);
    const newP = policyChainName(changed);
    assert.deepEqual(plan.chainsWritten.sort(), [
      'ROMANA-FORWARD-IN',
      newP,
      `${newP}_R`,
      `${newP}_X`,
    ]);
    assert.deepEqual(plan.chainsDeleted.sort(), [oldP, `${oldP}_R`, `${oldP}_X`]);
    assert.equal(plan.ipsetBefore, '');
    assert.equal(plan.ipsetAfter, '');
    const chains = kernelChains();
    assert.ok(!chains.has(oldP));
    assert.deepEqual(chains.get(`${newP}_R`), ['-p tcp --dport 8080 -j ACCEPT']);
  });

  it("removes a removed policy's chains and the sets only it used", async () => {
    const foreignPeer = fixtures[2]!; // peer tenant kube-system, which has no block
    const plan = await apply([ranges, egress]);
    assert.ok(plan.chainsDeleted.includes(policyChainName(foreignPeer)));
    assert.deepEqual(plan.setsDestroyed, [tenantSetName('kube-system')]);
    const chains = kernelChains();
    for (const name of chains.keys()) {
      assert.ok(!name.startsWith(policyChainName(foreignPeer)), `${name} is gone`);
    }
    assert.ok(!parseIpsetSave(inNs('ipset', 'save')).has(tenantSetName('kube-system')));
  });

  it('swaps in a changed set without touching chains', async () => {
    blocks = [
      ...blocks,
      { cidr: '10.0.3.0/28', tenant: 'tenant-a', segment: 'frontend', host: 'host3' },
    ];
    const plan = await apply([ranges, egress]);
    assert.deepEqual(plan.setsReplaced, [tenantSetName('tenant-a', 'frontend')]);
    assert.equal(plan.iptables, '');
    const sets = parseIpsetSave(inNs('ipset', 'save'));
    assert.ok(sets.get(tenantSetName('tenant-a', 'frontend'))!.members.has('10.0.3.0/28'));
    assert.ok(![...sets.keys()].some((n) => n.endsWith('-new')), 'temporary set destroyed');
    // The tenant list:set still holds the (swapped) segment set.
    assert.match(
      inNs('ipset', 'list', tenantSetName('tenant-a')),
      new RegExp(`^${tenantSetName('tenant-a', 'frontend')}$`, 'm'),
    );
  });

  it('grows a tenant list:set past its size by swapping in a bigger one', async () => {
    const more = [10, 11, 12].map((i) => ({
      cidr: `10.3.${i}.0/28`,
      tenant: 'tenant-c',
      segment: `seg-${i}`,
      host: 'host9',
    }));
    blocks = [...blocks, ...more];
    const plan = await apply([ranges, egress]);
    assert.ok(plan.setsReplaced.includes(tenantSetName('tenant-c')));
    const sets = parseIpsetSave(inNs('ipset', 'save'));
    assert.equal(sets.get(tenantSetName('tenant-c'))!.members.size, 13);
  });

  it('restores a rule deleted by hand on the next apply', async () => {
    const p = policyChainName(ranges);
    inNs('iptables', '-D', `${p}_R`, '1');
    const plan = await apply([ranges, egress]);
    assert.deepEqual(plan.chainsWritten, [`${p}_R`]);
  });

  it('diffs against the last applied state on request, and resyncs by default', async () => {
    const p = policyChainName(ranges);
    inNs('iptables', '-D', `${p}_R`, '1');
    const writes = counting.writes;
    const fast = await fw.apply(desired([ranges, egress]), { fromLastApplied: true });
    assert.ok(isEmptyPlan(fast), 'the last applied state has the rule');
    assert.equal(counting.writes, writes);
    const full = await apply([ranges, egress]);
    assert.deepEqual(full.chainsWritten, [`${p}_R`]);
  });

  it('falls back to reading the kernel when the last applied state is wrong', async () => {
    // By hand: the tenant-b set is unhooked from the rules that use it and destroyed.
    const p = policyChainName(ranges);
    const set = tenantSetName('tenant-b', 'default');
    inNs('iptables', '-F', `${p}_X1`);
    inNs('ipset', 'del', tenantSetName('tenant-b'), set);
    inNs('ipset', 'destroy', set);
    blocks = [
      ...blocks,
      { cidr: '10.0.4.0/28', tenant: 'tenant-b', segment: 'default', host: 'h4' },
    ];
    const plan = await fw.apply(desired([ranges, egress]), { fromLastApplied: true });
    assert.deepEqual(plan.setsCreated, [set], 'planned from the kernel after the swap failed');
    assert.deepEqual(plan.setsReplaced, [tenantSetName('tenant-b')]);
    assert.deepEqual(plan.chainsWritten, [`${p}_X1`]);
    assert.ok(isEmptyPlan(await fw.plan(desired([ranges, egress]))));
    assertForeignIntact();
  });

  it('keeps a stale chain or set while something else uses it, and removes it after', async () => {
    const p = policyChainName(egress);
    inNs('iptables', '-A', 'FOREIGN', '-j', p);
    const plan = await apply([ranges]);
    assert.deepEqual(plan.chainsEmptied, [p]);
    assert.deepEqual(kernelChains().get(p), []);
    inNs('iptables', '-D', 'FOREIGN', '-j', p);
    // tenant-c's blocks are gone, but a foreign rule still matches tenant-c's set.
    const tenantC = tenantSetName('tenant-c');
    inNs('iptables', '-A', 'FOREIGN', '-m', 'set', '--match-set', tenantC, 'src', '-j', 'DROP');
    blocks = blocks.filter((b) => b.tenant !== 'tenant-c');
    const kept = await apply([]);
    assert.ok(kept.chainsDeleted.includes(p), 'no longer jumped to: deleted');
    assert.equal(kept.setsKept.length, 14, 'the list:set and its 13 segment sets');
    assert.ok(parseIpsetSave(inNs('ipset', 'save')).has(tenantC));
    inNs('iptables', '-D', 'FOREIGN', '-m', 'set', '--match-set', tenantC, 'src', '-j', 'DROP');
    const last = await apply([]);
    assert.equal(last.setsDestroyed.length, 14);
    const names = [...kernelChains().keys()].sort();
    assert.deepEqual(names, [
      'ROMANA-FORWARD-IN',
      'ROMANA-FORWARD-OUT',
      'ROMANA-INPUT',
      'ROMANA-OP',
      'ROMANA-OP-IN',
      'ROMANA-OUTPUT',
    ]);
  });
  it('holds, in the kernel, literally the rules each policy entry asks for', async () => {
    await apply([literal, ranges]);
    const save = inNs('iptables-save', '-t', 'filter');
    /** The `-A` lines of the chains whose names start with `prefix`, as iptables prints them. */
    const lines = (prefix: string) =>
      save
        .split('\n')
        .filter((l) => l.startsWith(`-A ${prefix}`))
        .map((l) => l.replaceAll(prefix, 'P'));
    // Written by hand from the policies above, not from the renderer: a single-port range is
    // the port (iptables prints 22:22 as 22), a range keeps both ends, each rule its protocol;
    // rules are added in reverse order (the original's "insert above the terminal rules"),
    // and iptables-save lists chains by name.
    assert.deepEqual(lines(policyChainName(literal)), [
      `-A P -m set --match-set ${tenantSetName('tenant-a', 'backend')} dst -j P_X`,
      `-A P -m set --match-set ${tenantSetName('tenant-a', 'backend')} dst -j P_X1`,
      '-A P_R -p udp -m udp --dport 5000:5100 -j ACCEPT',
      '-A P_R -p udp -m udp --dport 53 -j ACCEPT',
      '-A P_R -p tcp -m tcp --dport 6000:6010 -j ACCEPT',
      '-A P_R -p tcp -m tcp --dport 22 -j ACCEPT',
      '-A P_R -p tcp -m tcp --dport 8443 -j ACCEPT',
      '-A P_R -p tcp -m tcp --dport 443 -j ACCEPT',
      '-A P_R1 -p tcp -m tcp --dport 5432 -j ACCEPT',
      '-A P_R1 -p icmp -m icmp --icmp-type 3/4 -j ACCEPT',
      '-A P_X -s 192.168.9.0/24 -j P_R',
      `-A P_X1 -m set --match-set ${tenantSetName('tenant-b')} src -j P_R1`,
    ]);
    assert.deepEqual(lines(policyChainName(ranges)), [
      `-A P -m set --match-set ${tenantSetName('tenant-a')} dst -j P_X`,
      `-A P -m set --match-set ${tenantSetName('tenant-a')} dst -j P_X1`,
      '-A P_R -p icmp -m icmp --icmp-type 8 -j ACCEPT',
      '-A P_R -p udp -j ACCEPT',
      '-A P_R -p tcp -m tcp --dport 1000:65535 -j ACCEPT',
      '-A P_R -p tcp -m tcp --dport 1:1000 -j ACCEPT',
      '-A P_R -p tcp -m tcp --dport 80 -j ACCEPT',
      '-A P_R -p tcp -m tcp --dport 22 -j ACCEPT',
      '-A P_R1 -j ACCEPT',
      '-A P_X -s 192.168.7.0/24 -j P_R',
      '-A P_X -j P_R',
      `-A P_X1 -m set --match-set ${tenantSetName('tenant-b', 'default')} src -j P_R1`,
    ]);
    // Each policy is jumped to from its base chain, before the default drop.
    assert.deepEqual(
      save.split('\n').filter((l) => l.startsWith('-A ROMANA-FORWARD-IN ')),
      [
        '-A ROMANA-FORWARD-IN -m comment --comment Ingress -m state --state RELATED,ESTABLISHED -j ACCEPT',
        '-A ROMANA-FORWARD-IN -j ROMANA-OP',
        `-A ROMANA-FORWARD-IN -j ${policyChainName(literal)}`,
        `-A ROMANA-FORWARD-IN -j ${policyChainName(ranges)}`,
        '-A ROMANA-FORWARD-IN -m comment --comment DefaultDrop -j DROP',
      ],
    );
  });
});
