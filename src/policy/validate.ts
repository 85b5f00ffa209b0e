/**
 * Policy validation: the JSON shape (shape.ts), then the checks of the original
 * `policytools.ValidatePolicy` (reference §10.3), all problems collected, each prefixed with
 * the path of the field it is about.
 *
 * Differences from the original, on purpose:
 * - every problem is reported, not the first one;
 * - rule messages name their rule by path (`ingress[1].rules[2]: …`) instead of `Rule #0:`,
 *   whose counter never advanced;
 * - `invalid combination of target=…, peer=…` has its arguments in the right order, and names
 *   the types rather than dumping the endpoints;
 * - a rule with protocol `any` and ports is rejected: enforcement ignores the ports, so the rule
 *   would let every port through;
 * - a rule of one family (`icmp`: IPv4, `icmpv6`: IPv6) in an entry whose peers are all CIDRs of
 *   the other family is rejected: it could never match anything.
 */
import {
  isValidCombination,
  peerTypeOf,
  targetTypeOf,
  type Endpoint,
  type Policy,
  type RomanaPolicy,
} from './model.ts';
import { isKubePolicy } from './kube-model.ts';
import { readKubePolicy } from './kube-shape.ts';
import { protocolFamily, ruleProblems } from './rules.ts';
import { describe, isJsonObject, readPolicy, type Draft, type Problem } from './shape.ts';

/**
 * Outcome of validating one policy.
 *
 * @example
 * const v: PolicyValidation = validatePolicy(body);
 * if (!v.ok) console.error(v.problems.join('\n'));
 */
export type PolicyValidation = { ok: true; policy: Policy } | { ok: false; problems: string[] };

/**
 * Outcome of validating a list of policies.
 *
 * @example
 * const v: PoliciesValidation = validatePolicies(list);
 * if (v.ok) for (const p of v.policies) store(p);
 */
export type PoliciesValidation =
  { ok: true; policies: Policy[] } | { ok: false; problems: string[] };

/**
 * Validates one policy and returns it in normal form: unknown keys dropped, empty strings and
 * nulls dropped, protocol trimmed and lower-cased, direction explicit (absent means `ingress`),
 * CIDRs canonical. Problems read `<field path>: <message>`, `policy: …` for the whole input.
 *
 * @example
 * validatePolicy({ id: 'p', applied_to: [{ tenant_id: 't' }],
 *   ingress: [{ peers: [{ peer: 'any' }], rules: [{ protocol: 'SCTP' }] }] })
 * // { ok: false, problems: ['ingress[0].rules[0]: Invalid protocol: sctp.'] }
 */
export function validatePolicy(input: unknown): PolicyValidation {
  const problems = checkPolicy(input);
  if (problems.list.length > 0 || problems.policy === undefined) {
    return { ok: false, problems: problems.list.map((p) => `${p.path || 'policy'}: ${p.message}`) };
  }
  return { ok: true, policy: problems.policy };
}

/**
 * Validates an array of policies (each as `validatePolicy` does) and rejects duplicate ids.
 * Problems are prefixed with the policy's index: `[2].ingress[0].rules[0]: …`.
 *
 * @example
 * validatePolicies([{ id: 'a' }]).ok // false: '[0].applied_to: field empty; …', '[0].ingress: …'
 */
export function validatePolicies(input: unknown): PoliciesValidation {
  if (!Array.isArray(input)) {
    return {
      ok: false,
      problems: [`policies: must be an array of policies, got ${describe(input)}`],
    };
  }
  const problems: string[] = [];
  const policies: Policy[] = [];
  const firstIndexOfId = new Map<string, number>();
  input.forEach((item: unknown, i) => {
    const checked = checkPolicy(item);
    for (const p of checked.list)
      problems.push(`[${i}]${p.path ? `.${p.path}` : ''}: ${p.message}`);
    const policy = checked.policy;
    if (policy === undefined) return;
    policies.push(policy);
    if (policy.id === '') return;
    const first = firstIndexOfId.get(policy.id);
    if (first === undefined) firstIndexOfId.set(policy.id, i);
    else problems.push(`[${i}].id: duplicate id '${policy.id}' (also at [${first}])`);
  });
  return problems.length > 0 ? { ok: false, problems } : { ok: true, policies };
}

