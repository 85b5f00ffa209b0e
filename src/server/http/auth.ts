/**
 * Bearer-token authentication and role-based access for romanad, and the rule that an
 * unauthenticated romanad listens on loopback only.
 *
 * Roles, from least to most: `read-only` (every GET, the watch stream and /metrics), `node`
 * (read-only plus what an agent or CNI plugin writes: allocate and release addresses,
 * register a host, patch any host's tags and k8s info), `admin` (everything).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import YAML from 'yaml';
import { invalidInput, RomanaError } from '../../errors.ts';

export type Role = 'read-only' | 'node' | 'admin';
export const ROLES: readonly Role[] = ['read-only', 'node', 'admin'];

/**
 * What a route demands: `public` (no token: probes), or the least role that may call it.
 *
 * @example
 * app.get('/hosts', { config: { access: 'read-only' } }, handler);
 */
export type Access = 'public' | Role;

/** One configured token. */
export interface TokenEntry {
  token: string;
  role: Role;
  /** Who holds the token; appears in the request log. */
  name?: string;
}

/** The identity a request was authenticated as. */
export interface Principal {
  role: Role;
  name: string;
}

/** Shortest token accepted: 16 characters, e.g. `openssl rand -hex 16` gives 32. */
export const MIN_TOKEN_LENGTH = 16;

const rank = (r: Role): number => ROLES.indexOf(r);

/** True when `role` may call a route that demands `access`. */
export function allows(role: Role | undefined, access: Access): boolean {
  if (access === 'public') return true;
  return role !== undefined && rank(role) >= rank(access);
}

/**
 * Checks bearer tokens in constant time: every configured token is compared (as SHA-256
 * digests, so lengths never leak) on every request, whatever matches first.
 *
 * @example
 * const auth = new TokenAuth([{ token: 'a'.repeat(32), role: 'admin', name: 'ops' }]);
 * auth.authenticate(`Bearer ${'a'.repeat(32)}`) // { role: 'admin', name: 'ops' }
 */
export class TokenAuth {
  #entries: Array<{ digest: Buffer; principal: Principal }> = [];

  constructor(entries: readonly TokenEntry[]) {
    this.replace(entries);
  }

