/**
 * A minimal romanad client for the plugin: plain node:http(s), one connection per request (no
 * keep-alive, so the process exits as soon as its work is done), a timeout, and the few routes
 * the plugin needs. Kept apart from src/client so the bundle stays small and starts fast.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tokenFileWarning } from '../client/token-file.ts';
import { CniCode, CniError } from './errors.ts';

/** Address as romanad answers it (docs/api.md, "Shapes"). */
export interface RomanadAddress {
  name: string;
  ip: string;
  host: string;
  tenant: string;
  segment: string;
  /** Every family's address, IPv4 first (romanads older than dual-stack send none). */
  ips?: { ip: string; network?: string; block?: string }[];
}

/** Every IP of an address view, IPv4 first: its `ips`, or its `ip` alone from older romanads. */
export function ipsOf(a: RomanadAddress): string[] {
  return a.ips && a.ips.length > 0 ? a.ips.map((x) => x.ip) : [a.ip];
}

export interface AllocateRequest {
  name: string;
  host: string;
  tenant: string;
  segment: string;
  pod?: { namespace: string; name: string; uid?: string };
}

/**
 * The IPs of a `POST /address` answer: a bare string (IPv4 only, the 2.x shape) or
 * `{"ip", "ips": [...]}` (dual-stack or IPv6, IPv4 first); undefined for anything else.
 */
export function allocatedIps(body: unknown): string[] | undefined {
  if (typeof body === 'string' && body !== '') return [body];
  if (typeof body !== 'object' || body === null) return undefined;
  const ips = (body as { ips?: unknown }).ips;
  if (!Array.isArray(ips) || ips.length === 0) return undefined;
  return ips.every((x) => typeof x === 'string' && x !== '') ? (ips as string[]) : undefined;
}

export interface RomanadOptions {
  url: string;
  tokenFile?: string | undefined;
  caFile?: string | undefined;
  timeoutMs?: number;
  /** Hears a warning about the token file (every user of the host may read it). */
  warn?: (msg: string) => void;
}

interface Answer {
  status: number;
  body: unknown;
}

/**
 * The routes ADD, DEL, GC and STATUS use. Unreachable or 503 → code 11 (try again later);
 * any other refusal → code 100 carrying romanad's `details`.
 *
 * @example
 * const api = new Romanad({ url: 'http://127.0.0.1:9600' });
 * const ip = await api.allocate({ name: 'web-1.default.abcdef01', host: 'node-1', tenant: 'default', segment: 'default' });
 */
export class Romanad {
  #url: string;
  #token: string | undefined;
  #ca: Buffer | undefined;
  #timeoutMs: number;

  constructor(opts: RomanadOptions) {
    this.#url = opts.url;
    this.#token = opts.tokenFile ? readToken(opts.tokenFile, opts.warn) : undefined;
    this.#ca = opts.caFile ? Buffer.from(readText(opts.caFile, 'romanad_ca_file')) : undefined;
    this.#timeoutMs = opts.timeoutMs ?? 10_000;
  }

  /** The address named `name`, or undefined when romanad has none. */
  async getAddress(name: string): Promise<RomanadAddress | undefined> {
    const a = await this.#send('GET', `/address?addressName=${encodeURIComponent(name)}`);
    if (a.status === 404) return undefined;
    return this.#ok(a, `looking up address ${name}`) as RomanadAddress;
  }

  /** Allocates; resolves to the first IP (IPv4 when there is one); see `allocateAll`. */
  async allocate(req: AllocateRequest): Promise<string | undefined> {
    return (await this.allocateAll(req))?.[0];
  }

