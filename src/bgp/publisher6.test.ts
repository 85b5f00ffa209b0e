/**
 * IPv6 prefixes reach a BGP peer: a real romanad (memory store) with an IPv4 and an IPv6
 * network, the publisher driving a real BIRD 2 in the host's namespace, and a second BIRD 2 as
 * the peer (a ToR) in a namespace of its own, one IPv4 session between them. The peer learns
 * the host's IPv4 prefix with next hop the host's `ip` and its IPv6 prefix with next hop its
 * `ip6`, and installs both in its kernel.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RomanadClient } from '../client/index.ts';
import { createNetns, uniqueNetnsName, type TestNetns } from '../../test/helpers/netns.ts';
import { request, startRomanad, type Romanad } from '../../test/helpers/romanad.ts';
import { BirdControl } from './bird.ts';
import { PublisherMetrics } from './metrics.ts';
import { Publisher } from './publisher.ts';
import { DEFAULT_TIMERS } from './render.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'romana-n6-bgp-'));
const host = { sock: path.join(dir, 'host.ctl'), conf: path.join(dir, 'host.conf') };
const peer = { sock: path.join(dir, 'peer.ctl'), conf: path.join(dir, 'peer.conf') };

/** rack-1 holds h1 alone (announced whole); rack-2 holds h8 and h9 (blocks one by one). */
const topology = {
  networks: [
    { name: 'pods', cidr: '10.112.0.0/16', block_mask: 28 },
    { name: 'pods6', cidr: 'fd00:112::/48', block_mask: 120 },
  ],
  topologies: [
    {
      networks: ['pods', 'pods6'],
      map: [
        { name: 'rack-1', groups: [{ name: 'h1', ip: '10.9.0.1', ip6: 'fd00:9::1' }] },
        {
          name: 'rack-2',
          groups: [
            { name: 'h8', ip: '10.9.0.8', ip6: 'fd00:9::8' },
            { name: 'h9', ip: '10.9.0.9', ip6: 'fd00:9::9' },
          ],
        },
      ],
    },
  ],
};

const PEER_CONF = `router id 10.9.0.2;
protocol device {
}
protocol kernel {
  ipv4 { import none; export all; };
}
protocol kernel {
  ipv6 { import none; export all; };
}
protocol bgp host1 {
  local 10.9.0.2 as 65100;
  neighbor 10.9.0.1 as 65001;
  direct;
  connect retry time 1;
  ipv4 { import all; export none; };
  ipv6 { import all; export none; };
}
`;

let hostNs: TestNetns;
let peerNs: TestNetns;
const birds: ChildProcess[] = [];
let romanad: Romanad;
let publisher: Publisher;

async function until(what: string, check: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The peer's kernel routes of a family to `prefix`: `prefix via gateway`. */
const peerRoute = (family: 4 | 6, prefix: string) =>
  peerNs
    .ip(`-${family}`, 'route', 'show', 'exact', prefix)
    .trim()
    .replace(/\s+(dev|proto) .*$/, '');

async function api(method: string, p: string, body?: unknown): Promise<unknown> {
  const r = await request(`${romanad.url}${p}`, method, body);
  assert.ok(r.status < 300, `${method} ${p}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** The CIDR romanad carved for group `name` in network `network`. */
async function groupCidr(network: string, name: string): Promise<string> {
  const t = (await api('GET', '/topology')) as {
    topologies: Array<{ networks: string[]; map: Array<{ name: string; cidr: string }> }>;
  };
  return t.topologies.find((x) => x.networks[0] === network)!.map.find((g) => g.name === name)!
    .cidr;
}

describe('publisher: IPv6 prefixes reach a BGP peer', { timeout: 60_000 }, () => {
  before(async () => {
    writeFileSync(path.join(dir, 'topology.json'), JSON.stringify(topology));
    romanad = await startRomanad([
      '--store',
      'memory:',
      '--initial-topology-file',
      path.join(dir, 'topology.json'),
    ]);
    hostNs = createNetns(uniqueNetnsName('n6-bgp-h'));
    peerNs = createNetns(uniqueNetnsName('n6-bgp-p'));
    hostNs.addVeth({
      name: 'n6b0',
      peer: 'n6b1',
      address: '10.9.0.1/24',
      peerNs: peerNs.name,
      peerAddress: '10.9.0.2/24',
    });
    // The link holds another IPv6 address besides ip6: the next hop must be ip6 itself.
    hostNs.ip('addr', 'add', 'fd00:9::1/64', 'dev', 'n6b0', 'nodad');
    hostNs.ip('addr', 'add', 'fd00:9::5/64', 'dev', 'n6b0', 'nodad');
    peerNs.ip('addr', 'add', 'fd00:9::2/64', 'dev', 'n6b1', 'nodad');
    writeFileSync(host.conf, 'router id 10.9.0.1;\nprotocol device {\n}\n');
    writeFileSync(peer.conf, PEER_CONF);
    birds.push(hostNs.spawn(['bird', '-f', '-c', host.conf, '-s', host.sock], { stdio: 'ignore' }));
    birds.push(peerNs.spawn(['bird', '-f', '-c', peer.conf, '-s', peer.sock], { stdio: 'ignore' }));
    const ctl = new BirdControl(hostNs.exec, host.sock);
    const answers = async () => (await ctl.check(host.conf)).ok;
    for (let i = 0; i < 100 && !(await answers()); i++) await new Promise((r) => setTimeout(r, 50));
    publisher = new Publisher({
      client: new RomanadClient({ baseUrl: romanad.url, timeoutMs: 5000 }),
      baseUrl: romanad.url,
      host: 'h1',
      bird: ctl,
      configFile: host.conf,
      peerFlags: ['10.9.0.2,65100'],
      localAs: 65001,
      ecmpNetworks: new Set(),
      gracefulRestart: 0,
      timers: { ...DEFAULT_TIMERS, hold: 3, keepalive: 1, connectRetry: 1 },
      kernel: false,
      metrics: new PublisherMetrics(),
      log: () => undefined,
      sessionPollMs: 0,
    });
    await publisher.start();
  });
  after(async () => {
    publisher?.stop();
    for (const b of birds) b.kill('SIGKILL');
    hostNs?.remove();
    peerNs?.remove();
    await romanad?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the peer routes the IPv4 group via the host’s ip and the IPv6 group via its ip6', async () => {
    const v4 = await groupCidr('pods', 'rack-1');
    const v6 = await groupCidr('pods6', 'rack-1');
    assert.match(v6, /^fd00:112:/);
    await until(
      'both prefixes to reach the peer’s kernel',
      () => peerRoute(6, v6) !== '' && peerRoute(4, v4) !== '',
    );
    assert.equal(peerRoute(4, v4), `${v4} via 10.9.0.1`);
    assert.equal(peerRoute(6, v6), `${v6} via fd00:9::1`);
    const learnt = peerNs.run(['birdc', '-s', peer.sock, 'show', 'route', 'protocol', 'host1']);
    assert.match(learnt, new RegExp(`${v6.replace(/[.:/]/g, '\\$&')}\\s+unicast \\[host1 `));
  });
});
