import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { Counter, Registry } from 'prom-client';
import { serveProbes } from './probe-server.ts';

describe('the probe server', () => {
  it('answers /metrics, /healthz and /readyz from the state it is given, and 404 otherwise', async () => {
    const registry = new Registry();
    new Counter({ name: 'probe_test_total', help: 'h', registers: [registry] }).inc(3);
    let healthy = true;
    let ready: string | undefined = 'informers not synced';
    const server = await serveProbes({
      registry,
      port: 0,
      host: '127.0.0.1',
      healthy: () => healthy,
      unhealthy: 'stuck',
      notReady: () => ready,
    });
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const get = async (p: string) => {
      const r = await fetch(base + p);
      return { status: r.status, text: await r.text() };
    };
    try {
      assert.match((await get('/metrics')).text, /^probe_test_total 3$/m);
      assert.deepEqual(await get('/healthz?verbose'), { status: 200, text: '{"status":"ok"}' });
      assert.deepEqual(await get('/readyz'), {
        status: 503,
        text: '{"status":"not ready","reason":"informers not synced"}',
      });
      healthy = false;
      ready = undefined;
      assert.deepEqual(await get('/healthz'), { status: 503, text: '{"status":"stuck"}' });
      assert.deepEqual(await get('/readyz'), { status: 200, text: '{"status":"ready"}' });
      assert.equal((await get('/other')).status, 404);
    } finally {
      server.close();
    }
  });

  it('has no /readyz when the program has no readiness', async () => {
    const server = await serveProbes({
      registry: new Registry(),
      port: 0,
      host: '127.0.0.1',
      healthy: () => true,
      unhealthy: 'x',
    });
    try {
      const port = (server.address() as AddressInfo).port;
      assert.equal((await fetch(`http://127.0.0.1:${port}/readyz`)).status, 404);
    } finally {
      server.close();
    }
  });
});