function checkPolicy(input: unknown): { list: Problem[]; policy: Policy | undefined } {
  if (isKubePolicy(input) && isJsonObject(input)) {
    const { policy, problems } = readKubePolicy(input);
    return { list: dedupe(problems), policy };
  }
  return checkRomanaPolicy(input);
}

/**
 * Validates a policy as a 2.x policy (even one with a `podSelector`, which is then an unknown
 * field); `validatePolicy` sends Kubernetes-form policies to their own reader instead.
 *
 * @example validateRomanaPolicy({ id: 'p', namespace: 'x', podSelector: {} }).ok // false
 */
export function validateRomanaPolicy(
  input: unknown,
): { ok: true; policy: RomanaPolicy } | { ok: false; problems: string[] } {
  const problems = checkRomanaPolicy(input);
  if (problems.list.length > 0 || problems.policy === undefined) {
    return { ok: false, problems: problems.list.map((p) => `${p.path || 'policy'}: ${p.message}`) };
  }
  return { ok: true, policy: problems.policy };
}

function checkRomanaPolicy(input: unknown): { list: Problem[]; policy: RomanaPolicy | undefined } {
  const { draft, problems } = readPolicy(input);
  if (draft === undefined) return { list: problems, policy: undefined };
  const list = [
    ...problems,
    ...combinationProblems(draft),
    ...allRuleProblems(draft),
    ...familyProblems(draft),
  ];
  return { list: dedupe(list), policy: draft.policy };
}

/** §10.3 rule 2: every (target, peer) pair must be translatable for the policy's direction. */
function combinationProblems(draft: Draft): Problem[] {
  if (!draft.directionOk) return [];
  const { direction, applied_to: targets, ingress } = draft.policy;
  const usable = (e: Endpoint) => !draft.brokenEndpoints.has(e);
  const out: Problem[] = [];
  for (const target of targets.filter(usable)) {
    const t = targetTypeOf(target);
    for (const entry of ingress) {
      for (const peer of entry.peers.filter(usable)) {
        const p = peerTypeOf(peer);
        if (!isValidCombination(direction, t, p)) {
          out.push({
            path: draft.paths.get(peer) ?? '',
            message: `invalid combination of target=${t}, peer=${p}, direction=${direction}`,
          });
        }
      }
    }
  }
  return out;
}

function allRuleProblems(draft: Draft): Problem[] {
  const out: Problem[] = [];
  for (const entry of draft.policy.ingress) {
    for (const rule of entry.rules) {
      if (draft.brokenRules.has(rule)) continue;
      const path = draft.paths.get(rule) ?? '';
      for (const message of ruleProblems(rule)) out.push({ path, message });
    }
  }
  return out;
}

/**
 * A rule enforced on one family only (`icmp`, `icmpv6`) next to peers that are all CIDRs of the
 * other family matches nothing: refused, naming the rule's protocol and the peers' family.
 */
function familyProblems(draft: Draft): Problem[] {
  const out: Problem[] = [];
  for (const entry of draft.policy.ingress) {
    const cidrs = entry.peers.map((p) => (peerTypeOf(p) === 'cidr' ? p.cidr! : undefined));
    if (cidrs.length === 0 || cidrs.some((c) => c === undefined)) continue;
    const families = new Set(cidrs.map((c) => (c!.includes(':') ? 6 : 4)));
    for (const rule of entry.rules) {
      const family = protocolFamily(rule.protocol);
      if (family === undefined || families.has(family) || draft.brokenRules.has(rule)) continue;
      const other = family === 4 ? 6 : 4;
      out.push({
        path: `${draft.paths.get(rule) ?? ''}.protocol`,
        message: `'${rule.protocol}' is enforced on IPv${family} only, but every peer of this entry is an IPv${other} CIDR (${cidrs.join(', ')}): the rule could never match; use ${family === 4 ? "'icmpv6'" : "'icmp'"} or an IPv${family} peer`,
      });
    }
  }
  return out;
}

function dedupe(problems: Problem[]): Problem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.path}\u0000${p.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
