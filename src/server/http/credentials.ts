/**
 * romanad's credentials on disk: the bearer-token file and the TLS certificate and key. Each is
 * checked when read (a token file open to group or others, a file that is not PEM, a key that
 * does not match its certificate are refused with the file named), and re-read on SIGHUP: new
 * requests and new connections use the new ones; a bad new file keeps the old ones and logs why.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext, type Server as TlsServer } from 'node:tls';
import { RomanaError } from '../../errors.ts';
import { loadTokenFile, type TokenAuth, type TokenEntry } from './auth.ts';

/** A certificate chain and its private key, PEM, checked to belong together. */
export interface TlsPair {
  cert: Buffer;
  key: Buffer;
}

/** Where romanad's credentials live (from its settings). */
export interface CredentialFiles {
  tokenFile?: string;
  allowReadableTokenFile?: boolean;
  tlsCert?: string;
  tlsKey?: string;
}

/** A credential file that cannot be used; the message names the flag, the file and why. */
export class CredentialError extends RomanaError {
  constructor(message: string) {
    super('InvalidInput', message);
    this.name = 'CredentialError';
  }
}

/**
 * Reads and checks the token file (see `loadTokenFile`), as a `CredentialError` on failure.
 *
 * @example readTokens({ tokenFile: '/etc/romana/tokens.yaml' })
 */
export function readTokens(files: CredentialFiles): TokenEntry[] | undefined {
  if (files.tokenFile === undefined) return undefined;
  try {
    return loadTokenFile(files.tokenFile, { allowReadable: files.allowReadableTokenFile === true });
  } catch (err) {
    const msg = (err as Error).message;
    throw new CredentialError(msg.startsWith('--token-file') ? msg : `--token-file: ${msg}`);
  }
}

/**
 * Reads the certificate and key and checks that both parse and that they belong together.
 *
 * @example readTls('/etc/romana/tls.pem', '/etc/romana/tls.key')
 */
export function readTls(certPath: string, keyPath: string): TlsPair {
  const cert = readFile(certPath, '--tls-cert');
  const key = readFile(keyPath, '--tls-key');
  try {
    new X509Certificate(cert);
  } catch (err) {
    throw new CredentialError(`--tls-cert: '${certPath}' is not a PEM certificate: ${reason(err)}`);
  }
  try {
    createPrivateKey(key);
  } catch (err) {
    throw new CredentialError(`--tls-key: '${keyPath}' is not a PEM private key: ${reason(err)}`);
  }
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw new CredentialError(
      `--tls-key: '${keyPath}' does not match the certificate '${certPath}': ${reason(err)}`,
    );
  }
  return { cert, key };
}

function readFile(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new CredentialError(`${flag}: cannot read '${path}': ${reason(err)}`);
  }
}

function reason(err: unknown): string {
  const e = err as { reason?: unknown; message?: unknown };
  if (typeof e.reason === 'string' && e.reason !== '') return e.reason;
  return String(e.message ?? err);
}

/** What a reload did, per credential: `reloaded`, `kept` (the new file was refused), or absent. */
export interface ReloadOutcome {
  tokens?: { result: 'reloaded'; count: number } | { result: 'kept'; error: string };
  tls?: { result: 'reloaded' } | { result: 'kept'; error: string };
}

/** Where reloaded credentials go. */
export interface ReloadTargets {
  files: CredentialFiles;
  /** The token checker the app uses; absent when romanad runs without tokens. */
  auth?: TokenAuth;
  /** The HTTPS server; absent without TLS. */
  server?: Pick<TlsServer, 'setSecureContext'>;
}

/**
 * Re-reads every configured credential file; a file that fails its checks leaves the old
 * credential in place and says why. Never throws.
 *
 * @example process.on('SIGHUP', () => log.info(reloadCredentials({ files, auth, server }), 'reloaded'));
 */
export function reloadCredentials(t: ReloadTargets): ReloadOutcome {
  const out: ReloadOutcome = {};
  if (t.auth !== undefined && t.files.tokenFile !== undefined) {
    try {
      const entries = readTokens(t.files)!;
      t.auth.replace(entries);
      out.tokens = { result: 'reloaded', count: entries.length };
    } catch (err) {
      out.tokens = { result: 'kept', error: (err as Error).message };
    }
  }
  if (t.server !== undefined && t.files.tlsCert !== undefined && t.files.tlsKey !== undefined) {
    try {
      t.server.setSecureContext(readTls(t.files.tlsCert, t.files.tlsKey));
      out.tls = { result: 'reloaded' };
    } catch (err) {
      out.tls = { result: 'kept', error: (err as Error).message };
    }
  }
  return out;
}
