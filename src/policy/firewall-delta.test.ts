import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Applied, commitChange, planChange } from './firewall-delta.ts';
import {
  planFirewall,
  stateAfter,
  type FirewallPlan,
  type FirewallState,
  type FirewallTarget,
} from './firewall-plan.ts';
import type { IpSet } from './render-sets.ts';
import type { Chain } from './render.ts';

const CHAINS = ['ROMANA-A', 'ROMANA-B', 'ROMANA-C', 'ROMANA-FOREIGN'];
const SETS = ['ROMANA-S1', 'ROMANA-S2', 'ROMANA-S3', 'ROMANA-USED'];
const RULES = ['-j ACCEPT', '-p tcp --dport 80 -j ACCEPT', '-j ROMANA-A', '-p udp -j DROP'];
const MEMBERS = ['10.0.0.1', '10.0.0.2', '10.0.0.3'];

/** A node whose kernel has a foreign jump to one Romana chain and a foreign use of one set. */
function initial(): FirewallState {
  return {
    chains: {
      chains: new Map([['ROMANA-FOREIGN', ['-j DROP']]]),
      referencedByOthers: new Set(['ROMANA-FOREIGN']),
    },
    sets: new Map([['ROMANA-USED', { type: 'hash:ip', members: new Set(['10.9.9.9']) }]]),
    setsUsedByOthers: new Set(['ROMANA-USED']),
  };
}

/**
 * One entry of a step: absent, last step's object again, a copy of it holding the same array
 * (what a family projection hands back), or a new object (whose content may well equal the
 * last one's).
 */
type Pick =
  { kind: 'absent' } | { kind: 'same' } | { kind: 'copy' } | { kind: 'new'; content: number[] };
const pick = fc.oneof(
  fc.constant<Pick>({ kind: 'absent' }),
  fc.constant<Pick>({ kind: 'same' }),
  fc.constant<Pick>({ kind: 'copy' }),
  fc.subarray([0, 1, 2, 3], { minLength: 0 }).map((content): Pick => ({ kind: 'new', content })),
);
const step: fc.Arbitrary<Step> = fc.record({
  chains: fc.array(pick, { minLength: CHAINS.length, maxLength: CHAINS.length }),
  sets: fc.array(pick, { minLength: SETS.length, maxLength: SETS.length }),
});

type Step = { chains: Pick[]; sets: Pick[] };

function next(prev: FirewallTarget, s: Step): FirewallTarget {
  const chains: Chain[] = [];
  const sets: IpSet[] = [];
  CHAINS.forEach((name, i) => {
    const p = s.chains[i]!;
    const old = prev.chains.find((c) => c.name === name);
    if (p.kind === 'same' && old !== undefined) chains.push(old);
    else if (p.kind === 'copy' && old !== undefined) chains.push({ name, rules: old.rules });
    else if (p.kind === 'new') {
      const rules = p.content.map((r) => {
        const [match, target] = RULES[r]!.split(/ ?-j /);
        return { match: match!, target: target! };
      });
      chains.push({ name, rules });
    }
  });
  SETS.forEach((name, i) => {
    const p = s.sets[i]!;
    const old = prev.sets.find((x) => x.name === name);
    if (p.kind === 'same' && old !== undefined) sets.push(old);
    else if (p.kind === 'copy' && old !== undefined) sets.push({ ...old });
    else if (p.kind === 'new') {
      const members = p.content.filter((m) => m < MEMBERS.length).map((m) => MEMBERS[m]!);
      sets.push({ name, type: 'hash:ip', members });
    }
  });
  return { chains, sets };
}

function comparable(state: FirewallState): unknown {
  const sets = [...state.sets].map(([n, s]) => [n, s.type, [...s.members].sort()]);
  return { chains: [...state.chains.chains].sort(), sets: sets.sort() };
}

/**
 * A plan in comparable form: without the kept sets (a full plan names every kept set each
 * time), and with the chains and sets deleted in name order (in one transaction, after every
 * stale chain was flushed, their order does not matter).
 */
function runs(plan: FirewallPlan): Omit<FirewallPlan, 'setsKept'> {
  const { setsKept: _, ...rest } = plan;
  const sortRuns = (text: string) => {
    const lines = text.split('\n');
    const kind = (l: string) => (/^(:|-X |destroy )/.exec(l) ?? [''])[0];
    for (let i = 0; i < lines.length;) {
      let j = i + 1;
      while (j < lines.length && kind(lines[j]!) === kind(lines[i]!)) j++;
      if (kind(lines[i]!) !== '') lines.splice(i, j - i, ...lines.slice(i, j).sort());
      i = j;
    }
    return lines.join('\n');
  };
  return {
    ...rest,
    iptables: sortRuns(rest.iptables),
    ipsetAfter: sortRuns(rest.ipsetAfter),
    chainsDeleted: [...rest.chainsDeleted].sort(),
    chainsEmptied: [...rest.chainsEmptied].sort(),
    setsDestroyed: [...rest.setsDestroyed].sort(),
  };
}

describe('planChange (a change against the last applied target)', () => {
  it('plans what a full diff plans and leaves the state a full diff leaves', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 6 }), (steps) => {
        let target: FirewallTarget = { chains: [], sets: [] };
        const start = initial();
        let full = stateAfter(target, start);
        const last = new Applied(target, stateAfter(target, start));
        for (const s of steps) {
          target = next(target, s);
          const reference = planFirewall(target, full);
          const change = planChange(target, last);
          assert.deepEqual(runs(change.plan), runs(reference));
          commitChange(change, last);
          full = stateAfter(target, full);
          assert.deepEqual(comparable(last.state), comparable(full));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('compares a set patched since by content: a patch back to the target changes nothing', () => {
    const set: IpSet = { name: 'ROMANA-S1', type: 'hash:ip', members: ['10.0.0.1'] };
    const target = { chains: [], sets: [set] };
    const last = new Applied(target, stateAfter(target, initial()));
    last.state.sets.get('ROMANA-S1')!.members.add('10.0.0.2');
    last.forgetSet('ROMANA-S1');
    const change = planChange(target, last);
    assert.deepEqual(change.plan.setsReplaced, ['ROMANA-S1'], 'the kernel has one member more');
    commitChange(change, last);
    assert.deepEqual(planChange(target, last).plan.setsReplaced, []);
    const gone = planChange({ chains: [], sets: [] }, last);
    assert.deepEqual(gone.plan.setsDestroyed, ['ROMANA-S1']);
  });
});
