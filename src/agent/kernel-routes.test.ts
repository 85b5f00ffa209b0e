/**
 * The kernel side of the agent's routes, in-process against a real `ip` in a throwaway network
 * namespace: reading table `romana` back (host routes, `default`, a table that does not exist
 * yet), asking how other hosts are reached (some or all of them unreachable), the `ip -batch`
 * lines between a table and a plan, and applying them.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { CommandFailedError, type Exec } from '../exec.ts';
import { createNetns, uniqueNetnsName, type TestNetns } from '../../test/helpers/netns.ts';
import { applyBatch, reachability, readTable, routeChanges } from './kernel-routes.ts';

const TABLE = 12;

describe('kernel routes in a network namespace', () => {
  let ns: TestNetns;
  let ran: Array<{ args: string; stdin: string | undefined }>;
  const exec: Exec = {
    run: (program, args, stdin) => {
      ran.push({ args: [program, ...args].join(' '), stdin });
      return ns.exec.run(program, args, stdin);
    },
  };
  const table = (family: '-4' | '-6' = '-4') =>
    ns
      .ip(family, 'route', 'show', 'table', String(TABLE))
      .trim()
      .split('\n')
      .map((l) => l.replace(/\s+dev m16c-k0.*$/, '').trim())
      .filter((l) => l !== '');

  before(() => {
    ns = createNetns(uniqueNetnsName('m16c-kr'), {
      veth: { name: 'm16c-k0', peer: 'm16c-k1', address: '192.168.62.1/24' },
    });
    ns.ip('addr', 'add', 'fd00:63::1/64', 'dev', 'm16c-k0', 'nodad');
  });
  after(() => ns.remove());
  beforeEach(() => {
    ran = [];
  });

  it('reads a table that does not exist yet as empty, in both families', async () => {
    assert.deepEqual([...(await readTable(exec, TABLE))], []);
    assert.deepEqual(
      ran.map((r) => r.args),
      [`ip -json -4 route show table ${TABLE}`, `ip -json -6 route show table ${TABLE}`],
    );
  });

  it('reads host routes with their length, prefixes and default as they are, both families', async () => {
    const t = String(TABLE);
    ns.ip('route', 'add', '10.1.0.0/16', 'via', '192.168.62.2', 'table', t);
    ns.ip('route', 'add', '10.2.0.7', 'via', '192.168.62.3', 'table', t);
    ns.ip('route', 'add', 'default', 'via', '192.168.62.4', 'table', t);
    ns.ip('-6', 'route', 'add', 'fd00:64::5', 'via', 'fd00:63::2', 'table', t);
    ns.ip('-6', 'route', 'add', 'fd00:65::/120', 'via', 'fd00:63::3', 'table', t);
    ns.ip('route', 'add', '10.3.0.0/24', 'dev', 'm16c-k0', 'table', t);
    try {
      assert.deepEqual([...(await readTable(exec, TABLE))].sort(), [
        ['10.1.0.0/16', '192.168.62.2'],
        ['10.2.0.7/32', '192.168.62.3'],
        ['10.3.0.0/24', ''],
        ['default', '192.168.62.4'],
        ['fd00:64::5/128', 'fd00:63::2'],
        ['fd00:65::/120', 'fd00:63::3'],
      ]);
    } finally {
      ns.ip('route', 'flush', 'table', t);
      ns.ip('-6', 'route', 'flush', 'table', t);
    }
  });

  it('fails with what ip said when the table cannot be read', async () => {
    await assert.rejects(readTable(exec, -1), (e: unknown) => {
      assert.ok(e instanceof CommandFailedError);
      assert.match(e.message, /^ip -json -4 route show table -1 failed with exit status \d+: \S/);
      return true;
    });
  });

  it('finds how each reachable host is reached, and leaves out those it cannot reach', async () => {
    assert.deepEqual([...(await reachability(exec, []))], [], 'nothing to ask');
    assert.deepEqual(ran, [], 'no command for no host');
    const reach = await reachability(exec, ['192.168.62.2', '10.9.9.9', 'fd00:63::2']);
    assert.deepEqual(
      [...reach],
      [
        ['192.168.62.2', { dev: 'm16c-k0' }],
        ['fd00:63::2', { dev: 'm16c-k0' }],
      ],
    );
    assert.deepEqual(ran, [
      {
        args: 'ip -json -force -batch -',
        stdin: 'route get 192.168.62.2\nroute get 10.9.9.9\nroute get fd00:63::2\n',
      },
    ]);
  });

  it('returns no host, rather than failing, when it can reach none of them', async () => {
    const reach = await reachability(exec, ['10.9.9.9', 'fd00:99::9']);
    assert.deepEqual([...reach], []);
  });

  it('leaves out an unreachable host however far down the batch it is asked', async () => {
    const near = Array.from({ length: 11 }, (_, i) => `192.168.62.${i + 2}`);
    const reach = await reachability(exec, [...near, '10.9.9.9', '10.9.9.10']);
    assert.deepEqual([...reach.keys()], near, 'lines 12 and 13 failed');
  });

  it('gives the next hop of a host behind a gateway', async () => {
    ns.ip('route', 'add', '172.22.0.0/16', 'via', '192.168.62.254');
    try {
      const reach = await reachability(exec, ['172.22.0.9']);
      assert.deepEqual([...reach], [['172.22.0.9', { gateway: '192.168.62.254', dev: 'm16c-k0' }]]);
    } finally {
      ns.ip('route', 'del', '172.22.0.0/16');
    }
  });

  it('fails with what happened when ip itself cannot run', async () => {
    const broken: Exec = {
      run: () => Promise.resolve({ code: 127, stdout: '', stderr: 'ip: not found' }),
    };
    await assert.rejects(reachability(broken, ['192.168.62.2']), (e: unknown) => {
      assert.ok(e instanceof CommandFailedError);
      assert.equal(
        e.message,
        'ip -json -force -batch - failed with exit status 127: ip: not found',
      );
      return true;
    });
  });

  it('plans replace lines for new or changed routes and del lines for the rest, in order', () => {
    const current = new Map([
      ['10.0.0.16/28', '192.168.62.2'],
      ['10.0.0.32/28', '192.168.62.2'],
      ['10.0.64.0/18', '192.168.62.3'],
      ['default', ''],
    ]);
    const want = (dst: string, via: string) => ({ dst, via, reason: 'test' });
    assert.deepEqual(
      routeChanges(
        current,
        [
          want('10.0.0.16/28', '192.168.62.2'),
          want('10.0.0.32/28', '192.168.62.5'),
          want('10.0.0.48/28', '192.168.62.2'),
        ],
        7,
      ),
      [
        'route replace 10.0.0.32/28 via 192.168.62.5 table 7',
        'route replace 10.0.0.48/28 via 192.168.62.2 table 7',
        'route del 10.0.64.0/18 table 7',
        'route del default table 7',
      ],
    );
    assert.deepEqual(
      routeChanges(
        current,
        [...current].map(([d, v]) => want(d, v)),
        7,
      ),
      [],
    );
    assert.deepEqual(routeChanges(new Map(), [], 7), []);
  });

  it('applies lines as one batch, runs nothing for none, and fails with what ip said', async () => {
    await applyBatch(exec, []);
    assert.deepEqual(ran, []);
    const t = String(TABLE);
    await applyBatch(exec, [
      `route replace 10.5.0.0/16 via 192.168.62.2 table ${t}`,
      `route replace fd00:66::/64 via fd00:63::2 table ${t}`,
    ]);
    assert.deepEqual(ran, [
      {
        args: 'ip -batch -',
        stdin:
          `route replace 10.5.0.0/16 via 192.168.62.2 table ${t}\n` +
          `route replace fd00:66::/64 via fd00:63::2 table ${t}\n`,
      },
    ]);
    assert.deepEqual(table(), ['10.5.0.0/16 via 192.168.62.2']);
    assert.deepEqual(table('-6'), ['fd00:66::/64 via fd00:63::2']);
    await assert.rejects(applyBatch(exec, [`route del 10.6.0.0/16 table ${t}`]), (e: unknown) => {
      assert.ok(e instanceof CommandFailedError);
      assert.match(e.message, /^ip -batch failed with exit status 1: .*No such process/);
      return true;
    });
    await applyBatch(exec, [
      `route del 10.5.0.0/16 table ${t}`,
      `route del fd00:66::/64 table ${t}`,
    ]);
    assert.deepEqual(table(), []);
  });
});
