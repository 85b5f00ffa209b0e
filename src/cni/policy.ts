/**
 * Divert rules (reference §6.4), installed only with `use_policy`: the pod's traffic jumps to
 * the chains romana-agent manages. Adding fails when the agent has not made the chains yet.
 */
import { CniCode, CniError } from './errors.ts';
import type { Exec } from '../exec.ts';

/** The four rules for host veth `v`, as `iptables` arguments after the table. */
export function divertRules(v: string): string[][] {
  return [
    ['INPUT', '-i', v, '-j', 'ROMANA-INPUT'],
    ['FORWARD', '-i', v, '-j', 'ROMANA-FORWARD-OUT'],
    ['FORWARD', '-o', v, '-j', 'ROMANA-FORWARD-IN'],
    ['OUTPUT', '-o', v, '-j', 'ROMANA-OUTPUT'],
  ];
}

/** Appends the rules in one `iptables-restore --noflush` transaction (all or none). */
export async function addDiverts(exec: Exec, v: string): Promise<void> {
  const text = ['*filter', ...divertRules(v).map((r) => `-A ${r.join(' ')}`), 'COMMIT', ''].join(
    '\n',
  );
  const r = await exec.run('iptables-restore', ['-w', '--noflush'], text);
  if (r.code !== 0) {
    throw new CniError(
      CniCode.Wiring,
      `installing the divert rules for ${v} failed`,
      `${r.stderr.trim()} (use_policy needs romana-agent's ROMANA-* chains in table filter)`,
    );
  }
}

/** Deletes whichever of the rules exist; never fails. */
export async function removeDiverts(exec: Exec, v: string): Promise<void> {
  for (const rule of divertRules(v)) {
    await exec.run('iptables', ['-w', '-t', 'filter', '-D', ...rule]);
  }
}
