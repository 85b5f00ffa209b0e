/**
 * The pod's IPv4 wiring at its edges, on real namespaces and veths (addresses picked here,
 * romanad not involved): the host side's sysctls and alias, a
 * repeated ADD of one attachment, a host veth of the same name owned by another attachment or
 * by none, an older plugin's legacy veth, failures that leave nothing behind, and what CHECK
 * (`inspect`) and DEL's helpers read back.
 *
 * The plugin writes sysctls under /proc/sys/net of its own namespace, so the cases run inside a
 * host namespace of their own (this file runs itself again there). Needs root.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, it } from 'node:test';
import { createNetns, uniqueNetnsName, type TestNetns } from '../../test/helpers/netns.ts';
import { inOwnHostNamespace } from '../../test/helpers/own-host-netns.ts';
import { ProcessExec, type Exec } from '../exec.ts';
import { CniCode, CniError } from './errors.ts';
import { hostVethExists, inspect, routeDevOf, unwire, wire, type WirePlan } from './wire.ts';
import { wireBase } from './wire.fixtures.ts';

inOwnHostNamespace(
  import.meta.url,
  {
    suite: 'IPv4 wiring at its edges',
    envVar: 'ROMANA_CNI_WIRE_EDGES_HOST_NS',
    netnsPrefix: 'm16c-wh',
  },
  inner,
);

const base = wireBase;

function inner(): void {
  const exec = new ProcessExec();
  const sh = (...argv: string[]) => execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  const linkExists = (dev: string) => spawnSync('ip', ['link', 'show', 'dev', dev]).status === 0;
  const alias = (dev: string) =>
    (JSON.parse(sh('ip', '-j', 'link', 'show', 'dev', dev)) as { ifalias?: string }[])[0]!.ifalias;
  const pods: TestNetns[] = [];
  let n = 0;

  function plan(over: Partial<WirePlan> = {}): WirePlan & { pod: TestNetns } {
    const pod = createNetns(uniqueNetnsName('m16c-wp'));
    pods.push(pod);
    n++;
    return {
      ...base,
      pod,
      hostVeth: `m16c-w${n}`,
      owner: `c${n}/eth0`,
      netns: pod.path,
      ips: [`10.201.0.${n}`],
      ...over,
    };
  }

  before(() => {
    sh('ip', 'link', 'set', 'lo', 'up');
    sh('ip', 'addr', 'add', '172.142.0.1/32', 'dev', 'lo');
  });
  after(() => {
    for (const p of pods) p.remove();
  });

  it('wires an IPv4 pod: proxy ARP, no proxy delay, the owner as alias, and reads it back', async () => {
    const p = plan();
    await wire(exec, p);
    const sys = (f: string) => readFileSync(`/proc/sys/net/${f}`, 'utf8').trim();
    assert.equal(sys(`ipv4/conf/${p.hostVeth}/proxy_arp`), '1');
    assert.equal(sys(`ipv4/neigh/${p.hostVeth}/proxy_delay`), '0');
    assert.equal(sys(`ipv6/conf/${p.hostVeth}/accept_ra`), '1', 'untouched without IPv6');
    assert.equal(alias(p.hostVeth), p.owner);
    assert.equal(await routeDevOf(exec, p.ips[0]!), p.hostVeth);
    assert.equal(await routeDevOf(exec, '10.201.9.9'), undefined);
    assert.equal(await hostVethExists(exec, p.hostVeth), true);
    assert.equal(await hostVethExists(exec, 'm16c-none'), false);
    assert.deepEqual(await inspect(exec, p), []);
    assert.equal(p.pod.tryRun(['ping', '-c', '1', '-W', '2', '172.142.0.1']).status, 0);
  });

  it('a repeated ADD of one attachment replaces its veth, and of an ownerless one too', async () => {
    const p = plan();
    await wire(exec, p);
    const index = () =>
      (JSON.parse(sh('ip', '-j', 'link', 'show', 'dev', p.hostVeth)) as { ifindex: number }[])[0]!
        .ifindex;
    const first = index();
    await wire(exec, p);
    assert.notEqual(index(), first, 'made again');
    assert.deepEqual(await inspect(exec, p), []);
    sh('ip', 'link', 'set', 'dev', p.hostVeth, 'alias', '');
    await wire(exec, p);
    assert.equal(alias(p.hostVeth), p.owner);
    assert.deepEqual(await inspect(exec, p), []);
  });

  it('refuses a host veth owned by another attachment, and leaves it as it was', async () => {
    const p = plan();
    await wire(exec, p);
    const q = plan({ hostVeth: p.hostVeth });
    await assert.rejects(wire(exec, q), (e: unknown) => {
      assert.ok(e instanceof CniError);
      assert.equal(e.code, CniCode.Wiring);
      assert.equal(
        e.message,
        `host veth ${p.hostVeth} belongs to attachment ${p.owner}, not ${q.owner}`,
      );
      assert.match(e.details, /^two attachments hash to one host veth name/);
      return true;
    });
    assert.equal(alias(p.hostVeth), p.owner);
    assert.deepEqual(await inspect(exec, p), []);
  });

  it("a repeated ADD replaces an older plugin's legacy veth without an owner, never one with an owner", async () => {
    const owned = plan();
    await wire(exec, owned);
    const p = plan({ legacyHostVeth: owned.hostVeth });
    await wire(exec, p);
    await wire(exec, p);
    assert.equal(linkExists(owned.hostVeth), true, 'a legacy-named veth with an owner stays');
    assert.deepEqual(await inspect(exec, owned), []);

    const q = { ...p, legacyHostVeth: 'm16c-old' };
    sh('ip', 'link', 'add', 'm16c-old', 'type', 'veth', 'peer', 'name', 'm16c-oldp');
    await wire(exec, q);
    assert.equal(linkExists('m16c-old'), false, 'the ownerless legacy veth is gone');
    sh('ip', 'link', 'add', 'm16c-old', 'type', 'veth', 'peer', 'name', 'm16c-oldp');
    sh('ip', 'link', 'set', 'dev', 'm16c-old', 'alias', 'c9/eth0');
    await wire(exec, q);
    assert.equal(linkExists('m16c-old'), true, 'an owned one stays');
    assert.deepEqual(await inspect(exec, q), []);
    sh('ip', 'link', 'del', 'm16c-old');
  });

  it('a pod namespace that is not there fails the ADD with what ip said, leaving no veth', async () => {
    const p = plan({ netns: '/var/run/netns/m16c-absent' });
    await assert.rejects(wire(exec, p), (e: unknown) => {
      assert.ok(e instanceof CniError);
      assert.equal(e.code, CniCode.Wiring);
      assert.equal(
        e.message,
        `creating ${p.hostVeth} and eth0 in /var/run/netns/m16c-absent failed`,
      );
      assert.match(
        e.details,
        /^Error: argument "\/var\/run\/netns\/m16c-absent" is wrong: .*netns.*\S$/,
      );
      return true;
    });
    assert.equal(linkExists(p.hostVeth), false);
  });

  it('an interface name the pod already has fails the ADD after one retry, leaving no veth', async () => {
    const p = plan();
    p.pod.ip('link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1');
    await assert.rejects(wire(exec, p), /^CniError: creating m16c-w\d+ and eth0 in .* failed$/);
    assert.equal(linkExists(p.hostVeth), false);
  });

  it('a pod side that cannot be set up is undone, host veth and all', async () => {
    const p = plan({ gatewayIp: '10.201.0.300' });
    await assert.rejects(wire(exec, p), /10\.201\.0\.300/);
    assert.equal(linkExists(p.hostVeth), false);
    assert.equal(p.pod.ip('-o', 'link', 'show').includes('eth0'), false);
    // The kernel refuses a multicast gateway: the pod batch fails at its default route.
    const q = plan({ gatewayIp: '224.0.0.1' });
    await assert.rejects(wire(exec, q), (e: unknown) => {
      assert.ok(e instanceof CniError);
      assert.equal(e.message, 'setting up eth0 failed');
      // What ip said, trimmed: its error, then the batch line that failed.
      assert.match(e.details, /^Error: [^]*\nCommand failed -:\d+$/);
      return true;
    });
    assert.equal(linkExists(q.hostVeth), false);
  });

  it('a first ADD runs one batch per side and nothing else; a failed one asks for no owner', async () => {
    // The real commands, recorded: program and the arguments that say what it did.
    const ran: string[] = [];
    const recording: Exec = {
      run: (program, args, stdin) => {
        const argv = program === 'nsenter' ? ['pod:', ...args.slice(1)] : [program, ...args];
        ran.push(argv.join(' '));
        return exec.run(program, args, stdin);
      },
    };
    const p = plan();
    await wire(recording, p);
    assert.deepEqual(ran, ['ip -batch -', 'pod: ip -batch -']);
    assert.deepEqual(await inspect(exec, p), []);
    ran.length = 0;
    const q = plan({ netns: '/var/run/netns/m16c-absent' });
    await assert.rejects(wire(recording, q), /^CniError: creating/);
    assert.deepEqual(ran, ['ip -batch -', `ip link del ${q.hostVeth}`]);
  });

  it('an ip that fails without a word fails the ADD with its exit status, on either side', async () => {
    // The real commands, with what a failed one printed on stderr dropped.
    const quiet: Exec = {
      run: async (program, args, stdin) => {
        const r = await exec.run(program, args, stdin);
        return r.code === 0 ? r : { ...r, stderr: '' };
      },
    };
    const p = plan({ netns: '/var/run/netns/m16c-absent' });
    await assert.rejects(wire(quiet, p), (e: unknown) => {
      assert.ok(e instanceof CniError);
      assert.equal(
        e.message,
        `creating ${p.hostVeth} and eth0 in /var/run/netns/m16c-absent failed`,
      );
      assert.equal(e.details, 'exit 255');
      return true;
    });
    const q = plan({ gatewayIp: '224.0.0.1' });
    await assert.rejects(wire(quiet, q), (e: unknown) => {
      assert.ok(e instanceof CniError);
      assert.equal(e.message, 'setting up eth0 failed');
      assert.equal(e.details, 'exit 1');
      return true;
    });
    assert.equal(linkExists(p.hostVeth), false);
    assert.equal(linkExists(q.hostVeth), false);
  });

  it('CHECK reads an older plugin route on the legacy name as fine, and says when the pod is gone', async () => {
    const p = plan();
    await wire(exec, p);
    assert.deepEqual(
      await inspect(exec, { ...p, hostVeth: 'm16c-new', legacyHostVeth: p.hostVeth }),
      [],
    );
    assert.deepEqual(await inspect(exec, { ...p, hostVeth: 'm16c-new' }), [
      `host route ${p.ips[0]}/32 dev m16c-new is missing`,
    ]);
    p.pod.ip('route', 'del', 'default');
    assert.deepEqual(await inspect(exec, p), [`default route via ${p.gatewayIp} is missing`]);
    const gone = await inspect(exec, { ...p, netns: '/var/run/netns/m16c-absent' });
    assert.equal(gone.length, 1);
    // What nsenter said, trimmed.
    assert.match(gone[0]!, /^cannot read eth0 in \/var\/run\/netns\/m16c-absent: \S[^]*\S$/);
  });

  it("CHECK finds the pod's address of another length, its gateway route and its default route gone or elsewhere", async () => {
    const p = plan();
    await wire(exec, p);
    const ip = p.ips[0]!;
    // Its address with another length, and another address with its length: neither is it.
    // (Added first: removing an interface's last address would take the routes with it.)
    p.pod.ip('addr', 'add', `${ip}/24`, 'dev', 'eth0');
    p.pod.ip('addr', 'add', '10.201.99.1/32', 'dev', 'eth0');
    p.pod.ip('addr', 'del', `${ip}/32`, 'dev', 'eth0');
    assert.deepEqual(await inspect(exec, p), [`${ip}/32 is not on eth0`]);
    p.pod.ip('addr', 'add', `${ip}/32`, 'dev', 'eth0');
    // The default route via another gateway, and a route via the gateway that is not the default.
    p.pod.ip('route', 'add', '10.99.0.0/16', 'via', '172.142.0.1', 'dev', 'eth0', 'onlink');
    p.pod.ip('route', 'replace', 'default', 'via', '172.142.0.9', 'dev', 'eth0', 'onlink');
    assert.deepEqual(await inspect(exec, p), ['default route via 172.142.0.1 is missing']);
    p.pod.ip('route', 'replace', 'default', 'via', '172.142.0.1', 'dev', 'eth0', 'onlink');
    assert.deepEqual(await inspect(exec, p), []);
    // A second attachment of the pod has its own route to the gateway; eth0's is gone (the
    // default route stays on eth0, onlink, without it).
    const q = { ...plan(), ifname: 'eth1', netns: p.netns };
    await wire(exec, q);
    p.pod.ip('route', 'del', '172.142.0.1/32', 'dev', 'eth0');
    assert.deepEqual(await inspect(exec, p), ['route 172.142.0.1 dev eth0 is missing']);
    assert.deepEqual(await inspect(exec, q), []);
  });

  it('CHECK never passes a pod whose host routes it cannot read, or whose interface is gone', async () => {
    const p = plan();
    await wire(exec, p);
    // A host where `ip` cannot be started: the pod side (through nsenter) still reads.
    const noIp: Exec = {
      run: (program, args, stdin) =>
        exec.run(program === 'ip' ? '/nonexistent/ip' : program, args, stdin),
    };
    assert.deepEqual(await inspect(noIp, p), [
      `host route ${p.ips[0]}/32 dev ${p.hostVeth} is missing`,
    ]);
    p.pod.ip('link', 'del', 'eth0');
    const gone = await inspect(exec, p);
    assert.equal(gone.length, 2, gone.join('; '));
    assert.equal(gone[0], `host route ${p.ips[0]}/32 dev ${p.hostVeth} is missing`);
    assert.match(gone[1]!, new RegExp(`^cannot read eth0 in ${p.netns}: .*"eth0"[^]*\\S$`));
  });

  it('DEL removes several host veths in one go, absent ones included', async () => {
    const a = plan();
    const b = plan();
    await wire(exec, a);
    await wire(exec, b);
    await unwire(exec, a.hostVeth, 'm16c-absent', b.hostVeth);
    assert.equal(linkExists(a.hostVeth), false);
    assert.equal(linkExists(b.hostVeth), false);
    assert.equal(sh('ip', 'route', 'show', 'exact', `${a.ips[0]}/32`).trim(), '');
    await unwire(exec, 'm16c-absent');
  });
}
