/**
 * The test double for the `Exec` seam (src/exec.ts): records every command and answers from a
 * function. It lives beside the tests so that production code never ships it.
 */
import type { Exec, ExecResult } from '../../src/exec.ts';

/**
 * One command as `RecordingExec` saw it.
 *
 * @example const c: RecordedCommand = { program: 'ipset', args: ['save'], stdin: '' };
 */
export interface RecordedCommand {
  program: string;
  args: string[];
  stdin: string;
}

/**
 * A fake for tests: answers from a function (default: success with empty output) and records
 * every command.
 *
 * @example
 * const exec = new RecordingExec((p) => (p === 'ipset' ? { code: 0, stdout: '', stderr: '' } : undefined));
 */
export class RecordingExec implements Exec {
  readonly commands: RecordedCommand[] = [];
  readonly #answer: (program: string, args: readonly string[]) => ExecResult | undefined;

  constructor(
    answer: (program: string, args: readonly string[]) => ExecResult | undefined = () => undefined,
  ) {
    this.#answer = answer;
  }

  run(program: string, args: readonly string[], stdin?: string): Promise<ExecResult> {
    this.commands.push({ program, args: [...args], stdin: stdin ?? '' });
    return Promise.resolve(this.#answer(program, args) ?? { code: 0, stdout: '', stderr: '' });
  }
}
