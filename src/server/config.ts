/**
 * romanad's settings: command-line flags, `ROMANAD_*` environment variables and a YAML config
 * file, in that order of precedence, over built-in defaults. Every value is checked here, and
 * a bad one is reported with where it came from (`--port: 'abc' is not a port number`).
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import YAML from 'yaml';
import { RomanaError } from '../errors.ts';
import type { AppOptions } from './http/app.ts';
import { readTls, readTokens } from './http/credentials.ts';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
const LOG_LEVELS: readonly LogLevel[] = [
  'fatal',
  'error',
  'warn',
  'info',
  'debug',
  'trace',
  'silent',
];

/** Where the state lives: a directory of the embedded store, memory (tests), or etcd. */
export type StoreConfig = { kind: 'embedded'; dir: string } | { kind: 'memory' } | { kind: 'etcd' };

export interface EtcdConfig {
  /** `host:port` or `http(s)://host:port`, in the order given. */
  endpoints: string[];
  /** Key prefix, always with one leading `/` and no trailing `/` (e.g. `/romana`). */
  prefix: string;
  ca?: string;
  cert?: string;
  key?: string;
}

export type Source = 'flag' | 'env' | 'file' | 'default';

/**
 * romanad's settings, checked.
 *
 * @example
 * const cfg = parseConfig(['--port', '9700', '--store', 'memory:'], process.env);
 * cfg.port // 9700
 */
export interface RomanadConfig {
  host: string;
  port: number;
  store: StoreConfig;
  etcd: EtcdConfig;
  initialTopologyFile?: string;
  tokenFile?: string;
  /** Accept a token file that group or others may read. */
  allowReadableTokenFile: boolean;
  tlsCert?: string;
  tlsKey?: string;
  logLevel: LogLevel;
  /** The config file that was read, if any. */
  configFile?: string;
  /** Where each setting came from, by flag name (for the start-up log). */
  sources: Record<string, Source>;
}

/** A bad flag, variable or config file entry (exit status 2 in romanad). */
export class ConfigError extends RomanaError {
  constructor(message: string) {
    super('InvalidInput', message);
    this.name = 'ConfigError';
  }
}

/** Thrown by `parseConfig` for `--help`: print `text` to stdout and exit 0. */
export class HelpRequested extends Error {
  constructor(readonly text: string) {
    super('help requested');
    this.name = 'HelpRequested';
  }
}

interface Setting {
  flag: string;
  /** The value's name in `--help`; absent for a switch (true when given). */
  arg?: string;
  help: string;
  default?: string;
}

/** Every setting, by flag name; the env name is `ROMANAD_` + the flag upper-cased, `-` → `_`. */
const SETTINGS: readonly Setting[] = [
  {
    flag: 'host',
    arg: 'addr',
    help: 'address to listen on; anything but loopback needs --token-file',
    default: '127.0.0.1',
  },
  {
    flag: 'port',
    arg: 'port',
    help: 'TCP port to listen on (0 picks a free one)',
    default: '9600',
  },
  {
    flag: 'store',
    arg: 'spec',
    help: 'datastore: embedded:<dir>, memory: (lost on exit) or etcd',
    default: 'embedded:./romana-data',
  },
  {
    flag: 'etcd-endpoints',
    arg: 'list',
    help: 'etcd endpoints, comma-separated host:port or URLs',
    default: '127.0.0.1:2379',
  },
  {
    flag: 'etcd-prefix',
    arg: 'prefix',
    help: 'key prefix in etcd (a leading / is added)',
    default: '/romana',
  },
  { flag: 'etcd-ca', arg: 'file', help: 'CA certificate (PEM) to verify etcd' },
  { flag: 'etcd-cert', arg: 'file', help: 'client certificate (PEM) for etcd; needs --etcd-key' },
  { flag: 'etcd-key', arg: 'file', help: 'client key (PEM) for etcd; needs --etcd-cert' },
  {
    flag: 'initial-topology-file',
    arg: 'file',
    help: 'topology document applied when the store holds none yet',
  },
  {
    flag: 'token-file',
    arg: 'file',
    help: 'bearer tokens with roles (YAML/JSON list of {token, role, name}); mode 600; re-read on SIGHUP',
  },
  {
    flag: 'allow-readable-token-file',
    help: 'accept a --token-file that group or others may read',
  },
  {
    flag: 'tls-cert',
    arg: 'file',
    help: 'serve HTTPS with this certificate chain (PEM); needs --tls-key; re-read on SIGHUP',
  },
  { flag: 'tls-key', arg: 'file', help: 'private key (PEM) for --tls-cert' },
  { flag: 'log-level', arg: 'level', help: `log level: ${LOG_LEVELS.join(', ')}`, default: 'info' },
  { flag: 'config', arg: 'file', help: 'YAML file with any of these settings, keyed by flag name' },
];

export function envName(flag: string): string {
  return `ROMANAD_${flag.toUpperCase().replace(/-/g, '_')}`;
}

