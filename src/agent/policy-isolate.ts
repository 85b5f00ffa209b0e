/**
 * Finding the policies whose part the kernel refuses, after a whole apply failed: group
 * testing over applies. A suspect policy can be applied in a closed form (it keeps its pods
 * isolated but allows nothing, see `PolicySync`); the search starts from every suspect closed
 * and opens groups, halving a group that fails, until each refused policy is alone. Every
 * state it applies is narrower than the full one, never wider, and it ends with every policy
 * open except the refused ones.
 */

/** One refused policy and the kernel's message for its part. */
export interface RefusedPolicy {
  id: string;
  message: string;
}

/**
 * Applies the policies with the ids in `closed` in their closed form and every other policy
 * as it is; resolves to the failure (its message) or undefined when the kernel took it all.
 */
export type TryApply = (closed: ReadonlySet<string>) => Promise<string | undefined>;

/** What the search found: the refused policies, or why none could be isolated. */
export type Isolation =
  | { ok: true; refused: RefusedPolicy[]; applies: number }
  | { ok: false; message: string; applies: number };

/**
 * Searches the refused policies among `suspects` (policy ids). Fails (`ok: false`) when even
 * every suspect closed is refused: the cause is then not in a suspect's own part. On success
 * the kernel holds exactly the state with the refused policies closed.
 *
 * @example
 * const r = await isolateRefused(['kube.x.a', 'kube.x.b'], tryApply);
 * if (r.ok) for (const p of r.refused) log('warn', 'policy refused', p);
 */
export async function isolateRefused(
  suspects: readonly string[],
  tryApply: TryApply,
): Promise<Isolation> {
  const closed = new Set(suspects);
  let applies = 1;
  const first = await tryApply(closed);
  if (first !== undefined) return { ok: false, message: first, applies };
  const refused: RefusedPolicy[] = [];
  const groups: string[][] = suspects.length > 0 ? [[...suspects]] : [];
  let lastFailed = false;
  while (groups.length > 0) {
    const group = groups.pop()!;
    const trial = new Set([...closed].filter((id) => !group.includes(id)));
    applies++;
    const failure = await tryApply(trial);
    lastFailed = failure !== undefined;
    if (failure === undefined) {
      for (const id of group) closed.delete(id);
    } else if (group.length === 1) {
      refused.push({ id: group[0]!, message: failure });
    } else {
      const half = Math.ceil(group.length / 2);
      groups.push(group.slice(half), group.slice(0, half));
    }
  }
  if (lastFailed) {
    // The kernel holds a failed trial (an `ipset restore` stops part way): put back the last
    // state it took, which `closed` now names.
    applies++;
    const again = await tryApply(closed);
    if (again !== undefined) return { ok: false, message: again, applies };
  }
  refused.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { ok: true, refused, applies };
}
