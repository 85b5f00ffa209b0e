/**
 * The plugin's view of host commands (`ip`, `nsenter`, `iptables`): a function of the whole
 * argument vector, over the shared `Exec` seam (src/exec.ts) that the agent uses too.
 */
import { ProcessExec, type ExecResult } from '../exec.ts';

export type { ExecResult };

export type Exec = (argv: string[], stdin?: string) => Promise<ExecResult>;

const processes = new ProcessExec();

/**
 * Runs `argv[0]` with the rest as arguments; resolves with the exit status and output, never
 * rejects on a non-zero exit (the caller reads `code`).
 *
 * @example
 * const { code, stderr } = await spawnExec(['ip', '-batch', '-'], 'link set lo up\n');
 */
export const spawnExec: Exec = (argv, stdin) => processes.run(argv[0]!, argv.slice(1), stdin);