function camel(flag: string): string {
  return flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** The `--help` text. */
export function helpText(): string {
  let text = '';
  program((s) => (text += s)).outputHelp();
  return text;
}

function program(write: (s: string) => void): Command {
  const cmd = new Command('romanad')
    .description('Romana control plane: topology, hosts, IPAM and policies over a REST API')
    .helpOption('-h, --help', 'show this help')
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput({ writeOut: write, writeErr: write })
    .addHelpText(
      'after',
      '\nPrecedence: flags > environment > config file > defaults. An empty variable counts as unset.\n' +
        '\nMaintenance of an embedded store (romanad not running on it for repair):\n' +
        '  romanad store check <dir>    say whether the store in <dir> is sound (exit 0) or damaged (1)\n' +
        '  romanad store repair <dir>   keep every record that can be proven, back up the originals\n',
    );
  for (const s of SETTINGS) {
    const where =
      s.default === undefined
        ? `env ${envName(s.flag)}`
        : `default: ${s.default}; env ${envName(s.flag)}`;
    const spec = s.arg === undefined ? `--${s.flag}` : `--${s.flag} <${s.arg}>`;
    cmd.addOption(new Option(spec, `${s.help} (${where})`));
  }
  return cmd;
}

type Raw = { value: unknown; source: Source; where: string };

/**
 * Parses romanad's arguments (those after the program name, e.g. `process.argv.slice(2)`)
 * and environment. Throws `HelpRequested` for `--help` and `ConfigError` for anything wrong.
 */
export function parseConfig(argv: readonly string[], env: NodeJS.ProcessEnv): RomanadConfig {
  let out = '';
  const cmd = program((s) => (out += s));
  try {
    cmd.parse([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help')
        throw new HelpRequested(out);
      throw new ConfigError(err.message.replace(/^error: /, ''));
    }
    throw err;
  }
  const flags = cmd.opts<Record<string, string | true | undefined>>();
  const layers = new Map<string, Raw>();
  const fromEnv = (flag: string): Raw | undefined => {
    const v = env[envName(flag)];
    return v === undefined || v === ''
      ? undefined
      : { value: v, source: 'env', where: envName(flag) };
  };
  const configFlag = flags['config'];
  const configRaw: Raw | undefined =
    configFlag !== undefined
      ? { value: configFlag, source: 'flag', where: '--config' }
      : fromEnv('config');
  const file =
    configRaw === undefined ? {} : readConfigFile(String(configRaw.value), configRaw.where);
  for (const s of SETTINGS) {
    if (s.flag === 'config') continue;
    const flag = flags[camel(s.flag)];
    const raw: Raw | undefined =
      flag !== undefined
        ? { value: flag, source: 'flag', where: `--${s.flag}` }
        : (fromEnv(s.flag) ??
          (s.flag in file
            ? { value: file[s.flag], source: 'file', where: `${configRaw!.value}: ${s.flag}` }
            : undefined) ??
          (s.default !== undefined
            ? { value: s.default, source: 'default', where: `--${s.flag}` }
            : undefined));
    if (raw !== undefined) layers.set(s.flag, raw);
  }
  return build(layers, configRaw === undefined ? undefined : String(configRaw.value));
}

function readConfigFile(path: string, where: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`${where}: cannot read '${path}': ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (err) {
    throw new ConfigError(`${path}: not valid YAML: ${(err as Error).message}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ConfigError(`${path}: must be a mapping of settings, e.g. "port: 9600"`);
  }
  const known = SETTINGS.map((s) => s.flag).filter((f) => f !== 'config');
  for (const key of Object.keys(doc)) {
    if (!known.includes(key)) {
      throw new ConfigError(`${path}: unknown setting '${key}'; known: ${known.join(', ')}`);
    }
  }
  return doc as Record<string, unknown>;
}

function build(layers: Map<string, Raw>, configFile: string | undefined): RomanadConfig {
  const get = (flag: string): Raw | undefined => layers.get(flag);
  const str = (flag: string): string | undefined => {
    const r = get(flag);
    if (r === undefined) return undefined;
    if (typeof r.value !== 'string' || r.value.trim() === '') {
      throw new ConfigError(`${r.where}: ${show(r.value)} must be a non-empty string`);
    }
    return r.value.trim();
  };
  const cfg: RomanadConfig = {
    host: parseHost(get('host')!),
    port: parsePort(get('port')!),
    store: parseStore(get('store')!),
    etcd: {
      endpoints: parseEndpoints(get('etcd-endpoints')!),
      prefix: parsePrefix(get('etcd-prefix')!),
    },
    logLevel: parseLogLevel(get('log-level')!),
    allowReadableTokenFile: parseSwitch(get('allow-readable-token-file')),
    sources: Object.fromEntries([...layers].map(([k, r]) => [k, r.source])),
  };
  const optional: Array<[string, (v: string) => void]> = [
    ['etcd-ca', (v) => (cfg.etcd.ca = v)],
    ['etcd-cert', (v) => (cfg.etcd.cert = v)],
    ['etcd-key', (v) => (cfg.etcd.key = v)],
    ['initial-topology-file', (v) => (cfg.initialTopologyFile = v)],
    ['token-file', (v) => (cfg.tokenFile = v)],
    ['tls-cert', (v) => (cfg.tlsCert = v)],
    ['tls-key', (v) => (cfg.tlsKey = v)],
  ];
  for (const [flag, set] of optional) {
    const v = str(flag);
    if (v !== undefined) set(v);
  }
  if (configFile !== undefined) cfg.configFile = configFile;
  pair(cfg.tlsCert, cfg.tlsKey, '--tls-cert', '--tls-key');
  pair(cfg.etcd.cert, cfg.etcd.key, '--etcd-cert', '--etcd-key');
  return cfg;
}

function pair(a: string | undefined, b: string | undefined, fa: string, fb: string): void {
  if (a !== undefined && b === undefined) throw new ConfigError(`${fa} needs ${fb} as well`);
  if (b !== undefined && a === undefined) throw new ConfigError(`${fb} needs ${fa} as well`);
}

function show(v: unknown): string {
  return typeof v === 'string' ? `'${v}'` : (JSON.stringify(v) ?? String(v));
}

function parseHost(r: Raw): string {
  const v = typeof r.value === 'string' ? r.value.trim() : '';
  if (v === '' || /\s/.test(v))
    throw new ConfigError(`${r.where}: ${show(r.value)} is not a host address`);
  return v;
}

function parsePort(r: Raw): number {
  const text =
    typeof r.value === 'number'
      ? String(r.value)
      : typeof r.value === 'string'
        ? r.value.trim()
        : '';
  const n = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(n >= 0 && n <= 65535))
    throw new ConfigError(`${r.where}: ${show(r.value)} is not a port number (0-65535)`);
  return n;
}

