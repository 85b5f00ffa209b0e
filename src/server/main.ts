/**
 * `romanad`: reads its settings, opens the store, loads the state, serves the API, and shuts
 * down cleanly on SIGTERM/SIGINT (in-flight requests finish; the store is closed last); SIGHUP
 * re-reads the token file and the TLS certificate (./credentials.ts).
 */
import { readFileSync } from 'node:fs';
import type { Server as TlsServer } from 'node:tls';
import type { Logger } from 'pino';
import { isRomanaError, RomanaError } from '../errors.ts';
import { parseTopology } from '../ipam/topology.ts';
import type { Store } from '../store/store.ts';
import { assertSafeListen, TokenAuth } from './http/auth.ts';
import {
  appOptionsFromConfig,
  ConfigError,
  HelpRequested,
  parseConfig,
  type RomanadConfig,
} from './config.ts';
import { reloadCredentials } from './http/credentials.ts';
import { VERSION } from '../version.ts';

/** Exit statuses: 0 clean stop, 1 runtime failure, 2 bad settings or a store it cannot open. */
export async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'store') {
    const print = (stream: NodeJS.WriteStream) => (line: string) => stream.write(`${line}\n`);
    const { storeCommand } = await import('../store/store-command.ts');
    return storeCommand(argv.slice(1), print(process.stdout), print(process.stderr));
  }
  if (argv.includes('--version')) {
    process.stdout.write(`romanad ${VERSION}\n`);
    return 0;
  }
  let cfg: RomanadConfig;
  try {
    cfg = parseConfig(argv, process.env);
  } catch (err) {
    if (err instanceof HelpRequested) {
      const text = err.text.endsWith('\n') ? err.text : `${err.text}\n`;
      process.stdout.write(`${text}\nromanad ${VERSION} (--version prints the version)\n`);
      return 0;
    }
    return usageError(err);
  }
  // Loaded only to serve: --version and --help need none of them.
  const [{ pino }, { buildApp, logDestination }, { createRomanaService }] = await Promise.all([
    import('pino'),
    import('./http/app.ts'),
    import('./state/romana-service.ts'),
  ]);
  const dest = logDestination();
  const base = { program: 'romanad' };
  const log = pino({ level: cfg.logLevel, base }, dest);
  const requestLine = { base, write: (line: string) => dest.write(line) };
  let appOptions;
  let initialTopology: unknown;
  try {
    appOptions = appOptionsFromConfig(cfg);
    assertSafeListen(cfg.host, (appOptions.tokens ?? []).length > 0);
    initialTopology = readTopologyFile(cfg.initialTopologyFile);
  } catch (err) {
    return usageError(err);
  }
  let store: Store;
  try {
    store = await openStore(cfg, log);
  } catch (err) {
    log.fatal({ err: String(err) }, 'cannot open the store');
    process.stderr.write(`romanad: ${(err as Error).message}\n`);
    return 2;
  }
  let service;
  try {
    service = await createRomanaService({
      store,
      initialTopology,
      log: (level, msg, extra) => log[level](extra ?? {}, msg),
    });
  } catch (err) {
    await store.close();
    if (!isRomanaError(err, 'InvalidInput') || cfg.initialTopologyFile === undefined) throw err;
    return usageError(
      new ConfigError(`--initial-topology-file: '${cfg.initialTopologyFile}': ${oneLine(err)}`),
    );
  }
  const auth = new TokenAuth(appOptions.tokens ?? []);
  const app = buildApp(service, { ...appOptions, auth, loggerInstance: log, requestLine });
  const scheme = appOptions.https ? 'https' : 'http';
  try {
    await app.listen({ host: cfg.host, port: cfg.port });
  } catch (err) {
    process.stderr.write(
      `romanad: cannot listen on ${cfg.host}:${cfg.port}: ${(err as Error).message}\n`,
    );
    await service.close();
    await store.close();
    return 1;
  }
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : cfg.port;
  const where = `${scheme}://${cfg.host.includes(':') ? `[${cfg.host}]` : cfg.host}:${port}`;
  log.info({ url: where, store: describeStore(cfg), sources: cfg.sources }, 'romanad listening');
  process.stdout.write(`romanad listening on ${where} (store: ${describeStore(cfg)})\n`);

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'romanad stopping');
      void (async () => {
        await app.close();
        await service.close();
        await store.close();
        resolve(0);
      })();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => {
      const server =
        appOptions.https === undefined ? undefined : (app.server as unknown as TlsServer);
      const outcome = reloadCredentials({ files: cfg, auth, ...(server ? { server } : {}) });
      const kept = outcome.tokens?.result === 'kept' || outcome.tls?.result === 'kept';
      log[kept ? 'error' : 'info'](outcome, 'SIGHUP: credentials re-read');
    });
  });
}

function usageError(err: unknown): number {
  const msg = err instanceof Error ? err.message : String(err);
  process.stderr.write(`romanad: ${msg}\nTry 'romanad --help'.\n`);
  return err instanceof ConfigError || err instanceof RomanaError ? 2 : 1;
}

function readTopologyFile(path: string | undefined): unknown {
  if (path === undefined || path === '') return undefined;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(
      `--initial-topology-file: cannot read '${path}': ${(err as Error).message}`,
    );
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(
      `--initial-topology-file: '${path}' is not JSON: ${(err as Error).message}`,
    );
  }
  const parsed = parseTopology(doc);
  if (!parsed.ok) {
    throw new ConfigError(
      `--initial-topology-file: '${path}' is not a valid topology: ${parsed.problems.join('; ')}`,
    );
  }
  return doc;
}

function oneLine(err: Error): string {
  return err.message
    .split('\n')
    .filter((l) => l.trim() !== '')
    .join('; ');
}

async function openStore(cfg: RomanadConfig, log: Logger): Promise<Store> {
  const { endpoints, prefix, ca, cert, key } = cfg.etcd;
  const tls = ca || cert || key ? { ca, cert, key } : undefined;
  const spec =
    cfg.store.kind === 'embedded'
      ? `embedded:${cfg.store.dir}`
      : cfg.store.kind === 'memory'
        ? 'memory:'
        : 'etcd';
  const { openStore: openStoreSpec } = await import('../store/open.ts');
  return openStoreSpec(spec, {
    embedded: { onWarning: (m) => log.warn(m) },
    etcd: { endpoints, prefix, ...(tls ? { tls } : {}) },
  });
}

function describeStore(cfg: RomanadConfig): string {
  switch (cfg.store.kind) {
    case 'memory':
      return 'memory';
    case 'embedded':
      return `embedded:${cfg.store.dir}`;
    case 'etcd':
      return `etcd ${cfg.etcd.endpoints.join(',')} prefix ${cfg.etcd.prefix}`;
  }
}
