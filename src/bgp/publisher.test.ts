/**
 * The publisher's loop against a real romanad (memory store) and a real BIRD 2 in a network
 * namespace of its own: a host removed from romanad (`DELETE /hosts/{name}?force=true`, or a
 * topology update that leaves it out) stops announcing while its BGP session stays
 * configured, and announces again once it is back.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RomanadClient } from '../client/index.ts';
import { createNetns, uniqueNetnsName, type TestNetns } from '../../test/helpers/netns.ts';
import { request, startRomanad, type Romanad } from '../../test/helpers/romanad.ts';
import { BirdControl } from './bird.ts';
import { PublisherMetrics } from './metrics.ts';
import { Publisher, type PublisherOptions } from './publisher.ts';
import { DEFAULT_TIMERS } from './render.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'romana-bg2-pub-'));
const sock = path.join(dir, 'bird.ctl');
const conf = path.join(dir, 'bird.conf');
const PEER = 'romana_peer_10_9_0_2';

/**
 * rack-1 holds only h1 (announced whole), rack-2 only h9; without h1, no group is eligible
 * for it (neither assignment matches its tags), so romanad drops it.
 */
const topology = (withH1: boolean) => ({
  networks: [{ name: 'pods', cidr: '10.112.0.0/16', block_mask: 28 }],
  topologies: [
    {
      networks: ['pods'],
      map: [
        {
          name: 'rack-1',
          assignment: { rack: withH1 ? '1' : 'none' },
          groups: withH1 ? [{ name: 'h1', ip: '10.9.0.1' }] : [],
        },
        { name: 'rack-2', assignment: { rack: '2' }, groups: [{ name: 'h9', ip: '10.9.0.9' }] },
      ],
    },
  ],
});

let ns: TestNetns;
let bird: ChildProcess;
let romanad: Romanad;
let publisher: Publisher;
const logs: string[] = [];

async function until(what: string, check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}\n${logs.join('\n')}`);
}

const birdc = (...args: string[]) => ns.run(['birdc', '-s', sock, ...args]);
/** The prefixes of BIRD's static Romana protocol: what the host announces. */
const announced = () =>
  [...birdc('show', 'route', 'protocol', 'romana4').matchAll(/^([0-9.]+\/\d+)\s/gm)].map(
    (m) => m[1],
  );
const logged = (text: string) => logs.filter((l) => l.includes(text)).length;

async function api(method: string, p: string, body?: unknown): Promise<unknown> {
  const r = await request(`${romanad.url}${p}`, method, body);
  assert.ok(r.status < 300, `${method} ${p}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** The CIDR romanad carved for group `name`. */
async function groupCidr(name: string): Promise<string> {
  const t = (await api('GET', '/topology')) as {
    topologies: Array<{ map: Array<{ name: string; cidr: string }> }>;
  };
  return t.topologies[0]!.map.find((g) => g.name === name)!.cidr;
}

function newPublisher(extra: Partial<PublisherOptions> = {}): Publisher {
  return new Publisher({
    client: new RomanadClient({ baseUrl: romanad.url, timeoutMs: 5000 }),
    baseUrl: romanad.url,
    host: 'h1',
    bird: new BirdControl(ns.exec, sock),
    configFile: conf,
    peerFlags: ['10.9.0.2,65100'],
    localAs: 65100,
    ecmpNetworks: new Set(),
    gracefulRestart: 0,
    timers: { ...DEFAULT_TIMERS, hold: 3, keepalive: 1 },
    kernel: false,
    metrics: new PublisherMetrics(),
    log: (level, msg) => logs.push(`${level} ${msg}`),
    sessionPollMs: 0,
    ...extra,
  });
}

