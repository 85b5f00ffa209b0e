/**
 * BirdControl against a real BIRD 2 in a network namespace of its own: an unchanged
 * configuration is not loaded again, a good one is, a rejected one leaves the old running; and
 * `show protocols all` is read from BIRD's own output.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createNetns, uniqueNetnsName, type TestNetns } from '../../test/helpers/netns.ts';
import { BirdControl, parseProtocols } from './bird.ts';
import { DEFAULT_TIMERS, renderBirdConfig, type BirdConfig } from './render.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'romana-bg-bird-'));
const sock = path.join(dir, 'bird.ctl');
const conf = path.join(dir, 'bird.conf');
let ns: TestNetns;
let bird: ChildProcess;
let ctl: BirdControl;

const config = (prefixes: string[]): BirdConfig => ({
  host: 'h1',
  routerId: '10.9.0.1',
  localAs: 65001,
  networks: [{ name: 'pods', cidr: '10.112.0.0/16' }],
  announcements: prefixes.map((prefix) => ({ prefix, network: 'pods', kind: 'block', reason: '' })),
  peers: [{ address: '10.9.0.2', as: 65100, source: 'flag' }],
  gracefulRestart: 0,
  timers: { ...DEFAULT_TIMERS, hold: 3, keepalive: 1 },
  kernel: true,
});

async function waitFor(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** When BIRD was last configured (ms); printed from a monotonic stamp, so it may jitter by 1. */
const lastReconfig = async () => {
  const at = /Last reconfiguration on (\S+) (\S+)/.exec(
    ns.run(['birdc', '-s', sock, 'show', 'status']),
  );
  assert.ok(at, 'birdc show status has the last reconfiguration');
  return Date.parse(`${at[1]}T${at[2]}`);
};

describe('BirdControl with a real BIRD', () => {
  before(async () => {
    ns = createNetns(uniqueNetnsName('bgbird'));
    ns.addVeth({ name: 'bgv0', peer: 'bgv1', address: '10.9.0.1/24' });
    writeFileSync(conf, 'router id 10.9.0.1;\nprotocol device {\n}\n');
    bird = ns.spawn(['bird', '-f', '-c', conf, '-s', sock], { stdio: 'ignore' });
    ctl = new BirdControl(ns.exec, sock);
    await waitFor(async () => (await ctl.check(conf)).ok, 'BIRD to answer');
  });
  after(() => {
    bird?.kill('SIGKILL');
    ns?.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  it('loads a new configuration, then leaves an unchanged one alone', async () => {
    const text = renderBirdConfig(config(['10.112.0.0/28', '10.112.4.0/24']));
    assert.deepEqual(await ctl.apply(conf, text), { result: 'reconfigured' });
    assert.match(await ctl.routes('protocol', 'romana4'), /10\.112\.4\.0\/24\s+unreachable/);
    // Installed in the kernel too: traffic for a free address stops here.
    assert.match(ns.ip('route', 'show', '10.112.4.0/24'), /unreachable 10\.112\.4\.0\/24/);
    const stamp = await lastReconfig();
    const mtime = statSync(conf).mtimeMs;
    assert.deepEqual(await ctl.apply(conf, text), { result: 'unchanged' });
    assert.ok(Math.abs((await lastReconfig()) - stamp) < 5, 'BIRD was not reconfigured');
    assert.equal(statSync(conf).mtimeMs, mtime);
  });

  it('keeps the old configuration running when BIRD rejects the new one', async () => {
    const good = readFileSync(conf, 'utf8');
    const out = await ctl.apply(conf, `${good}\nprotocol bgp broken { neighbor as; }\n`);
    assert.equal(out.result, 'rejected');
    assert.match(out.result === 'rejected' ? out.message : '', /bird\.conf\.romana-new:\d+:\d+/);
    assert.equal(readFileSync(conf, 'utf8'), good);
    assert.match(await ctl.routes('protocol', 'romana4'), /10\.112\.4\.0\/24/);
  });

  it('reads sessions and counters from show protocols all', async () => {
    const ps = await ctl.protocols();
    const peer = ps.find((p) => p.proto === 'BGP');
    assert.ok(peer);
    assert.equal(peer.name, 'romana_peer_10_9_0_2');
    assert.equal(peer.neighbor, '10.9.0.2');
    assert.equal(peer.neighborAs, 65100);
    assert.match(peer.bgpState ?? '', /^(Idle|Connect|Active)/);
    const st = ps.find((p) => p.name === 'romana4');
    assert.equal(st?.state, 'up');
    assert.equal(st?.stats['ipv4']?.routesImported, 2);
  });

  it('parses rows and channel statistics', () => {
    const text = [
      'Name       Proto      Table      State  Since         Info',
      'romana_peer_1_2_3_4 BGP        ---        up     16:07:28.969  Established',
      '  BGP state:          Established',
      '    Neighbor address: 1.2.3.4',
      '    Neighbor AS:      65100',
      '  Channel ipv4',
      '    Routes:         3 imported, 1 exported, 3 preferred',
      '    Route change stats:     received   rejected   filtered    ignored   accepted',
      '      Import updates:              7          0          0          0          7',
      '      Import withdraws:            2          0        ---          0          2',
      '      Export updates:              4          0          0        ---          4',
      '      Export withdraws:            1        ---        ---        ---          1',
    ].join('\n');
    const [p] = parseProtocols(text);
    assert.equal(p?.bgpState, 'Established');
    assert.deepEqual(p?.stats['ipv4'], {
      importUpdates: 7,
      importWithdraws: 2,
      exportUpdates: 4,
      exportWithdraws: 1,
      routesImported: 3,
      routesExported: 1,
    });
  });
});
