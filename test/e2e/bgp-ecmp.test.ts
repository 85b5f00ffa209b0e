/**
 * ECMP at the ToR (the topology's `ecmp: true`, which the publisher reads from romanad; e1 is
 * also given `romana-route-publisher --ecmp-network pods`, e2 and e3 only the topology's
 * option, so the ToR's merged route needs both ways to work), in network namespaces with
 * real BIRD 2: one ToR routing two subnets; rack-e holds hosts e1 and e2 (one group, both on
 * the ToR's first subnet), rack-f holds e3 on the second. With ECMP on, e1 and e2 both announce
 * rack-e's whole prefix: the ToR holds one route for the group with a next hop per host (BIRD
 * merges the two BGP routes into one kernel multipath route). Traffic from e3's pods reaches
 * every pod of rack-e, also when the ToR's hash sends it to the host that does not hold the
 * pod: that host forwards it on the rack's shared segment.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HOSTS_AS } from '../../src/bgp/fabric.ts';
import { Fabric, sleep, until } from '../helpers/fabric.ts';
import { netnsHandle, netnsPath, type TestNetns } from '../helpers/netns.ts';

const PUBLISHER = path.resolve(import.meta.dirname, '../../bin/romana-route-publisher.js');
const f = new Fabric(`bg2e${process.pid % 10000}`, ['e1', 'e2', 'e3']);
const TOR_AS = 65001;
const ip: Record<string, string> = {
  e1: '192.168.77.11',
  e2: '192.168.77.12',
  e3: '192.168.78.11',
};
const PODS: Array<[string, string]> = [
  ['pa1', 'e1'],
  ['pa2', 'e1'],
  ['pb1', 'e2'],
  ['pb2', 'e2'],
  ['pc1', 'e3'],
  ['pc2', 'e3'],
  ['pc3', 'e3'],
  ['pc4', 'e3'],
];

const procs: ChildProcess[] = [];
const ns = (name: string): TestNetns => netnsHandle(`${f.prefix}-${name}`);
const sock = (who: string) => path.join(f.dir, `${who}.ctl`);
const conf = (who: string) => path.join(f.dir, `${who}.conf`);
const birdc = (who: string, ...args: string[]) => ns(who).run(['birdc', '-s', sock(who), ...args]);

function startBird(who: string): void {
  const net = `--net=${netnsPath(`${f.prefix}-${who}`)}`;
  const argv = [net, 'bird', '-f', '-c', conf(who), '-s', sock(who)];
  procs.push(spawn('nsenter', argv, { stdio: ['ignore', 'ignore', 'inherit'] }));
}

function startPublisher(h: string): void {
  const argv = [
    ...[PUBLISHER, '--hostname', h, '--romanad-url', 'http://127.0.0.1:9600'],
    ...['--token-file', path.join(f.dir, 'node.token'), '--config', conf(h), '--socket', sock(h)],
    ...['--local-as', String(HOSTS_AS), '--graceful-restart', '0', '--hold-time', '3'],
    ...['--keepalive-time', '1', '--connect-retry-time', '1', '--error-wait-time', '1'],
    ...['--metrics-port', '0', '--log-level', 'warn'],
    ...(h === 'e1' ? ['--ecmp-network', 'pods'] : []),
  ];
  const net = `--net=${netnsPath(f.nsOf(h))}`;
  procs.push(spawn('nsenter', [net, process.execPath, ...argv], { stdio: 'ignore' }));
}

/** The ToR: a session per host, everything learned merged into kernel multipath routes. */
function torConfig(): string {
  const hosts = Object.entries(ip).map(
    ([h, a]) => `protocol bgp h_${h} from hosts {\n  neighbor ${a} as ${HOSTS_AS};\n}`,
  );
  return `${[
    'router id 192.168.77.1;',
    'protocol device {\n}',
    'protocol kernel {\n  merge paths on;\n  ipv4 { import none; export all; };\n}',
    `template bgp hosts {\n  local as ${TOR_AS};\n  direct;\n  hold time 3; keepalive time 1;\n` +
      '  connect retry time 1; error wait time 1, 30;\n  ipv4 { import all; export none; };\n}',
    ...hosts,
  ].join('\n\n')}\n`;
}

/** The ToR: on the fabric's bridge (rack-e's subnet), and e3's link on a bridge of its own. */
function wireTor(): void {
  const torNs = `${f.prefix}-tor`;
  f.addNamespace(torNs);
  const tor = ns('tor');
  tor.run(['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  ns('sw').addVeth({ name: 'p-tor', peer: 'eth0', peerNs: torNs, peerAddress: '192.168.77.1/24' });
  ns('sw').ip('link', 'set', 'p-tor', 'master', 'br0');
  tor.ip('link', 'add', 'br1', 'type', 'bridge');
  tor.ip('addr', 'add', '192.168.78.1/24', 'dev', 'br1');
  tor.ip('link', 'set', 'br1', 'up');
  ns('sw').ip('link', 'set', 'p-e3', 'nomaster');
  ns('sw').ip('link', 'set', 'p-e3', 'netns', torNs);
  tor.ip('link', 'set', 'p-e3', 'master', 'br1', 'up');
  for (const h of f.hosts) {
    const host = netnsHandle(f.nsOf(h));
    host.ip('addr', 'flush', 'dev', 'eth0');
    host.ip('addr', 'add', `${ip[h]}/24`, 'dev', 'eth0');
    host.ip('route', 'add', 'default', 'via', h === 'e3' ? '192.168.78.1' : '192.168.77.1');
  }
  writeFileSync(conf('tor'), torConfig());
  startBird('tor');
}

let rackE = '';

describe('BGP with ECMP: every host of a group announces it whole', { timeout: 180_000 }, () => {
  before(async () => {
    await f.start({
      networks: [{ name: 'pods', cidr: '10.112.0.0/16', block_mask: 28 }],
      topologies: [
        {
          networks: ['pods'],
          ecmp: true,
          map: [
            {
              name: 'rack-e',
              routing: `bgp-peer=192.168.77.1,${TOR_AS}`,
              groups: ['e1', 'e2'].map((h) => ({ name: h, ip: ip[h] })),
            },
            {
              name: 'rack-f',
              routing: `bgp-peer=192.168.78.1,${TOR_AS}`,
              groups: [{ name: 'e3', ip: ip['e3'] }],
            },
          ],
        },
      ],
    });
    wireTor();
    for (const h of f.hosts) {
      writeFileSync(conf(h), `router id ${ip[h]};\nprotocol device {\n}\n`);
      startBird(h);
    }
    await f.startAgents(['--bgp']);
    for (const h of f.hosts) startPublisher(h);
    for (const [pod, h] of PODS) await f.addPod(pod, h);
    const t = (await f.admin('GET', '/topology')).body as {
      topologies: Array<{ map: Array<{ name: string; cidr: string }> }>;
    };
    rackE = t.topologies[0]!.map.find((g) => g.name === 'rack-e')!.cidr;
  });
  after(async () => {
    for (const p of procs) p.kill('SIGKILL');
    await f.close();
  });

  it('the ToR holds one route for the group, with a next hop per host', async () => {
    const multipath = () => ns('tor').ip('route', 'show', rackE);
    await until(
      'the ToR to merge both hosts into one route',
      () => (multipath().match(/nexthop via/g) ?? []).length === 2,
      30_000,
    ).catch((e: unknown) => {
      throw new Error(`${e}\n${birdc('tor', 'show', 'route', 'all')}\n${readFileSync(conf('e1'))}`);
    });
    // One kernel route, its next hops exactly the group's hosts.
    const kernel = multipath();
    assert.equal(kernel.split('\n').filter((l) => l.startsWith(rackE)).length, 1, kernel);
    const hops = [...kernel.matchAll(/nexthop via (\S+)/g)].map((m) => m[1]).sort();
    assert.deepEqual(hops, [ip['e1'], ip['e2']]);
    // In BIRD: the same prefix learned from both sessions, as the group's ECMP announcement.
    const shown = birdc('tor', 'show', 'route', 'for', rackE, 'all');
    assert.match(shown, /\[h_e1 /);
    assert.match(shown, /\[h_e2 /);
    for (const h of ['e1', 'e2']) {
      assert.match(
        readFileSync(conf(h), 'utf8'),
        new RegExp(`route ${rackE} unreachable; # ecmp-group rack-e`),
      );
    }
  });

  it('pods reach each other, also through the host that does not hold the pod', async () => {
    const names = PODS.map(([p]) => p);
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
    // The ToR's choice for each flow from rack-f's pods to rack-e's: at least one flow goes
    // to the host that does not hold the pod (2^-16 that none does), and it was answered above.
    let crossed = 0;
    for (const [from] of PODS.filter(([, h]) => h === 'e3')) {
      for (const [to, owner] of PODS.filter(([, h]) => h !== 'e3')) {
        const src = f.pods.get(from)!.ip;
        const dst = f.pods.get(to)!.ip;
        const via = /via (\S+)/.exec(
          ns('tor').ip('route', 'get', dst, 'from', src, 'iif', 'br1'),
        )?.[1];
        assert.ok(via === ip['e1'] || via === ip['e2'], `${src} -> ${dst} via ${via}`);
        if (via !== ip[owner]) crossed++;
      }
    }
    assert.ok(crossed > 0, 'no flow was hashed to the other host of the group');
  });
});
