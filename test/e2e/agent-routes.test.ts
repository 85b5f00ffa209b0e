/**
 * The agent's route reconciliation on a real kernel, inside a throwaway network namespace:
 * a plan applied as one `ip -batch`, re-applied as a no-op, changed by one block, repaired
 * after a route is deleted by hand. Nothing outside the namespace is touched.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { Ipam } from '../../src/ipam/index.ts';
import {
  applyBatch,
  reachability,
  readTable,
  routeChanges,
} from '../../src/agent/kernel-routes.ts';
import { planRoutes } from '../../src/agent/route-plan.ts';
import { inNetns, ProcessExec, type Exec } from '../../src/exec.ts';
import { createNetns, removeNetns } from '../helpers/netns.ts';

const NS = `romana-rt-${process.pid}`;
const TABLE = 10;

function ip(...args: string[]): string {
  return execFileSync('ip', ['-n', NS, ...args], { encoding: 'utf8' });
}

describe('route reconciliation in a network namespace', () => {
  let run: Exec;
  const ipam = new Ipam();

  before(() => {
    createNetns(NS, '192.168.50.1/24');
    ip('route', 'add', 'default', 'via', '192.168.50.254');
    run = inNetns(new ProcessExec(), NS);
    ipam.updateTopology({
      networks: [{ name: 'pods', cidr: '10.0.0.0/16', block_mask: 28 }],
      topologies: [
        {
          networks: ['pods'],
          map: [
            {
              name: 'rack-1',
              groups: [
                { name: 'me', ip: '192.168.50.1' },
                { name: 'peer', ip: '192.168.50.2' },
              ],
            },
            { name: 'rack-2', groups: [{ name: 'solo', ip: '192.168.50.3' }] },
            { name: 'rack-3', groups: [{ name: 'far', ip: '172.20.0.9' }] },
          ],
        },
      ],
    });
    ipam.allocate({ name: 'mine', host: 'me' });
    ipam.allocate({ name: 'p1', host: 'peer', tenant: 'a' });
    ipam.allocate({ name: 'p2', host: 'peer', tenant: 'b' });
  });
  after(() => {
    removeNetns(NS);
  });

  async function reconcile(): Promise<{ lines: string[]; skipped: string[] }> {
    const hosts = ipam.listHosts().hosts;
    const reach = await reachability(
      run,
      hosts.filter((h) => h.name !== 'me').map((h) => h.ip),
    );
    const plan = planRoutes({
      self: 'me',
      hosts,
      blocks: ipam.listAllBlocks().blocks,
      topology: ipam.getTopology(),
      reach,
      multihop: false,
    });
    const lines = routeChanges(await readTable(run, TABLE), plan.routes, TABLE);
    await applyBatch(run, lines);
    return { lines, skipped: plan.skipped.map((s) => s.host) };
  }

  const table = () =>
    ip('route', 'show', 'table', String(TABLE))
      .trim()
      .split('\n')
      .map((l) => l.replace(/\s+dev v0.*$/, '').trim())
      .sort();

  it('installs the plan as one batch: per-block routes in shared racks, one route for a sole host', async () => {
    const { skipped } = await reconcile();
    assert.deepEqual(table(), [
      '10.0.0.16/28 via 192.168.50.2',
      '10.0.0.32/28 via 192.168.50.2',
      '10.0.64.0/18 via 192.168.50.3',
    ]);
    assert.deepEqual(skipped, ['far'], 'a host behind a gateway is not routed without multihop');
  });

  it('changes nothing when nothing changed', async () => {
    assert.deepEqual((await reconcile()).lines, []);
  });

  it('removes the route of a released block, and adds it back when the block is reused', async () => {
    ipam.release('p1');
    assert.deepEqual((await reconcile()).lines, ['route del 10.0.0.16/28 table 10']);
    assert.deepEqual(table(), ['10.0.0.32/28 via 192.168.50.2', '10.0.64.0/18 via 192.168.50.3']);
    ipam.allocate({ name: 'p3', host: 'peer', tenant: 'c' });
    assert.deepEqual((await reconcile()).lines, [
      'route replace 10.0.0.16/28 via 192.168.50.2 table 10',
    ]);
  });

  it('puts back a route deleted by hand', async () => {
    ip('route', 'del', '10.0.64.0/18', 'table', String(TABLE));
    const { lines } = await reconcile();
    assert.deepEqual(lines, ['route replace 10.0.64.0/18 via 192.168.50.3 table 10']);
    assert.ok(table().includes('10.0.64.0/18 via 192.168.50.3'));
  });

  it('drops every route of a removed host', async () => {
    ipam.removeHost({ name: 'peer' });
    await reconcile();
    assert.deepEqual(table(), ['10.0.64.0/18 via 192.168.50.3']);
  });
});
