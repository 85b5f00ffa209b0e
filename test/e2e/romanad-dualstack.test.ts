/**
 * romanad as a real process on the embedded store, dual-stack: it starts from
 * examples/topology-dualstack.json (as docs/ipv6.md tells a newcomer to), answers the contract
 * of POST /address and the views, and keeps both addresses across a restart. Then a stream of
 * dual-stack allocations is cut by SIGKILL: after a restart every name holds both addresses or
 * neither, every acknowledged pair is there, no address is held twice.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { request, startRomanad, type Romanad } from '../helpers/romanad.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const EXAMPLE = path.join(ROOT, 'examples/topology-dualstack.json');

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'romanad-dual-'));
  dirs.push(d);
  return d;
}

async function ok(url: string, method: string, body?: unknown): Promise<unknown> {
  const r = await request(url, method, body);
  assert.equal(r.status, 200, `${method} ${url}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

interface Address {
  name: string;
  ip: string;
  ips: Array<{ ip: string; network: string; block: string }>;
}

const HOSTS: Array<[string, string, string, Record<string, string>]> = [
  ['node-1', '192.168.0.11', 'fd00:ff::11', { zone: 'a', rack: 'a1' }],
  ['node-2', '192.168.0.12', 'fd00:ff::12', { zone: 'b', rack: 'b1' }],
  ['node-3', '192.168.0.13', 'fd00:ff::13', {}],
];

async function addHosts(d: Romanad): Promise<void> {
  for (const [name, ip, ip6, tags] of HOSTS) {
    await ok(`${d.url}/hosts`, 'POST', { name, ip, ip6, tags });
  }
}

/** Checks that every name holds one IPv4 and one IPv6 address and no address is held twice. */
function assertPairs(list: Address[]): void {
  const all = list.flatMap((a) => a.ips.map((x) => x.ip));
  assert.equal(new Set(all).size, all.length, 'an address is held twice');
  for (const a of list) {
    assert.equal(a.ips.length, 2, `${a.name} holds ${JSON.stringify(a.ips)}`);
    assert.ok(!a.ips[0]!.ip.includes(':') && a.ips[1]!.ip.includes(':'), a.name);
    assert.equal(a.ip, a.ips[0]!.ip);
  }
}

describe('romanad dual-stack on the embedded store', () => {
  it('starts from examples/topology-dualstack.json and serves both families across a restart', async () => {
    const dir = tempDir();
    const args = ['--store', `embedded:${dir}`, '--initial-topology-file', EXAMPLE];
    let d = await startRomanad(args);
    try {
      const nets = (await ok(`${d.url}/networks`, 'GET')) as Array<{ id: string; cidr: string }>;
      assert.deepEqual(
        nets.map((n) => [n.id, n.cidr]),
        [
          ['pods', '10.112.0.0/12'],
          ['pods6', 'fd00:10::/48'],
        ],
      );
      await addHosts(d);
      const answer = await ok(`${d.url}/address`, 'POST', { name: 'pod-a', host: 'node-1' });
      assert.deepEqual(answer, { ip: '10.112.0.0', ips: ['10.112.0.0', 'fd00:10::'] });
      const hosts = (await ok(`${d.url}/hosts`, 'GET')) as { hosts: Array<{ ip6?: string }> };
      assert.deepEqual(
        hosts.hosts.map((h) => h.ip6),
        HOSTS.map((h) => h[2]),
      );
    } finally {
      await d.stop();
    }
    d = await startRomanad(args); // the store is no longer empty: the file is not applied again
    try {
      const list = (await ok(`${d.url}/addresses`, 'GET')) as Address[];
      assert.deepEqual(
        list.map((a) => [a.name, a.ips.map((x) => x.ip)]),
        [['pod-a', ['10.112.0.0', 'fd00:10::']]],
      );
      await ok(`${d.url}/address?addressName=fd00:10::`, 'DELETE');
      assert.deepEqual(await ok(`${d.url}/addresses`, 'GET'), []);
    } finally {
      await d.stop();
    }
  });

  it('a SIGKILL amid dual-stack allocations leaves each name with both addresses or none', async () => {
    const dir = tempDir();
    const args = ['--store', `embedded:${dir}`, '--initial-topology-file', EXAMPLE];
    let d = await startRomanad(args);
    await addHosts(d);
    const acked = new Map<string, string[]>();
    let killed: Promise<void> | undefined;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (killed === undefined) {
        const i = next++;
        const name = `crash-${i}`;
        try {
          const r = await request(`${d.url}/address`, 'POST', {
            name,
            host: HOSTS[i % HOSTS.length]![0],
            tenant: 't',
          });
          if (r.status === 200) {
            acked.set(name, (r.body as { ips: string[] }).ips);
            if (acked.size === 200) killed = d.stop('SIGKILL');
          }
        } catch {
          return; // the process is gone
        }
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    await killed;
    assert.ok(acked.size >= 200, `acknowledged ${acked.size}`);
    d = await startRomanad(args);
    try {
      const list = (await ok(`${d.url}/addresses`, 'GET')) as Address[];
      assertPairs(list);
      const stored = new Map(list.map((a) => [a.name, a.ips.map((x) => x.ip)]));
      for (const [name, ips] of acked) assert.deepEqual(stored.get(name), ips, name);
      const blocks = (await ok(`${d.url}/blocks`, 'GET')) as {
        blocks: Array<{ cidr: string; allocated_ip_count: number }>;
      };
      const count = (v6: boolean) =>
        blocks.blocks
          .filter((b) => b.cidr.includes(':') === v6)
          .reduce((n, b) => n + b.allocated_ip_count, 0);
      assert.equal(count(false), list.length);
      assert.equal(count(true), list.length);
      // And it goes on, never handing out a stored address again.
      for (let i = 0; i < 20; i++) {
        await ok(`${d.url}/address`, 'POST', { name: `after-${i}`, host: 'node-2', tenant: 't' });
      }
      const all = (await ok(`${d.url}/addresses`, 'GET')) as Address[];
      assertPairs(all);
      assert.equal(all.length, list.length + 20);
    } finally {
      await d.stop();
    }
  });
});
