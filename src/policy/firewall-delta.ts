/**
 * The fast path of `Firewall.apply(desired, { fromLastApplied: true })`: only the chains and
 * sets that differ from the target last applied are planned, against the matching entries of
 * the state last left, and that state is then updated in place.
 *
 * Renderers hand back an unchanged chain or set as the very same object, or at least its very
 * same rules or members array (kube-render.ts, family.ts), and a desired state is never changed
 * once rendered, so an entry whose array is the one applied last time is known applied and is
 * not looked at again. Every
 * other entry, and every name applied last time that the new target lacks, goes through the
 * same planner as a full apply (`planFirewall`, `stateAfter`), so the payloads are exactly those
 * a full diff against the same state would produce, minus the entries it would find unchanged.
 */
import {
  builtFrom,
  planFirewall,
  stateAfter,
  type FirewallPlan,
  type FirewallState,
  type FirewallTarget,
} from './firewall-plan.ts';
import type { CurrentSet } from './firewall-state.ts';
import type { IpSet } from './render-sets.ts';
import type { Chain } from './render.ts';

/** Stands for a set `patchSets` changed: equal to no rendered set, so compared by content. */
const PATCHED: IpSet = { name: '', type: 'hash:ip', members: [] };

/**
 * The target last applied, by name, and the state it left; a firewall keeps one between
 * applies. `patchSets` changes a set's members behind the target's back: `forgetSet` makes the
 * next change compare that set by content.
 *
 * @example const last = new Applied(target, stateAfter(target, current));
 */
export class Applied {
  readonly chains = new Map<string, Chain>();
  readonly sets = new Map<string, IpSet>();

  constructor(
    target: FirewallTarget,
    readonly state: FirewallState,
  ) {
    for (const c of target.chains) this.chains.set(c.name, c);
    for (const s of target.sets) this.sets.set(s.name, s);
  }

  forgetSet(name: string): void {
    const set = this.state.sets.get(name);
    if (set !== undefined) builtFrom.delete(set);
    if (this.sets.has(name)) this.sets.set(name, PATCHED);
  }
}

/**
 * What one change plans: the payloads, and the entries it touches (to update `Applied` with
 * once they ran).
 *
 * @example const change = planChange(desired, last); await run(change.plan); commitChange(change, last);
 */
export interface Change {
  plan: FirewallPlan;
  target: FirewallTarget;
  /** Set and chain names whose state the plan decides: changed, new, gone (and leftovers). */
  setNames: string[];
  chainNames: string[];
  after: FirewallState;
}

/** Names `applied` has that `desired` lacks; none without building a set when all are found. */
function gone<T extends { name: string }>(
  desired: readonly T[],
  changed: readonly T[],
  applied: ReadonlyMap<string, T>,
): string[] {
  const found = desired.length - changed.length + changed.filter((x) => applied.has(x.name)).length;
  if (found === applied.size) return [];
  const names = new Set(desired.map((x) => x.name));
  return [...applied.keys()].filter((n) => !names.has(n));
}

/** Whether `b` is `a`, or a copy of it holding the very same members array (a projection). */
function sameSet(a: IpSet | undefined, b: IpSet): boolean {
  if (a === b) return true;
  return a?.members === b.members && a.type === b.type && a.family === b.family;
}

/** The entries of `all` under `names`. */
function pick<V>(all: ReadonlyMap<string, V>, names: readonly string[]): Map<string, V> {
  const out = new Map<string, V>();
  for (const n of names) {
    const v = all.get(n);
    if (v !== undefined) out.set(n, v);
  }
  return out;
}

/**
 * The plan from the state `last` left to `desired`, looking only at entries that differ from
 * the target applied then (see the file comment). Pure.
 */
export function planChange(desired: FirewallTarget, last: Applied): Change {
  const sets = desired.sets.filter((s) => !sameSet(last.sets.get(s.name), s));
  const chains = desired.chains.filter((c) => last.chains.get(c.name)?.rules !== c.rules);
  const setNames = [...sets.map((s) => s.name), ...gone(desired.sets, sets, last.sets)];
  // A set rebuilt under its temporary name (`<name>-new`) by an apply that failed halfway.
  for (const n of [...setNames]) if (last.state.sets.has(`${n}-new`)) setNames.push(`${n}-new`);
  const chainNames = [...chains.map((c) => c.name), ...gone(desired.chains, chains, last.chains)];
  const state = last.state;
  const part: FirewallState = {
    sets: pick<CurrentSet>(state.sets, setNames),
    chains: {
      chains: pick(state.chains.chains, chainNames),
      referencedByOthers: state.chains.referencedByOthers,
    },
    ...(state.setsUsedByOthers ? { setsUsedByOthers: state.setsUsedByOthers } : {}),
  };
  const target = { sets, chains };
  return {
    plan: planFirewall(target, part),
    target,
    setNames,
    chainNames,
    after: stateAfter(target, part),
  };
}

/** Updates `last` (in place) to hold what the kernel holds once `change`'s plan ran. */
export function commitChange(change: Change, last: Applied): void {
  const { state } = last;
  for (const n of change.setNames) {
    const s = change.after.sets.get(n);
    if (s === undefined) state.sets.delete(n);
    else state.sets.set(n, s);
    last.sets.delete(n);
  }
  for (const n of change.chainNames) {
    const c = change.after.chains.chains.get(n);
    if (c === undefined) state.chains.chains.delete(n);
    else state.chains.chains.set(n, c);
    last.chains.delete(n);
  }
  for (const s of change.target.sets) last.sets.set(s.name, s);
  for (const c of change.target.chains) last.chains.set(c.name, c);
}
