/**
 * A routed fabric of two racks on different subnets, in network namespaces, with real BIRD 2
 * everywhere: a ToR per rack, a spine peering with both ToRs, and two hosts per rack, each
 * running romana-agent (--bgp), BIRD and romana-route-publisher (peers from the topology: the
 * rack group's `routing` names its ToR). Pods are made by the real CNI plugin. The hosts'
 * own rack is reached directly; anything else goes to the ToR (default route) and is routed
 * by what BGP taught the ToRs and the spine.
 *
 * Proven: every pod pings every other, across racks; the spine holds exactly one route per
 * rack, the ToRs one per host group; 200 more pods cause no route update at the spine; a
 * publisher restart, or romanad's, withdraws nothing and reloads nothing; a broken operator
 * template leaves the previous config running; a hung BIRD is withdrawn after the hold time;
 * with graceful restart a dead one keeps its routes for the restart time; a host removed from
 * romanad stops announcing within seconds, its session kept, and the rack's remaining host then
 * announces the rack group, which the ToR prefers to its own unreachable aggregate.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseProtocols } from '../../src/bgp/bird.ts';
import { Fabric, sleep, until } from '../helpers/fabric.ts';
import { netnsHandle, netnsPath, type TestNetns } from '../helpers/netns.ts';
import { spineConfig, torConfig, type Rack } from '../../src/bgp/fabric.ts';

const PUBLISHER = path.resolve(import.meta.dirname, '../../bin/romana-route-publisher.js');
const f = new Fabric(`bg${process.pid % 100000}`, ['h1', 'h2', 'h3', 'h4']);
const HOLD = 3;
const KEEPALIVE = 1;

const racks: Rack[] = [
  {
    name: 'rack-1',
    tor: 't1',
    as: 65001,
    subnet: '192.168.1',
    uplink: '172.31.1',
    cidr: '10.112.0.0/17',
    hosts: ['h1', 'h2'],
  },
  {
    name: 'rack-2',
    tor: 't2',
    as: 65002,
    subnet: '192.168.2',
    uplink: '172.31.2',
    cidr: '10.112.128.0/17',
    hosts: ['h3', 'h4'],
  },
];
const rackOf = (h: string) => racks.find((r) => r.hosts.includes(h))!;
const hostIp = (h: string) => `${rackOf(h).subnet}.${11 + rackOf(h).hosts.indexOf(h)}`;
/** Each host alone in its slot group (a /18 of its rack's /17). */
const slotOf: Record<string, string> = {
  h1: '10.112.0.0/18',
  h2: '10.112.64.0/18',
  h3: '10.112.128.0/18',
  h4: '10.112.192.0/18',
};

const birds = new Map<string, ChildProcess>();
const publishers = new Map<string, { proc: ChildProcess; log: string[] }>();
const ns = (name: string): TestNetns => netnsHandle(`${f.prefix}-${name}`);
const sock = (who: string) => path.join(f.dir, `${who}.ctl`);
const conf = (who: string) => path.join(f.dir, `${who}.conf`);

function birdc(who: string, ...args: string[]): string {
  return ns(who).run(['birdc', '-s', sock(who), ...args]);
}

/** Prefixes of `birdc show route` (all tables, or those of one protocol). */
function routes(who: string, ...args: string[]): string[] {
  return birdc(who, 'show', 'route', ...args)
    .split('\n')
    .map((l) => /^([0-9.]+\/\d+)\s/.exec(l)?.[1])
    .filter((x): x is string => x !== undefined)
    .sort();
}

/** When BIRD `who` was last configured (ms since the epoch, from `birdc show status`). */
function reconfiguredAt(who: string): number {
  const at = /Last reconfiguration on (\S+) (\S+)/.exec(birdc(who, 'show', 'status'));
  assert.ok(at, 'birdc show status has the last reconfiguration');
  return Date.parse(`${at[1]}T${at[2]}`);
}

async function pingEventually(from: string, to: string): Promise<void> {
  for (let i = 0; i < 30; i++) {
    if (f.ping(from, to)) return;
    await sleep(200);
  }
  throw new Error(`${from} cannot reach ${to}`);
}