  /**
   * Swaps the whole token set at once (on SIGHUP): requests that arrive afterwards are checked
   * against `entries` only.
   */
  replace(entries: readonly TokenEntry[]): void {
    this.#entries = entries.map((e, i) => ({
      digest: digest(e.token),
      principal: { role: e.role, name: e.name ?? `token #${i + 1}` },
    }));
  }

  get size(): number {
    return this.#entries.length;
  }

  /**
   * The principal for an `Authorization` header value, or a RomanaError `Unauthorized` with
   * what was wrong (no header, not a bearer token, unknown token).
   */
  authenticate(header: string | undefined): Principal {
    if (header === undefined || header === '') {
      throw new RomanaError(
        'Unauthorized',
        'Missing bearer token: send "Authorization: Bearer <token>"',
      );
    }
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
    if (m === null) {
      throw new RomanaError('Unauthorized', 'The Authorization header must be "Bearer <token>"');
    }
    const d = digest(m[1]!);
    let found: Principal | undefined;
    for (const e of this.#entries) {
      if (timingSafeEqual(d, e.digest) && found === undefined) found = e.principal;
    }
    if (found === undefined) throw new RomanaError('Unauthorized', 'Unknown bearer token');
    return found;
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/**
 * Parses a token file: YAML or JSON, a list of `{token, role, name?}` (or `{tokens: [...]}`).
 * Every problem is reported with the entry's index; the file must hold at least one token.
 *
 * @example
 * parseTokens('- {token: 0123456789abcdef0123, role: node, name: cni}', 'tokens.yaml')
 */
export function parseTokens(text: string, source: string): TokenEntry[] {
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (err) {
    throw invalidInput(`${source}: not valid YAML or JSON: ${(err as Error).message}`);
  }
  if (typeof doc === 'object' && doc !== null && !Array.isArray(doc) && 'tokens' in doc) {
    doc = (doc as { tokens: unknown }).tokens;
  }
  if (!Array.isArray(doc) || doc.length === 0) {
    throw invalidInput(`${source}: must be a non-empty list of {token, role, name?}`);
  }
  const problems: string[] = [];
  const out: TokenEntry[] = [];
  const seen = new Set<string>();
  doc.forEach((raw: unknown, i) => {
    const at = `${source}: [${i}]`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      problems.push(`${at}: must be an object {token, role, name?}`);
      return;
    }
    const e = raw as Record<string, unknown>;
    for (const k of Object.keys(e)) {
      if (k !== 'token' && k !== 'role' && k !== 'name') problems.push(`${at}: unknown key '${k}'`);
    }
    const { token, role, name } = e;
    if (typeof token !== 'string' || token.length < MIN_TOKEN_LENGTH) {
      problems.push(`${at}.token: must be a string of at least ${MIN_TOKEN_LENGTH} characters`);
    } else if (seen.has(token)) problems.push(`${at}.token: the same token appears twice`);
    else seen.add(token);
    if (typeof role !== 'string' || !(ROLES as readonly string[]).includes(role)) {
      problems.push(`${at}.role: ${JSON.stringify(role)} is not one of ${ROLES.join(', ')}`);
    }
    if (name !== undefined && typeof name !== 'string')
      problems.push(`${at}.name: must be a string`);
    const entry: TokenEntry = { token: String(token), role: role as Role };
    if (typeof name === 'string') entry.name = name;
    out.push(entry);
  });
  if (problems.length > 0) throw invalidInput(problems.join('; '));
  return out;
}

/** Options of `loadTokenFile`. */
export interface LoadTokenOptions {
  /** Accept a file that group or others may read (`--allow-readable-token-file`). */
  allowReadable?: boolean;
}

/**
 * Reads and parses a token file (see `parseTokens`). A file that group or others may read is
 * refused (its tokens are as good as published) unless `allowReadable` is set.
 *
 * @example loadTokenFile('/etc/romana/tokens.yaml') // after chmod 600
 */
export function loadTokenFile(path: string, opts: LoadTokenOptions = {}): TokenEntry[] {
  let text: string;
  try {
    const mode = statSync(path).mode;
    if ((mode & 0o044) !== 0 && opts.allowReadable !== true) {
      const octal = (mode & 0o777).toString(8).padStart(4, '0');
      throw invalidInput(
        `--token-file: '${path}' has mode ${octal}, readable by group or others: ` +
          `run 'chmod 600 ${path}', or pass --allow-readable-token-file to accept it`,
      );
    }
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (err instanceof RomanaError) throw err;
    throw invalidInput(`--token-file: cannot read '${path}': ${(err as Error).message}`);
  }
  return parseTokens(text, path);
}

/** True for addresses that only this machine can reach: 127.0.0.0/8, ::1, `localhost`. */
export function isLoopback(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost' || h === '::1') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
  return mapped !== null && mapped[1]!.startsWith('127.');
}

/**
 * Refuses to serve an unauthenticated API beyond this machine: without tokens, `host` must be
 * loopback. Throws an `InvalidInput` error that says how to fix it.
 *
 * @example
 * assertSafeListen('127.0.0.1', false); // fine
 * assertSafeListen('0.0.0.0', false);   // throws
 */
export function assertSafeListen(host: string, tokensConfigured: boolean): void {
  if (tokensConfigured || isLoopback(host)) return;
  throw invalidInput(
    `refusing to listen on '${host}' without authentication: anyone who can reach it ` +
      `could change the network. Pass --token-file <file> (bearer tokens with roles), or listen ` +
      `on loopback only (--host 127.0.0.1).`,
  );
}
