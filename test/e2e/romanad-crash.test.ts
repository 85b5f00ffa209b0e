/**
 * romanad killed (SIGKILL, by itself: `ROMANAD_TEST_CRASH_AFTER=<kind>:<n>`) right after each
 * transaction of a topology update and of a forced host removal, on the embedded store. After a
 * restart the operation is fully done or fully undone, writes are served at once (the store's
 * directory lock proves no other writer lives), no acknowledged address is lost and none is held
 * twice, and the store holds no intent, fence or foreign generation. On etcd, where no lock
 * proves the writer dead, another replica settles the operation once it stood still for the
 * staleness period (10 s).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { EmbeddedStore } from '../../src/store/embedded.ts';
import { startEtcd } from '../helpers/etcd.ts';
import { request, startRomanad, type Romanad } from '../helpers/romanad.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const rack = (name: string, hosts: Array<[string, string]>) => ({
  name,
  groups: hosts.map(([n, ip]) => ({ name: n, ip })),
});
const TOPO_A = {
  networks: [{ name: 'pods', cidr: '10.0.0.0/16', block_mask: 29 }],
  topologies: [
    {
      networks: ['pods'],
      map: [
        rack('r1', [
          ['h1', '192.168.0.1'],
          ['h2', '192.168.0.2'],
        ]),
        rack('r2', [
          ['h3', '192.168.0.3'],
          ['h4', '192.168.0.4'],
        ]),
      ],
    },
  ],
};
/** A adds a host and a second network. */
const TOPO_B = {
  networks: [...TOPO_A.networks, { name: 'svc', cidr: '10.9.0.0/16', block_mask: 28 }],
  topologies: [
    {
      networks: ['pods', 'svc'],
      map: [
        TOPO_A.topologies[0]!.map[0]!,
        rack('r2', [
          ['h3', '192.168.0.3'],
          ['h4', '192.168.0.4'],
          ['h5', '192.168.0.5'],
        ]),
      ],
    },
  ],
};

