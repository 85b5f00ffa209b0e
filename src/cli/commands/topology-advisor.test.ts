/**
 * `romana topology routes|simulate|apply --dry-run` in-process: the 1,024-host example's figures
 * (derived by hand below), flag errors (exit 2), and the dry run against a real romanad app on
 * a loopback port, which changes nothing.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { AddressInfo } from 'node:net';
import type { SimulationReport, TopologyPreview } from '../../advisor/index.ts';
import { buildApp } from '../../server/http/app.ts';
import { seededService, TOPOLOGY } from '../../../test/helpers/service.ts';
import type { Io } from '../io.ts';
import { main } from '../main.ts';

const HOME = mkdtempSync(path.join(tmpdir(), 'romana-advisor-'));
after(() => rmSync(HOME, { recursive: true, force: true }));
const EXAMPLE = path.resolve(import.meta.dirname, '../../../examples/topology-1024.json');

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: Io = {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    readStdin: async () => undefined,
    env: {},
    home: HOME,
  };
  return { code: await main(argv, io), out, err };
}

describe('romana topology routes and simulate (no romanad)', () => {
  it('routes: the 1,024-host example at 30 pods per host', async () => {
    const r = await run([
      '-r',
      'http://127.0.0.1:1',
      '-o',
      'json',
      'topology',
      'routes',
      EXAMPLE,
      '--pods',
      '30',
    ]);
    assert.equal(r.code, 0, r.err);
    const rep = JSON.parse(r.out) as SimulationReport;
    assert.equal(rep.hosts, 1024);
    const b = rep.block_sizes[0]!;
    assert.equal(b.block_mask, 28);
    const t = b.routes!;
    // 8 zones x 16 racks x 8 hosts; 30 pods need 2 blocks of /28 per host.
    // Host: 7 rack peers x 2 blocks = 14. ToR: 8 x 2 = 16. Spine: one /19 per rack = 16 (per
    // block: 16 x 16 = 256). Core: one /15 per zone = 8 (per block: 2,048; per host: 1,024).
    assert.deepEqual(
      [t.host.romana.max, t.tor.romana.max, t.spine.romana.max, t.core?.romana.max],
      [14, 16, 16, 8],
    );
    assert.deepEqual(
      [t.host.per_block.max, t.tor.per_block.max, t.spine.per_block.max, t.core?.per_block.max],
      [14, 16, 256, 2048],
    );
    assert.deepEqual(
      [t.host.per_host.max, t.tor.per_host.max, t.spine.per_host.max, t.core?.per_host.max],
      [7, 8, 128, 1024],
    );
    // 2,048 blocks of 16 = 32,768 addresses for 30,720 pods: 2,048 wasted.
    assert.equal(b.addresses!.wasted, 2048);
  });

  it('simulate prints a table per block size for people', async () => {
    const r = await run([
      'topology',
      'simulate',
      '--shape',
      '1x2x2',
      '--cidr',
      '10.0.0.0/24',
      '--pods',
      '5',
      '--block-masks',
      '27,28',
    ]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^4 hosts, 20 pods, 1 segment\(s\), seed 1\n/);
    assert.match(r.out, /\/28 +spine +1 +2 +4 +4\n/);
    assert.match(r.out, /\/28 +16 +4 +44 +68\.8%/);
  });

  const usage: Array<[string[], RegExp]> = [
    [['topology', 'simulate', '--shape', '2x2'], /--shape: '2x2' is not ZONESxRACKSxHOSTS/],
    [['topology', 'simulate', '--shape', '1x1x1', '--pods', 'lots'], /--pods: 'lots' is not N/],
    [
      ['topology', 'simulate', '--shape', '1x1x1', '--churn', '3'],
      /--churn: '3' is not ROUNDS:FRACTION/,
    ],
    [['topology', 'routes', EXAMPLE, '--shape', '1x1x1'], /give a FILE or --shape, not both/],
  ];
  for (const [argv, re] of usage) {
    it(`exits 2 for: romana ${argv.join(' ')}`, async () => {
      const r = await run(argv);
      assert.equal(r.code, 2, r.err);
      assert.match(r.err, re);
    });
  }

  it('exits 1 with the field for input the advisor refuses', async () => {
    const r = await run(['topology', 'simulate', '--shape', '1x1x1', '--pods', '20000']);
    assert.equal(r.code, 1);
    assert.match(r.err, /^romana: pods: 20000 pods per host; at most 10000\n$/);
  });
});

describe('romana topology apply --dry-run', () => {
  it('shows the change and changes nothing', async () => {
    const service = await seededService();
    const app = buildApp(service);
    await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
      const file = path.join(HOME, 'three.json');
      const three = {
        ...TOPOLOGY,
        topologies: [
          { networks: ['net1'], map: [{ name: 'rack-1' }, { name: 'rack-2' }, { name: 'rack-3' }] },
        ],
      };
      writeFileSync(file, JSON.stringify(three));
      const revision = service.revision();
      const text = await run(['-r', url, 'topology', 'apply', '--dry-run', file]);
      assert.equal(text.code, 0, text.err);
      assert.match(text.out, /^Dry run: nothing was changed\./);
      assert.match(text.out, /net1 +rack-3 +\(new\) +10\.0\.128\.0\/18/);
      const js = await run(['-r', url, '-o', 'json', 'topology', 'apply', '--dry-run', file]);
      const p = JSON.parse(js.out) as TopologyPreview;
      assert.equal(p.groups.changed.length, 3);
      assert.equal(service.revision(), revision);
      const real = await run(['-r', url, 'topology', 'apply', file]);
      assert.equal(real.out, 'Topology updated.\n');
      assert.ok(service.revision() > revision);
    } finally {
      await app.close();
      await service.close();
    }
  });
});
