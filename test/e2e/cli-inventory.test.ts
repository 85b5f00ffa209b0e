/**
 * The real `bin/romana.js`, spawned, against a real romanad process (memory store, example
 * topology): networks, hosts, addresses and blocks in both formats, with each exit code. The
 * docs/cli.md transcript is replayed by src/cli/docs.test.ts; the usage errors and help texts
 * are checked in-process by src/cli/main.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { makeCli, ROMANAD_ARGS } from '../helpers/cli.ts';
import { request, startRomanad, type Romanad } from '../helpers/romanad.ts';

const cli = makeCli();
const { ok, fails } = cli;
after(() => cli.remove());

describe('romana against a real romanad', () => {
  let d: Romanad;
  let r: string[];
  let json: string[];
  before(async () => {
    d = await startRomanad(ROMANAD_ARGS);
    r = ['-r', d.url];
    json = ['-r', d.url, '-f', 'json'];
  });
  after(() => d.stop());

  it('lists and shows networks in both formats', async () => {
    const table = await ok([...r, 'network', 'list']);
    assert.match(table, /^NAME +CIDR +BLOCK MASK +REVISION\npods +10\.112\.0\.0\/12 +28 +\d+\n$/);
    const list = JSON.parse(await ok([...json, 'network', 'list'])) as unknown;
    assert.deepEqual(list, (await request(`${d.url}/networks`, 'GET')).body);
    assert.match(
      await ok([...r, 'network', 'show', 'pods']),
      /^Name: +pods\nCIDR: +10\.112\.0\.0\/12/,
    );
    const one = JSON.parse(await ok([...json, 'network', 'show', 'pods'])) as { id: string };
    assert.equal(one.id, 'pods');
    assert.match(await fails(1, [...r, 'network', 'show', 'nope']), /\(HTTP 404 NotFound\)/);
  });

  it('adds, shows, labels and lists hosts', async () => {
    const added = await ok([
      ...r,
      'host',
      'add',
      'node-1',
      '192.168.0.11',
      '--tag',
      'zone=a',
      '--tag',
      'rack=a1',
    ]);
    assert.match(added, /^Name: +node-1\nIP: +192\.168\.0\.11\n/);
    assert.match(added, /pods +rack-a1 +10\.112\.0\.0\/15/);
    const detail = JSON.parse(
      await ok([
        ...json,
        'host',
        'add',
        'node-2',
        '192.168.0.12',
        '--tag',
        'zone=b',
        '--agent-port',
        '9700',
      ]),
    ) as { name: string; agent_port: number; groups: unknown[] };
    assert.deepEqual([detail.name, detail.agent_port, detail.groups.length], ['node-2', 9700, 1]);
    assert.match(
      await ok([...r, 'host', 'list']),
      /^NAME +IP +AGENT PORT +TAGS\nnode-1 +192\.168\.0\.11 +9604 +zone=a,rack=a1\nnode-2 /,
    );
    const hosts = JSON.parse(await ok([...json, 'host', 'list'])) as unknown;
    assert.deepEqual(hosts, (await request(`${d.url}/hosts`, 'GET')).body);
    assert.match(await ok([...r, 'host', 'show', 'node-1']), /Tags: +zone=a,rack=a1\n/);
    const shown = JSON.parse(await ok([...json, 'host', 'show', 'node-1'])) as unknown;
    assert.deepEqual(shown, (await request(`${d.url}/hosts/node-1`, 'GET')).body);
    assert.match(
      await ok([...r, 'host', 'label', 'node-1', 'role=web']),
      /Tags: +zone=a,rack=a1,role=web\n/,
    );
    const relabelled = JSON.parse(
      await ok([...json, 'host', 'label', 'node-1', 'role-', 'tier=1']),
    ) as {
      tags: Record<string, string>;
    };
    assert.deepEqual(relabelled.tags, { zone: 'a', rack: 'a1', tier: '1' });
    assert.match(
      await fails(1, [...r, 'host', 'label', 'node-1', 'zone=b']),
      /^romana: Host node-1 cannot take tags .*zone=b: its group zone-a needs tags zone=a \(HTTP 422 InvalidInput\)$/m,
    );
    assert.match(
      await fails(1, [...r, 'host', 'add', 'node-3', '192.168.0.11']),
      /\(HTTP 409 AlreadyExists\)/,
    );
    assert.match(
      await fails(1, [...r, 'host', 'show', 'nope']),
      /^romana: .*nope.* \(HTTP 404 NotFound\)\n$/,
    );
  });

  it('allocates, shows, lists and releases addresses', async () => {
    const a = await ok([
      ...r,
      'address',
      'allocate',
      'pod-a',
      '--host',
      'node-1',
      '--tenant',
      'web',
      '--segment',
      'frontend',
    ]);
    assert.match(
      a,
      /^Name: +pod-a\nIP: +10\.112\.0\.\d+\nHost: +node-1\nTenant: +web\nSegment: +frontend\n/,
    );
    const b = JSON.parse(
      await ok([...json, 'address', 'allocate', 'pod-b', '--host', 'node-2']),
    ) as { ip: string; host: string };
    assert.equal(b.host, 'node-2');
    assert.match(
      await ok([...r, 'address', 'list']),
      /^NAME +IP +HOST +TENANT +SEGMENT +NETWORK +BLOCK +POD\npod-a .* -\n/,
    );
    // Linked to a pod (as the Kubernetes listener does): the POD column names it.
    const linked = await request(`${d.url}/addresses/pod-b/pod`, 'PUT', {
      namespace: 'shop',
      name: 'web-0',
    });
    assert.equal(linked.status, 200);
    assert.match(await ok([...r, 'address', 'list']), /\npod-b .* shop\/web-0\n/);
    assert.match(await ok([...r, 'address', 'show', 'pod-b']), /\nPod: +shop\/web-0\n/);
    const onNode1 = JSON.parse(
      await ok([...json, 'address', 'list', '--host', 'node-1']),
    ) as Array<{ name: string }>;
    assert.deepEqual(
      onNode1.map((x) => x.name),
      ['pod-a'],
    );
    assert.deepEqual(
      JSON.parse(await ok([...json, 'address', 'show', b.ip])),
      (await request(`${d.url}/address?addressName=pod-b`, 'GET')).body,
    );
    assert.match(await ok([...r, 'address', 'show', 'pod-a']), /^Name: +pod-a\n/);
    assert.match(
      await fails(1, [...r, 'address', 'allocate', 'pod-a', '--host', 'node-1']),
      /\(HTTP 409 AlreadyExists\)/,
    );
    assert.match(
      await fails(1, [...r, 'address', 'allocate', 'pod-x', '--host', 'nope']),
      /\(HTTP 404 NotFound\)/,
    );
    assert.equal(await ok([...r, 'address', 'release', b.ip]), `Address ${b.ip} released.\n`);
    assert.equal(await ok([...json, 'address', 'release', 'pod-a']), 'null\n');
    assert.match(await fails(1, [...r, 'address', 'release', 'pod-a']), /\(HTTP 404 NotFound\)/);
    assert.match(await fails(2, [...r, 'address', 'allocate', 'pod-c']), /--host/);
  });

  it('lists and shows blocks, filtered by network and host', async () => {
    await ok([...r, 'address', 'allocate', 'pod-c', '--host', 'node-1', '--tenant', 't']);
    const table = await ok([...r, 'block', 'list']);
    assert.match(table, /^CIDR +NETWORK +HOST +TENANT +SEGMENT +ADDRESSES +REVISION\n/);
    const all = JSON.parse(await ok([...json, 'block', 'list'])) as {
      blocks: Array<{ cidr: string; host: string }>;
    };
    assert.deepEqual(all, (await request(`${d.url}/blocks`, 'GET')).body);
    const mine = JSON.parse(
      await ok([...json, 'block', 'list', '--network', 'pods', '--host', 'node-1']),
    ) as {
      blocks: Array<{ host: string; cidr: string }>;
    };
    assert.ok(mine.blocks.length > 0 && mine.blocks.every((b) => b.host === 'node-1'));
    const cidr = mine.blocks[0]!.cidr;
    assert.match(
      await ok([...r, 'block', 'show', cidr]),
      new RegExp(`^CIDR: +${cidr.replace(/\./g, '\\.')}\nNetwork: +pods\nHost: +node-1\n`),
    );
    assert.equal(
      (JSON.parse(await ok([...json, 'block', 'show', cidr])) as { cidr: string }).cidr,
      cidr,
    );
    assert.match(
      await fails(1, [...r, 'block', 'show', '10.0.0.0/28']),
      /no block 10\.0\.0\.0\/28/,
    );
    assert.match(
      await fails(1, [...r, 'block', 'list', '--network', 'nope']),
      /\(HTTP 404 NotFound\)/,
    );
  });

  it('lists and shows namespaces with their labels', async () => {
    assert.equal(await ok([...r, 'namespace', 'list']), 'NAME   LABELS\n');
    for (const [name, labels] of [
      ['shop', { team: 'a', env: 'prod' }],
      ['default', {}],
    ] as const) {
      assert.equal((await request(`${d.url}/namespaces/${name}`, 'PUT', { labels })).status, 200);
    }
    assert.equal(
      await ok([...r, 'namespace', 'list']),
      'NAME      LABELS\ndefault\nshop      env=prod,team=a\n',
    );
    assert.deepEqual(
      JSON.parse(await ok([...json, 'namespace', 'list'])),
      (await request(`${d.url}/namespaces`, 'GET')).body,
    );
    assert.match(
      await ok([...r, 'namespace', 'show', 'shop']),
      /^Name: +shop\nLabels: +env=prod,team=a\n$/,
    );
    assert.match(await fails(1, [...r, 'namespace', 'show', 'nope']), /\(HTTP 404 NotFound\)/);
  });

  it('sets, moves, shows, lists and removes VIPs', async () => {
    const set = await ok([
      ...r,
      'vip',
      'set',
      'web.default',
      '--ip',
      '192.168.0.200',
      '--host',
      'node-1',
    ]);
    assert.match(set, /^Name: +web\.default\nIP: +192\.168\.0\.200\nHost: +node-1\n/);
    const moved = JSON.parse(
      await ok([...json, 'vip', 'set', 'web.default', '--ip', '192.168.0.200', '--host', 'node-2']),
    ) as unknown;
    assert.deepEqual(moved, { name: 'web.default', ip: '192.168.0.200', host: 'node-2' });
    assert.match(
      await ok([...r, 'vip', 'list']),
      /^NAME +IP +HOST +NAMESPACE\nweb\.default +192\.168\.0\.200 +node-2 *\n$/,
    );
    assert.deepEqual(JSON.parse(await ok([...json, 'vip', 'list'])), [moved]);
    assert.deepEqual(JSON.parse(await ok([...json, 'vip', 'show', 'web.default'])), moved);
    assert.match(
      await fails(1, [...r, 'vip', 'set', 'api', '--ip', '10.112.0.9', '--host', 'node-1']),
      /inside Romana network pods.*\(HTTP 422 InvalidInput\)/,
    );
    assert.match(await fails(2, [...r, 'vip', 'set', 'api', '--ip', '192.168.0.201']), /--host/);
    assert.equal(await ok([...r, 'vip', 'remove', 'web.default']), 'VIP web.default removed.\n');
    assert.match(await fails(1, [...r, 'vip', 'show', 'web.default']), /\(HTTP 404 NotFound\)/);
  });

  it('removes hosts, refusing one with addresses unless --force', async () => {
    assert.match(await fails(1, [...r, 'host', 'remove', 'node-1']), /\(HTTP 409 Conflict\)$/m);
    assert.match(
      await ok([...r, 'host', 'remove', 'node-1', '--force']),
      /^Host node-1 \(192\.168\.0\.11\) removed; released 1 address\(es\) and 1 block\(s\)\.\n$/,
    );
    const removed = JSON.parse(await ok([...json, 'host', 'remove', 'node-2'])) as {
      name: string;
      releasedAddresses: string[];
    };
    assert.deepEqual([removed.name, removed.releasedAddresses], ['node-2', []]);
    assert.match(await fails(1, [...r, 'host', 'remove', 'node-2']), /\(HTTP 404 NotFound\)/);
  });
});
