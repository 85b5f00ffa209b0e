/**
 * The VIP pool from the topology: a listener started without `--vip-cidr` takes `{"auto": true}`
 * VIPs from the topology's `vip_cidr`, and follows a change of it from romanad's watch stream
 * (the VIP moves into the new pool). A real romanad, the test Kubernetes API server and the
 * listener in-process.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { startKubeApiServer, type KubeApiServer } from '../../test/helpers/kube-apiserver/index.ts';
import { until } from '../../test/helpers/listener.ts';
import { startRomanad, type Romanad } from '../../test/helpers/romanad.ts';
import { RomanadApiError, RomanadClient } from '../client/index.ts';
import { loadKubeConfig } from './informer.ts';
import { Listener } from './listener.ts';
import { ListenerMetrics } from './metrics.ts';
import { DEFAULT_NODE_HOST_OPTIONS } from './node-host.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

describe("auto VIPs from the topology's vip_cidr", () => {
  let romanad: Romanad;
  let api: KubeApiServer;
  let listener: Listener;
  let client: RomanadClient;

  before(async () => {
    const doc = JSON.parse(readFileSync(path.join(ROOT, 'examples/topology.json'), 'utf8'));
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'topopts-vip-')), 'topology.json');
    writeFileSync(file, JSON.stringify({ ...doc, vip_cidr: '192.168.98.0/29' }));
    romanad = await startRomanad(['--store', 'memory:', '--initial-topology-file', file]);
    client = new RomanadClient({ baseUrl: romanad.url });
    api = await startKubeApiServer({ bookmarkMs: 200 });
    api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } });
    const labels = { 'topology.kubernetes.io/zone': 'a', 'romana.io/rack': 'a1' };
    api.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1', labels }, spec: {} });
    const n = api.get('v1', 'Node', 'n1')!;
    api.updateStatus({
      ...n,
      status: {
        addresses: [{ type: 'InternalIP', address: '192.168.0.11' }],
        conditions: [{ type: 'Ready', status: 'True' }],
      },
    });
    listener = new Listener({
      kc: loadKubeConfig(api.kubeconfigPath),
      client,
      romanadUrl: romanad.url,
      transport: {},
      log: pino({ level: 'silent' }),
      metrics: new ListenerMetrics(),
      nodeHost: DEFAULT_NODE_HOST_OPTIONS,
      gcGraceMs: 60_000,
      nodeGraceMs: 60_000,
      resyncMs: 60_000,
      networkPolicies: false,
    });
    await listener.start();
    await listener.lead();
  });

  after(async () => {
    await listener?.stop();
    await api?.close();
    await romanad?.stop();
  });

  const externalIp = () =>
    (api.get('v1', 'Service', 'web', 'shop')?.['spec'] as { externalIPs?: string[] } | undefined)
      ?.externalIPs?.[0];

  it('gives an auto VIP from the pool of the topology', async () => {
    assert.equal((await client.getTopology()).vip_cidr, '192.168.98.0/29');
    api.create({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name: 'web',
        namespace: 'shop',
        annotations: { 'romana.io/vip': '{"auto":true}' },
      },
      spec: { ports: [{ port: 80 }] },
    });
    api.create({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: {
        name: 'web-x1',
        namespace: 'shop',
        labels: { 'kubernetes.io/service-name': 'web' },
      },
      addressType: 'IPv4',
      endpoints: [{ addresses: ['10.112.9.1'], nodeName: 'n1', conditions: { ready: true } }],
    });
    const vip = await until('VIP web.shop', async () =>
      (await client.listVips()).find((v) => v.name === 'web.shop'),
    );
    assert.deepEqual([vip.ip, vip.host], ['192.168.98.1', 'n1']);
    await until('externalIPs', () => externalIp() === '192.168.98.1');
  });

  it('refuses a pool over a network or a host with 422, naming the field and value', async () => {
    const doc = await client.getTopology();
    for (const [pool, message] of <[string, string][]>[
      ['10.112.0.0/24', "vip_cidr: '10.112.0.0/24' overlaps network pods (10.112.0.0/12)"],
      // GET /topology lists n1 in its group: the map's check names it.
      ['192.168.0.8/29', "ip: '192.168.0.11' lies inside vip_cidr 192.168.0.8/29"],
      ['192.168.97.0', "vip_cidr: '192.168.97.0' is not a CIDR"],
    ]) {
      await assert.rejects(
        client.updateTopology({ ...doc, vip_cidr: pool }),
        (e: unknown) =>
          e instanceof RomanadApiError && e.status === 422 && e.message.includes(message),
      );
    }
    assert.equal((await client.getTopology()).vip_cidr, '192.168.98.0/29', 'nothing changed');
  });

  it('moves the auto VIP into a new pool when the topology changes it', async () => {
    const doc = await client.getTopology();
    await client.updateTopology({ ...doc, vip_cidr: '192.168.97.0/29' });
    await until('VIP in the new pool', async () =>
      (await client.getVip('web.shop')).ip === '192.168.97.1' ? true : undefined,
    );
    await until('externalIPs follow', () => externalIp() === '192.168.97.1');
    assert.equal(listener.vipSync.pool()?.toString(), '192.168.97.0/29');
  });
});
