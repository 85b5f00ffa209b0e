/**
 * The pod's IPv6 and dual-stack wiring, on real namespaces and veths: addresses picked here
 * (romanad is not involved), `wire`, `inspect` and `unwire` run as ADD, CHECK and DEL do.
 * Checked in the kernel: the pod's /128 usable at once (no DAD), `accept_ra` off, both default
 * routes; the host's /128 and /32 routes via the veth, its link-local gateway, IPv6
 * forwarding; and traffic over both families between two pods of the host and with the host.
 *
 * The plugin writes sysctls under /proc/sys/net of its own namespace, so the cases run inside a
 * host namespace of their own: this file runs itself again there (with `nsenter`), and the
 * outer run only checks that the inner one passed. Needs root.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, it } from 'node:test';
import { createNetns, uniqueNetnsName, type TestNetns } from '../../test/helpers/netns.ts';
import { inOwnHostNamespace } from '../../test/helpers/own-host-netns.ts';
import { ProcessExec, type Exec } from '../exec.ts';
import { CniCode, CniError } from './errors.ts';
import { inspect, randomMac, unwire, wire, type WirePlan } from './wire.ts';

inOwnHostNamespace(
  import.meta.url,
  {
    suite: 'IPv6 and dual-stack wiring',
    envVar: 'ROMANA_CNI_WIRE6_HOST_NS',
    netnsPrefix: 'n6-wire-h',
  },
  inner,
);

interface IpAddr {
  local: string;
  prefixlen: number;
  flags?: string[];
  tentative?: boolean;
}

function inner(): void {
  const exec = new ProcessExec();
  const sh = (...argv: string[]) => execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  const pods: TestNetns[] = [];
  let n = 0;

  function plan(ips: string[]): WirePlan & { pod: TestNetns } {
    const pod = createNetns(uniqueNetnsName('n6-wire-p'));
    pods.push(pod);
    n++;
    return {
      pod,
      hostVeth: `n6w-${n}`,
      owner: `c${n}/eth0`,
      ifname: 'eth0',
      netns: pod.path,
      ips,
      gatewayIp: '172.142.0.1',
      gatewayIp6: 'fe80::1',
      mtu: 1500,
      hostMac: randomMac(),
      podMac: randomMac(),
    };
  }

  const podAddrs = (pod: TestNetns): IpAddr[] =>
    (JSON.parse(pod.ip('-j', 'addr', 'show', 'dev', 'eth0')) as { addr_info: IpAddr[] }[])[0]!
      .addr_info;

  before(() => {
    // What romana-agent provides on a node: the IPv4 gateway on the host, a host address.
    sh('ip', 'link', 'set', 'lo', 'up');
    sh('ip', 'addr', 'add', '172.142.0.1/32', 'dev', 'lo');
    sh('ip', 'addr', 'add', 'fd00:99::1/128', 'dev', 'lo');
    sh('sysctl', '-qw', 'net.ipv4.ip_forward=1');
  });

  after(() => {
    for (const p of pods) p.remove();
  });

  it('wires a dual-stack pod: both addresses, both default routes, nothing tentative', async () => {
    const p = plan(['10.200.0.5', 'fd00:10::5']);
    await wire(exec, p);
    const addrs = podAddrs(p.pod);
    const global = addrs.filter((a) => a.local === '10.200.0.5' || a.local === 'fd00:10::5');
    assert.deepEqual(
      global.map((a) => `${a.local}/${a.prefixlen}`),
      ['10.200.0.5/32', 'fd00:10::5/128'],
    );
    const v6 = addrs.find((a) => a.local === 'fd00:10::5')!;
    assert.ok(!v6.tentative && !(v6.flags ?? []).includes('tentative'), JSON.stringify(v6));
    assert.equal(p.pod.run(['cat', '/proc/sys/net/ipv6/conf/eth0/accept_ra']).trim(), '0');
    const routes6 = JSON.parse(p.pod.ip('-j', '-6', 'route', 'show', 'default')) as {
      gateway?: string;
      dev?: string;
    }[];
    assert.deepEqual(
      routes6.map((r) => `${r.gateway} ${r.dev}`),
      ['fe80::1 eth0'],
    );
    assert.match(p.pod.ip('route', 'show', 'default'), /^default via 172\.142\.0\.1 dev eth0/);
    // The host: one host route per family on the veth, the gateway on it, forwarding on.
    assert.match(
      sh('ip', 'route', 'show', 'exact', '10.200.0.5/32'),
      new RegExp(`dev ${p.hostVeth}`),
    );
    assert.match(
      sh('ip', '-6', 'route', 'show', 'exact', 'fd00:10::5/128'),
      new RegExp(`dev ${p.hostVeth}`),
    );
    assert.match(sh('ip', '-6', 'addr', 'show', 'dev', p.hostVeth), /inet6 fe80::1\/64 scope link/);
    assert.equal(readFileSync('/proc/sys/net/ipv6/conf/all/forwarding', 'utf8').trim(), '1');
    assert.equal(
      readFileSync(`/proc/sys/net/ipv6/conf/${p.hostVeth}/accept_ra`, 'utf8').trim(),
      '0',
    );
    assert.deepEqual(await inspect(exec, p), []);
  });

  it('carries both families between two pods of the host and with the host, at once', async () => {
    const a = plan(['10.200.0.6', 'fd00:10::6']);
    const b = plan(['10.200.0.7', 'fd00:10::7']);
    await wire(exec, a);
    await wire(exec, b);
    // No waiting: the addresses skip DAD, so the first packets go through.
    const ping = (pod: TestNetns, ip: string) =>
      pod.tryRun(['ping', '-c', '1', '-W', '2', ip]).status;
    assert.equal(ping(a.pod, '10.200.0.7'), 0, 'a → b over IPv4');
    assert.equal(ping(a.pod, 'fd00:10::7'), 0, 'a → b over IPv6');
    assert.equal(ping(b.pod, 'fd00:10::6'), 0, 'b → a over IPv6');
    assert.equal(ping(b.pod, 'fd00:99::1'), 0, 'b → the host over IPv6');
    const fromHost = spawnSync('ping', ['-c', '1', '-W', '2', '-I', 'fd00:99::1', 'fd00:10::6']);
    assert.equal(fromHost.status, 0, 'the host → a over IPv6');
  });

  it('wires an IPv6-only pod without any IPv4 route', async () => {
    const p = plan(['fd00:10::8']);
    await wire(exec, p);
    assert.equal(p.pod.ip('-4', 'route', 'show').trim(), '');
    assert.equal(p.pod.ip('-4', 'addr', 'show', 'dev', 'eth0').trim(), '');
    assert.deepEqual(await inspect(exec, p), []);
    assert.equal(p.pod.tryRun(['ping', '-c', '1', '-W', '2', 'fd00:99::1']).status, 0);
  });

  it('CHECK names what is missing of each family', async () => {
    const p = plan(['10.200.0.9', 'fd00:10::9']);
    await wire(exec, p);
    p.pod.ip('-6', 'route', 'del', 'default', 'via', 'fe80::1', 'dev', 'eth0');
    sh('ip', '-6', 'route', 'del', 'fd00:10::9/128', 'dev', p.hostVeth);
    assert.deepEqual(await inspect(exec, p), [
      `host route fd00:10::9/128 dev ${p.hostVeth} is missing`,
      'default route ::/0 via fe80::1 dev eth0 is missing',
    ]);
    p.pod.ip('addr', 'del', '10.200.0.9/32', 'dev', 'eth0');
    assert.deepEqual(await inspect(exec, p), [
      `host route fd00:10::9/128 dev ${p.hostVeth} is missing`,
      '10.200.0.9/32 is not on eth0',
      'route 172.142.0.1 dev eth0 is missing',
      'default route via 172.142.0.1 is missing',
      'default route ::/0 via fe80::1 dev eth0 is missing',
    ]);
  });

  it('CHECK reads a default route shared by two interfaces of a pod, and a route via the gateway that is not the default', async () => {
    const p = plan(['fd00:10::d']);
    await wire(exec, p);
    // A second attachment in the same pod: its default route joins the first one's.
    const q = { ...plan(['fd00:10::e']), ifname: 'eth1', netns: p.netns };
    await wire(exec, q);
    const multipath = JSON.parse(p.pod.ip('-j', '-6', 'route', 'show', 'default')) as {
      nexthops?: unknown[];
    }[];
    assert.equal(multipath[0]?.nexthops?.length, 2, JSON.stringify(multipath));
    assert.deepEqual(await inspect(exec, p), []);
    assert.deepEqual(await inspect(exec, q), []);
    p.pod.ip('-6', 'route', 'del', 'default', 'via', 'fe80::1', 'dev', 'eth1');
    assert.deepEqual(await inspect(exec, q), [
      'default route ::/0 via fe80::1 dev eth1 is missing',
    ]);
    assert.deepEqual(await inspect(exec, p), []);
    // The default route on eth0 via another gateway, and one via the gateway that is not it.
    p.pod.ip('-6', 'route', 'replace', 'default', 'via', 'fe80::2', 'dev', 'eth0');
    p.pod.ip('-6', 'route', 'add', 'fd00:77::/64', 'via', 'fe80::1', 'dev', 'eth0');
    assert.deepEqual(await inspect(exec, p), [
      'default route ::/0 via fe80::1 dev eth0 is missing',
    ]);
  });

  it('a pod whose IPv6 cannot be turned on fails the ADD with what tee said, leaving nothing', async () => {
    // The real commands, but the pod's sysctls are given a value the kernel refuses (and, for
    // the second pod, tee's complaint is dropped).
    const refused = (quiet: boolean): Exec => ({
      run: async (program, args, stdin) => {
        const tee = args.includes('tee');
        const r = await exec.run(program, args, tee ? 'on\n' : stdin);
        return tee && quiet ? { ...r, stderr: '' } : r;
      },
    });
    const p = plan(['10.200.0.11', 'fd00:10::b']);
    await assert.rejects(wire(refused(false), p), (e: unknown) => {
      assert.ok(e instanceof CniError);
      assert.equal(e.code, CniCode.Wiring);
      assert.equal(e.message, 'turning IPv6 on for eth0 failed');
      assert.equal(
        e.details,
        'tee: /proc/sys/net/ipv6/conf/eth0/disable_ipv6: Invalid argument\n' +
          'tee: /proc/sys/net/ipv6/conf/eth0/accept_ra: Invalid argument',
      );
      return true;
    });
    assert.equal(spawnSync('ip', ['link', 'show', p.hostVeth]).status, 1, 'host veth removed');
    assert.doesNotMatch(p.pod.ip('-o', 'link', 'show'), /eth0/);
    const q = plan(['fd00:10::c']);
    await assert.rejects(wire(refused(true), q), (e: unknown) => {
      assert.ok(e instanceof CniError);
      assert.equal(e.message, 'turning IPv6 on for eth0 failed');
      assert.equal(e.details, 'exit 1');
      return true;
    });
    assert.equal(spawnSync('ip', ['link', 'show', q.hostVeth]).status, 1, 'host veth removed');
  });

  it('DEL (unwire) removes both host routes and the pod interface', async () => {
    const p = plan(['10.200.0.10', 'fd00:10::a']);
    await wire(exec, p);
    await unwire(exec, p.hostVeth);
    assert.equal(sh('ip', 'route', 'show', 'exact', '10.200.0.10/32').trim(), '');
    assert.equal(sh('ip', '-6', 'route', 'show', 'exact', 'fd00:10::a/128').trim(), '');
    assert.doesNotMatch(p.pod.ip('-o', 'link', 'show'), /eth0/);
    assert.equal(spawnSync('ip', ['link', 'show', p.hostVeth]).status, 1);
  });
}