async function ok(url: string, method: string, body?: unknown): Promise<unknown> {
  const r = await request(url, method, body);
  assert.equal(r.status, 200, `${method} ${url}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** Allocates `n` addresses on `host`, recording each acknowledged one in `acked`. */
async function allocate(d: Romanad, acked: Map<string, string>, host: string, n: number) {
  for (let i = 0; i < n; i++) {
    const name = `${host}-${acked.size}-${i}`;
    acked.set(name, (await ok(`${d.url}/address`, 'POST', { name, host, tenant: 't' })) as string);
  }
}

/** Every acknowledged address is held, with its IP; no IP is held twice. */
async function checkAddresses(d: Romanad, acked: Map<string, string>): Promise<void> {
  const list = (await ok(`${d.url}/addresses`, 'GET')) as Array<{ name: string; ip: string }>;
  const held = new Map(list.map((a) => [a.name, a.ip]));
  for (const [name, ip] of acked) assert.equal(held.get(name), ip, `address ${name} survives`);
  assert.equal(new Set(list.map((a) => a.ip)).size, list.length, 'no IP is held twice');
}

/** The store holds no intent, no fence, no beat, and only the current generation. */
async function checkStore(dir: string): Promise<void> {
  const store = await EmbeddedStore.open(dir);
  try {
    const { kvs } = await store.range('');
    const topo = JSON.parse(kvs.find((kv) => kv.key === 'topology')!.value) as {
      generation: number;
      updating?: unknown;
    };
    assert.equal(topo.updating, undefined, 'no fence is left');
    const left = kvs.filter(
      (kv) =>
        kv.key.startsWith('ops/') ||
        kv.key.startsWith('beats/') ||
        (kv.key.startsWith('g/') && !kv.key.startsWith(`g/${topo.generation}/`)),
    );
    assert.deepEqual(
      left.map((kv) => kv.key),
      [],
      'no intent or other generation is left',
    );
  } finally {
    await store.close();
  }
}

const start = (dir: string, crash?: string) =>
  startRomanad(
    ['--store', `embedded:${dir}`],
    crash === undefined ? process.env : { ...process.env, ROMANAD_TEST_CRASH_AFTER: crash },
  );

/**
 * Runs `act` on a romanad that kills itself after the `step`-th transaction of `kind`.
 * Returns true when it died (false: the operation has fewer steps and completed).
 */
async function crashDuring(
  dir: string,
  kind: string,
  step: number,
  act: (d: Romanad) => Promise<unknown>,
): Promise<boolean> {
  const d = await start(dir, `${kind}:${step}`);
  const exited = new Promise<NodeJS.Signals | null>((r) =>
    d.proc.once('exit', (_c, sig) => r(sig)),
  );
  const outcome = await act(d).then(
    () => 'answered',
    (err: unknown) => String(err),
  );
  if (outcome === 'answered') {
    await d.stop();
    return false;
  }
  assert.equal(await exited, 'SIGKILL', `romanad died by its crash hook (${outcome})`);
  return true;
}

/** Restarts and checks that a write is served at once. */
async function restart(dir: string): Promise<Romanad> {
  const d = await start(dir);
  const t0 = Date.now();
  const r = await request(`${d.url}/address`, 'POST', {
    name: `probe-${t0}`,
    host: 'h1',
    tenant: 't',
  });
  assert.equal(r.status, 200, `the first write after restart: ${JSON.stringify(r.body)}`);
  assert.ok(Date.now() - t0 < 2000, 'served at once');
  await ok(`${d.url}/address?addressName=probe-${t0}`, 'DELETE');
  return d;
}

describe('romanad killed in the middle of an operation (embedded store)', () => {
  it('a topology update killed after any of its transactions is fully done or undone', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'romanad-crash-'));
    dirs.push(dir);
    const acked = new Map<string, string>();
    // Reference: what each topology reads back as.
    let d = await start(dir);
    await ok(`${d.url}/topology`, 'POST', TOPO_B);
    const readB = JSON.stringify(await ok(`${d.url}/topology`, 'GET'));
    await ok(`${d.url}/topology`, 'POST', TOPO_A);
    const readA = JSON.stringify(await ok(`${d.url}/topology`, 'GET'));
    for (const h of ['h1', 'h2', 'h3', 'h4']) await allocate(d, acked, h, 3);
    await d.stop();
    let current = readA;
    let crashes = 0;
    for (let step = 1; step < 30; step++) {
      const next = current === readA ? TOPO_B : TOPO_A;
      const died = await crashDuring(dir, 'topology', step, (x) =>
        ok(`${x.url}/topology`, 'POST', next),
      );
      d = await restart(dir);
      const now = JSON.stringify(await ok(`${d.url}/topology`, 'GET'));
      assert.ok(now === readA || now === readB, `step ${step}: the topology is A or B`);
      if (!died) assert.notEqual(now, current, 'an update that answered is applied');
      await checkAddresses(d, acked);
      await allocate(d, acked, 'h3', 2);
      await d.stop();
      await checkStore(dir);
      current = now;
      if (!died) break;
      crashes++;
    }
    assert.ok(crashes >= 4, `killed at ${crashes} points of the update`);
  });

  it('a forced host removal killed after any of its transactions is finished at restart', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'romanad-crash-'));
    dirs.push(dir);
    const acked = new Map<string, string>();
    let d = await start(dir);
    await ok(`${d.url}/topology`, 'POST', TOPO_A);
    await allocate(d, acked, 'h1', 4);
    /** Adds the host the next step removes, with 20 addresses (three blocks of 8). */
    const prepare = async (x: Romanad, step: number): Promise<Map<string, string>> => {
      await ok(`${x.url}/hosts`, 'POST', { name: `x${step}`, ip: `192.168.1.${step}` });
      const doomed = new Map<string, string>();
      await allocate(x, doomed, `x${step}`, 20);
      await x.stop();
      return doomed;
    };
    let doomed = await prepare(d, 1);
    let crashes = 0;
    for (let step = 1; step < 30; step++) {
      const host = `x${step}`;
      const died = await crashDuring(dir, 'remove-host', step, (x) =>
        ok(`${x.url}/hosts/${host}?force=true`, 'DELETE'),
      );
      d = await restart(dir);
      assert.equal((await request(`${d.url}/hosts/${host}`, 'GET')).status, 404, 'host gone');
      const list = (await ok(`${d.url}/addresses`, 'GET')) as Array<{ name: string }>;
      assert.deepEqual(
        list.filter((a) => doomed.has(a.name)),
        [],
        'its addresses are released',
      );
      await checkAddresses(d, acked);
      // Its names and addresses are free again.
      const again = new Map<string, string>();
      for (const name of [...doomed.keys()].slice(0, 3)) {
        again.set(name, (await ok(`${d.url}/address`, 'POST', { name, host: 'h2' })) as string);
      }
      for (const name of again.keys()) await ok(`${d.url}/address?addressName=${name}`, 'DELETE');
      if (!died) {
        await d.stop();
        await checkStore(dir);
        break;
      }
      doomed = await prepare(d, step + 1);
      await checkStore(dir);
      crashes++;
    }
    assert.ok(crashes >= 4, `killed at ${crashes} points of the removal`);
  });
});

describe('a romanad replica killed in the middle of an operation (etcd)', () => {
  it('another replica finishes its host removal and undoes its topology update once they are stale', async () => {
    const etcd = await startEtcd();
    const args = ['--store', 'etcd', '--etcd-endpoints', etcd.endpoints.join(',')];
    const env = (crash: string) => ({ ...process.env, ROMANAD_TEST_CRASH_AFTER: crash });
    const b = await startRomanad(args, process.env);
    try {
      await ok(`${b.url}/topology`, 'POST', TOPO_A);
      const readA = JSON.stringify(await ok(`${b.url}/topology`, 'GET'));
      const acked = new Map<string, string>();
      await allocate(b, acked, 'h1', 3);
      await ok(`${b.url}/hosts`, 'POST', { name: 'x', ip: '192.168.1.1' });
      const doomed = new Map<string, string>();
      await allocate(b, doomed, 'x', 20);
      // A replica dies after fencing x and freeing one of its blocks.
      const a = await startRomanad(args, env('remove-host:2'));
      await assert.rejects(request(`${a.url}/hosts/x?force=true`, 'DELETE'));
      const t0 = Date.now();
      await allocate(b, acked, 'h2', 1); // other hosts are not held up
      let gone = false;
      while (!gone && Date.now() - t0 < 30_000) {
        gone = (await request(`${b.url}/hosts/x`, 'GET')).status === 404;
        if (!gone) await new Promise((r) => setTimeout(r, 200));
      }
      assert.ok(gone, 'the removal was finished by the other replica');
      await checkAddresses(b, acked);
      // A replica dies after fencing a topology update and writing part of it.
      const a2 = await startRomanad(args, env('topology:2'));
      await assert.rejects(request(`${a2.url}/topology`, 'POST', TOPO_B));
      const t1 = Date.now();
      let refused = 0;
      for (;;) {
        const r = await request(`${b.url}/address`, 'POST', { name: `w${Date.now()}`, host: 'h3' });
        if (r.status === 200) {
          acked.set(`w`, r.body as string);
          break;
        }
        assert.equal(r.status, 503, JSON.stringify(r.body));
        refused++;
        assert.ok(Date.now() - t1 < 30_000, 'writes resume');
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.ok(refused > 0, 'writes waited while the update could still be alive');
      assert.equal(JSON.stringify(await ok(`${b.url}/topology`, 'GET')), readA, 'undone');
      const list = (await ok(`${b.url}/addresses`, 'GET')) as Array<{ ip: string }>;
      assert.equal(new Set(list.map((x) => x.ip)).size, list.length, 'no IP held twice');
    } finally {
      await b.stop();
      await etcd.stop();
    }
  });
});
