/**
 * Divert rules (reference §6.4), installed only with `use_policy`: the pod's traffic jumps to
 * the chains romana-agent manages, in `iptables` and, for a pod with an IPv6 address, in
 * `ip6tables` too (the agent makes the same chains in both), so that no family of the pod's
 * traffic escapes its policies. Adding fails when the agent has not made the chains yet.
 */
import { CniCode, CniError } from './errors.ts';
import type { Exec } from '../exec.ts';
import type { Family } from '../net/addr.ts';

/** The four rules for host veth `v`, as `iptables` arguments after the table. */
export function divertRules(v: string): string[][] {
  return [
    ['INPUT', '-i', v, '-j', 'ROMANA-INPUT'],
    ['FORWARD', '-i', v, '-j', 'ROMANA-FORWARD-OUT'],
    ['FORWARD', '-o', v, '-j', 'ROMANA-FORWARD-IN'],
    ['OUTPUT', '-o', v, '-j', 'ROMANA-OUTPUT'],
  ];
}

const tool = (f: Family) => (f === 6 ? 'ip6tables' : 'iptables');

/**
 * Appends the rules for each family in one `iptables-restore --noflush` transaction per
 * family; when a family fails, the families already done are undone (all or none).
 */
export async function addDiverts(
  exec: Exec,
  v: string,
  families: readonly Family[] = [4],
): Promise<void> {
  const text = ['*filter', ...divertRules(v).map((r) => `-A ${r.join(' ')}`), 'COMMIT', ''].join(
    '\n',
  );
  const done: Family[] = [];
  for (const f of families) {
    const r = await exec.run(`${tool(f)}-restore`, ['-w', '--noflush'], text);
    if (r.code !== 0) {
      await removeDiverts(exec, v, done);
      throw new CniError(
        CniCode.Wiring,
        `installing the ${tool(f)} divert rules for ${v} failed`,
        `${r.stderr.trim()} (use_policy needs romana-agent's ROMANA-* chains in table filter)`,
      );
    }
    done.push(f);
  }
}

/** Deletes whichever of the rules exist, in both families by default; never fails. */
export async function removeDiverts(
  exec: Exec,
  v: string,
  families: readonly Family[] = [4, 6],
): Promise<void> {
  for (const f of families) {
    for (const rule of divertRules(v)) {
      await exec.run(tool(f), ['-w', '-t', 'filter', '-D', ...rule]);
    }
  }
}