function startBird(who: string): void {
  birds.get(who)?.kill('SIGKILL');
  const p = spawn(
    'nsenter',
    [`--net=${netnsPath(`${f.prefix}-${who}`)}`, 'bird', '-f', '-c', conf(who), '-s', sock(who)],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  birds.set(who, p);
}

async function stopBird(who: string): Promise<void> {
  const p = birds.get(who)!;
  p.kill('SIGKILL');
  if (p.exitCode === null) await new Promise((r) => p.once('exit', r));
}

function startPublisher(h: string, extra: string[] = []): void {
  const argv = [
    PUBLISHER,
    '--hostname',
    h,
    '--romanad-url',
    'http://127.0.0.1:9600',
    '--token-file',
    path.join(f.dir, 'node.token'),
    '--config',
    conf(h),
    '--socket',
    sock(h),
    '--local-as',
    '65100',
    '--graceful-restart',
    '0',
    '--hold-time',
    String(HOLD),
    '--keepalive-time',
    String(KEEPALIVE),
    '--connect-retry-time',
    '1',
    '--error-wait-time',
    '1',
    '--metrics-port',
    '0',
    '--log-level',
    'debug',
    ...extra,
  ];
  const proc = spawn('nsenter', [`--net=${netnsPath(f.nsOf(h))}`, process.execPath, ...argv], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const log: string[] = [];
  let buf = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    const lines = buf.split('\n');
    buf = lines.pop()!;
    log.push(...lines);
  });
  publishers.set(h, { proc, log });
}

async function stopPublisher(h: string): Promise<void> {
  const { proc } = publishers.get(h)!;
  proc.kill('SIGTERM');
  if (proc.exitCode === null) await new Promise((r) => proc.once('exit', r));
}

const logged = (h: string, msg: string) => publishers.get(h)!.log.filter((l) => l.includes(msg));

/** A channel counter of protocol `name` in BIRD `who`. */
function stat(who: string, name: string): { importUpdates: number; importWithdraws: number } {
  const p = parseProtocols(birdc(who, 'show', 'protocols', 'all', name))[0];
  return p?.stats['ipv4'] ?? { importUpdates: 0, importWithdraws: 0 };
}

