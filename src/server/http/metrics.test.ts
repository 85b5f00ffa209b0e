import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { HttpMetrics } from './metrics.ts';

/** The exposition's sample lines (no HELP/TYPE), keyed by everything before the value. */
async function samples(registry: Registry): Promise<Map<string, number>> {
  const text = await registry.metrics();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const cut = line.lastIndexOf(' ');
    out.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return out;
}

describe('HTTP metrics', () => {
  it('count requests by route, method and status, and bucket durations as Prometheus does', async () => {
    const registry = new Registry();
    const m = new HttpMetrics(registry);
    m.record('/address', 'POST', 200, 0.0005); // on a bound: counted in it (le is ≤)
    m.record('/address', 'POST', 200, 0.004);
    m.record('/address', 'POST', 409, 7); // above every bound
    m.record('unmatched', 'GET', 404, 0.0001);
    const s = await samples(registry);
    const req = (route: string, method: string, status: number) =>
      s.get(`romanad_http_requests_total{route="${route}",method="${method}",status="${status}"}`);
    assert.equal(req('/address', 'POST', 200), 2);
    assert.equal(req('/address', 'POST', 409), 1);
    assert.equal(req('unmatched', 'GET', 404), 1);
    assert.equal(req('unmatched', 'GET', 200), undefined);
    const bucket = (le: string) =>
      s.get(
        `romanad_http_request_duration_seconds_bucket{le="${le}",route="/address",method="POST"}`,
      );
    assert.equal(bucket('0.0005'), 1);
    assert.equal(bucket('0.0025'), 1);
    assert.equal(bucket('0.005'), 2);
    assert.equal(bucket('5'), 2);
    assert.equal(bucket('+Inf'), 3);
    const labels = '{route="/address",method="POST"}';
    assert.ok(
      Math.abs(s.get(`romanad_http_request_duration_seconds_sum${labels}`)! - 7.0045) < 1e-9,
    );
    assert.equal(s.get(`romanad_http_request_duration_seconds_count${labels}`), 3);
    const json = await registry.getMetricsAsJSON();
    assert.deepEqual(
      json.map((x) => [x.name, x.type]),
      [
        ['romanad_http_requests_total', 'counter'],
        ['romanad_http_request_duration_seconds', 'histogram'],
      ],
    );
  });

  it('start again from zero on a registry reset', async () => {
    const registry = new Registry();
    const m = new HttpMetrics(registry);
    m.record('/blocks', 'GET', 200, 0.001);
    registry.resetMetrics();
    assert.equal((await samples(registry)).size, 0);
    m.record('/blocks', 'GET', 200, 0.001);
    const s = await samples(registry);
    assert.equal(
      s.get('romanad_http_requests_total{route="/blocks",method="GET",status="200"}'),
      1,
    );
  });
});
