/**
 * The route reconciler on a real kernel, in-process, inside a throwaway network namespace (the
 * namespace's `ip` through the Exec seam): full syncs and one-line block syncs, what it logs and
 * counts, which listings it keeps, and how it recovers from a failed sync. Routes expected are
 * literal.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { Block, Host, Topology } from '../client/index.ts';
import type { WatchEvent } from '../client/watch.ts';
import type { Exec } from '../exec.ts';
import { createNetns, uniqueNetnsName, type TestNetns } from '../../test/helpers/netns.ts';
import { blockView, threeRacks } from '../../test/helpers/route-fixtures.ts';
import { AgentMetrics } from './metrics.ts';
import { RouteReconciler } from './reconciler.ts';

const TABLE = 11;

const host = (name: string, ip: string, ip6?: string): Host =>
  ({ name, ip, agent_port: 9604, tags: null, k8s_info: null, ...(ip6 ? { ip6 } : {}) }) as Host;
const block = (cidr: string, h: string): Block => blockView(cidr, h);
const map = (cidrs: string[]) => threeRacks(cidrs, '192.168.61', '172.21.0.9');
const topology: Topology = {
  networks: [
    { name: 'v4', cidr: '10.0.0.0/16', block_mask: 28 },
    { name: 'v6', cidr: 'fd00:61::/48', block_mask: 120 },
  ],
  topologies: [
    { networks: ['v4'], map: map(['10.0.0.0/18', '10.0.64.0/18', '10.0.128.0/18']) },
    { networks: ['v6'], map: map(['fd00:61::/50', 'fd00:61:0:4000::/50', 'fd00:61:0:8000::/50']) },
  ],
};
const HOSTS = [
  host('me', '192.168.61.1', 'fd00:62::1'),
  host('peer', '192.168.61.2', 'fd00:62::2'),
  host('solo', '192.168.61.3'),
  host('far', '172.21.0.9'),
];
const BLOCKS = [
  block('10.0.0.0/28', 'me'),
  block('10.0.0.16/28', 'peer'),
  block('fd00:61::100/120', 'peer'),
  block('10.0.64.0/28', 'solo'),
];

interface Line {
  level: string;
  msg: string;
  fields: object | undefined;
}

describe('the route reconciler in a network namespace', () => {
  let ns: TestNetns;
  let logs: Line[];
  let metrics: AgentMetrics;
  let failNext: ((program: string, args: readonly string[]) => boolean) | undefined;
  let counted: string[];

  const exec: Exec = {
    run: (program, args, stdin) => {
      counted.push([program, ...args].join(' '));
      if (failNext?.(program, args) === true) {
        failNext = undefined;
        return Promise.resolve({ code: 1, stdout: '', stderr: 'refused by the test' });
      }
      return ns.exec.run(program, args, stdin);
    },
  };
  const make = () =>
    new RouteReconciler({
      hostname: 'me',
      table: TABLE,
      multihop: false,
      exec,
      metrics,
      log: (level, msg, fields) => logs.push({ level, msg, fields }),
    });
  const table = (family: '-4' | '-6' = '-4') =>
    ns
      .ip(family, 'route', 'show', 'table', String(TABLE))
      .trim()
      .split('\n')
      .map((l) => l.replace(/\s+dev m16c-v0.*$/, '').trim())
      .filter((l) => l !== '');
  const flushTable = () => {
    for (const f of ['-4', '-6']) {
      const r = ns.tryRun(['ip', f, 'route', 'flush', 'table', String(TABLE)]);
      assert.ok(r.status === 0 || /does not exist/.test(r.stderr), r.stderr);
    }
  };
  const put = (revision: number, cidr: string, h: string): WatchEvent => ({
    revision,
    kind: 'blocks',
    type: 'put',
    id: cidr,
    value: block(cidr, h),
  });
  const gauge = async (name: string) =>
    (await metrics.registry.getSingleMetric(name)!.get()).values[0]?.value;

  before(() => {
    ns = createNetns(uniqueNetnsName('m16c-rc'), {
      veth: { name: 'm16c-v0', peer: 'm16c-v1', address: '192.168.61.1/24' },
    });
    ns.ip('addr', 'add', 'fd00:62::1/64', 'dev', 'm16c-v0', 'nodad');
    ns.ip('route', 'add', 'default', 'via', '192.168.61.254');
  });
  after(() => ns.remove());
  beforeEach(() => {
    flushTable();
    logs = [];
    counted = [];
    failNext = undefined;
    metrics = new AgentMetrics();
  });

  it('a full sync installs the plan, counts and logs it, and warns once about an unrouted host', async () => {
    const r = make();
    assert.equal(r.healthy, false, 'not healthy before its first sync');
    r.replace({ hosts: HOSTS, revision: 5 }, { blocks: BLOCKS, revision: 5 }, topology);
    await r.sync();
    assert.deepEqual(table(), ['10.0.0.16/28 via 192.168.61.2', '10.0.64.0/18 via 192.168.61.3']);
    assert.deepEqual(table('-6'), ['fd00:61::100/120 via fd00:62::2']);
    assert.equal(r.healthy, true);
    assert.equal(await gauge('romana_managed_routes'), 3);
    const far = '172.21.0.9 is reached through 192.168.61.254; enable multihop to route its pods';
    const no6 = 'it has no ip6: its IPv6 blocks are not routed';
    assert.deepEqual(logs, [
      { level: 'warn', msg: 'host not routed', fields: { host: 'far', why: far } },
      { level: 'warn', msg: 'host not routed', fields: { host: 'solo', why: no6 } },
      { level: 'warn', msg: 'host not routed', fields: { host: 'far', why: no6 } },
      { level: 'info', msg: 'routes reconciled', fields: { full: true, changes: 3, routes: 3 } },
    ]);
    // Asked again: the table is already right (no line logged), the warnings are not repeated.
    r.requestFull();
    await r.sync();
    assert.equal(logs.length, 4, JSON.stringify(logs.slice(4)));
    assert.ok(
      counted.filter((c) => c.includes(' route show table ')).length >= 4,
      'the full sync read the table again',
    );
  });

  it('a block event costs one line against what was applied, not a re-read of the table', async () => {
    const r = make();
    r.replace({ hosts: HOSTS, revision: 5 }, { blocks: BLOCKS, revision: 5 }, topology);
    await r.sync();
    logs = [];
    counted = [];
    // Deleted by hand: a block sync does not see it (only a full one repairs drift).
    ns.ip('route', 'del', '10.0.64.0/18', 'table', String(TABLE));
    r.apply(put(6, '10.0.0.32/28', 'peer'));
    r.apply(put(7, '10.0.64.16/28', 'solo')); // inside the sole host's group: no route of its own
    r.apply(put(8, '10.0.0.48/28', 'me')); // this host's own block: no route
    await r.sync();
    assert.deepEqual(table(), ['10.0.0.16/28 via 192.168.61.2', '10.0.0.32/28 via 192.168.61.2']);
    assert.deepEqual(logs, [
      { level: 'info', msg: 'routes reconciled', fields: { full: false, changes: 1, routes: 4 } },
    ]);
    assert.deepEqual(
      counted.filter((c) => !c.includes('-batch')),
      [],
      'a block sync runs no command but the batch',
    );
    assert.equal(await gauge('romana_managed_routes'), 4);
    assert.deepEqual(
      r.blocks().map((b) => b.cidr),
      [...BLOCKS.map((b) => b.cidr), '10.0.0.32/28', '10.0.64.16/28', '10.0.0.48/28'],
    );

    r.apply({ revision: 9, kind: 'blocks', type: 'delete', id: '10.0.0.16/28', value: null });
    await r.sync();
    assert.deepEqual(table(), ['10.0.0.32/28 via 192.168.61.2']);
    assert.equal(await gauge('romana_managed_routes'), 3);
    assert.deepEqual(logs[1]?.fields, { full: false, changes: 1, routes: 3 });

    // Deleting a block that had no route, or nothing at all to do: no batch, no line.
    counted = [];
    r.apply({ revision: 10, kind: 'blocks', type: 'delete', id: '10.0.0.48/28', value: null });
    await r.sync();
    assert.deepEqual(counted, []);
    assert.equal(logs.length, 2);

    r.requestFull();
    await r.sync();
    assert.deepEqual(table(), ['10.0.0.32/28 via 192.168.61.2', '10.0.64.0/18 via 192.168.61.3']);
    assert.deepEqual(logs[2]?.fields, { full: true, changes: 1, routes: 3 });
  });

  it('a host or topology event makes the next sync a full one', async () => {
    const r = make();
    r.replace({ hosts: HOSTS, revision: 5 }, { blocks: BLOCKS, revision: 5 }, topology);
    await r.sync();
    ns.ip('route', 'del', '10.0.64.0/18', 'table', String(TABLE));
    r.apply({ revision: 6, kind: 'hosts', type: 'delete', id: 'peer', value: null });
    await r.sync();
    assert.deepEqual(table(), ['10.0.64.0/18 via 192.168.61.3']);
    assert.deepEqual(table('-6'), []);

    r.apply({ revision: 7, kind: 'hosts', type: 'put', id: 'peer', value: HOSTS[1] });
    await r.sync();
    assert.deepEqual(table(), ['10.0.0.16/28 via 192.168.61.2', '10.0.64.0/18 via 192.168.61.3']);
    assert.deepEqual(table('-6'), ['fd00:61::100/120 via fd00:62::2']);

    // A topology in which rack-1 is no longer shared by two hosts: its group is routed whole.
    const solo2 = structuredClone(topology);
    solo2.topologies[0]!.map = [
      { name: 'rack-1', cidr: '10.0.0.0/18', groups: [{ name: 'peer', ip: '192.168.61.2' }] },
      { name: 'rack-2', cidr: '10.0.64.0/18', groups: [{ name: 'me', ip: '192.168.61.1' }] },
    ];
    ns.ip('route', 'add', '10.9.0.0/16', 'via', '192.168.61.9', 'table', String(TABLE));
    r.apply({ revision: 8, kind: 'topology', type: 'put', id: 'topology', value: solo2 });
    await r.sync();
    assert.deepEqual(table(), ['10.0.0.0/18 via 192.168.61.2'], 'stray route removed too');
  });

  it('keeps what later events said when an older listing arrives', async () => {
    const r = make();
    r.replace({ hosts: HOSTS, revision: 5 }, { blocks: BLOCKS, revision: 5 }, topology);
    r.apply({ revision: 9, kind: 'hosts', type: 'delete', id: 'solo', value: null });
    r.apply({ revision: 9, kind: 'blocks', type: 'delete', id: '10.0.0.16/28', value: null });
    r.replace({ hosts: HOSTS, revision: 8 }, { blocks: BLOCKS, revision: 8 }, topology);
    await r.sync();
    assert.deepEqual(table(), []);
    assert.deepEqual(table('-6'), ['fd00:61::100/120 via fd00:62::2']);
    // A listing as new as the events replaces the copies.
    r.replace({ hosts: HOSTS, revision: 9 }, { blocks: BLOCKS, revision: 9 }, topology);
    await r.sync();
    assert.deepEqual(table(), ['10.0.0.16/28 via 192.168.61.2', '10.0.64.0/18 via 192.168.61.3']);
  });

  it('plan() says what a sync would change without changing anything', async () => {
    const r = make();
    r.replace({ hosts: HOSTS, revision: 1 }, { blocks: BLOCKS, revision: 1 }, topology);
    const p = await r.plan();
    assert.deepEqual(p.changes, [
      `route replace 10.0.0.16/28 via 192.168.61.2 table ${TABLE}`,
      `route replace 10.0.64.0/18 via 192.168.61.3 table ${TABLE}`,
      `route replace fd00:61::100/120 via fd00:62::2 table ${TABLE}`,
    ]);
    assert.deepEqual(table(), []);
    assert.deepEqual(
      p.skipped.map((s) => s.host),
      ['far', 'solo', 'far'],
      'far is behind the gateway, solo and far have no ip6',
    );
  });

  it('asks the kernel about every other host, by both its addresses', async () => {
    const stdins: string[] = [];
    const spy: Exec = {
      run: (program, args, stdin) => {
        if (args.includes('-batch')) stdins.push(stdin ?? '');
        return ns.exec.run(program, args, stdin);
      },
    };
    const rr = new RouteReconciler({
      hostname: 'me',
      table: TABLE,
      multihop: false,
      exec: spy,
      log: () => {},
    });
    const hosts = [...HOSTS, { ...host('empty6', '192.168.61.7'), ip6: '' } as Host];
    rr.replace({ hosts, revision: 1 }, { blocks: [], revision: 1 }, topology);
    await rr.plan();
    assert.deepEqual(stdins, [
      [
        'route get 192.168.61.2',
        'route get fd00:62::2',
        'route get 192.168.61.3',
        'route get 172.21.0.9',
        'route get 192.168.61.7',
        '',
      ].join('\n'),
    ]);
  });

  it('works without metrics, through a sync that succeeds and one that fails', async () => {
    const r = new RouteReconciler({
      hostname: 'me',
      table: TABLE,
      multihop: false,
      exec,
      log: (level, msg, fields) => logs.push({ level, msg, fields }),
    });
    r.replace({ hosts: HOSTS, revision: 1 }, { blocks: BLOCKS, revision: 1 }, topology);
    await r.sync();
    assert.equal(r.healthy, true);
    assert.deepEqual(table(), ['10.0.0.16/28 via 192.168.61.2', '10.0.64.0/18 via 192.168.61.3']);
    failNext = (_p, args) => args.includes('-batch') && !args.includes('-json');
    r.apply(put(2, '10.0.0.32/28', 'peer'));
    await r.sync();
    assert.equal(r.healthy, false);
    assert.equal(logs.at(-1)?.msg, 'route reconcile failed');
  });

  it('plans nothing before its first listing, and ignores events of other kinds', async () => {
    const r = make();
    const p = await r.plan();
    assert.deepEqual([p.routes, p.skipped, p.changes], [[], [], []]);
    await r.sync();
    assert.equal(r.healthy, true);
    r.replace({ hosts: HOSTS, revision: 1 }, { blocks: BLOCKS, revision: 1 }, topology);
    await r.sync();
    counted = [];
    for (const kind of ['policies', 'vips', 'addresses', 'namespaces'] as const) {
      r.apply({
        revision: 2,
        kind,
        type: 'put',
        id: '10.0.0.48/28',
        value: block('10.0.0.48/28', 'peer'),
      });
    }
    await r.sync();
    assert.deepEqual(counted, [], 'nothing to do: no command at all');
    assert.deepEqual(
      r.blocks().map((b) => b.cidr),
      BLOCKS.map((b) => b.cidr),
    );
  });

  it('a failed sync is logged and counted, and the next one starts over with a full sync', async () => {
    const r = make();
    r.replace({ hosts: HOSTS, revision: 5 }, { blocks: BLOCKS, revision: 5 }, topology);
    await r.sync();
    failNext = (_p, args) => args.includes('-batch') && !args.includes('-json');
    r.apply(put(6, '10.0.0.32/28', 'peer'));
    await r.sync();
    assert.equal(r.healthy, false);
    assert.equal(await gauge('romana_reconcile_errors_total'), 1);
    const err = logs.at(-1)!;
    assert.equal(err.level, 'error');
    assert.equal(err.msg, 'route reconcile failed');
    assert.match(
      String((err.fields as { err?: unknown } | undefined)?.err),
      /ip -batch failed with exit status 1: refused by the test/,
    );
    assert.deepEqual(table(), ['10.0.0.16/28 via 192.168.61.2', '10.0.64.0/18 via 192.168.61.3']);

    // The next sync is a full one (it re-reads the table) and puts the missed block in.
    counted = [];
    await r.sync();
    assert.equal(r.healthy, true);
    assert.ok(counted.some((c) => c.includes('route show table')));
    assert.deepEqual(table(), [
      '10.0.0.16/28 via 192.168.61.2',
      '10.0.0.32/28 via 192.168.61.2',
      '10.0.64.0/18 via 192.168.61.3',
    ]);
    assert.deepEqual(logs.at(-1)?.fields, { full: true, changes: 1, routes: 4 });
    const text = await metrics.registry.getSingleMetricAsString(
      'romana_reconcile_duration_seconds',
    );
    assert.match(text, /^romana_reconcile_duration_seconds_count 3$/m, 'every sync timed');
  });
});
