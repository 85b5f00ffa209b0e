/**
 * Applying a rendered `DesiredState` to the node as the smallest diff, atomically per step,
 * touching only Romana's own chains and sets (names starting with `ROMANA-`):
 *
 * 1. `ipset restore`: new sets are created; a set whose members changed is rebuilt under a
 *    temporary name and swapped in (`swap` exchanges the two sets in place, so rules and
 *    `list:set`s that refer to it see the old members until the swap and the new ones after,
 *    never an empty set), then the temporary set (now holding the old members) is destroyed.
 * 2. `iptables-restore --noflush`: only changed or new chains are declared (which flushes
 *    them) and rewritten, in one transaction; stale `ROMANA-*` chains are flushed and deleted
 *    (`-X`) in the same transaction, after the rules that jumped to them are gone. A stale chain
 *    that a non-Romana chain still jumps to is flushed but kept, so the transaction cannot fail
 *    on it.
 * 3. `ipset restore`: stale `ROMANA-*` sets are destroyed, now that no rule refers to them;
 *    a stale set that a non-Romana filter rule or `list:set` uses is kept.
 *
 * A step with nothing to do runs no command; applying the same state twice runs none the
 * second time. On request a `Firewall` diffs against the state it last left instead of reading
 * the kernel (see `ApplyOptions`), and then only the chains and sets that differ from the
 * target it last applied (firewall-delta.ts); that state is updated in place.
 */
import { runChecked, type Exec } from '../exec.ts';
import type { Family } from '../net/addr.ts';
import { forFamily, forFamilyChange, setPrefix } from './family.ts';
import { Applied, commitChange, planChange } from './firewall-delta.ts';
import {
  payload,
  planFirewall,
  stateAfter,
  type ApplyOptions,
  type FirewallPlan,
  type FirewallState,
  type FirewallTarget,
} from './firewall-plan.ts';
import {
  normalizeMember,
  parseIpsetSave,
  parseIptablesSave,
  romanaSetsInForeignLists,
} from './firewall-state.ts';
import type { MemberChange } from './kube-sets.ts';

export { formatPlan, isEmptyPlan, planFirewall } from './firewall-plan.ts';
export type { ApplyOptions, FirewallPlan, FirewallState, FirewallTarget } from './firewall-plan.ts';

/**
 * The node's Romana firewall of one address family, read and changed through an `Exec`:
 * IPv4 (`iptables`, sets `ROMANA-*` of family inet) or IPv6 (`ip6tables`, sets `ROMANA6-*` of
 * family inet6). Each applies its family's part of a rendered state (see family.ts), so two
 * `Firewall`s, one per family, enforce the same policies on both.
 *
 * @example
 * const v4 = new Firewall(new ProcessExec());
 * const v6 = new Firewall(new ProcessExec(), 6);
 * const desired = renderDesiredState(policies, blocks, hostname);
 * await v4.apply(desired);
 * await v6.apply(desired);
 */
export class Firewall {
  readonly #exec: Exec;
  #last: Applied | undefined;

  constructor(
    exec: Exec,
    readonly family: Family = 4,
  ) {
    this.#exec = exec;
  }

  /** `iptables` or `ip6tables`. */
  get tables(): string {
    return this.family === 6 ? 'ip6tables' : 'iptables';
  }

  /** Romana's chains and sets of this family as the kernel has them now. */
  async read(): Promise<FirewallState> {
    const [save, sets] = await Promise.all([
      runChecked(this.#exec, `${this.tables}-save`, ['-t', 'filter']),
      runChecked(this.#exec, 'ipset', ['save']),
    ]);
    const chains = parseIptablesSave(save);
    const usedByOthers = romanaSetsInForeignLists(sets);
    for (const name of chains.setsUsedByOthers ?? []) usedByOthers.add(name);
    const own = parseIpsetSave(sets, setPrefix(this.family));
    return { chains, sets: own, setsUsedByOthers: usedByOthers };
  }

  /** This family's part of a rendered state: what `apply` brings the kernel to. */
  target(desired: FirewallTarget): FirewallTarget {
    return forFamily(desired, this.family);
  }

  /** What `apply` would run now against the kernel's state, without running it. */
  async plan(desired: FirewallTarget): Promise<FirewallPlan> {
    return planFirewall(this.target(desired), await this.read());
  }

  /**
   * Brings the kernel to `desired` and returns the plan it ran. Throws `CommandFailedError` when
   * a step fails even after re-reading the kernel; the steps before it stay applied (each is
   * consistent on its own) and the next apply starts from whatever the kernel then holds.
   */
  async apply(rendered: FirewallTarget, options: ApplyOptions = {}): Promise<FirewallPlan> {
    const desired = this.target(rendered);
    const last = options.fromLastApplied ? this.#last : undefined;
    this.#last = undefined;
    if (last !== undefined) {
      const change = planChange(desired, last);
      try {
        await this.run(change.plan);
        commitChange(change, last);
        this.#last = last;
        return change.plan;
      } catch {
        // The kernel was not what we last left: fall through to a full read.
      }
    }
    const current = await this.read();
    const plan = planFirewall(desired, current);
    await this.run(plan);
    this.#last = new Applied(desired, stateAfter(desired, current));
    return plan;
  }

  /**
   * Adds and removes set members in one `ipset -exist restore`, without reading or rendering
   * anything: what a pod or namespace change needs in Kubernetes mode. Returns false (and runs
   * nothing) when this `Firewall` has not applied a state yet or a set is not one it made;
   * the caller then applies a full state instead. The state kept for `fromLastApplied`
   * follows the change.
   *
   * @example await firewall.patchSets([{ op: 'add', set: 'ROMANA-KS-…', member: '10.0.0.5' }]);
   */
  async patchSets(all: readonly MemberChange[]): Promise<boolean> {
    const changes = all.flatMap((c) => forFamilyChange(c, this.family) ?? []);
    const last = this.#last;
    const sets = last?.state.sets;
    if (sets === undefined || changes.some((c) => !sets.has(c.set))) return false;
    if (changes.length === 0) return true;
    this.#last = undefined;
    const lines = changes.map((c) => `${c.op} ${c.set} ${c.member}`);
    await runChecked(this.#exec, 'ipset', ['-exist', 'restore'], payload(lines));
    for (const c of changes) {
      const set = sets.get(c.set)!;
      last!.forgetSet(c.set);
      if (c.op === 'add') set.members.add(normalizeMember(c.member));
      else set.members.delete(normalizeMember(c.member));
    }
    this.#last = last;
    return true;
  }

  /** Runs a plan's payloads in order (skipping empty ones). */
  async run(plan: FirewallPlan): Promise<void> {
    if (plan.ipsetBefore) await runChecked(this.#exec, 'ipset', ['restore'], plan.ipsetBefore);
    if (plan.iptables) {
      await runChecked(this.#exec, `${this.tables}-restore`, ['--noflush', '-w'], plan.iptables);
    }
    if (plan.ipsetAfter) await runChecked(this.#exec, 'ipset', ['restore'], plan.ipsetAfter);
  }
}
