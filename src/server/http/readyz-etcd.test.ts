/**
 * `/readyz` follows etcd's write quota, on a real etcd started with a 16 MiB backend quota:
 * once filler values fill it, etcd raises the NOSPACE alarm and refuses every put; a write to
 * romanad answers 503 and `/readyz` answers 503 with etcd's reason, while reads are served.
 * Freeing space is not enough (etcd refuses puts until the alarm is disarmed, and the store's
 * probe writes say so); after `etcdctl alarm disarm`, `/readyz` turns 200 by itself, with no
 * client write and no revision written by the probes, and writes succeed again.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { startEtcd, type EtcdHandle } from '../../../test/helpers/etcd.ts';
import { assertError, call, TOPOLOGY } from '../../../test/helpers/service.ts';
import { isRomanaError } from '../../errors.ts';
import { ProcessExec, runChecked } from '../../exec.ts';
import { EtcdStore } from '../../store/etcd.ts';
import { buildApp } from './app.ts';
import { createRomanaService } from '../state/romana-service.ts';
import type { RomanaService } from '../state/service.ts';

const QUOTA = 16 * 1024 * 1024;
const exec = new ProcessExec();

async function waitUntil(cond: () => Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Puts 1 MiB values under `/filler/` until etcd refuses one for lack of space. */
async function fill(endpoints: string[]): Promise<number> {
  const filler = new EtcdStore({ endpoints, prefix: '/filler' });
  const value = 'x'.repeat(1024 * 1024);
  try {
    for (let i = 0; i < 4 * (QUOTA >> 20); i++) {
      try {
        await filler.txn([], [{ type: 'put', key: `v${i}`, value }]);
      } catch (err) {
        if (isRomanaError(err, 'Unavailable') && /database space exceeded/.test(String(err)))
          return i;
        throw err;
      }
    }
    throw new Error(`etcd took ${4 * (QUOTA >> 20)} MiB with a quota of ${QUOTA} bytes`);
  } finally {
    await filler.close();
  }
}

describe('/readyz and writes while etcd refuses writes (NOSPACE)', () => {
  let etcd: EtcdHandle;
  let store: EtcdStore;
  let service: RomanaService;
  let app: FastifyInstance;
  const ctl = (...args: string[]) =>
    runChecked(exec, 'etcdctl', [`--endpoints=${etcd.endpoints.join(',')}`, ...args]);

  before(async () => {
    etcd = await startEtcd({ extraArgs: ['--quota-backend-bytes', String(QUOTA)] });
    store = new EtcdStore({ endpoints: etcd.endpoints, prefix: '/romana-readyz' });
    service = await createRomanaService({ store, initialTopology: TOPOLOGY });
    app = buildApp(service);
  });
  after(async () => {
    await app?.close();
    await service?.close();
    await store?.close();
    await etcd?.stop();
  });

  test('a full quota fails /readyz with the reason until the alarm is cleared', async () => {
    const h = await call(app, 'POST', '/hosts', { name: 'h1', ip: '192.168.0.1' });
    assert.equal(h.status, 200, h.text);
    const first = await call(app, 'POST', '/address', { name: 'pod-0', host: 'h1' });
    assert.equal(first.status, 200, first.text);
    assert.equal((await call(app, 'GET', '/readyz')).status, 200);

    assert.ok((await fill(etcd.endpoints)) > 0, 'etcd refused the very first filler value');
    assert.match(await ctl('alarm', 'list'), /alarm:NOSPACE/);
    assert.equal((await call(app, 'GET', '/readyz')).status, 200, 'no write of romanad failed yet');

    const refused = await call(app, 'POST', '/address', { name: 'pod-1', host: 'h1' });
    assertError(refused, 503, 'Unavailable', /refuses writes.*database space exceeded/);
    const reason = /store cannot take writes: etcd at .* refuses writes: .*database space exceeded/;
    assertError(await call(app, 'GET', '/readyz'), 503, 'Unavailable', reason);
    assert.equal((await call(app, 'GET', '/healthz')).status, 200);
    assert.equal((await call(app, 'GET', '/hosts/h1')).status, 200, 'reads are still served');
    // etcd allows deletes at its quota: one going through does not make the store writable.
    await store.txn([], [{ type: 'delete', key: 'no-such-key' }]);
    assert.match(store.health().problem ?? 'writable', /database space exceeded/);
    // The probes go on being refused: no client write needed to keep the state right.
    await waitUntil(async () => store.writeProbes >= 2, 'two probes ran');
    assertError(await call(app, 'GET', '/readyz'), 503, 'Unavailable', reason);

    // Free the space: etcd still refuses puts while its alarm is raised, and the probe sees it.
    await ctl('del', '--prefix', '/filler/');
    const revision = await store.revision();
    await ctl('compact', String(revision), '--physical');
    await ctl('defrag');
    const probes = store.writeProbes;
    await waitUntil(async () => store.writeProbes > probes, 'a probe after the defrag');
    assertError(await call(app, 'GET', '/readyz'), 503, 'Unavailable', reason);

    await ctl('alarm', 'disarm');
    assert.doesNotMatch(await ctl('alarm', 'list'), /NOSPACE/);
    await waitUntil(async () => (await call(app, 'GET', '/readyz')).status === 200, 'ready');
    assert.equal(await store.revision(), revision, 'the probes changed nothing in etcd');
    assert.equal(await ctl('get', '--prefix', '/romana-readyz/.write-probe'), '');
    const again = await call(app, 'POST', '/address', { name: 'pod-1', host: 'h1' });
    assert.equal(again.status, 200, again.text);
    assert.notEqual(again.text, first.text, 'one address handed out twice');
  });
});
