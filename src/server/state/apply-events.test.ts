/**
 * What a replica applies from the store's watch (another replica's writes) it publishes exactly
 * as the writer published it: the same events, in the same order, with the same values, and the
 * same state after. The writer's own events are the oracle. Over the memory store.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { serviceWithHosts } from '../../../test/helpers/service.ts';
import { MemoryStore } from '../../store/memory.ts';
import { createRomanaService } from './romana-service.ts';
import { WATCH_KINDS, type RomanaService, type WatchEvent } from './service.ts';

const POLICY = {
  id: 'p1',
  direction: 'ingress',
  applied_to: [{ tenant_id: 't' }],
  ingress: [{ peers: [{ peer: 'any' }], rules: [{ protocol: 'tcp', ports: [80] }] }],
};

/** The events `svc` publishes from now on, as comparable text. */
function record(svc: RomanaService): string[] {
  const seen: string[] = [];
  svc.watch(
    WATCH_KINDS,
    undefined,
    (e: WatchEvent) => seen.push(JSON.stringify([e.kind, e.type, e.id, e.value])),
    (err) => seen.push(`error: ${err.message}`),
  );
  return seen;
}

describe("a replica applying another's writes from the watch", () => {
  it('publishes the events the writer published, and ends in the same state', async () => {
    const store = new MemoryStore();
    const a = await serviceWithHosts(store);
    const b = await createRomanaService({ store });
    const byA = record(a);
    const byB = record(b);
    await a.putNamespace('ns1', { team: 'x' });
    await a.putPolicy(POLICY);
    await a.addHost({ name: 'h3', ip: '192.168.0.3', tags: { rack: 'r1' } });
    await a.patchHost('h3', { tags: { rack: 'r2' } });
    await a.allocate({ name: 'pod-1', host: 'h3', tenant: 't' });
    await a.addBlackout('10.0.200.0/24');
    await a.deletePolicy('p1');
    await a.deleteNamespace('ns1');
    await a.release('pod-1');
    await a.removeHost('h3', { force: false });
    const until = Date.now() + 5000;
    while (b.revision() < a.revision() && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal(b.revision(), a.revision());
    for (const kind of ['namespaces', 'policies', 'hosts', 'addresses', 'blocks']) {
      assert.ok(
        byA.some((e) => e.startsWith(`["${kind}"`)),
        `the writer published ${kind} events`,
      );
    }
    assert.deepEqual(byB, byA);
    assert.deepEqual(b.listPolicies(), a.listPolicies());
    assert.deepEqual(b.listNamespaces(), a.listNamespaces());
    assert.deepEqual(b.listHosts(), a.listHosts());
    assert.deepEqual(b.listBlackouts(), a.listBlackouts());
    assert.deepEqual(b.listBlocks(), a.listBlocks());
    await b.close();
    await a.close();
  });
});
