/**
 * romanad as a real process, on the embedded store and on real etcd: the API end to end,
 * restarts, crashes (kill -9) and an etcd leader failover, checking that no address is ever
 * handed out twice and that no acknowledged address is lost.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { startEtcd, startEtcdCluster } from '../helpers/etcd.ts';
import { request, startRomanad, type Romanad } from '../helpers/romanad.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const EXAMPLE = path.join(ROOT, 'examples/topology.json');
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'romanad-e2e-'));
  dirs.push(d);
  return d;
}

const small = {
  networks: [{ name: 'pods', cidr: '10.0.0.0/16', block_mask: 29 }],
  topologies: [
    {
      networks: ['pods'],
      map: [
        {
          name: 'r1',
          groups: [
            { name: 'h1', ip: '192.168.0.1' },
            { name: 'h2', ip: '192.168.0.2' },
          ],
        },
        {
          name: 'r2',
          groups: [
            { name: 'h3', ip: '192.168.0.3' },
            { name: 'h4', ip: '192.168.0.4' },
          ],
        },
      ],
    },
  ],
};
const HOSTS = ['h1', 'h2', 'h3', 'h4'];

async function ok(url: string, method: string, body?: unknown): Promise<unknown> {
  const r = await request(url, method, body);
  assert.equal(r.status, 200, `${method} ${url}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

interface Address {
  name: string;
  ip: string;
}

async function addresses(d: Romanad): Promise<Address[]> {
  return (await ok(`${d.url}/addresses`, 'GET')) as Address[];
}

/**
 * Allocates up to `count` names with `concurrency` workers, as a client would: a refused
 * request is retried with a new name after a short pause. Stops at `count` acknowledged, at
 * `deadlineMs`, or once `stop()` says so. Returns the acknowledged names with their IPs.
 */
