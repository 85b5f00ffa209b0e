/**
 * `/readyz` follows the store: on the embedded store in a real small tmpfs, a full disk makes
 * writes answer 503 and `/readyz` answer 503 naming the store's problem; once space is back,
 * both recover without a restart, and every address acknowledged before is still there. A
 * replica whose commit failed with the store unreachable (outcome unknown) is not ready either
 * until it has re-read its state.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { assertError, call, TOPOLOGY } from '../../../test/helpers/service.ts';
import { mountTmpfs, type Tmpfs } from '../../../test/helpers/tmpfs.ts';
import { EmbeddedStore } from '../../store/embedded.ts';
import { MemoryStore } from '../../store/memory.ts';
import type { Store } from '../../store/store.ts';
import { buildApp } from './app.ts';
import { createRomanaService } from '../state/romana-service.ts';
import type { RomanaService } from '../state/service.ts';

async function waitUntil(cond: () => Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('/readyz and writes while the embedded store cannot write', () => {
  let t: Tmpfs;
  let store: EmbeddedStore;
  let service: RomanaService;
  let app: FastifyInstance;

  before(async () => {
    t = await mountTmpfs('storage-readyz', '2m');
    store = await EmbeddedStore.open(path.join(t.dir, 'data'));
    service = await createRomanaService({ store, initialTopology: TOPOLOGY });
    app = buildApp(service);
  });
  after(async () => {
    await app.close();
    await service.close();
    await store.close();
    await t.unmount();
  });

  test('a full disk fails /readyz and writes with 503 until space is back', async () => {
    const h = await call(app, 'POST', '/hosts', { name: 'h1', ip: '192.168.0.1' });
    assert.equal(h.status, 200, h.text);
    assert.equal((await call(app, 'GET', '/readyz')).status, 200);
    const acked: string[] = [];
    await t.fill();
    // The log's last page may still hold a few small records: allocate until one is refused.
    let refused: Awaited<ReturnType<typeof call>> | undefined;
    for (let i = 0; i < 200 && refused === undefined; i++) {
      const a = await call(app, 'POST', '/address', { name: `pod-${i}`, host: 'h1' });
      if (a.status === 200) acked.push(a.text);
      else refused = a;
    }
    assert.ok(refused !== undefined, 'no write was refused on a full disk');
    assertError(refused, 503, 'Unavailable', /ENOSPC/);
    assertError(
      await call(app, 'GET', '/readyz'),
      503,
      'Unavailable',
      /store cannot take writes.*ENOSPC/,
    );
    assert.equal((await call(app, 'GET', '/healthz')).status, 200);
    assert.equal((await call(app, 'GET', '/hosts/h1')).status, 200, 'reads are still served');

    await t.unfill();
    await waitUntil(
      async () => (await call(app, 'GET', '/readyz')).status === 200,
      '/readyz is 200',
    );
    const again = await call(app, 'POST', '/address', { name: 'pod-after', host: 'h1' });
    assert.equal(again.status, 200, again.text);
    assert.ok(!acked.includes(again.text), `address ${again.text} handed out twice`);
    const listed = (await call(app, 'GET', '/addresses')).body as Array<{ ip: string }>;
    for (const ip of acked) {
      assert.ok(
        listed.some((a) => JSON.stringify(a.ip) === ip),
        `address ${ip} kept`,
      );
    }
  });
});

describe('/readyz while a replica re-reads its state after a commit of unknown outcome', () => {
  test('fails with the reason while writes cannot succeed, and recovers by itself', async () => {
    const inner = new MemoryStore();
    let down = false;
    const fail = () => Promise.reject(new Error('connection reset'));
    // The memory store, unreachable while `down` (the watch stays up: it is not what fails).
    const store: Store = {
      exclusive: inner.exclusive,
      txn: (c, o) => (down ? fail() : inner.txn(c, o)),
      get: (k) => (down ? fail() : inner.get(k)),
      range: (p) => (down ? fail() : inner.range(p)),
      watch: (...args) => inner.watch(...args),
      revision: () => inner.revision(),
      close: () => inner.close(),
    };
    const service = await createRomanaService({ store, initialTopology: TOPOLOGY });
    const app = buildApp(service);
    try {
      await service.addHost({ name: 'h1', ip: '192.168.0.1' });
      assert.equal((await call(app, 'GET', '/readyz')).status, 200);
      down = true;
      assertError(
        await call(app, 'POST', '/address', { name: 'a', host: 'h1' }),
        503,
        'Unavailable',
      );
      // The commit failed and could not be read back: no write may build on it until a reload.
      assertError(
        await call(app, 'GET', '/readyz'),
        503,
        'Unavailable',
        /its store cannot take writes: romanad is re-reading its state after a datastore failure/,
      );
      assertError(
        await call(app, 'POST', '/address', { name: 'b', host: 'h1' }),
        503,
        'Unavailable',
      );
      down = false;
      await waitUntil(async () => (await call(app, 'GET', '/readyz')).status === 200, 'ready');
      assert.equal((await call(app, 'POST', '/address', { name: 'b', host: 'h1' })).status, 200);
    } finally {
      await app.close();
      await service.close();
    }
  });
});
