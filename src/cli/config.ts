/**
 * Global settings of `romana`: flags override environment variables, which override the
 * config file (`--config`, else `~/.romana.yaml`, else `/etc/romana/cli.yaml`), which
 * overrides the defaults.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from './errors.ts';

/** Output formats. */
export type Format = 'table' | 'json' | 'yaml';
const FORMATS: readonly Format[] = ['table', 'json', 'yaml'];

/** How long a request may go without an answer, by default (ms). */
export const DEFAULT_TIMEOUT_MS = 30_000;

/** The settings a command runs with. */
export interface Settings {
  rootUrl: string;
  format: Format;
  token: string | undefined;
  /** Give up on a request after this long without an answer (ms); 0 waits forever. */
  timeoutMs: number;
  /** The config file that was read, if any. */
  configFile: string | undefined;
}

/** Global flags as given on the command line (absent when not given). */
export interface GlobalFlags {
  rootUrl?: string;
  format?: string;
  /** `-o`, kubectl's spelling of `--format`. */
  output?: string;
  token?: string;
  timeout?: string;
  config?: string;
}

/** Default root URL of romanad. */
export const DEFAULT_ROOT_URL = 'http://127.0.0.1:9600';
/** System-wide config file, read when `~/.romana.yaml` does not exist. */
export const SYSTEM_CONFIG = '/etc/romana/cli.yaml';

/** Environment variables, by setting. */
export const ENV = {
  rootUrl: 'ROMANA_ROOT_URL',
  format: 'ROMANA_FORMAT',
  token: 'ROMANA_TOKEN',
  timeout: 'ROMANA_TIMEOUT',
  config: 'ROMANA_CONFIG',
} as const;

type Key = 'rootUrl' | 'format' | 'token' | 'timeout';

/** Config file keys (compared without case, `-` and `_`), including the 2.x `RootURL`. */
const FILE_KEYS: Record<string, Key | null> = {
  rooturl: 'rootUrl',
  format: 'format',
  token: 'token',
  timeout: 'timeout',
  // 2.x keys with no meaning here: accepted and ignored, so a 2.x file still works.
  platform: null,
  logfile: null,
  verbose: null,
};

/**
 * Works out the settings from flags, environment and config file.
 *
 * @throws UsageError naming the flag, variable or file key whose value is wrong.
 * @example await resolveSettings({ format: 'json' }, process.env, os.homedir())
 */
export async function resolveSettings(
  flags: GlobalFlags,
  env: Record<string, string | undefined>,
  home: string,
): Promise<Settings> {
  const envValue = (k: keyof typeof ENV) => (env[ENV[k]] ? env[ENV[k]] : undefined);
  const configFile = flags.config ?? envValue('config') ?? defaultConfigFile(home);
  const explicit = flags.config !== undefined || envValue('config') !== undefined;
  const file = configFile === undefined ? {} : await readConfig(configFile, explicit);
  const pick = (k: Key): { value: string | undefined; from: string } => {
    const flagName = k === 'rootUrl' ? '--root-url' : `--${k}`;
    if (k === 'format' && flags.output !== undefined) {
      if (flags.format !== undefined && flags.format !== flags.output) {
        throw new UsageError(
          `-o '${flags.output}' and --format '${flags.format}' disagree; give one of them`,
        );
      }
      return { value: flags.output, from: '-o' };
    }
    if (flags[k] !== undefined) return { value: flags[k], from: flagName };
    if (envValue(k) !== undefined) return { value: envValue(k), from: ENV[k] };
    return { value: file[k], from: `${configFile}: ${k === 'rootUrl' ? 'root-url' : k}` };
  };
  return {
    rootUrl: checkUrl(pick('rootUrl')),
    format: checkFormat(pick('format')),
    token: pick('token').value || undefined,
    timeoutMs: checkTimeout(pick('timeout')),
    configFile,
  };
}

function defaultConfigFile(home: string): string | undefined {
  const personal = path.join(home, '.romana.yaml');
  if (existsSync(personal)) return personal;
  return existsSync(SYSTEM_CONFIG) ? SYSTEM_CONFIG : undefined;
}

async function readConfig(file: string, explicit: boolean): Promise<Partial<Record<Key, string>>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    if (!explicit && code === 'ENOENT') return {};
    throw new UsageError(`config file ${file}: cannot read it (${code})`);
  }
  const { parse } = await import('yaml');
  let doc: unknown;
  try {
    doc = parse(text) as unknown;
  } catch (e) {
    throw new UsageError(`config file ${file}: not YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new UsageError(`config file ${file}: must be a YAML mapping (e.g. "root-url: …")`);
  }
  return settingsOf(doc as Record<string, unknown>, file);
}

function settingsOf(doc: Record<string, unknown>, file: string): Partial<Record<Key, string>> {
  const out: Partial<Record<Key, string>> = {};
  for (const [rawKey, value] of Object.entries(doc)) {
    const key = FILE_KEYS[rawKey.toLowerCase().replace(/[-_]/g, '')];
    if (key === undefined) {
      throw new UsageError(
        `config file ${file}: unknown key '${rawKey}' (known: root-url, format, token, timeout)`,
      );
    }
    if (key === null || value === null || value === undefined) continue;
    if (key === 'timeout' && typeof value === 'number') {
      out[key] = String(value);
      continue;
    }
    if (typeof value !== 'string') {
      throw new UsageError(`config file ${file}: ${rawKey} must be a string, got ${typeof value}`);
    }
    out[key] = value;
  }
  return out;
}

function checkUrl({ value, from }: { value: string | undefined; from: string }): string {
  if (value === undefined || value === '') return DEFAULT_ROOT_URL;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`${from}: '${value}' is not a URL (e.g. ${DEFAULT_ROOT_URL})`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`${from}: '${value}' must be an http:// or https:// URL`);
  }
  return value.replace(/\/+$/, '');
}

function checkFormat({ value, from }: { value: string | undefined; from: string }): Format {
  if (value === undefined || value === '') return 'table';
  if ((FORMATS as readonly string[]).includes(value)) return value as Format;
  throw new UsageError(`${from}: '${value}' is not a format (${FORMATS.join(', ')})`);
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * A duration as kubectl's `--request-timeout` spells it: `30s`, `500ms`, `2m`, or a plain number
 * of seconds; `0` waits forever.
 */
function checkTimeout({ value, from }: { value: string | undefined; from: string }): number {
  if (value === undefined || value === '') return DEFAULT_TIMEOUT_MS;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  if (m === null) {
    throw new UsageError(
      `${from}: '${value}' is not a duration (e.g. 30s, 500ms, 2m; 0 waits forever)`,
    );
  }
  return Math.round(Number(m[1]) * UNIT_MS[m[2] ?? 's']!);
}
