/**
 * The real `bin/romana.js`, spawned, against a real romanad process (memory store, example
 * topology): every command in both formats, each exit code, documents piped through stdin,
 * settings precedence and tokens. The docs/cli.md transcript is replayed by src/cli/docs.test.ts;
 * the usage errors and help texts are checked in-process by src/cli/main.test.ts.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request, startRomanad, type Romanad } from '../helpers/romanad.ts';
import { makeCerts, type TestCerts } from '../helpers/tls.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin/romana.js');
const ROMANAD_ARGS = ['--store', 'memory:', '--initial-topology-file', 'examples/topology.json'];
const HOME = mkdtempSync(path.join(tmpdir(), 'romana-cli-'));
after(() => rmSync(HOME, { recursive: true, force: true }));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `romana args` with a clean environment (no ROMANA_*, an empty HOME). */
function romana(
  args: string[],
  opts: { stdin?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const env = { PATH: process.env['PATH'], HOME, ...opts.env };
    const proc = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    proc.on('error', reject);
    proc.on('close', (code) => resolve({ code, stdout, stderr }));
    proc.stdin.end(opts.stdin ?? '');
  });
}

/** Runs a command expected to succeed; returns stdout. */
async function ok(args: string[], stdin?: string, env?: NodeJS.ProcessEnv): Promise<string> {
  const r = await romana(args, {
    ...(stdin === undefined ? {} : { stdin }),
    ...(env ? { env } : {}),
  });
  assert.equal(r.code, 0, `romana ${args.join(' ')}: exit ${r.code}, stderr: ${r.stderr}`);
  assert.equal(r.stderr, '');
  return r.stdout;
}

/** Runs a command expected to fail with `code`; returns its one stderr line. */
async function fails(
  code: number,
  args: string[],
  stdin?: string,
  env?: NodeJS.ProcessEnv,
): Promise<string> {
  const r = await romana(args, {
    ...(stdin === undefined ? {} : { stdin }),
    ...(env ? { env } : {}),
  });
  assert.equal(r.code, code, `romana ${args.join(' ')}: exit ${r.code}, stderr: ${r.stderr}`);
  assert.equal(r.stdout, '', 'nothing on stdout');
  assert.match(r.stderr, /^romana: [^\n]+\n$/, 'one line on stderr');
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  return r.stderr;
}

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
      /ineligible.*\(HTTP 422 InvalidInput\)$/m,
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
      /^NAME +IP +HOST +TENANT +SEGMENT +NETWORK +BLOCK\npod-a /,
    );
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

  it('takes settings from flags over environment over the config file', async () => {
    const cfg = path.join(HOME, 'cli.yaml');
    writeFileSync(cfg, `root-url: http://127.0.0.1:1\nformat: json\n`);
    const fromFile = await romana(['-c', cfg, 'network', 'list']);
    assert.equal(fromFile.code, 3);
    assert.match(
      fromFile.stderr,
      /^romana: cannot reach romanad at http:\/\/127\.0\.0\.1:1: .*ECONNREFUSED/,
    );
    const envWins = await romana(['-c', cfg, 'network', 'list'], {
      env: { ROMANA_ROOT_URL: d.url },
    });
    assert.equal(envWins.code, 0);
    assert.ok(Array.isArray(JSON.parse(envWins.stdout)), 'format json from the file');
    const flagWins = await romana(['network', 'list', '-f', 'table', '-r', d.url], {
      env: { ROMANA_CONFIG: cfg, ROMANA_ROOT_URL: 'http://127.0.0.1:1', ROMANA_FORMAT: 'json' },
    });
    assert.equal(flagWins.code, 0);
    assert.match(flagWins.stdout, /^NAME +CIDR/);
    writeFileSync(path.join(HOME, '.romana.yaml'), `RootURL: ${d.url}\nPlatform: kubernetes\n`);
    try {
      assert.match(await ok(['host', 'list']), /^NAME +IP/);
    } finally {
      rmSync(path.join(HOME, '.romana.yaml'));
    }
  });

  it('exits 2 on a usage error, with one line on stderr', async () => {
    assert.match(await fails(2, [...r, 'frobnicate']), /unknown command 'frobnicate'/);
    assert.match(await fails(2, [...r, 'host', 'add', 'node-9']), /missing required argument 'ip'/);
    assert.match(
      await fails(2, ['-f', 'yaml', 'host', 'list']),
      /--format: 'yaml' is not a format/,
    );
    const bare = await romana([]);
    assert.equal(bare.code, 2);
    assert.match(bare.stderr, /^Usage: romana /);
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
      version: string;
    };
    assert.equal(await ok(['--version']), `romana ${pkg.version}\n`);
    assert.match(await ok(['host', 'add', '--help']), /Examples:\n {2}\$ romana host add /);
  });
});