/** Builds the racks out of the fabric's one bridge: each host's link moves to its ToR. */
function wireRacks(): void {
  const spine = `${f.prefix}-sp`;
  f.addNamespace(spine);
  ns('sp').run(['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  for (const r of racks) {
    const torNs = `${f.prefix}-${r.tor}`;
    f.addNamespace(torNs);
    const tor = ns(r.tor);
    tor.run(['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    tor.ip('link', 'add', 'br0', 'type', 'bridge');
    tor.ip('addr', 'add', `${r.subnet}.1/24`, 'dev', 'br0');
    tor.ip('link', 'set', 'br0', 'up');
    ns('sp').addVeth({
      name: `d-${r.tor}`,
      peer: 'up0',
      peerNs: torNs,
      address: `${r.uplink}.1/30`,
      peerAddress: `${r.uplink}.2/30`,
    });
    for (const h of r.hosts) {
      ns('sw').ip('link', 'set', `p-${h}`, 'nomaster');
      ns('sw').ip('link', 'set', `p-${h}`, 'netns', torNs);
      tor.ip('link', 'set', `p-${h}`, 'master', 'br0', 'up');
      const host = netnsHandle(f.nsOf(h));
      host.ip('addr', 'flush', 'dev', 'eth0');
      host.ip('addr', 'add', `${hostIp(h)}/24`, 'dev', 'eth0');
      host.ip('route', 'add', 'default', 'via', `${r.subnet}.1`);
    }
    writeFileSync(conf(r.tor), torConfig(r, HOLD));
    startBird(r.tor);
  }
  writeFileSync(conf('sp'), spineConfig(racks, HOLD));
  startBird('sp');
}

describe('BGP fabric: two racks, ToRs and a spine running BIRD 2', { timeout: 240_000 }, () => {
  before(async () => {
    await f.start({
      networks: [{ name: 'pods', cidr: '10.112.0.0/16', block_mask: 28 }],
      topologies: [
        {
          networks: ['pods'],
          map: racks.map((r) => ({
            name: r.name,
            routing: `bgp-peer=${r.subnet}.1,${r.as}`,
            groups: r.hosts.map((h) => ({
              name: `slot-${h}`,
              groups: [{ name: h, ip: hostIp(h) }],
            })),
          })),
        },
      ],
    });
    wireRacks();
    for (const h of f.hosts) {
      writeFileSync(conf(h), `router id ${hostIp(h)};\nprotocol device {\n}\n`);
      startBird(h);
    }
    await f.startAgents(['--bgp']);
    for (const h of f.hosts) startPublisher(h);
    for (const h of f.hosts) await f.addPod(`p${h}`, h);
  });
  after(async () => {
    for (const { proc } of publishers.values()) proc.kill('SIGKILL');
    for (const b of birds.values()) b.kill('SIGKILL');
    await f.close();
  });

  it('the spine holds one route per rack, each ToR one per host group', async () => {
    await until(
      'the ToRs to learn every host group',
      () =>
        racks.every((r) => r.hosts.every((h) => routes(r.tor, 'protocol', `h_${h}`).length === 1)),
      30_000,
    );
    await until('the spine to learn both racks', () => routes('sp').length === 2, 15_000);
    // romana-route-publisher status reads the same from the host's BIRD.
    const st = netnsHandle(f.nsOf('h1')).tryRun([
      process.execPath,
      PUBLISHER,
      'status',
      '--socket',
      sock('h1'),
    ]);
    assert.equal(st.status, 0, st.stdout + st.stderr);
    assert.match(st.stdout, /romana_peer_192_168_1_1\s+192\.168\.1\.1\s+65001\s+Established/);
    assert.match(st.stdout, /announced \(1\):\n {2}10\.112\.0\.0\/18/);
    assert.deepEqual(routes('sp'), racks.map((r) => r.cidr).sort());
    for (const r of racks) {
      for (const h of r.hosts) assert.deepEqual(routes(r.tor, 'protocol', `h_${h}`), [slotOf[h]]);
      // From its hosts, exactly one route per host group, nothing else.
      const fromHosts = r.hosts.flatMap((h) => routes(r.tor, 'protocol', `h_${h}`)).sort();
      assert.deepEqual(fromHosts, r.hosts.map((h) => slotOf[h]!).sort());
    }
  });

  it('every pod pings every other pod, across racks', async () => {
    const names = [...f.pods.keys()];
    for (const from of names) {
      for (const to of names) {
        if (from === to) continue;
        let ok = false;
        for (let i = 0; i < 30 && !ok; i++) {
          ok = f.ping(from, to);
          if (!ok) await sleep(200);
        }
        assert.ok(
          ok,
          `${from} (${f.pods.get(from)!.ip}) cannot reach ${to} (${f.pods.get(to)!.ip})`,
        );
      }
    }
    // Across racks, the agents left the routing to BGP: no route in table romana points there.
    for (const h of f.hosts) {
      const far = racks
        .filter((r) => r !== rackOf(h))
        .flatMap((r) => r.hosts.map((x) => slotOf[x]!));
      for (const line of f.table10(h))
        assert.ok(!far.includes(line.split(' ')[0]!), `${h}: ${line}`);
    }
  });

  it('200 more pods in existing groups cause no route update at the spine', async () => {
    const before = racks.map((r) => stat('sp', `tor_${r.tor}`).importUpdates);
    const torBefore = racks.map((r) => r.hosts.map((h) => stat(r.tor, `h_${h}`).importUpdates));
    const reloads = f.hosts.map((h) => logged(h, 'BIRD reconfigured').length);
    const mtimes = f.hosts.map((h) => statSync(conf(h)).mtimeMs);
    const seen = f.hosts.map((h) => logged(h, 'configuration unchanged').length);
    for (let i = 0; i < 200; i++) {
      const host = f.hosts[i % 4]!;
      const r = await f.admin('POST', '/address', { name: `bulk-${i}`, host, tenant: 'bulk' });
      assert.equal(r.status, 200, JSON.stringify(r.body));
    }
    // Each publisher has seen the changes (and decided there was nothing to reload).
    await until('every publisher to re-render', () =>
      f.hosts.every((h, i) => logged(h, 'configuration unchanged').length > seen[i]!),
    );
    const blocks = (await f.admin('GET', '/blocks')).body as { blocks: Array<{ host: string }> };
    assert.ok(blocks.blocks.length >= 4 * (1 + Math.ceil(50 / 16)), 'new blocks were carved');
    assert.deepEqual(
      racks.map((r) => stat('sp', `tor_${r.tor}`).importUpdates),
      before,
    );
    assert.deepEqual(
      racks.map((r) => r.hosts.map((h) => stat(r.tor, `h_${h}`).importUpdates)),
      torBefore,
    );
    assert.deepEqual(
      f.hosts.map((h) => logged(h, 'BIRD reconfigured').length),
      reloads,
    );
    assert.deepEqual(
      f.hosts.map((h) => statSync(conf(h)).mtimeMs),
      mtimes,
    );
    assert.deepEqual(routes('sp'), racks.map((r) => r.cidr).sort());
  });

  it('a publisher restart withdraws nothing and reloads nothing', async () => {
    const withdraws = stat('t1', 'h_h2').importWithdraws;
    const reconfig = reconfiguredAt('h2');
    await stopPublisher('h2');
    startPublisher('h2');
    await until(
      'the new publisher to compare its config',
      () => logged('h2', 'configuration unchanged').length > 0,
      20_000,
    );
    assert.equal(logged('h2', 'BIRD reconfigured').length, 0);
    // BIRD prints its monotonic stamp in wall-clock time: it may move by a millisecond or so.
    assert.ok(Math.abs(reconfiguredAt('h2') - reconfig) < 50, 'BIRD was not reconfigured');
    assert.equal(stat('t1', 'h_h2').importWithdraws, withdraws);
    assert.deepEqual(routes('t1', 'protocol', 'h_h2'), [slotOf['h2']]);
  });

  it('romanad restarting withdraws nothing: the publishers resume and find nothing to do', async () => {
    const withdraws = racks.map((r) => r.hosts.map((h) => stat(r.tor, `h_${h}`).importWithdraws));
    const reloads = f.hosts.map((h) => logged(h, 'BIRD reconfigured').length);
    const cut = f.hosts.map((h) => logged(h, 'watch stream interrupted').length);
    await f.romanad.stop('SIGKILL');
    await until('every publisher to lose the stream', () =>
      f.hosts.every((h, i) => logged(h, 'watch stream interrupted').length > cut[i]!),
    );
    await f.startRomanad();
    // A new block on h1 after the restart: the publishers saw the stream again.
    const seen = f.hosts.map((h) => logged(h, 'configuration unchanged').length);
    const r = await f.admin('POST', '/address', { name: 'after-restart', host: 'h1', tenant: 'x' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    await until(
      'h1 to re-render',
      () => logged('h1', 'configuration unchanged').length > seen[0]!,
      20_000,
    );
    assert.deepEqual(
      racks.map((r) => r.hosts.map((h) => stat(r.tor, `h_${h}`).importWithdraws)),
      withdraws,
    );
    assert.deepEqual(
      f.hosts.map((h) => logged(h, 'BIRD reconfigured').length),
      reloads,
    );
  });

  it('a broken operator template leaves the previous configuration running', async () => {
    const tpl = path.join(f.dir, 'h3.eta');
    writeFileSync(tpl, '<%= it.defaultConfig %>\n# site: <%= it.prefixes.length %> prefixes\n');
    await stopPublisher('h3');
    startPublisher('h3', ['--template', tpl]);
    await until(
      'the template to be applied',
      () => readFileSync(conf('h3'), 'utf8').includes('# site: 1 prefixes'),
      20_000,
    );
    const good = readFileSync(conf('h3'), 'utf8');
    // BIRD refuses what the template renders.
    writeFileSync(tpl, '<%= it.defaultConfig %>\nprotocol bgp { neighbor; }\n');
    publishers.get('h3')!.proc.kill('SIGHUP');
    await until('BIRD to reject it', () => logged('h3', 'BIRD rejected').length > 0).catch(
      (e: unknown) => {
        throw new Error(`${e}\n${publishers.get('h3')!.log.join('\n')}`);
      },
    );
    assert.match(logged('h3', 'BIRD rejected')[0]!, /romana-new:\d+:\d+/);
    // eta cannot run this one.
    writeFileSync(tpl, '<%= it.nope.deeper %>\n');
    publishers.get('h3')!.proc.kill('SIGHUP');
    await until('the template error', () => logged('h3', 'configuration not rendered').length > 0);
    assert.equal(readFileSync(conf('h3'), 'utf8'), good);
    assert.deepEqual(routes('t2', 'protocol', 'h_h3'), [slotOf['h3']]);
    assert.ok(f.ping('ph1', 'ph3'), 'traffic to h3 still flows');
  });

  it('a host whose BIRD hangs is withdrawn after the hold time, and comes back', async () => {
    assert.deepEqual(routes('t1', 'protocol', 'h_h1'), [slotOf['h1']]);
    // Frozen, not dead: its TCP connection stays open, only the keepalives stop.
    const t0 = Date.now();
    birds.get('h1')!.kill('SIGSTOP');
    try {
      await until('the ToR to withdraw h1', () => routes('t1', 'protocol', 'h_h1').length === 0);
      const took = (Date.now() - t0) / 1000;
      // BIRD starts each BGP timer at 75-100 % of its value (RFC 4271 section 10), and the ToR
      // restarts its hold timer at each keepalive, the last of which came up to one keepalive
      // time before the freeze: the earliest withdrawal is 0.75 x hold - keepalive.
      const earliest = 0.75 * HOLD - KEEPALIVE;
      assert.ok(
        took >= earliest - 0.25 && took <= HOLD + 1.5,
        `withdrawn after ${took} s, hold ${HOLD} s (earliest ${earliest} s)`,
      );
      // The spine still has rack 1's aggregate: nothing changed above the ToR.
      assert.deepEqual(routes('sp'), racks.map((r) => r.cidr).sort());
      assert.ok(!f.ping('ph3', 'ph1'), 'a withdrawn host is unreachable (dropped at its ToR)');
    } finally {
      // Thawed even when an assertion failed, so that the next cases find h1 running.
      birds.get('h1')!.kill('SIGCONT');
    }
    await until('h1 to be announced again', () => routes('t1', 'protocol', 'h_h1').length === 1);
    await pingEventually('ph3', 'ph1');
  });

  it('with graceful restart, a host whose BIRD dies keeps its routes for the restart time', async () => {
    const GR = 8;
    await stopPublisher('h4');
    startPublisher('h4', ['--graceful-restart', String(GR)]);
    await until(
      'the session to be re-established with graceful restart',
      () =>
        new RegExp(`Neighbor capabilities[^]*Restart time: ${GR}\n`).test(
          birdc('t2', 'show', 'protocols', 'all', 'h_h4'),
        ) && routes('t2', 'protocol', 'h_h4').length === 1,
      // The reload resets the session; BIRD's error wait doubles on repeated resets.
      30_000,
    ).catch((e: unknown) => {
      const shown = birdc('t2', 'show', 'protocols', 'all', 'h_h4');
      throw new Error(`${e}\n${shown}\n${readFileSync(conf('h4'), 'utf8')}`);
    });
    const t0 = Date.now();
    await stopBird('h4');
    await until(
      'the ToR to see the session go down',
      () => !/Established/.test(birdc('t2', 'show', 'protocols', 'h_h4')),
    );
    // Kept (stale) while the host restarts...
    assert.deepEqual(routes('t2', 'protocol', 'h_h4'), [slotOf['h4']]);
    // Forwarding goes on meanwhile: only the control plane of h4 is gone.
    assert.ok(f.ping('ph1', 'ph4'), "h4's pods answer during the restart time");
    // ...and withdrawn once the restart time is over without it coming back.
    await until(
      'the ToR to withdraw h4',
      () => routes('t2', 'protocol', 'h_h4').length === 0,
      20_000,
    );
    const took = (Date.now() - t0) / 1000;
    assert.ok(took >= GR - 1.5, `withdrawn after ${took} s, graceful restart time ${GR} s`);
    startBird('h4');
    await until('h4 to be announced again', () => routes('t2', 'protocol', 'h_h4').length === 1);
  });

  it('a host removed from romanad (force) stops announcing within seconds, its session kept', async () => {
    assert.deepEqual(routes('t1', 'protocol', 'h_h2'), [slotOf['h2']]);
    const t0 = Date.now();
    const r = await f.admin('DELETE', '/hosts/h2?force=true');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    await until('the ToR to drop h2', () => routes('t1', 'protocol', 'h_h2').length === 0, 5000);
    const took = (Date.now() - t0) / 1000;
    assert.ok(took < HOLD, `withdrawn after ${took} s: by the publisher, not the hold timer`);
    // Gone from the ToR's kernel too; above it, only the racks' aggregates, as ever.
    assert.equal(ns('t1').ip('route', 'show', slotOf['h2']!).trim(), '');
    assert.deepEqual(routes('sp'), racks.map((x) => x.cidr).sort());
    // The session stays up: only the announcement went.
    assert.match(birdc('t1', 'show', 'protocols', 'h_h2'), /Established/);
    assert.equal(logged('h2', 'announcing nothing, BGP sessions kept').length, 1);
    // h1 is now the only host of rack 1: it announces the rack's group, which wins over the
    // ToR's own unreachable aggregate of the same prefix (else the ToR would drop h1's pods).
    await until('h1 to announce its rack', () =>
      routes('t1', 'protocol', 'h_h1').includes(racks[0]!.cidr),
    );
    assert.deepEqual(routes('t1', 'protocol', 'h_h1'), [racks[0]!.cidr]);
    assert.match(ns('t1').ip('route', 'show', racks[0]!.cidr), /via 192\.168\.1\.11/);
    await pingEventually('ph3', 'ph1');
    assert.deepEqual(routes('sp'), racks.map((x) => x.cidr).sort());
    // Nothing is sent to the removed host once h1's agent has dropped its route there: its
    // released addresses then end at h1, which drops them.
    await until('h1 to drop its route to h2', () =>
      f.table10('h1').every((l) => !l.startsWith(slotOf['h2']!)),
    );
    assert.ok(!f.ping('ph3', 'ph2'), 'traffic for the removed host does not reach it');
  });
});
