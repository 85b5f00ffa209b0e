/**
 * The listener's readiness: `/readyz` answers 503 naming what it waits for until every
 * informer has listed and romanad's state is loaded; `/healthz` answers while it waits.
 * In-process, against the test Kubernetes API server and a romanad that does not answer.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { startKubeApiServer, type KubeApiServer } from '../../test/helpers/kube-apiserver/index.ts';
import { RomanadClient } from '../client/index.ts';
import { loadKubeConfig } from './informer.ts';
import { Listener } from './listener.ts';
import { ListenerMetrics, serveProbes } from './metrics.ts';
import { DEFAULT_NODE_HOST_OPTIONS } from './node-host.ts';

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('listener readiness', () => {
  let api: KubeApiServer;
  let listener: Listener;
  let probes: Awaited<ReturnType<typeof serveProbes>>;
  let started: Promise<void>;
  const metrics = new ListenerMetrics();
  // Nothing listens on port 1: romanad's state never loads.
  const romanadUrl = 'http://127.0.0.1:1';

  before(async () => {
    api = await startKubeApiServer({ bookmarkMs: 100 });
    listener = new Listener({
      kc: loadKubeConfig(api.kubeconfigPath),
      client: new RomanadClient({ baseUrl: romanadUrl, timeoutMs: 500 }),
      romanadUrl,
      transport: {},
      log: pino({ level: 'silent' }),
      metrics,
      nodeHost: DEFAULT_NODE_HOST_OPTIONS,
      gcGraceMs: 60_000,
      nodeGraceMs: 60_000,
      resyncMs: 60_000,
      networkPolicies: true,
    });
    probes = await serveProbes(metrics, '127.0.0.1', 0, () => listener.notReady());
  });
  after(async () => {
    await listener.stop();
    await started;
    probes.server.close();
    probes.server.closeAllConnections();
    await api.close();
  });

  it('is not ready before its informers have listed, and names every one', async () => {
    const why = listener.notReady();
    assert.equal(
      why,
      'informers not synced yet: nodes, namespaces, pods, services, endpointslices, networkpolicies',
    );
    const r = await fetch(`${probes.url}/readyz`);
    assert.equal(r.status, 503);
    assert.match(await r.text(), /informers not synced yet: nodes/);
    assert.equal((await fetch(`${probes.url}/healthz`)).status, 200);
  });

  it('once listed, waits for romanad, and still answers 503', async () => {
    started = listener.start();
    await until('informers synced', () => listener.informers.every((i) => i.synced));
    assert.equal(listener.notReady(), "romanad's state not loaded yet");
    const r = await fetch(`${probes.url}/readyz`);
    assert.equal(r.status, 503);
    assert.match(await r.text(), /romanad's state not loaded yet/);
    const text = await (await fetch(`${probes.url}/metrics`)).text();
    assert.match(text, /romana_listener_informer_synced\{resource="pods"\} 1/);
    assert.match(text, /romana_listener_errors_total\{where="romanad"\} [1-9]/);
  });
});
