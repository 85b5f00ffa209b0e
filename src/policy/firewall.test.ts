import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CommandFailedError } from '../exec.ts';
import { RecordingExec } from '../../test/helpers/exec.ts';
import { parseIpsetSave, parseIptablesSave } from './firewall-state.ts';
import { Firewall, formatPlan, isEmptyPlan, planFirewall, type FirewallState } from './firewall.ts';
import { formatIptablesRestore, renderDesiredState, type DesiredState } from './render.ts';
import { GOLDEN_BLOCKS, GOLDEN_FIXTURES } from './render.fixtures.ts';

const EMPTY: FirewallState = {
  chains: { chains: new Map(), referencedByOthers: new Set() },
  sets: new Map(),
};

/** What the kernel would hold after applying `d`: its own restore payloads read back. */
function stateOf(d: DesiredState): FirewallState {
  const save = formatIptablesRestore(d.chains);
  const ipset = d.sets
    .flatMap((s) => [`create ${s.name} ${s.type}`, ...s.members.map((m) => `add ${s.name} ${m}`)])
    .join('\n');
  return { chains: parseIptablesSave(save), sets: parseIpsetSave(ipset) };
}

const policies = GOLDEN_FIXTURES.map((f) => f.policy);
const desired = renderDesiredState(policies, GOLDEN_BLOCKS, 'host1');

describe('planFirewall', () => {
  it('creates everything on an empty node, hash:net sets before list:sets', () => {
    const plan = planFirewall(desired, EMPTY);
    assert.equal(plan.chainsWritten.length, desired.chains.length);
    assert.deepEqual(
      plan.setsCreated,
      desired.sets.map((s) => s.name),
    );
    const lines = plan.ipsetBefore.split('\n');
    const lastHash = lines.map((l) => / hash:net /.test(l)).lastIndexOf(true);
    const firstList = lines.findIndex((l) => / list:set /.test(l));
    assert.ok(lastHash < firstList);
    assert.equal(plan.ipsetAfter, '');
    assert.ok(plan.iptables.startsWith('*filter\n') && plan.iptables.endsWith('COMMIT\n'));
  });

  it('is empty when the node already holds the desired state', () => {
    const plan = planFirewall(desired, stateOf(desired));
    assert.ok(isEmptyPlan(plan), JSON.stringify(plan));
    assert.equal(formatPlan(plan), '# nothing to change\n');
  });

  it('rebuilds a changed set under a temporary name and swaps it in', () => {
    const more = renderDesiredState(
      policies,
      [
        ...GOLDEN_BLOCKS,
        { cidr: '10.0.9.0/28', tenant: 'tenant-a', segment: 'frontend', host: 'h9' },
      ],
      'host1',
    );
    const plan = planFirewall(more, stateOf(desired));
    const name = 'ROMANA-78c82e6c585c36a6';
    assert.deepEqual(plan.setsReplaced, [name]);
    assert.equal(
      plan.ipsetBefore,
      [
        `create ${name}-new hash:net family inet maxelem 65536`,
        `add ${name}-new 10.0.0.16/28`,
        `add ${name}-new 10.0.1.0/28`,
        `add ${name}-new 10.0.9.0/28`,
        `swap ${name}-new ${name}`,
        `destroy ${name}-new`,
        '',
      ].join('\n'),
    );
    assert.equal(plan.iptables, '');
  });

  it('creates a set of IPv6 blocks with family inet6', () => {
    const v6 = renderDesiredState(
      [],
      [{ cidr: 'fd00::/124', tenant: 'tenant-a', segment: 'frontend', host: 'h9' }],
      'host1',
    );
    const plan = planFirewall(v6, stateOf(renderDesiredState([], [], 'host1')));
    assert.match(plan.ipsetBefore, /^create ROMANA-\S+ hash:net family inet6 maxelem 65536$/m);
    assert.match(plan.ipsetBefore, /^add ROMANA-\S+ fd00::\/124$/m);
  });

  it('deletes stale Romana chains and sets, list:sets first, and leaves foreign ones alone', () => {
    const none = renderDesiredState([], [], 'host1');
    const current = stateOf(desired);
    current.sets.set('foreign', { type: 'hash:ip', members: new Set(['1.2.3.4']) });
    const plan = planFirewall(none, current);
    assert.ok(plan.chainsDeleted.includes('ROMANA-P-aca884e8b43cc0e7_X'));
    assert.ok(!plan.setsDestroyed.includes('foreign'));
    const destroyed = plan.ipsetAfter.trim().split('\n');
    assert.ok(destroyed.every((l) => l.startsWith('destroy ROMANA-')));
    const types = plan.setsDestroyed.map((n) => current.sets.get(n)!.type);
    assert.deepEqual(types, [...types].sort().reverse(), 'list:set first');
    // Stale chains are declared (flushed) before being deleted, in one transaction.
    assert.match(plan.iptables, /^:ROMANA-P-aca884e8b43cc0e7_X - $/m);
    assert.match(plan.iptables, /^-X ROMANA-P-aca884e8b43cc0e7_X$/m);
    assert.ok(!/ROMANA-OUTPUT/.test(plan.iptables), 'unchanged chains are not rewritten');
  });

  it('empties instead of deleting a stale chain a foreign chain jumps to', () => {
    const current = stateOf(desired);
    current.chains.chains.set('ROMANA-OLD', ['-j ACCEPT']);
    current.chains.referencedByOthers.add('ROMANA-OLD');
    const plan = planFirewall(desired, current);
    assert.deepEqual(plan.chainsEmptied, ['ROMANA-OLD']);
    assert.deepEqual(plan.chainsDeleted, []);
    assert.equal(plan.iptables, '*filter\n:ROMANA-OLD - \nCOMMIT\n');
  });

  it('keeps stale sets that something else uses, and the members of such a list:set', () => {
    const current = stateOf(desired);
    current.sets.set('ROMANA-old-list', { type: 'list:set', members: new Set(['ROMANA-old-a']) });
    current.sets.set('ROMANA-old-a', { type: 'hash:net', members: new Set(['10.7.0.0/28']) });
    current.sets.set('ROMANA-old-b', { type: 'hash:net', members: new Set() });
    current.setsUsedByOthers = new Set(['ROMANA-old-list']);
    const plan = planFirewall(desired, current);
    assert.deepEqual(plan.setsKept.sort(), ['ROMANA-old-a', 'ROMANA-old-list']);
    assert.deepEqual(plan.setsDestroyed, ['ROMANA-old-b']);
    assert.equal(plan.ipsetAfter, 'destroy ROMANA-old-b\n');
  });

  it('rewrites only a chain whose rules differ', () => {
    const current = stateOf(desired);
    current.chains.chains.set('ROMANA-OP', []);
    const plan = planFirewall(desired, current);
    assert.deepEqual(plan.chainsWritten, ['ROMANA-OP']);
    assert.equal(
      plan.iptables,
      '*filter\n:ROMANA-OP - \n-A ROMANA-OP -m comment --comment POLICY_CHAIN_FOOTER -j RETURN\nCOMMIT\n',
    );
  });
});

