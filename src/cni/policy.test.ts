/**
 * The pod's divert rules (use_policy), in-process against real `iptables`/`ip6tables` in a
 * throwaway network namespace: the four rules per family, what happens when the agent has not
 * made its chains (in one family or in all), and removal that never fails. Rules expected are
 * literal `iptables-save` lines.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { createNetns, uniqueNetnsName, type TestNetns } from '../../test/helpers/netns.ts';
import type { Exec } from '../exec.ts';
import { CniCode, CniError } from './errors.ts';
import { addDiverts, divertRules, removeDiverts } from './policy.ts';

const CHAINS = ['ROMANA-INPUT', 'ROMANA-FORWARD-OUT', 'ROMANA-FORWARD-IN', 'ROMANA-OUTPUT'];
const V = 'm16c-veth0';

const expected = (v: string) => [
  `-A INPUT -i ${v} -j ROMANA-INPUT`,
  `-A FORWARD -i ${v} -j ROMANA-FORWARD-OUT`,
  `-A FORWARD -o ${v} -j ROMANA-FORWARD-IN`,
  `-A OUTPUT -o ${v} -j ROMANA-OUTPUT`,
];

describe('divert rules in a network namespace', () => {
  let ns: TestNetns;
  let ran: string[];
  const exec: Exec = {
    run: (program, args, stdin) => {
      ran.push([program, ...args].join(' '));
      return ns.exec.run(program, args, stdin);
    },
  };
  /** The rules of table filter that jump to a ROMANA chain, in order. */
  const diverts = (family: 4 | 6) =>
    ns
      .run([family === 6 ? 'ip6tables-save' : 'iptables-save', '-t', 'filter'])
      .split('\n')
      .filter((l) => l.startsWith('-A ') && / -j ROMANA-/.test(l));
  const chains = (family: 4 | 6, make: boolean) => {
    const tool = family === 6 ? 'ip6tables' : 'iptables';
    for (const c of CHAINS) {
      if (make) ns.run([tool, '-w', '-t', 'filter', '-N', c]);
      else ns.run([tool, '-w', '-t', 'filter', '-X', c]);
    }
  };

  before(() => {
    ns = createNetns(uniqueNetnsName('m16c-pol'));
  });
  after(() => ns.remove());
  beforeEach(() => {
    ran = [];
  });

  it('names the four rules of a host veth', () => {
    assert.deepEqual(
      divertRules('v1').map((r) => `-A ${r.join(' ')}`),
      expected('v1'),
    );
  });

  it('fails naming the veth and the chains it needs when the agent has not made them, and leaves nothing', async () => {
    await assert.rejects(addDiverts(exec, V), (e: unknown) => {
      assert.ok(e instanceof CniError);
      assert.equal(e.code, CniCode.Wiring);
      assert.equal(e.message, `installing the iptables divert rules for ${V} failed`);
      assert.match(
        e.details,
        /\S.* \(use_policy needs romana-agent's ROMANA-\* chains in table filter\)$/,
      );
      return true;
    });
    assert.deepEqual(diverts(4), []);
    // Only one transaction: nothing else was tried, nothing needed undoing.
    assert.deepEqual(ran, ['iptables-restore -w --noflush']);
  });

  it('adds the IPv4 rules by default, one transaction, and removes them in both families', async () => {
    chains(4, true);
    chains(6, true);
    try {
      await addDiverts(exec, V);
      assert.deepEqual(diverts(4), expected(V));
      assert.deepEqual(diverts(6), [], 'IPv4 only unless told');
      assert.deepEqual(ran, ['iptables-restore -w --noflush']);

      await addDiverts(exec, 'm16c-veth1', [4, 6]);
      assert.deepEqual(diverts(4), [...expected(V), ...expected('m16c-veth1')].sort(byChain));
      assert.deepEqual(diverts(6), expected('m16c-veth1'));

      ran = [];
      await removeDiverts(exec, V);
      assert.deepEqual(diverts(4), expected('m16c-veth1'));
      assert.equal(ran.length, 8, 'four rules tried in each family');
      assert.deepEqual(ran.slice(0, 4), [
        `iptables -w -t filter -D INPUT -i ${V} -j ROMANA-INPUT`,
        `iptables -w -t filter -D FORWARD -i ${V} -j ROMANA-FORWARD-OUT`,
        `iptables -w -t filter -D FORWARD -o ${V} -j ROMANA-FORWARD-IN`,
        `iptables -w -t filter -D OUTPUT -o ${V} -j ROMANA-OUTPUT`,
      ]);
      assert.match(ran[4]!, /^ip6tables -w -t filter -D INPUT -i m16c-veth0 /);

      // Removing what is not there does not fail.
      await removeDiverts(exec, V);
      ran = [];
      await removeDiverts(exec, 'm16c-veth1', [6]);
      assert.deepEqual(diverts(6), []);
      assert.deepEqual(diverts(4), expected('m16c-veth1'), 'only the family asked for');
      assert.ok(ran.every((r) => r.startsWith('ip6tables ')));
      await removeDiverts(exec, 'm16c-veth1');
      assert.deepEqual(diverts(4), []);
    } finally {
      chains(4, false);
      chains(6, false);
    }
  });

  it('undoes the IPv4 rules when the IPv6 ones fail (all or none), and says which tool failed', async () => {
    chains(4, true);
    try {
      await assert.rejects(addDiverts(exec, V, [4, 6]), (e: unknown) => {
        assert.ok(e instanceof CniError);
        assert.equal(e.message, `installing the ip6tables divert rules for ${V} failed`);
        return true;
      });
      assert.deepEqual(diverts(4), []);
      assert.deepEqual(diverts(6), []);
      assert.deepEqual(ran.slice(0, 2), [
        'iptables-restore -w --noflush',
        'ip6tables-restore -w --noflush',
      ]);
      assert.ok(
        ran.slice(2).every((r) => r.startsWith('iptables -w -t filter -D ')) && ran.length === 6,
        `undone in IPv4 only: ${ran.join('; ')}`,
      );
    } finally {
      chains(4, false);
    }
  });
});

/** iptables-save lists a chain's rules together, chains in the order they were first used. */
function byChain(a: string, b: string): number {
  const order = ['INPUT', 'FORWARD', 'OUTPUT'];
  return order.indexOf(a.split(' ')[1]!) - order.indexOf(b.split(' ')[1]!);
}
