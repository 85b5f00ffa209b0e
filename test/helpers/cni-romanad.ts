/**
 * The romanad that CNI command tests talk to: the real service over a memory store, served over
 * HTTP in-process, with one network (`pods`, /28 blocks) and the given hosts, plus the chains
 * romana-agent makes, which the plugin's divert rules jump to (in the test's own namespace).
 */
import { execFileSync } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { Romanad } from '../../src/cni/romanad.ts';
import { buildApp } from '../../src/server/http/app.ts';
import { realService, type FaultyService } from './service.ts';

export interface CniRomanad {
  service: FaultyService;
  /** Base URL, e.g. for a plugin configuration's `romanad_url` or a second client. */
  url: string;
  /** The plugin's own client of it. */
  api: Romanad;
  close(): Promise<void>;
}

export async function startCniRomanad(
  cidr: string,
  hosts: Array<{ name: string; ip: string }>,
): Promise<CniRomanad> {
  const service = await realService({
    initialTopology: {
      networks: [{ name: 'pods', cidr, block_mask: 28 }],
      topologies: [{ networks: ['pods'], map: [{ name: 'rack' }] }],
    },
  });
  for (const h of hosts) await service.addHost(h);
  const app = buildApp(service);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  for (const c of ['ROMANA-INPUT', 'ROMANA-OUTPUT', 'ROMANA-FORWARD-IN', 'ROMANA-FORWARD-OUT']) {
    execFileSync('iptables', ['-w', '-N', c]);
  }
  return {
    service,
    url,
    api: new Romanad({ url }),
    async close() {
      await app.close();
      await service.close();
    },
  };
}
