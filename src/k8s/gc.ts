/**
 * Address garbage collection, as plain data: whether a pod address romanad holds still belongs
 * to a pod that exists. Closes the leak a CNI DEL that could not reach romanad leaves behind.
 *
 * The rules, in order:
 * - an address not linked to a pod (allocated through the API or the CLI) is never touched;
 * - an address of a pod that exists (same uid, or the address has no uid and a pod of that
 *   name exists) is kept, unless the pod has finished (Succeeded or Failed): then it goes at once;
 * - otherwise its pod is gone (a pod recreated under the same name has another uid, so it is
 *   another pod): the address is released once it has been seen without its pod for `graceMs`.
 */

/** The pod an address is linked to (the CNI plugin sends it; the listener fills in the uid). */
export interface PodRef {
  namespace: string;
  name: string;
  uid?: string;
}

/** A pod as the GC needs it. */
export interface PodFacts {
  uid: string;
  phase?: string;
}

export type GcVerdict =
  | { kind: 'keep'; why: string }
  | { kind: 'release'; why: string }
  /** Pod missing: release at `atMs` unless it shows up meanwhile. */
  | { kind: 'wait'; atMs: number };

export const TERMINAL_PHASES: ReadonlySet<string> = new Set(['Succeeded', 'Failed']);

/**
 * Decides for one address. `pod`: the pod of that namespace and name now, if any;
 * `missingSinceMs`: when this address was first seen without its pod (undefined: just now).
 *
 * @example
 * gcVerdict({ namespace: 'web', name: 'a', uid: 'u1' }, undefined, 0, 400_000, 300_000)
 * // { kind: 'release', why: 'pod web/a (uid u1) gone for 400 s' }
 */
export function gcVerdict(
  ref: PodRef | undefined,
  pod: PodFacts | undefined,
  missingSinceMs: number | undefined,
  nowMs: number,
  graceMs: number,
): GcVerdict {
  if (ref === undefined) return { kind: 'keep', why: 'not a pod address' };
  const who = `pod ${ref.namespace}/${ref.name}${ref.uid ? ` (uid ${ref.uid})` : ''}`;
  const samePod = pod !== undefined && (ref.uid === undefined || ref.uid === pod.uid);
  if (samePod) {
    if (pod.phase !== undefined && TERMINAL_PHASES.has(pod.phase)) {
      return { kind: 'release', why: `${who} has finished (${pod.phase})` };
    }
    return { kind: 'keep', why: `${who} exists` };
  }
  const since = missingSinceMs ?? nowMs;
  if (nowMs - since >= graceMs) {
    const replaced = pod !== undefined ? `, replaced by uid ${pod.uid}` : '';
    return {
      kind: 'release',
      why: `${who} gone for ${Math.round((nowMs - since) / 1000)} s${replaced}`,
    };
  }
  return { kind: 'wait', atMs: since + graceMs };
}

/**
 * The pod an address belongs to, from its name when romanad has no link for it: CNI address
 * names are `<pod>.<namespace>.<first 8 of the sandbox id>` (a namespace has no dot; a pod name
 * may). Used only to find the pod to link, never to release: an unlinked address is kept.
 *
 * @example podOfAddressName('web-0.shop.0123abcd') // { namespace: 'shop', name: 'web-0' }
 */
export function podOfAddressName(name: string): PodRef | undefined {
  const m = /^(.+)\.([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.([0-9a-f]{8})$/.exec(name);
  return m ? { namespace: m[2]!, name: m[1]! } : undefined;
}
