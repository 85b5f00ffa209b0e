/**
 * What the Kubernetes listener and the policy agent rely on, against a real romanad process
 * over the embedded store, through src/client with node and read-only tokens: a host with
 * `managed_by`, an address allocated with its pod, its labels and ports set, a namespace; watch
 * streams of `addresses` and `namespaces`; everything still there after romanad restarts; the
 * release takes the pod link with it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RomanadApiError, RomanadClient, type PodLink } from '../../src/client/index.ts';
import { watchRomanad, type WatchEvent } from '../../src/client/watch.ts';
import { startRomanad, type Romanad } from '../helpers/romanad.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const NODE = 'node-token-k8sstate-0123456789';
const READER = 'reader-token-k8sstate-0123456789';

async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('pods, namespaces and managed hosts over a real romanad', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'romana-k8sstate-e2e-'));
  const tokens = path.join(dir, 'tokens.yaml');
  let d: Romanad;

  const start = () =>
    startRomanad([
      '--store',
      `embedded:${path.join(dir, 'store')}`,
      '--initial-topology-file',
      path.join(ROOT, 'examples/topology.json'),
      '--token-file',
      tokens,
    ]);
  const client = (token = NODE) => new RomanadClient({ baseUrl: d.url, token });

  before(async () => {
    writeFileSync(
      tokens,
      `- {token: ${NODE}, role: node}\n- {token: ${READER}, role: read-only}\n`,
      {
        mode: 0o600,
      },
    );
    d = await start();
  });
  after(async () => {
    await d?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const NAME = 'web-0.shop.0123abcd';
  const LINK: PodLink = {
    namespace: 'shop',
    name: 'web-0',
    uid: '6f1d7c1e-3b7a-4c1e-9f5e-2a1b3c4d5e6f',
    labels: { app: 'web', 'app.kubernetes.io/part-of': 'shop' },
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  };

  it('links, labels and follows, and keeps it all across a restart', async () => {
    const c = client();
    await c.addHost({ name: 'node-1', ip: '192.168.0.11', managed_by: 'romana-listener' });
    assert.equal((await c.getHost('node-1')).managed_by, 'romana-listener');

    const events: WatchEvent[] = [];
    let connected = false;
    const w = watchRomanad({
      baseUrl: d.url,
      token: READER,
      kinds: ['addresses', 'namespaces'],
      onEvent: (e) => events.push(e),
      onConnect: () => (connected = true),
    });
    try {
      await until(() => connected, 'the watch');
      const ref = { namespace: LINK.namespace, name: LINK.name, uid: LINK.uid! };
      const ip = await c.allocate({ name: NAME, host: 'node-1', tenant: 'shop', pod: ref });
      const set = await c.setAddressPod(NAME, LINK);
      assert.deepEqual(set.pod, LINK);
      assert.equal(set.ip, ip);
      assert.deepEqual(await c.putNamespace('shop', { team: 'a' }), {
        name: 'shop',
        labels: { team: 'a' },
      });
      await until(() => events.length >= 3, 'three events');
      assert.deepEqual(
        events.map((e) => [e.kind, e.type, e.id]),
        [
          ['addresses', 'put', NAME],
          ['addresses', 'put', NAME],
          ['namespaces', 'put', 'shop'],
        ],
      );
      assert.deepEqual((events[0]!.value as { pod: unknown }).pod, {
        ...ref,
        labels: {},
        ports: [],
      });
      assert.deepEqual((events[1]!.value as { pod: unknown }).pod, LINK);
    } finally {
      w.close();
    }

    // A read-only token may read them, not write them.
    const reader = client(READER);
    assert.deepEqual((await reader.getAddress(NAME)).pod, LINK);
    await assert.rejects(reader.setAddressPod(NAME, LINK), (e: unknown) => {
      assert.ok(e instanceof RomanadApiError);
      assert.equal(e.status, 403);
      return true;
    });
    await assert.rejects(reader.putNamespace('x', {}), RomanadApiError);

    await d.stop();
    d = await start();
    const after = client();
    assert.deepEqual((await after.getAddress(NAME)).pod, LINK);
    assert.deepEqual(
      (await after.listAddresses()).map((a) => a.pod),
      [LINK],
    );
    assert.deepEqual(await after.listNamespaces(), [{ name: 'shop', labels: { team: 'a' } }]);
    assert.deepEqual(await after.getNamespace('shop'), { name: 'shop', labels: { team: 'a' } });
    assert.equal((await after.getHost('node-1')).managed_by, 'romana-listener');
    assert.equal((await after.listHosts()).hosts[0]!.managed_by, 'romana-listener');
  });

  it('a new watch starts with the state; a release and a namespace deletion follow', async () => {
    const c = client();
    const events: WatchEvent[] = [];
    const w = watchRomanad({
      baseUrl: d.url,
      token: READER,
      kinds: ['addresses', 'namespaces'],
      onEvent: (e) => events.push(e),
    });
    try {
      await until(() => events.length >= 2, 'the snapshot');
      assert.deepEqual(
        (events.find((e) => e.kind === 'addresses')!.value as { pod: unknown }).pod,
        LINK,
      );
      assert.deepEqual(events.find((e) => e.kind === 'namespaces')!.value, {
        name: 'shop',
        labels: { team: 'a' },
      });
      assert.equal((await c.clearAddressPod(NAME)).pod, undefined);
      await c.releaseAddress(NAME);
      assert.equal(await c.deleteNamespace('shop'), null);
      await until(() => events.length >= 5, 'the changes');
      assert.deepEqual(
        events.slice(2).map((e) => [e.kind, e.type, e.id]),
        [
          ['addresses', 'put', NAME],
          ['addresses', 'delete', NAME],
          ['namespaces', 'delete', 'shop'],
        ],
      );
      await assert.rejects(
        c.getAddress(NAME),
        (e: unknown) => e instanceof RomanadApiError && e.status === 404,
      );
      // The name allocated again has no pod of before.
      await c.allocate({ name: NAME, host: 'node-1' });
      assert.equal((await c.getAddress(NAME)).pod, undefined);
    } finally {
      w.close();
    }
  });
});
