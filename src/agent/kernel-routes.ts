/**
 * The kernel side of routes (both families): read table `romana` with `ip -json`, find how other hosts are
 * reached with `ip -json route get` (one `ip -batch` for all of them), and apply the
 * difference between the table and a plan as one `ip -batch` (`route replace` / `route del`).
 * The table is never flushed: a route that stays the same is never touched.
 */
import { CommandFailedError, type Exec } from '../exec.ts';
import { Addr, BOTH_FAMILIES } from '../net/addr.ts';
import type { PlannedRoute, Reach } from './route-plan.ts';

interface IpRoute {
  dst: string;
  gateway?: string;
  dev?: string;
}

/**
 * Runs `script` with `ip -json -force -batch`: a line that fails (a host the kernel cannot
 * reach) is skipped and named on stderr as "Command failed -:N", and `ip` exits 1 at the end.
 * Only a run that failed otherwise (`ip` could not start, the namespace is gone) is an error:
 * with every line failed, stdout is empty and that is an answer too.
 */
async function ipJsonBatch(exec: Exec, script: string): Promise<string> {
  const r = await exec.run('ip', ['-json', '-force', '-batch', '-'], script);
  if (r.code !== 0 && !/^Command failed -:\d+$/m.test(r.stderr)) {
    throw new CommandFailedError('ip -json -force -batch -', r);
  }
  return r.stdout;
}

/**
 * Current routes of a table, both families: destination → next hop (an empty table may not
 * exist yet).
 */
export async function readTable(exec: Exec, table: number): Promise<Map<string, string>> {
  const m = new Map<string, string>();
  for (const family of ['-4', '-6']) {
    const r = await exec.run('ip', ['-json', family, 'route', 'show', 'table', String(table)]);
    if (r.code !== 0) {
      if (/FIB table does not exist/.test(r.stderr)) continue;
      throw new CommandFailedError(`ip -json ${family} route show table ${table}`, r);
    }
    const routes = JSON.parse(r.stdout.trim() === '' ? '[]' : r.stdout) as IpRoute[];
    for (const route of routes) {
      // `ip` prints a host route without its length; `default` and prefixes stay as they are.
      const host = route.dst.includes('/') ? undefined : Addr.tryParse(route.dst, BOTH_FAMILIES);
      m.set(host === undefined ? route.dst : host.toCidr().toString(), route.gateway ?? '');
    }
  }
  return m;
}

/** How the kernel reaches each IP; an IP it cannot reach is left out. */
export async function reachability(exec: Exec, ips: string[]): Promise<Map<string, Reach>> {
  const m = new Map<string, Reach>();
  if (ips.length === 0) return m;
  const script = ips.map((ip) => `route get ${ip}\n`).join('');
  const out = await ipJsonBatch(exec, script);
  for (const line of out.split('\n')) {
    if (line.trim() === '') continue;
    for (const r of JSON.parse(line) as IpRoute[]) {
      m.set(r.dst, r.gateway === undefined ? { dev: r.dev } : { gateway: r.gateway, dev: r.dev });
    }
  }
  return m;
}

/** `ip -batch` lines turning `current` into `desired` (empty when nothing changes). */
export function routeChanges(
  current: Map<string, string>,
  desired: PlannedRoute[],
  table: number,
): string[] {
  const lines: string[] = [];
  const want = new Set<string>();
  for (const r of desired) {
    want.add(r.dst);
    if (current.get(r.dst) !== r.via)
      lines.push(`route replace ${r.dst} via ${r.via} table ${table}`);
  }
  for (const dst of current.keys()) {
    if (!want.has(dst)) lines.push(`route del ${dst} table ${table}`);
  }
  return lines;
}

/** Applies `ip -batch` lines in one process; fails with what `ip` said. */
export async function applyBatch(exec: Exec, lines: string[]): Promise<void> {
  if (lines.length === 0) return;
  const r = await exec.run('ip', ['-batch', '-'], lines.join('\n') + '\n');
  if (r.code !== 0) throw new CommandFailedError('ip -batch', r);
}
