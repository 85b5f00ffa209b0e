/**
 * Policies as romanad stores them: validated before they are stored (the original stored
 * anything, and one bad policy then disabled enforcement on every node).
 */
import { RomanaError } from '../../errors.ts';
import { validatePolicy } from '../../policy/index.ts';
import type { Policy } from './service.ts';

/** Validates one 2.x policy; throws a semantic InvalidInput error listing every problem. */
export function validatePolicyInput(input: unknown): Policy {
  const r = validatePolicy(input);
  if (!r.ok) {
    throw new RomanaError('InvalidInput', r.problems.join('\n'), {
      semantic: true,
      resourceType: 'policy',
    });
  }
  return r.policy;
}