describe('Firewall', () => {
  it('reads with iptables-save and ipset save, then runs only the non-empty steps in order', async () => {
    const exec = new RecordingExec();
    const fw = new Firewall(exec);
    const plan = await fw.apply(desired);
    assert.ok(!isEmptyPlan(plan));
    assert.deepEqual(
      exec.commands.map((c) => [c.program, ...c.args].join(' ')),
      ['iptables-save -t filter', 'ipset save', 'ipset restore', 'iptables-restore --noflush -w'],
    );
    assert.equal(exec.commands[2]!.stdin, plan.ipsetBefore);
    assert.equal(exec.commands[3]!.stdin, plan.iptables);
  });

  it('skips the read when asked to diff against the state it last applied', async () => {
    const exec = new RecordingExec();
    const fw = new Firewall(exec);
    await fw.apply(desired);
    exec.commands.length = 0;
    const plan = await fw.apply(desired, { fromLastApplied: true });
    assert.ok(isEmptyPlan(plan));
    assert.deepEqual(exec.commands, []);
  });

  it('reads the kernel when nothing was applied yet, even if asked not to', async () => {
    const exec = new RecordingExec();
    await new Firewall(exec).apply(desired, { fromLastApplied: true });
    assert.equal(exec.commands[0]!.program, 'iptables-save');
  });

  it('plans without applying', async () => {
    const exec = new RecordingExec();
    await new Firewall(exec).plan(desired);
    assert.equal(exec.commands.length, 2);
  });

  it('throws CommandFailedError with the stderr of a failing step', async () => {
    const exec = new RecordingExec((program) =>
      program === 'iptables-restore'
        ? { code: 2, stdout: '', stderr: 'iptables-restore: line 3 failed\n' }
        : undefined,
    );
    await assert.rejects(new Firewall(exec).apply(desired), (e: unknown) => {
      assert.ok(e instanceof CommandFailedError);
      assert.equal(e.code, 'Internal');
      assert.equal(e.exitCode, 2);
      assert.match(e.message, /line 3 failed/);
      return true;
    });
  });
});
