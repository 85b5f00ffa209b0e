/**
 * One-time node setup (reference §6.1), each step idempotent: the `romana-lo` interface with
 * the pods' gateway address, the three sysctls, the `romana` routing table's name and the
 * policy rule that sends traffic to it.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { invalidInput } from '../errors.ts';
import { CommandFailedError, type Exec } from '../exec.ts';
import { hostCidr, type Family } from '../net/addr.ts';

export const SYSCTLS = [
  'net/ipv4/conf/default/proxy_arp',
  'net/ipv4/conf/all/proxy_arp',
  'net/ipv4/ip_forward',
] as const;

/**
 * What IPv6 pods need of the node: forwarding. Set with the others when provisioning; when
 * only checking, a node whose value is not 1 is logged, not refused (IPv4-only clusters run
 * without it). Skipped on a kernel without IPv6.
 */
export const SYSCTLS6 = ['net/ipv6/conf/all/forwarding'] as const;

export type Log = (level: 'info' | 'warn' | 'error', msg: string, extra?: object) => void;

/**
 * Creates `romana-lo` (a `dummy` link; on kernels without dummy, a bridge with no ports,
 * which holds an address just as well) and puts `<gateway>/32` on it. Returns the kind used.
 */
export async function provisionInterface(exec: Exec, gateway: string, log: Log): Promise<string> {
  const exists = (await exec.run('ip', ['link', 'show', 'romana-lo'])).code === 0;
  let kind = 'existing';
  if (!exists) {
    const dummy = await exec.run('ip', ['link', 'add', 'romana-lo', 'type', 'dummy']);
    kind = 'dummy';
    if (dummy.code !== 0) {
      log('warn', 'this kernel has no dummy links; using a bridge without ports for romana-lo', {
        error: dummy.stderr.trim(),
      });
      const bridge = await exec.run('ip', ['link', 'add', 'romana-lo', 'type', 'bridge']);
      if (bridge.code !== 0)
        throw new CommandFailedError('ip link add romana-lo type bridge', bridge);
      kind = 'bridge';
    }
  }
  const up = await exec.run(
    'ip',
    ['-batch', '-'],
    `link set romana-lo up\naddress replace ${hostCidr(gateway, 'gateway')} dev romana-lo\n`,
  );
  if (up.code !== 0) throw new CommandFailedError('ip -batch (set up romana-lo)', up);
  return kind;
}

/**
 * Sets the sysctls to 1 (`write`), or checks them; throws naming the first that is not 1.
 * Runs through `exec`, so that it acts in the network namespace `exec` acts in.
 */
export async function sysctls(exec: Exec, write: boolean): Promise<void> {
  for (const key of SYSCTLS) {
    const path = `/proc/sys/${key}`;
    if (write) {
      const w = await exec.run('sh', ['-c', `echo 1 > ${path}`]);
      if (w.code !== 0) throw new CommandFailedError(`setting ${path} to 1`, w);
    }
    const value = (await exec.run('cat', [path])).stdout.trim();
    if (value !== '1') {
      throw invalidInput(
        `${path} is ${value}, not 1: pods need proxy ARP and forwarding; run with --provision-sysctls or set it`,
        { resourceType: 'sysctl', resourceId: key },
      );
    }
  }
}

/** True when the kernel (in the namespace `exec` acts in) has IPv6. */
export async function hasIpv6(exec: Exec): Promise<boolean> {
  return (await exec.run('test', ['-d', '/proc/sys/net/ipv6'])).code === 0;
}

/**
 * The IPv6 sysctls (`SYSCTLS6`): set to 1 with `write`; otherwise a value that is not 1 is
 * logged. Returns the keys that are not 1 afterwards.
 */
export async function sysctls6(exec: Exec, write: boolean, log: Log): Promise<string[]> {
  const off: string[] = [];
  for (const key of SYSCTLS6) {
    const path = `/proc/sys/${key}`;
    if (write) {
      const w = await exec.run('sh', ['-c', `echo 1 > ${path}`]);
      if (w.code !== 0) throw new CommandFailedError(`setting ${path} to 1`, w);
    }
    if ((await exec.run('cat', [path])).stdout.trim() !== '1') off.push(key);
  }
  if (off.length > 0) {
    log('warn', 'IPv6 pods need these sysctls at 1; run with --provision-sysctls or set them', {
      sysctls: off,
    });
  }
  return off;
}

/** Makes sure `/etc/iproute2/rt_tables` (or `file`) names table `id` "romana". */
export async function nameTable(file: string, id: number): Promise<void> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const named = text.split('\n').some((l) => {
    const [n, name] = l.trim().split(/\s+/);
    return n === String(id) && name === 'romana';
  });
  if (!named)
    await writeFile(file, `${text}${text === '' || text.endsWith('\n') ? '' : '\n'}${id} romana\n`);
}

/** Adds `from all lookup <id>` unless a rule of `family` already looks the table up. */
export async function ensureRule(exec: Exec, id: number, family: Family = 4): Promise<boolean> {
  const r = await exec.run('ip', [`-${family}`, '-json', 'rule', 'show']);
  const rules = JSON.parse(r.stdout.trim() === '' ? '[]' : r.stdout) as Array<{ table?: string }>;
  if (rules.some((x) => x.table === String(id) || x.table === 'romana')) return false;
  const add = await exec.run('ip', [
    `-${family}`,
    'rule',
    'add',
    'from',
    'all',
    'lookup',
    String(id),
  ]);
  if (add.code !== 0) {
    throw new CommandFailedError(`ip -${family} rule add from all lookup ${id}`, add);
  }
  return true;
}

/**
 * The node's primary interface: `name` when given (it must exist), else the interface of the
 * default route. Throws naming what is missing.
 */
export async function primaryLink(exec: Exec, name: string | undefined): Promise<string> {
  if (name !== undefined) {
    const r = await exec.run('ip', ['link', 'show', name]);
    if (r.code !== 0) {
      throw invalidInput(`--link-name: there is no interface '${name}'`, {
        resourceType: 'interface',
        resourceId: name,
      });
    }
    return name;
  }
  const r = await exec.run('ip', ['-json', 'route', 'show', 'default']);
  const routes = JSON.parse(r.stdout.trim() === '' ? '[]' : r.stdout) as Array<{ dev?: string }>;
  const dev = routes.find((x) => x.dev !== undefined)?.dev;
  if (dev === undefined) {
    throw invalidInput('no default route to find the primary interface; give --link-name', {
      resourceType: 'interface',
    });
  }
  return dev;
}
