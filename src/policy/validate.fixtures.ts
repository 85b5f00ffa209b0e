/** Inputs shared by the validation tests: a valid policy and ways to change one part of it. */
import { validatePolicy } from './validate.ts';

type Json = Record<string, unknown>;

/** A valid policy; each case changes one part of it. */
export function policy(over: Json = {}): Json {
  return {
    id: 'allow-web',
    direction: 'ingress',
    applied_to: [{ tenant_id: 'tenant-a', segment_id: 'backend' }],
    ingress: [{ peers: [{ peer: 'any' }], rules: [{ protocol: 'tcp', ports: [80] }] }],
    ...over,
  };
}

/** The valid policy with its one rule replaced. */
export function withRule(rule: unknown): Json {
  return policy({ ingress: [{ peers: [{ peer: 'any' }], rules: [rule] }] });
}

/** The valid policy with its one target and one peer replaced. */
export function withEnds(target: unknown, peer: unknown, direction = 'ingress'): Json {
  return policy({
    direction,
    applied_to: [target],
    ingress: [{ peers: [peer], rules: [{ protocol: 'tcp' }] }],
  });
}

export function problemsOf(input: unknown): string[] {
  const v = validatePolicy(input);
  return v.ok ? [] : v.problems;
}