describe('publisher: a host removed from romanad announces nothing', { timeout: 60_000 }, () => {
  before(async () => {
    writeFileSync(path.join(dir, 'topology.json'), JSON.stringify(topology(true)));
    romanad = await startRomanad([
      '--store',
      'memory:',
      '--initial-topology-file',
      path.join(dir, 'topology.json'),
    ]);
    ns = createNetns(uniqueNetnsName('bg2pub'));
    ns.addVeth({ name: 'bg2p0', peer: 'bg2p1', address: '10.9.0.1/24' });
    writeFileSync(conf, 'router id 10.9.0.1;\nprotocol device {\n}\n');
    bird = ns.spawn(['bird', '-f', '-c', conf, '-s', sock], { stdio: 'ignore' });
    const ctl = new BirdControl(ns.exec, sock);
    await until('BIRD to answer', async () => (await ctl.check(conf)).ok);
    publisher = newPublisher();
    await publisher.start();
  });
  after(async () => {
    publisher?.stop();
    bird?.kill('SIGKILL');
    ns?.remove();
    await romanad?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('announces its group, withdraws it when the host is deleted, announces it again', async () => {
    const rack1 = await groupCidr('rack-1');
    assert.deepEqual(announced(), [rack1]);
    await api('DELETE', '/hosts/h1?force=true');
    await until(
      'the prefix to be withdrawn',
      async () => announced().length === 0 && publisher.announcements.length === 0,
    );
    // The session is still configured: only the announcement went.
    assert.match(birdc('show', 'protocols', PEER), new RegExp(`${PEER}\\s+BGP`));
    assert.equal(logged('announcing nothing, BGP sessions kept'), 1);
    await api('POST', '/hosts', { name: 'h1', ip: '10.9.0.1', tags: { rack: '1' } });
    await until('the host to be announced again', async () => announced().length === 1);
    assert.deepEqual(announced(), [rack1]);
    assert.equal(logged('is in romanad again: announcing its prefixes'), 1);
  });

  it('a topology update that leaves the host out withdraws its prefixes', async () => {
    assert.equal(announced().length, 1);
    await api('POST', '/topology', topology(false));
    await until('the prefix to be withdrawn', async () => announced().length === 0);
    assert.match(birdc('show', 'protocols', PEER), new RegExp(`${PEER}\\s+BGP`));
    await api('POST', '/topology', topology(true));
    await until('the host to be announced again', async () => announced().length === 1);
    assert.deepEqual(announced(), [await groupCidr('rack-1')]);
  });

  it('a publisher started after its host was removed withdraws what BIRD still announces, then announces it once back', async () => {
    const rack1 = await groupCidr('rack-1');
    assert.deepEqual(announced(), [rack1]);
    publisher.stop();
    await api('DELETE', '/hosts/h1?force=true');
    // BIRD goes on announcing from the file the old publisher wrote.
    assert.deepEqual(announced(), [rack1]);
    publisher = newPublisher();
    await publisher.start();
    assert.equal(publisher.present(), false);
    await until('the old prefix to be withdrawn', async () => announced().length === 0);
    assert.match(birdc('show', 'protocols', PEER), new RegExp(`${PEER}\\s+BGP`));
    assert.equal(logged("withdrawing the prefixes BIRD's configuration announces"), 1);
    // Registered again, and placed by its tags: romanad sends no topology event for that.
    await api('POST', '/hosts', { name: 'h1', ip: '10.9.0.1', tags: { rack: '1' } });
    await until(
      'the host to be announced again',
      async () => publisher.present() === true && publisher.announcements.length === 1,
    );
    assert.deepEqual(
      publisher.announcements.map((a) => a.prefix),
      [await groupCidr('rack-1')],
    );
    assert.deepEqual(announced(), [await groupCidr('rack-1')]);
  });

  it('a template BIRD rejects, or one eta cannot run, leaves the running configuration, counted', async () => {
    publisher.stop();
    const tpl = path.join(dir, 'site.eta');
    writeFileSync(tpl, '<%= it.defaultConfig %>\n# site\n');
    const metrics = new PublisherMetrics();
    publisher = newPublisher({ template: tpl, metrics });
    await publisher.start();
    const good = readFileSync(conf, 'utf8');
    assert.match(good, /# site\n$/);
    const value = async (name: string, labels = '') =>
      Number(
        new RegExp(`^${name}${labels.replace(/[{}]/g, '\\$&')} (\\d+)$`, 'm').exec(
          await metrics.registry.metrics(),
        )?.[1] ?? NaN,
      );
    assert.equal(await value('romana_bgp_reloads_total'), 1);
    assert.equal(await value('romana_bgp_announced_prefixes'), 1);
    writeFileSync(tpl, '<%= it.defaultConfig %>\nprotocol bgp { neighbor; }\n');
    await publisher.publish();
    assert.equal(await value('romana_bgp_config_errors_total', '{reason="rejected"}'), 1);
    assert.equal(logged('BIRD rejected the configuration; the previous one keeps running'), 1);
    writeFileSync(tpl, '<%= it.nope.deeper %>\n');
    await publisher.publish();
    assert.equal(await value('romana_bgp_config_errors_total', '{reason="render"}'), 1);
    assert.equal(await value('romana_bgp_config_errors_total', '{reason="rejected"}'), 1);
    assert.equal(await value('romana_bgp_reloads_total'), 1);
    assert.equal(readFileSync(conf, 'utf8'), good);
    assert.deepEqual(announced(), [await groupCidr('rack-1')]);
  });

  it("reports the session's state read from BIRD as metrics", async () => {
    publisher.stop();
    const metrics = new PublisherMetrics();
    publisher = newPublisher({ metrics });
    await publisher.start();
    await publisher.pollSessions();
    const text = await metrics.registry.metrics();
    const labels = `protocol="${PEER}",neighbor="10.9.0.2"`;
    // Nobody answers at 10.9.0.2: the session is configured but not established.
    assert.match(text, new RegExp(`^romana_bgp_session_up\\{${labels}\\} 0$`, 'm'));
    const states = [...text.matchAll(/^romana_bgp_session_state\{[^}]*state="(\w+)"\} 1$/gm)];
    assert.equal(states.length, 1, text);
    assert.match(birdc('show', 'protocols', PEER), new RegExp(`\\s${states[0]![1]}\\b`));
  });

  it('a topology update that lands while the topology is read again is not lost', async () => {
    publisher.stop();
    const client = new RomanadClient({ baseUrl: romanad.url, timeoutMs: 5000 });
    const read = client.getTopology.bind(client);
    let hold: Promise<void> | undefined;
    let reading = () => {};
    client.getTopology = async () => {
      const t = await read();
      reading();
      await hold;
      return t;
    };
    publisher = newPublisher({ client });
    await publisher.start();
    assert.deepEqual(announced(), [await groupCidr('rack-1')]);
    let release = () => {};
    hold = new Promise((r) => (release = r));
    const readStarted = new Promise<void>((r) => (reading = r));
    // A host event: the publisher reads the topology again, and that read is held...
    await api('POST', '/hosts', { name: 'h7', ip: '10.9.0.7', tags: { rack: '2' } });
    await readStarted;
    // ...while a topology update (a third rack: rack-1 shrinks to a /18) reaches the stream.
    const three = topology(true);
    three.topologies[0]!.map.push({ name: 'rack-3', assignment: { rack: '3' }, groups: [] });
    await api('POST', '/topology', three);
    const rack1 = await groupCidr('rack-1');
    assert.match(rack1, /\/18$/);
    await until(
      'the update to reach the publisher',
      async () => publisher.config()?.announcements.some((a) => a.prefix === rack1) === true,
    );
    hold = undefined;
    release();
    await until('the new rack-1 to be announced', async () => announced()[0] === rack1);
    assert.deepEqual(announced(), [rack1]);
  });

  it("follows the topology's ecmp: a shared group is announced whole once it is on", async () => {
    // rack-1 holds h1 and h2: without ECMP, h1 (no block) announces nothing...
    const shared = (ecmp: boolean) => {
      const t: ReturnType<typeof topology> & { topologies: Array<{ ecmp?: boolean }> } =
        topology(true);
      t.topologies[0]!.map[0]!.groups.push({ name: 'h2', ip: '10.9.0.3' });
      if (ecmp) t.topologies[0]!.ecmp = true;
      return t;
    };
    await api('POST', '/topology', shared(false));
    await until(
      'nothing announced',
      async () => announced().length === 0 && publisher.announcements.length === 0,
    );
    // ...with the topology's `ecmp: true` (no --ecmp-network), rack-1 whole, from each host.
    await api('POST', '/topology', shared(true));
    const rack1 = await groupCidr('rack-1');
    await until(
      'rack-1 announced whole',
      async () => announced()[0] === rack1 && publisher.announcements.length === 1,
    );
    assert.deepEqual(
      publisher.announcements.map((a) => [a.prefix, a.kind, a.group]),
      [[rack1, 'ecmp-group', 'rack-1']],
    );
  });
});