describe('romana in a pipeline', () => {
  it('stops quietly when the reader closes the pipe early', async () => {
    const out = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const cmd = `"${process.execPath}" "${BIN}" --help | head -c 5 >/dev/null`;
      const proc = spawn('/bin/sh', ['-c', `${cmd}; echo "$?" >&2`], { cwd: ROOT });
      let stderr = '';
      proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      proc.on('close', (code) => resolve({ code, stderr }));
    });
    assert.equal(out.stderr, '0\n', 'no EPIPE stack, exit 0 from head');
  });
});

describe('romana validates topology files locally', () => {
  it('accepts the example without any server, and prints every problem of a bad file', async () => {
    const noServer = ['-r', 'http://127.0.0.1:1'];
    assert.equal(
      await ok([...noServer, 'topology', 'validate', 'examples/topology.json']),
      'examples/topology.json: valid\n',
    );
    assert.deepEqual(
      JSON.parse(
        await ok([...noServer, '-f', 'json', 'topology', 'validate', 'examples/topology.json']),
      ),
      {
        valid: true,
        problems: [],
      },
    );
    const bad = JSON.stringify({
      networks: [
        { name: 'a', cidr: '10.0.0.1/8' },
        { name: 'b', cidr: 'x' },
      ],
      topologies: [{ networks: ['a'], map: [{ name: 'g' }] }],
    });
    const table = await romana([...noServer, 'topology', 'validate', '-'], { stdin: bad });
    assert.equal(table.code, 1);
    const lines = table.stdout.trimEnd().split('\n');
    assert.ok(lines.length >= 2, table.stdout);
    assert.match(lines[0]!, /^networks\[0\]\.cidr: '10\.0\.0\.1\/8' has host bits set/);
    assert.match(table.stderr, /^romana: stdin is not a valid topology: \d+ problem\(s\)\n$/);
    const j = await romana([...noServer, '-f', 'json', 'topology', 'validate', '-'], {
      stdin: bad,
    });
    assert.equal(j.code, 1);
    const body = JSON.parse(j.stdout) as { valid: boolean; problems: string[] };
    assert.deepEqual([body.valid, body.problems], [false, lines]);
  });
});

describe('romana over HTTPS with tokens', () => {
  let d: Romanad;
  let certs: TestCerts;
  let tls: NodeJS.ProcessEnv;
  const ADMIN = '3f9a0c51d2e84b7f9a61c0de55b2a7e1';
  const READER = '0d4c2b1a9e8f7a6b5c4d3e2f1a0b9c8d';
  before(async () => {
    certs = makeCerts();
    const file = path.join(certs.dir, 'tokens.yaml');
    writeFileSync(
      file,
      `- { token: ${ADMIN}, role: admin, name: ops }\n- { token: ${READER}, role: read-only, name: ro }\n`,
    );
    const tlsArgs = ['--tls-cert', certs.serverCert, '--tls-key', certs.serverKey];
    d = await startRomanad([...ROMANAD_ARGS, '--token-file', file, ...tlsArgs]);
    tls = { NODE_EXTRA_CA_CERTS: certs.ca };
  });
  after(async () => {
    await d.stop();
    certs.remove();
  });

  it('trusts romanad through NODE_EXTRA_CA_CERTS, and cannot reach it without', async () => {
    assert.match(d.url, /^https:/);
    assert.match(
      await ok(['-r', d.url, '--token', ADMIN, 'host', 'list'], undefined, tls),
      /^NAME/,
    );
    const line = await fails(3, ['-r', d.url, '--token', ADMIN, 'host', 'list']);
    assert.match(line, new RegExp(`^romana: cannot reach romanad at ${d.url}: .*certificate`));
  });

  it('sends the token from the flag, the environment or the config file', async () => {
    const r = ['-r', d.url];
    assert.match(
      await fails(1, [...r, 'host', 'list'], undefined, tls),
      /\(HTTP 401 Unauthorized\)/,
    );
    assert.match(await ok([...r, '--token', ADMIN, 'host', 'list'], undefined, tls), /^NAME/);
    const reader = { ...tls, ROMANA_TOKEN: READER };
    const line = await fails(1, [...r, 'blackout', 'add', '10.127.0.0/24'], undefined, reader);
    assert.match(line, /\(HTTP 403 Forbidden\)\n$/);
    const cfg = path.join(certs.dir, 'cli.yaml');
    writeFileSync(cfg, `root-url: ${d.url}\ntoken: ${ADMIN}\n`);
    assert.match(
      await ok(['-c', cfg, 'blackout', 'add', '10.127.0.0/24'], undefined, tls),
      /^CIDR/,
    );
  });
});
