/**
 * A replica's own commits, seen again through the store's watch: the embedded store wakes its
 * watches before the transaction's promise resolves, so the watch can deliver a commit while
 * it is still in flight. Such an event is this replica's own and must be neither applied to the
 * engine again nor published twice to watch streams.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Ipam } from '../../ipam/index.ts';
import { openStore } from '../../store/open.ts';
import { createRomanaService } from './romana-service.ts';
import type { WatchEvent } from './service.ts';

const TOPOLOGY = {
  networks: [{ name: 'pods', cidr: '10.0.0.0/16', block_mask: 28 }],
  topologies: [
    {
      networks: ['pods'],
      map: [
        { name: 'r1', groups: [{ name: 'h1', ip: '192.168.0.1' }] },
        { name: 'r2', groups: [{ name: 'h2', ip: '192.168.0.2' }] },
      ],
    },
  ],
};

describe('own commits coming back through the store watch', () => {
  it('are applied to the engine once and published once', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'romana-own-'));
    const store = await openStore(`embedded:${dir}`, {});
    const svc = await createRomanaService({ store, initialTopology: TOPOLOGY, log: () => {} });
    let applied = 0;
    const original = Ipam.prototype.applyBlock;
    Ipam.prototype.applyBlock = function (...args: Parameters<typeof original>) {
      applied++;
      return original.apply(this, args);
    };
    const events: WatchEvent[] = [];
    const handle = svc.watch(['blocks'], svc.revision() + 1, (e) => events.push(e), assert.fail);
    try {
      const ips = await Promise.all(
        Array.from({ length: 120 }, (_, i) =>
          svc.allocate({ name: `p${i}`, host: i % 2 ? 'h1' : 'h2', tenant: 't', segment: 's' }),
        ),
      );
      assert.equal(new Set(ips.map((a) => a.ip)).size, 120);
      // Let the watch deliver everything that was committed.
      const last = svc.revision();
      for (let i = 0; i < 200 && !events.some((e) => e.revision >= last); i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.ok(events.length > 0, 'the allocations published block events');
      assert.equal(applied, 0, 'own commits were applied to the engine again');
      const seen = new Set<string>();
      for (const e of events) {
        const id = `${e.revision} ${e.kind} ${e.id}`;
        assert.ok(!seen.has(id), `published twice: ${id}`);
        seen.add(id);
      }
    } finally {
      Ipam.prototype.applyBlock = original;
      handle.close();
      await svc.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