  /**
   * Allocates; resolves to every IP of the allocation (IPv4 first), or to undefined when the
   * name is already in use (409). A romanad older than pod links refuses `pod` as an unknown
   * field: the allocation is then asked again without it (during an upgrade, plugins may be
   * newer than romanad).
   */
  async allocateAll(req: AllocateRequest): Promise<string[] | undefined> {
    let a = await this.#send('POST', '/address', req);
    if (a.status === 400 && req.pod && /^body\.pod: unknown field/.test(detailsOf(a.body))) {
      const { pod: _older, ...bare } = req;
      a = await this.#send('POST', '/address', bare);
    }
    if (a.status === 409) return undefined;
    const body = this.#ok(a, `allocating an address for ${req.name} on host ${req.host}`);
    const ips = allocatedIps(body);
    if (ips === undefined) {
      throw new CniError(CniCode.Romanad, 'romanad answered no address', JSON.stringify(body));
    }
    return ips;
  }

  /** Releases `name`; resolves to false when romanad did not know it. */
  async release(name: string): Promise<boolean> {
    const a = await this.#send('DELETE', `/address?addressName=${encodeURIComponent(name)}`);
    if (a.status === 404) return false;
    this.#ok(a, `releasing address ${name}`);
    return true;
  }

  /** Addresses allocated on `host`. */
  async addressesOn(host: string): Promise<RomanadAddress[]> {
    const a = await this.#send('GET', `/addresses?host=${encodeURIComponent(host)}`);
    return this.#ok(a, `listing addresses of host ${host}`) as RomanadAddress[];
  }

  /** Throws unless romanad is ready and knows `host`. */
  async checkHost(host: string): Promise<void> {
    this.#ok(await this.#send('GET', '/readyz'), 'asking romanad whether it is ready');
    const a = await this.#send('GET', `/hosts/${encodeURIComponent(host)}`);
    if (a.status === 404) {
      throw new CniError(
        CniCode.Romanad,
        `host ${host} is not known to romanad`,
        'register it (romana-agent --register, or POST /hosts) or fix romana_host_name',
      );
    }
    this.#ok(a, `looking up host ${host}`);
  }

  #ok(a: Answer, what: string): unknown {
    if (a.status >= 200 && a.status < 300) return a.body;
    const b = (a.body ?? {}) as { code?: unknown; details?: unknown };
    const details = `romanad answered ${a.status} ${String(b.code ?? '')}: ${String(b.details ?? '')}`;
    const code = a.status === 503 ? CniCode.TryAgainLater : CniCode.Romanad;
    throw new CniError(code, `${what} failed`, details);
  }

  #send(method: string, path: string, body?: unknown): Promise<Answer> {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string | number> = { accept: 'application/json' };
    if (data !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(data);
    }
    if (this.#token) headers['authorization'] = `Bearer ${this.#token}`;
    const url = this.#url + path;
    const tls = url.startsWith('https:');
    return new Promise((resolve, reject) => {
      const opts = { method, headers, agent: false as const, timeout: this.#timeoutMs };
      const req = (tls ? https : http).request(
        url,
        tls ? { ...opts, ca: this.#ca } : opts,
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => {
            let parsed: unknown = text;
            try {
              parsed = text === '' ? null : JSON.parse(text);
            } catch {
              // not JSON: keep the text for the error message
            }
            resolve({ status: res.statusCode ?? 0, body: parsed });
          });
          res.on('error', (err) => reject(unreachable(this.#url, err)));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.#timeoutMs} ms`)));
      req.on('error', (err) => reject(unreachable(this.#url, err)));
      req.end(data);
    });
  }
}

function unreachable(url: string, err: Error): CniError {
  return new CniError(CniCode.TryAgainLater, `romanad at ${url} is unreachable`, err.message, {
    cause: err,
  });
}

function readText(path: string, key: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new CniError(CniCode.IoFailure, `${key}: cannot read ${path}`, String(err));
  }
}

function readToken(path: string, warn: ((msg: string) => void) | undefined): string {
  const token = readText(path, 'token_file').trim();
  const warning = tokenFileWarning(path, 'token_file');
  if (warning !== undefined) warn?.(warning);
  return token;
}

/** The `details` of a romanad error body, or '' for anything else. */
function detailsOf(body: unknown): string {
  const d = (body as { details?: unknown } | null)?.details;
  return typeof d === 'string' ? d : '';
}
