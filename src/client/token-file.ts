/**
 * Reading a client's bearer token file (romana-agent, romana-listener,
 * romana-route-publisher, romana-cni). A token file every user of the host may read hands
 * the token to all of them: it is used, as before, but never silently (romanad refuses its own
 * token file in that case, see src/server/http/auth.ts).
 */
import { readFileSync, statSync } from 'node:fs';

/**
 * Why `file` should not hold a token, or `undefined`: others (not owner, not group) may read it.
 *
 * @example tokenFileWarning('/etc/romana/token', '--token-file') // "--token-file: '/etc/romana/token' has mode 0644, readable by every user of this host: run 'chmod 600 /etc/romana/token'"
 */
export function tokenFileWarning(file: string, flag: string): string | undefined {
  const mode = statSync(file).mode & 0o777;
  if ((mode & 0o004) === 0) return undefined;
  const octal = `0${mode.toString(8).padStart(3, '0')}`;
  return `${flag}: '${file}' has mode ${octal}, readable by every user of this host: run 'chmod 600 ${file}'`;
}

/**
 * The token `file` holds (trimmed); `warn` hears `tokenFileWarning` when there is one.
 * A file that cannot be read throws as `readFileSync` does.
 */
export function readTokenFile(file: string, flag: string, warn: (msg: string) => void): string {
  const token = readFileSync(file, 'utf8').trim();
  const warning = tokenFileWarning(file, flag);
  if (warning !== undefined) warn(warning);
  return token;
}
