/**
 * The plugin's log: one line per event, to `log_file` when configured, else to stderr. Never to
 * stdout, which carries only the result or error JSON. Logging never fails the plugin.
 */
import { appendFileSync } from 'node:fs';

export type Log = (msg: string) => void;

/**
 * A logger tagging each line with the time, the pid and `tag` (e.g. `ADD abcdef01`).
 *
 * @example
 * const log = makeLog('/var/log/romana/cni.log', 'ADD abcdef01');
 * log('allocated 10.112.0.5');
 */
export function makeLog(file: string | undefined, tag: string): Log {
  return (msg) => {
    const line = `${new Date().toISOString()} romana-cni[${process.pid}] ${tag}: ${msg}\n`;
    try {
      if (file) appendFileSync(file, line);
      else process.stderr.write(line);
    } catch {
      // a full or read-only disk must not fail a pod
    }
  };
}
