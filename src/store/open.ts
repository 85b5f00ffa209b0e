/**
 * Turns the `--store` value of romanad into a backend:
 *
 * | spec | backend |
 * |---|---|
 * | `embedded:<dir>`, `embedded:` or `embedded` | `EmbeddedStore` in `<dir>` (default `./romana-data`) |
 * | `memory:` or `memory` | `MemoryStore` (lost on exit) |
 * | `etcd` | `EtcdStore` with `options.etcd` (endpoints, prefix, tls) |
 * | `etcd:<host:port>[,<host:port>…]` | the same, endpoints taken from the spec |
 */
import { invalidInput } from '../errors.ts';
import { EmbeddedStore, type EmbeddedStoreOptions } from './embedded.ts';
import type { EtcdStoreOptions } from './etcd.ts';
import { MemoryStore, type MemoryStoreOptions } from './memory.ts';
import type { Store } from './store.ts';

/**
 * Default data directory of the embedded store (relative to the working directory).
 *
 * @example await openStore('embedded:') // opens ./romana-data
 */
export const DEFAULT_DATA_DIR = './romana-data';

/**
 * Per-backend options of `openStore`; only the chosen backend's are used.
 *
 * @example await openStore('etcd', { etcd: { endpoints: ['127.0.0.1:2379'], prefix: '/romana' } })
 */
export interface OpenStoreOptions {
  embedded?: EmbeddedStoreOptions;
  memory?: MemoryStoreOptions;
  etcd?: Partial<EtcdStoreOptions>;
}

/**
 * Opens the store a spec names; fails with `InvalidInput` naming the bad value.
 *
 * @example
 * const store = await openStore('embedded:/var/lib/romana');
 * const shared = await openStore('etcd', { etcd: { endpoints: ['10.0.0.5:2379'], prefix: '/romana' } });
 */
export async function openStore(spec: string, options: OpenStoreOptions = {}): Promise<Store> {
  const colon = spec.indexOf(':');
  const kind = colon < 0 ? spec : spec.slice(0, colon);
  const arg = colon < 0 ? '' : spec.slice(colon + 1);
  switch (kind) {
    case 'embedded':
      return EmbeddedStore.open(arg === '' ? DEFAULT_DATA_DIR : arg, options.embedded);
    case 'memory':
      if (arg !== '')
        throw invalidInput(
          `--store: '${spec}': the memory store takes no argument (use 'memory:')`,
        );
      return new MemoryStore(options.memory);
    case 'etcd': {
      const endpoints =
        arg !== '' ? arg.split(',').filter((e) => e !== '') : (options.etcd?.endpoints ?? []);
      if (endpoints.length === 0) {
        throw invalidInput(
          `--store: '${spec}' needs at least one etcd endpoint (e.g. etcd:127.0.0.1:2379)`,
        );
      }
      // Loaded on demand: the etcd client (gRPC) costs more to load than the rest of romanad.
      const { EtcdStore } = await import('./etcd.ts');
      return new EtcdStore({ ...options.etcd, endpoints });
    }
    default:
      throw invalidInput(
        `--store: unknown store '${spec}'; expected embedded:<dir>, memory: or etcd`,
      );
  }
}
