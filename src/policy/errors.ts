import { RomanaError } from '../errors.ts';

/**
 * Policy input that cannot be used, with every problem found. `code` is `InvalidInput`;
 * `semantic` is false (400) for input that cannot be read as policies at all, true (422) for
 * policies that fail validation.
 *
 * @example
 * try { parsePolicyInput(body); } catch (e) {
 *   if (e instanceof PolicyProblemsError) reply.code(httpStatusOf(e)).send({ problems: e.problems });
 * }
 */
export class PolicyProblemsError extends RomanaError {
  readonly problems: readonly string[];

  constructor(problems: readonly string[], semantic: boolean) {
    const head = semantic ? 'invalid policy' : 'unreadable policy input';
    super('InvalidInput', `${head}: ${problems.join('; ')}`, { resourceType: 'policy', semantic });
    this.name = 'PolicyProblemsError';
    this.problems = problems;
  }
}
