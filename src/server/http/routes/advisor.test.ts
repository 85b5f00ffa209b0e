/**
 * `POST /topology/simulate` and `POST /topology?dryRun=true`, in-process over the real service
 * on the memory store: figures worked by hand, closed schemas, limits, roles, and a dry run that
 * leaves the store revision and the topology exactly as they were.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { SimulationReport, TopologyPreview } from '../../../advisor/index.ts';
import { simulate } from '../../../advisor/index.ts';
import { buildApp } from '../app.ts';
import {
  assertError,
  call,
  type FaultyService,
  seededService,
  TOPOLOGY,
} from '../../../../test/helpers/service.ts';

let service: FaultyService;
let app: FastifyInstance;

const ADMIN = 'advisor-admin-token';
const READER = 'advisor-reader-token';
const auth = (t: string) => ({ authorization: `Bearer ${t}` });

beforeEach(async () => {
  // TOPOLOGY: net1 10.0.0.0/16 with /28 blocks; rack-1 10.0.0.0/17 holds h1.
  service = await seededService();
  await service.addHost({ name: 'h2', ip: '192.168.0.2' }); // rack-2 10.0.128.0/17
  app = buildApp(service, {
    tokens: [
      { token: ADMIN, role: 'admin' },
      { token: READER, role: 'read-only' },
    ],
  });
});

afterEach(async () => {
  await app.close();
  await service.close();
});

const SHAPE = {
  shape: { zones: 1, racks: 2, hosts: 2, cidr: '10.0.0.0/24' },
  pods: 5,
  block_masks: [28],
};

describe('POST /topology/simulate', () => {
  test('a shape gives the advisor report, for the read-only role', async () => {
    const a = await call(app, 'POST', '/topology/simulate', SHAPE, auth(READER));
    assert.equal(a.status, 200, a.text);
    const r = a.body as SimulationReport;
    assert.deepEqual(r, simulate(SHAPE));
    // 2 racks x 2 hosts, 5 pods each (src/advisor/simulate.test.ts works these out).
    assert.equal(r.block_sizes[0]!.routes!.spine.romana.max, 2);
    assert.equal(r.block_sizes[0]!.addresses!.wasted, 44);
  });

  test('without a topology it simulates the live one', async () => {
    const a = await call(app, 'POST', '/topology/simulate', { pods: 5 }, auth(READER));
    assert.equal(a.status, 200, a.text);
    const r = a.body as SimulationReport;
    assert.equal(r.hosts, 2);
    const b = r.block_sizes[0]!;
    assert.equal(b.block_mask, 28);
    // Each rack holds one host: the rack's /17 is its host's alone. A host has no peer behind
    // its ToR (0 routes); a ToR holds its host's /17 (1); the spine (the network) one /17 per
    // rack (2) where one route per block also needs 2 (one block each).
    const routes = b.routes!;
    assert.deepEqual(
      [routes.host.romana.max, routes.tor.romana.max, routes.spine.romana.max, routes.core],
      [0, 1, 2, null],
    );
    assert.equal(routes.spine.per_block.max, 2);
    // A /17 holds 2048 blocks of /28 for one host: 32,768 pods.
    assert.equal(b.capacity!.pods_per_host, 32768);
  });

  test('"pods": "live" simulates the pods each host runs now', async () => {
    for (let i = 0; i < 20; i++) {
      await call(app, 'POST', '/address', { name: `pod-${i}`, host: 'h1' }, auth(ADMIN));
    }
    const a = await call(
      app,
      'POST',
      '/topology/simulate',
      { pods: 'live', block_masks: [27, 28] },
      auth(READER),
    );
    assert.equal(a.status, 200, a.text);
    const r = a.body as SimulationReport;
    // h1 runs 20 pods, h2 none: one /27 (12 wasted) or two /28 (12 wasted).
    assert.equal(r.pods, 20);
    assert.deepEqual(
      r.block_sizes.map((b) => [b.addresses!.blocks, b.addresses!.wasted]),
      [
        [1, 12],
        [2, 12],
      ],
    );
  });

  test('the schema is closed and names the field', async () => {
    const a = await call(app, 'POST', '/topology/simulate', { ...SHAPE, podz: 1 }, auth(READER));
    assertError(a, 400, 'InvalidInput', /body\.podz: unknown field/);
    const b = await call(
      app,
      'POST',
      '/topology/simulate',
      { ...SHAPE, block_masks: [24, 25, 26, 27, 28, 29, 30, 31, 32] },
      auth(READER),
    );
    assertError(b, 400, 'InvalidInput', /body\.block_masks/);
    const c = await call(
      app,
      'POST',
      '/topology/simulate',
      { pods: 5, churn: { rounds: 1, fraction: 0 } },
      auth(READER),
    );
    assertError(c, 400, 'InvalidInput', /body\.churn\.fraction/);
  });

  test('too much work is 413 naming what to reduce', async () => {
    const a = await call(
      app,
      'POST',
      '/topology/simulate',
      { shape: { zones: 10, racks: 50, hosts: 20, cidr: '10.0.0.0/8' }, pods: 30 },
      auth(READER),
    );
    assertError(
      a,
      413,
      'InvalidInput',
      /^pods: 10000 hosts x 30 pods x 1 block sizes is 300000 placements; at most 250000/,
    );
  });

  test('a topology the engine refuses is reported per block size', async () => {
    const a = await call(
      app,
      'POST',
      '/topology/simulate',
      { topology: TOPOLOGY, pods: 1, block_masks: [16, 28] },
      auth(READER),
    );
    assert.equal(a.status, 200, a.text);
    const r = a.body as SimulationReport;
    assert.match(r.block_sizes[0]!.error ?? '', /block/);
    assert.equal(r.block_sizes[1]!.error, undefined);
  });
});

describe('POST /topology?dryRun=true', () => {
  /** Three racks instead of two: each rack shrinks from /17 to /18. */
  const THREE = {
    networks: TOPOLOGY.networks,
    topologies: [
      { networks: ['net1'], map: [{ name: 'rack-1' }, { name: 'rack-2' }, { name: 'rack-3' }] },
    ],
  };

  test('reports the groups re-carved and routes, and changes nothing', async () => {
    await call(app, 'POST', '/address', { name: 'pod-a', host: 'h1' }, auth(ADMIN));
    const revision = service.revision();
    const before = (await call(app, 'GET', '/topology', undefined, auth(READER))).text;
    const a = await call(app, 'POST', '/topology?dryRun=true', THREE, auth(ADMIN));
    assert.equal(a.status, 200, a.text);
    const p = a.body as TopologyPreview;
    assert.equal(p.dry_run, true);
    assert.deepEqual(p.groups.changed, [
      { network: 'net1', group: 'rack-1', before: '10.0.0.0/17', after: '10.0.0.0/18' },
      { network: 'net1', group: 'rack-2', before: '10.0.128.0/17', after: '10.0.64.0/18' },
      { network: 'net1', group: 'rack-3', before: null, after: '10.0.128.0/18' },
    ]);
    assert.deepEqual(
      p.hosts.moved.map((m) => [m.host, m.before, m.after]),
      [
        ['h1', 'rack-1 (10.0.0.0/17)', 'rack-1 (10.0.0.0/18)'],
        ['h2', 'rack-2 (10.0.128.0/17)', 'rack-2 (10.0.64.0/18)'],
      ],
    );
    assert.deepEqual(p.addresses, { total: 1, all_kept: true, moved: [] });
    assert.deepEqual(p.blocks, { before: 1, after: 1 });
    // Before and after, the spine holds one route per rack with a host; h1's block is inside
    // its rack's aggregate.
    assert.equal(p.routes.before.spine.romana.max, 2);
    assert.equal(p.routes.after.spine.romana.max, 2);
    // Nothing changed: the store revision and the topology are as they were.
    assert.equal(service.revision(), revision);
    assert.equal((await call(app, 'GET', '/topology', undefined, auth(READER))).text, before);
  });

  test('a host whose blocks another group now holds moves there, keeping its addresses', async () => {
    // h2's first address is 10.0.128.0: rack-2's new /18 (10.0.64.0/18) cannot hold it, rack-3's
    // (10.0.128.0/18) can, so the engine moves h2 to rack-3.
    await call(app, 'POST', '/address', { name: 'pod-b', host: 'h2' }, auth(ADMIN));
    const revision = service.revision();
    const a = await call(app, 'POST', '/topology?dryRun=true', THREE, auth(ADMIN));
    assert.equal(a.status, 200, a.text);
    const p = a.body as TopologyPreview;
    assert.deepEqual(
      p.hosts.moved.find((m) => m.host === 'h2'),
      {
        host: 'h2',
        network: 'net1',
        before: 'rack-2 (10.0.128.0/17)',
        after: 'rack-3 (10.0.128.0/18)',
      },
    );
    assert.deepEqual(p.addresses, { total: 1, all_kept: true, moved: [] });
    assert.equal(service.revision(), revision);
  });

  test('an update that cannot keep an address is refused as the real one is, writing nothing', async () => {
    await call(app, 'POST', '/address', { name: 'pod-b', host: 'h2' }, auth(ADMIN));
    const revision = service.revision();
    const moved = {
      ...TOPOLOGY,
      networks: [{ name: 'net1', cidr: '10.1.0.0/16', block_mask: 28 }],
    };
    const dry = await call(app, 'POST', '/topology?dryRun=true', moved, auth(ADMIN));
    assertError(dry, 422, 'InvalidInput', /10\.0\.128\.0/);
    assert.equal(service.revision(), revision);
    const real = await call(app, 'POST', '/topology', moved, auth(ADMIN));
    assert.equal(real.status, 422);
    assert.equal(
      (real.body as { details: string }).details,
      (dry.body as { details: string }).details,
    );
  });

  test('dryRun=false applies; the dry run needs the admin role; the query is closed', async () => {
    const ro = await call(app, 'POST', '/topology?dryRun=true', THREE, auth(READER));
    assertError(ro, 403, 'Forbidden');
    const bad = await call(app, 'POST', '/topology?dryrun=true', THREE, auth(ADMIN));
    assertError(bad, 400, 'InvalidInput', /dryrun/);
    const revision = service.revision();
    const real = await call(app, 'POST', '/topology?dryRun=false', THREE, auth(ADMIN));
    assert.equal(real.status, 200, real.text);
    assert.ok(service.revision() > revision);
  });
});
