/**
 * romana-listener's settings: each a flag or a `ROMANA_LISTENER_*` environment variable (flags
 * win). A bad value stops the program with a message naming the flag and the value.
 */
import os from 'node:os';
import { Command, InvalidArgumentError, Option } from 'commander';
import { Cidr } from '../net/addr.ts';
import { DEFAULT_NODE_HOST_OPTIONS } from './node-host.ts';

export interface Flags {
  kubeconfig?: string;
  romanadUrl: string;
  tokenFile?: string;
  caFile?: string;
  listen: string;
  logLevel: string;
  leaderElect: boolean;
  leaseNamespace: string;
  leaseName: string;
  leaseDuration: number;
  renewDeadline: number;
  retryPeriod: number;
  identity: string;
  nodeAddressTypes: string[];
  labelTag: Record<string, string>;
  copyNodeLabels: boolean;
  nodeInfoPaths: string[];
  gcGrace: number;
  nodeGrace: number;
  resyncInterval: number;
  vipCidr?: Cidr;
  networkPolicies: boolean;
}

/**
 * A duration in milliseconds: `500ms`, `10s`, `5m`, `1h`, or a plain number of seconds.
 *
 * @example parseDuration('5m') // 300000
 */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new InvalidArgumentError(`'${text}' is not a duration (e.g. 500ms, 10s, 5m, 1h)`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 's']!;
  return Math.round(Number(m[1]) * unit);
}

const list = (v: string) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');

function labelTag(v: string, prev: Record<string, string>): Record<string, string> {
  const eq = v.lastIndexOf('=');
  if (eq <= 0 || eq === v.length - 1) {
    throw new InvalidArgumentError(
      `'${v}' is not LABEL=TAG (e.g. topology.kubernetes.io/zone=zone)`,
    );
  }
  // the first --label-tag replaces the defaults; later ones add to it
  const base = prev === DEFAULT_NODE_HOST_OPTIONS.labelTags ? {} : prev;
  return { ...base, [v.slice(0, eq)]: v.slice(eq + 1) };
}

function cidr(v: string): Cidr {
  try {
    return Cidr.parse(v, '--vip-cidr');
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

const env = (flag: string) => `ROMANA_LISTENER_${flag.toUpperCase().replace(/-/g, '_')}`;

/** Declares every flag on `cmd`. */
export function declareFlags(cmd: Command): Command {
  const opt = (flags: string, help: string) => {
    const name = /--(?:no-)?([a-z-]+)/.exec(flags)![1]!;
    return new Option(flags, help).env(env(name));
  };
  const duration = (flags: string, help: string, def: string) =>
    opt(flags, help).default(parseDuration(def), def).argParser(parseDuration);
  const d = DEFAULT_NODE_HOST_OPTIONS;
  return cmd
    .addOption(
      opt(
        '--kubeconfig <file>',
        'kubeconfig to use (default: in-cluster service account, else $KUBECONFIG or ~/.kube/config)',
      ),
    )
    .addOption(opt('--romanad-url <url>', "romanad's URL").default('http://127.0.0.1:9600'))
    .addOption(opt('--token-file <file>', 'file holding the bearer token for romanad (admin role)'))
    .addOption(opt('--ca-file <file>', 'CA certificate (PEM) to trust for an https romanad'))
    .addOption(
      opt(
        '--listen <host:port>',
        'address of /metrics, /healthz and /readyz (port 0: any)',
      ).default('127.0.0.1:9608'),
    )
    .addOption(
      opt('--log-level <level>', 'fatal, error, warn, info, debug or trace').default('info'),
    )
    .addOption(
      opt('--no-leader-elect', 'act without taking the leader Lease (only when one replica runs)'),
    )
    .addOption(
      opt('--lease-namespace <ns>', 'namespace of the leader Lease').default('kube-system'),
    )
    .addOption(opt('--lease-name <name>', 'name of the leader Lease').default('romana-listener'))
    .addOption(
      duration(
        '--lease-duration <d>',
        'how long a standby waits on an unrenewed Lease before taking over',
        '15s',
      ),
    )
    .addOption(
      duration(
        '--renew-deadline <d>',
        'a leader that could not renew for this long stops acting',
        '10s',
      ),
    )
    .addOption(duration('--retry-period <d>', 'pause between Lease tries and renewals', '2s'))
    .addOption(
      opt('--identity <id>', 'this replica in the Lease').default(
        `${os.hostname()}_${process.pid}`,
      ),
    )
    .addOption(
      opt('--node-address-types <types>', 'node address types to take the host IP from, in order')
        .default([...d.addressTypes], d.addressTypes.join(','))
        .argParser(list),
    )
    .addOption(
      opt(
        '--label-tag <label=tag>',
        'node label copied to a host tag (repeatable; replaces the defaults)',
      )
        .default(
          d.labelTags,
          Object.entries(d.labelTags)
            .map(([l, t]) => `${l}=${t}`)
            .join(' '),
        )
        .argParser(labelTag),
    )
    .addOption(
      opt(
        '--copy-node-labels',
        'also copy every node label to a tag of the same name (64 tags at most)',
      ).default(false),
    )
    .addOption(
      opt(
        '--node-info-paths <paths>',
        "dotted paths into the Node whose values go to the host's k8s_info",
      )
        .default([...d.infoPaths], d.infoPaths.join(','))
        .argParser(list),
    )
    .addOption(
      duration('--gc-grace <d>', 'an address whose pod is gone is released after this long', '5m'),
    )
    .addOption(
      duration(
        '--node-grace <d>',
        "a deleted node's host waits this long for its addresses to go, then releases them",
        '5m',
      ),
    )
    .addOption(
      duration(
        '--resync-interval <d>',
        'period of the full sync that repairs anything missed',
        '60s',
      ),
    )
    .addOption(opt('--no-network-policies', 'do not follow NetworkPolicies into romanad policies'))
    .addOption(
      opt(
        '--vip-cidr <cidr>',
        'pool of addresses for Services annotated {"auto": true}; without it, the topology\'s ' +
          'vip_cidr (GET /topology) is used and followed; when both are set this flag wins',
      ).argParser(cidr),
    );
}

/** Splits `--listen` into host and port. */
export function listenAddress(v: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(v);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new InvalidArgumentError(`--listen: '${v}' is not host:port`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}