async function stream(
  urls: string[],
  prefix: string,
  count: number,
  concurrency: number,
  onAck?: (n: number) => void,
  deadlineMs = 60_000,
  stop: () => boolean = () => false,
): Promise<{ acked: Map<string, string>; failed: number; errors: string[] }> {
  const acked = new Map<string, string>();
  const errors: string[] = [];
  let failed = 0;
  let next = 0;
  const end = Date.now() + deadlineMs;
  let pending = 0;
  const worker = async () => {
    // A request starts only while acknowledged + in flight < count: never more than `count`.
    while (Date.now() < end && !stop()) {
      if (acked.size + pending >= count) {
        if (acked.size >= count) return;
        await new Promise((res) => setTimeout(res, 5));
        continue;
      }
      pending++;
      const i = next++;
      const name = `${prefix}-${i}`;
      try {
        const r = await request(`${urls[i % urls.length]}/address`, 'POST', {
          name,
          host: HOSTS[i % HOSTS.length],
          tenant: 't',
          segment: 's',
        });
        if (r.status === 200) {
          pending--;
          acked.set(name, r.body as string);
          onAck?.(acked.size);
          continue;
        }
        if (errors.length < 5) errors.push(`${r.status} ${JSON.stringify(r.body)}`);
      } catch (err) {
        if (errors.length < 5) errors.push(String(err));
      }
      pending--;
      failed++;
      await new Promise((res) => setTimeout(res, 20));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { acked, failed, errors };
}

function assertNoDuplicates(list: Address[]): void {
  const ips = list.map((a) => a.ip);
  assert.equal(new Set(ips).size, ips.length, 'an IP is held by two names');
}

describe('romanad on the embedded store', () => {
  it('starts with the example topology and serves the 2.x routes', async () => {
    const dir = tempDir();
    const d = await startRomanad([
      '--store',
      `embedded:${dir}`,
      '--initial-topology-file',
      EXAMPLE,
    ]);
    try {
      const nets = (await ok(`${d.url}/networks`, 'GET')) as Array<{ id: string; cidr: string }>;
      assert.deepEqual(
        nets.map((n) => [n.id, n.cidr]),
        [['pods', '10.112.0.0/12']],
      );
      assert.equal(
        await ok(`${d.url}/hosts`, 'POST', {
          name: 'n1',
          ip: '192.168.1.1',
          tags: { zone: 'a', rack: 'a1' },
        }),
        null,
      );
      assert.equal(
        await ok(`${d.url}/address`, 'POST', {
          name: 'p1',
          host: 'n1',
          tenant: 'default',
          segment: 'web',
        }),
        '10.112.0.0',
      );
      const blocks = (await ok(`${d.url}/blocks`, 'GET')) as {
        blocks: Array<{ cidr: string; host: string }>;
      };
      assert.deepEqual(
        blocks.blocks.map((b) => [b.cidr, b.host]),
        [['10.112.0.0/28', 'n1']],
      );
      const topo = (await ok(`${d.url}/topology`, 'GET')) as { networks: unknown[] };
      assert.equal(await ok(`${d.url}/topology`, 'POST', topo), null, 'GET /topology posts back');
      // Error statuses, each with the JSON error body.
      const cases: Array<[string, string, unknown, number, string]> = [
        ['POST', '/address', { host: 'n1' }, 400, 'InvalidInput'],
        ['POST', '/address', { name: 'p1', host: 'n1' }, 409, 'AlreadyExists'],
        ['POST', '/address', { name: 'x', host: 'ghost' }, 404, 'NotFound'],
        ['DELETE', '/address?addressName=ghost', undefined, 404, 'NotFound'],
        [
          'POST',
          '/topology',
          { networks: [{ name: 'n', cidr: '10.0.0.1/8' }], topologies: [] },
          422,
          'InvalidInput',
        ],
        ['DELETE', '/hosts/n1', undefined, 409, 'Conflict'],
      ];
      for (const [method, p, body, status, code] of cases) {
        const r = await request(`${d.url}${p}`, method, body);
        assert.equal(r.status, status, `${method} ${p}: ${JSON.stringify(r.body)}`);
        assert.equal((r.body as { code: string }).code, code);
        assert.equal((r.body as { status_code: number }).status_code, status);
      }
    } finally {
      await d.stop();
    }
  });

  it('answers 507 when the address space is exhausted', async () => {
    const d = await startRomanad(['--store', 'memory:']);
    try {
      await ok(`${d.url}/topology`, 'POST', {
        networks: [{ name: 'tiny', cidr: '10.0.0.0/30', block_mask: 30 }],
        topologies: [
          { networks: ['tiny'], map: [{ name: 'g', groups: [{ name: 'h', ip: '192.168.0.1' }] }] },
        ],
      });
      for (let i = 0; i < 4; i++)
        await ok(`${d.url}/address`, 'POST', { name: `p${i}`, host: 'h' });
      const r = await request(`${d.url}/address`, 'POST', { name: 'p4', host: 'h' });
      assert.equal(r.status, 507);
      assert.equal((r.body as { code: string }).code, 'NoAvailableIP');
    } finally {
      await d.stop();
    }
  });

  it('keeps its state across a restart', async () => {
    const dir = tempDir();
    const args = ['--store', `embedded:${dir}`];
    let d = await startRomanad(args);
    await ok(`${d.url}/topology`, 'POST', small);
    const { acked } = await stream([d.url], 'keep', 40, 8);
    await ok(`${d.url}/address?addressName=keep-3`, 'DELETE');
    await d.stop();
    d = await startRomanad(args);
    try {
      const list = await addresses(d);
      acked.delete('keep-3');
      assert.deepEqual(new Map(list.map((a) => [a.name, a.ip])), acked);
    } finally {
      await d.stop();
    }
  });

  it('loses no acknowledged address and duplicates none when killed with SIGKILL mid-stream', async () => {
    const dir = tempDir();
    const args = ['--store', `embedded:${dir}`];
    let d = await startRomanad(args);
    await ok(`${d.url}/topology`, 'POST', small);
    let killed: Promise<void> | undefined;
    const { acked } = await stream(
      [d.url],
      'crash',
      3000,
      16,
      (n) => {
        if (n === 300 && killed === undefined) killed = d.stop('SIGKILL');
      },
      60_000,
      () => killed !== undefined,
    );
    await killed;
    assert.ok(acked.size >= 300 && acked.size < 3000, `acknowledged ${acked.size}`);
    d = await startRomanad(args);
    try {
      const list = await addresses(d);
      assertNoDuplicates(list);
      const stored = new Map(list.map((a) => [a.name, a.ip]));
      for (const [name, ip] of acked)
        assert.equal(stored.get(name), ip, `acknowledged ${name} lost`);
      // And it goes on allocating, without handing out a stored IP again.
      const more = await stream([d.url], 'after', 50, 8);
      const all = await addresses(d);
      assertNoDuplicates(all);
      assert.equal(all.length, list.length + more.acked.size);
    } finally {
      await d.stop();
    }
  });

  it('refuses to listen beyond loopback without tokens', () => {
    const r = spawnSync(
      process.execPath,
      [path.join(ROOT, 'bin/romanad.js'), '--host', '0.0.0.0', '--store', 'memory:'],
      {
        encoding: 'utf8',
        timeout: 20_000,
      },
    );
    assert.equal(r.status, 2);
    assert.match(r.stderr, /0\.0\.0\.0/);
    assert.match(r.stderr, /token/i);
  });

  it('prints --help with every flag', () => {
    const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/romanad.js'), '--help'], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.equal(r.status, 0);
    for (const flag of [
      '--host',
      '--port',
      '--store',
      '--etcd-endpoints',
      '--etcd-prefix',
      '--initial-topology-file',
      '--token-file',
      '--tls-cert',
    ]) {
      assert.ok(r.stdout.includes(flag), `--help lacks ${flag}`);
    }
  });
});

describe('romanad on etcd', () => {
  it('two replicas on one etcd hand out 64 concurrent allocations without a duplicate', async () => {
    const etcd = await startEtcd();
    const args = ['--store', 'etcd', '--etcd-endpoints', etcd.endpoints.join(',')];
    const a = await startRomanad(args);
    const b = await startRomanad(args);
    try {
      await ok(`${a.url}/topology`, 'POST', small);
      const { acked, failed, errors } = await stream([a.url, b.url], 'rep', 64, 64);
      assert.equal(failed, 0, errors.join('\n'));
      assert.equal(new Set(acked.values()).size, 64);
      for (const d of [a, b]) {
        let list: Address[] = [];
        for (let i = 0; i < 100 && list.length < 64; i++) {
          list = await addresses(d);
          if (list.length < 64) await new Promise((r) => setTimeout(r, 50));
        }
        assert.deepEqual(new Map(list.map((x) => [x.name, x.ip])), acked);
      }
    } finally {
      await a.stop();
      await b.stop();
      await etcd.stop();
    }
  });

  it('resumes after the etcd leader of a 3-member cluster is stopped, losing nothing acknowledged', async () => {
    const cluster = await startEtcdCluster(3);
    const d = await startRomanad([
      '--store',
      'etcd',
      '--etcd-endpoints',
      cluster.endpoints.join(','),
    ]);
    try {
      await ok(`${d.url}/topology`, 'POST', small);
      let stopped: Promise<void> | undefined;
      let ackedAtStop = 0;
      const { acked } = await stream([d.url], 'fail', 600, 8, (n) => {
        if (n === 200 && stopped === undefined) {
          ackedAtStop = n;
          stopped = cluster.leaderIndex().then((i) => cluster.stop(i));
        }
      });
      await stopped;
      assert.equal(ackedAtStop, 200, 'the leader was stopped mid-stream');
      assert.equal(acked.size, 600, `only ${acked.size} acknowledged; allocation did not resume`);
      const list = await addresses(d);
      assertNoDuplicates(list);
      const stored = new Map(list.map((a) => [a.name, a.ip]));
      for (const [name, ip] of acked)
        assert.equal(stored.get(name), ip, `acknowledged ${name} lost`);
      // A fresh replica reading the cluster agrees.
      const e = await startRomanad([
        '--store',
        'etcd',
        '--etcd-endpoints',
        cluster.endpoints.join(','),
      ]);
      try {
        const fresh = await addresses(e);
        assert.deepEqual(new Map(fresh.map((a) => [a.name, a.ip])), stored);
      } finally {
        await e.stop();
      }
    } finally {
      await d.stop();
      await cluster.stopAll();
    }
  });
});
