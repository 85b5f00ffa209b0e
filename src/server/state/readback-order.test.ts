/**
 * A replica whose allocation lost its commit to another replica's reads back the block it had
 * claimed, which the store never held. It must not publish, for that block, an event older than
 * those it already published (it published a `blocks put` at revision 0 after revision 6: a
 * watch client resuming after it, or the event log trimming at it, would go back in time).
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { laggingView } from '../../../test/helpers/lagging-store.ts';
import { serviceWithHosts } from '../../../test/helpers/service.ts';
import { MemoryStore } from '../../store/memory.ts';
import { createRomanaService } from './romana-service.ts';
import { WATCH_KINDS, type WatchEvent } from './service.ts';

it('publishes no event older than the last after a lost allocation, and the block is free again', async () => {
  const mem = new MemoryStore();
  const a = await serviceWithHosts(mem);
  const view = laggingView(mem);
  const b = await createRomanaService({ store: view.store });
  const seen: WatchEvent[] = [];
  b.watch(
    WATCH_KINDS,
    undefined,
    (e) => seen.push(e),
    () => undefined,
  );
  view.lagging = true; // b has not seen a's allocation of the name
  await a.allocate({ name: 'x', host: 'h2' });
  await assert.rejects(b.allocate({ name: 'x', host: 'h1' }), /already allocated/);
  const revs = seen.map((e) => e.revision);
  for (let i = 1; i < revs.length; i++) assert.ok(revs[i]! >= revs[i - 1]!, `revisions ${revs}`);
  // The claim was undone: b's engine holds no address in h1's block, and allocates there again.
  assert.deepEqual(
    b.listAddresses().map((x) => x.name),
    ['x'],
  );
  const again = await b.allocate({ name: 'y', host: 'h1' });
  assert.equal(again.host, 'h1');
  await a.close();
  await b.close();
});