function parseStore(r: Raw): StoreConfig {
  const v = typeof r.value === 'string' ? r.value.trim() : '';
  if (v === 'memory' || v === 'memory:') return { kind: 'memory' };
  if (v === 'etcd' || v === 'etcd:') return { kind: 'etcd' };
  if (v === 'embedded' || v === 'embedded:') return { kind: 'embedded', dir: './romana-data' };
  if (v.startsWith('embedded:')) return { kind: 'embedded', dir: v.slice('embedded:'.length) };
  throw new ConfigError(
    `${r.where}: ${show(r.value)} is not a store; use embedded:<dir>, memory: or etcd`,
  );
}

const ENDPOINT_RE = /^(https?:\/\/)?[A-Za-z0-9.\-[\]:]+$/;

function parseEndpoints(r: Raw): string[] {
  const parts = Array.isArray(r.value)
    ? r.value.map((x) => String(x).trim())
    : typeof r.value === 'string'
      ? r.value.split(',').map((x) => x.trim())
      : [];
  if (parts.length === 0 || parts.some((p) => p === '' || !ENDPOINT_RE.test(p))) {
    throw new ConfigError(
      `${r.where}: ${show(r.value)} is not a list of host:port or http(s)://host:port`,
    );
  }
  return parts;
}

function parsePrefix(r: Raw): string {
  if (typeof r.value !== 'string')
    throw new ConfigError(`${r.where}: ${show(r.value)} is not a key prefix`);
  const p = `/${r.value.trim()}`.replace(/\/+/g, '/').replace(/(.)\/$/, '$1');
  if (/\s/.test(p)) throw new ConfigError(`${r.where}: ${show(r.value)} must not contain spaces`);
  return p;
}

function parseSwitch(r: Raw | undefined): boolean {
  if (r === undefined) return false;
  if (r.value === true || r.value === false) return r.value;
  const v = typeof r.value === 'string' ? r.value.trim().toLowerCase() : '';
  if (v === 'true' || v === '1' || v === 'yes') return true;
  if (v === 'false' || v === '0' || v === 'no') return false;
  throw new ConfigError(`${r.where}: ${show(r.value)} is not true or false`);
}

function parseLogLevel(r: Raw): LogLevel {
  const v = typeof r.value === 'string' ? r.value.trim().toLowerCase() : '';
  if (!(LOG_LEVELS as readonly string[]).includes(v)) {
    throw new ConfigError(
      `${r.where}: ${show(r.value)} is not a log level (${LOG_LEVELS.join(', ')})`,
    );
  }
  return v as LogLevel;
}

/**
 * The app options a config implies: tokens read from `--token-file`, TLS files read, the log
 * level. File problems are `ConfigError`s naming the flag.
 *
 * @example
 * const app = buildApp(service, appOptionsFromConfig(cfg));
 */
export function appOptionsFromConfig(cfg: RomanadConfig): AppOptions {
  const opts: AppOptions = { logger: { level: cfg.logLevel } };
  try {
    const tokens = readTokens(cfg);
    if (tokens !== undefined) opts.tokens = tokens;
    if (cfg.tlsCert !== undefined && cfg.tlsKey !== undefined) {
      opts.https = readTls(cfg.tlsCert, cfg.tlsKey);
    }
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  return opts;
}
