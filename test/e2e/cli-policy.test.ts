/**
 * The real `bin/romana.js`, spawned, against a real romanad process (memory store, example
 * topology): the topology, policies and blackouts in both formats, documents piped through
 * stdin or read from files, and each exit code.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeCli, ROMANAD_ARGS } from '../helpers/cli.ts';
import { request, startRomanad, type Romanad } from '../helpers/romanad.ts';

const cli = makeCli();
const { home: HOME, ok, fails } = cli;
after(() => cli.remove());

const POLICY = {
  id: 'allow-web',
  applied_to: [{ tenant_id: 'web', segment_id: 'frontend' }],
  ingress: [{ peers: [{ peer: 'any' }], rules: [{ protocol: 'tcp', ports: [80, 443] }] }],
};
const V1_POLICIES = {
  securitypolicies: [
    {
      name: 'v1-a',
      applied_to: [{ tenant: 'web', segment: 'backend' }],
      peers: [{ tenant: 'web', segment: 'frontend' }],
      rules: [{ protocol: 'tcp', ports: [5432] }],
    },
    {
      name: 'v1-b',
      description: 'ping',
      applied_to: [{ tenant: 'web' }],
      peers: [{ peer: 'any' }],
      rules: [{ protocol: 'icmp', icmp_type: 8 }],
    },
  ],
};

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

  it('shows the topology, posts it back through stdin, and refuses an invalid one', async () => {
    const table = await ok([...r, 'topology', 'show']);
    assert.match(
      table,
      /^NETWORK +CIDR +BLOCK MASK +TENANTS\npods +10\.112\.0\.0\/12 +28\n\nTopology of pods:\nGROUP +CIDR +ASSIGNMENT\nzone-a +10\.112\.0\.0\/14 +zone=a\n {2}rack-a1 /,
    );
    const doc = await ok([...json, 'topology', 'show']);
    assert.deepEqual(JSON.parse(doc), (await request(`${d.url}/topology`, 'GET')).body);
    assert.equal(await ok([...r, 'topology', 'update', '-'], doc), 'Topology updated.\n');
    assert.equal(await ok([...json, 'topology', 'update'], doc), 'null\n');
    const bad = JSON.stringify({
      networks: [
        { name: 'a', cidr: '10.0.0.1/8' },
        { name: 'b', cidr: 'x' },
      ],
      topologies: [],
    });
    const line = await fails(1, [...r, 'topology', 'update', '-'], bad);
    assert.match(
      line,
      /networks\[0\]\.cidr: .*; networks\[1\]\.cidr: .* \(HTTP 422 InvalidInput\)\n$/,
    );
    assert.match(
      await fails(1, [...r, 'topology', 'update'], '{"networks": ['),
      /stdin is not valid JSON/,
    );
    assert.match(await fails(2, [...r, 'topology', 'update']), /stdin is empty/);
    assert.match(
      await fails(2, [...r, 'topology', 'update', '/nonexistent.json']),
      /cannot read \/nonexistent\.json: ENOENT/,
    );
  });

  it('adds policies in every accepted form, lists, shows and removes them', async () => {
    assert.equal(
      await ok([...r, 'policy', 'add', '-'], JSON.stringify(POLICY)),
      'Policy allow-web added.\n',
    );
    const stored = JSON.parse(
      await ok([...json, 'policy', 'add'], JSON.stringify(V1_POLICIES)),
    ) as Array<{ id: string; ingress: unknown }>;
    assert.deepEqual(
      stored.map((p) => p.id),
      ['v1-a', 'v1-b'],
    );
    assert.deepEqual(stored[0]!.ingress, [
      {
        peers: [{ tenant_id: 'web', segment_id: 'frontend' }],
        rules: [{ protocol: 'tcp', ports: [5432] }],
      },
    ]);
    const dir = mkdtempSync(path.join(HOME, 'pol-'));
    writeFileSync(
      path.join(dir, 'p.yaml'),
      'id: yaml-pol\napplied_to: [{tenant_id: web}]\ningress: [{peers: [{peer: any}], rules: [{protocol: udp, ports: [53]}]}]\n',
    );
    assert.equal(
      await ok([...r, 'policy', 'add', path.join(dir, 'p.yaml')]),
      'Policy yaml-pol added.\n',
    );
    const list = await ok([...r, 'policy', 'list']);
    assert.match(list, /^ID +DIRECTION +APPLIED TO +PEERS +RULES +DESCRIPTION\n/);
    assert.match(list, /\nv1-b +ingress +web +1 +1 +ping\n/);
    assert.deepEqual(
      JSON.parse(await ok([...json, 'policy', 'list'])),
      (await request(`${d.url}/policies`, 'GET')).body,
    );
    const shown = JSON.parse(await ok([...json, 'policy', 'show', 'v1-b', 'allow-web'])) as Array<{
      id: string;
    }>;
    assert.deepEqual(
      shown.map((p) => p.id),
      ['v1-b', 'allow-web'],
    );
    assert.match(
      await ok([...r, 'policy', 'show', 'allow-web']),
      /^ID: +allow-web\nDirection: +ingress\n[^]*0 +peer any +tcp 80,443\n$/,
    );
    assert.match(await fails(1, [...r, 'policy', 'show', 'nope']), /\(HTTP 404 NotFound\)/);
    assert.equal(await ok([...r, 'policy', 'remove', 'v1-a']), 'Policy v1-a removed.\n');
    assert.equal(await ok([...json, 'policy', 'remove', 'v1-b']), 'null\n');
    assert.match(await fails(1, [...r, 'policy', 'remove', 'v1-b']), /\(HTTP 404 NotFound\)/);
  });

  it('checks every policy before sending any', async () => {
    const before = (await request(`${d.url}/policies`, 'GET')).body;
    const two = [
      { ...POLICY, id: 'good' },
      { id: 'bad', applied_to: [] },
    ];
    const line = await fails(1, [...r, 'policy', 'add'], JSON.stringify(two));
    assert.match(line, /invalid policy; \[1\]\.applied_to: /);
    const v1 = { securitypolicies: [{ name: 'x', applied_to: [{ tenant_network_id: 3 }] }] };
    assert.match(
      await fails(1, [...r, 'policy', 'add'], JSON.stringify(v1)),
      /tenant_network_id: cannot be converted/,
    );
    assert.match(
      await fails(1, [...r, 'policy', 'add'], '{"securitypolicies": []}'),
      /securitypolicies: is empty/,
    );
    assert.deepEqual((await request(`${d.url}/policies`, 'GET')).body, before);
  });

  it('adds, lists and removes blackouts', async () => {
    assert.match(
      await ok([...r, 'blackout', 'add', '10.127.255.0/24']),
      /^CIDR +NETWORK\n10\.127\.255\.0\/24 +pods\n$/,
    );
    assert.deepEqual(JSON.parse(await ok([...json, 'blackout', 'add', '10.127.254.0/24'])), {
      network: 'pods',
      cidr: '10.127.254.0/24',
    });
    assert.match(
      await ok([...r, 'blackout', 'list']),
      /^CIDR +NETWORK\n10\.127\.254\.0\/24 +pods\n10\.127\.255\.0\/24 +pods\n$/,
    );
    assert.deepEqual(
      JSON.parse(await ok([...json, 'blackout', 'list'])),
      (await request(`${d.url}/blackouts`, 'GET')).body,
    );
    assert.equal(
      await ok([...r, 'blackout', 'remove', '10.127.255.0/24']),
      'Blackout 10.127.255.0/24 removed.\n',
    );
    assert.equal(await ok([...json, 'blackout', 'remove', '10.127.254.0/24']), 'null\n');
    assert.match(
      await fails(1, [...r, 'blackout', 'remove', '10.127.254.0/24']),
      /\(HTTP 404 NotFound\)/,
    );
    assert.match(
      await fails(1, [...r, 'blackout', 'add', '10.112.0.0/12']),
      /\(HTTP 422 InvalidInput\)/,
    );
    assert.match(await fails(1, [...r, 'blackout', 'add', 'nope']), /\(HTTP 400 InvalidInput\)/);
  });
});
