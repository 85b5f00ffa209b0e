/**
 * The plugin's commands at their edges, with real parts (an in-process romanad over HTTP with a
 * memory store, real namespaces, `ip` and `iptables`): a repeated ADD and one that finds the
 * address on another host or loses a race, CHECK against real wiring, STATUS and GC. Written
 * to kill the mutants of `src/cni/commands.ts` that the other tests let live (docs/testing.md).
 *
 * ADD writes the host veth's sysctls under /proc/sys/net of its own namespace, so (as
 * commands.test.ts) the cases run inside a host namespace of their own: this file runs itself
 * again there with `nsenter`, and the outer run checks that the inner one passed. Needs root.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createNetns, uniqueNetnsName, type TestNetns } from '../../test/helpers/netns.ts';
import { inOwnHostNamespace } from '../../test/helpers/own-host-netns.ts';
import type { CniRomanad } from '../../test/helpers/cni-romanad.ts';
import { ProcessExec, type Exec } from '../exec.ts';
import { cmdAdd, cmdCheck, cmdDel, cmdGc, cmdStatus, type Deps } from './commands.ts';
import { deriveNames, type CniEnv, type NetConf } from './config.ts';
import { netConf, podWiringFails } from '../../test/helpers/cni-conf.ts';
import { CniCode, CniError, type CniCodeValue } from './errors.ts';
import { Romanad } from './romanad.ts';

const tag = randomBytes(3).toString('hex');

inOwnHostNamespace(
  import.meta.url,
  {
    suite: 'CNI commands at the edges',
    envVar: 'ROMANA_CNI_EDGES_HOST_NS',
    netnsPrefix: 'mut16-cni',
  },
  inner,
);

/** A CniError with `code`, whose message (and details) match. */
function cniError(code: CniCodeValue, message: RegExp, details?: RegExp) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof CniError, String(e));
    assert.equal(e.code, code, e.message);
    assert.match(e.message, message);
    if (details) assert.match(e.details ?? '', details);
    return true;
  };
}

function inner(): void {
  const HOST = 'edge-h';
  let romanad: CniRomanad;
  let api: Romanad;
  const pods: TestNetns[] = [];
  const real = new ProcessExec();
  const sh = (...argv: string[]) => execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  const hostLinks = () => sh('ip', '-o', 'link', 'show');
  const diverts = () => sh('iptables-save', '-t', 'filter');

  function podNs(): TestNetns {
    const pod = createNetns(uniqueNetnsName(`m16-${tag}`));
    pods.push(pod);
    return pod;
  }

  function conf(extra: Record<string, unknown> = {}): NetConf {
    return netConf(HOST, romanad.url, { cniVersion: '1.1.0', ...extra });
  }

  function env(ns: TestNetns, id: string, args: Record<string, string> = {}): CniEnv {
    return { command: 'ADD', containerId: id, netns: ns.path, ifname: 'eth0', args };
  }

  function deps(lines: string[] = [], exec: Exec = real, romanad: Romanad = api): Deps {
    return { api: romanad, exec, log: (l) => lines.push(l) };
  }

  /** ADDs a fresh container in a fresh pod namespace; its names, namespace and IP. */
  async function added(id: string, c = conf()) {
    const ns = podNs();
    const e = env(ns, id);
    const r = (await cmdAdd(c, e, deps())) as { ips: Array<{ address: string }> };
    return { ns, env: e, names: deriveNames(e), ip: r.ips[0]!.address.split('/')[0]! };
  }

  before(async () => {
    // Loaded here, in the inner run only: the outer one needs no server.
    const { startCniRomanad } = await import('../../test/helpers/cni-romanad.ts');
    romanad = await startCniRomanad('10.78.0.0/16', [
      { name: HOST, ip: '192.168.98.1' },
      { name: 'edge-other', ip: '192.168.98.2' },
    ]);
    ({ api } = romanad);
  });

  after(async () => {
    await romanad.close();
    for (const pod of pods) pod.remove();
  });

  describe('ADD', () => {
    it('reuses the address of a repeated ADD, and says so', async () => {
      const a = await added(`a0${tag}00000`);
      const lines: string[] = [];
      const again = await cmdAdd(conf(), a.env, deps(lines));
      assert.match(JSON.stringify(again), new RegExp(`"${a.ip.replaceAll('.', '\\.')}/32"`));
      assert.ok(lines.includes(`${a.names.addressName} already has ${a.ip}: reusing it`), lines[0]);
      assert.ok(lines.includes(`${a.names.addressName} ${a.ip} on ${a.names.hostVeth}`));
      const held = await api.getAddress(a.names.addressName);
      assert.deepEqual([held?.tenant, held?.segment], ['default', 'default']);
      assert.doesNotMatch(
        diverts(),
        new RegExp(a.names.hostVeth),
        'no divert rules without use_policy',
      );
    });

    it('names the missing network namespace', async () => {
      const ns = podNs();
      ns.remove();
      await assert.rejects(
        cmdAdd(conf(), env(ns, `a6${tag}00000`), deps()),
        cniError(CniCode.InvalidEnvironment, new RegExp(`^CNI_NETNS: ${ns.path} does not exist$`)),
      );
    });

    it('refuses an address romanad holds for another host, naming both hosts', async () => {
      const ns = podNs();
      const id = `a1${tag}00000`;
      const name = deriveNames(env(ns, id)).addressName;
      await api.allocate({ name, host: 'edge-other', tenant: 'default', segment: 'default' });
      await assert.rejects(
        cmdAdd(conf(), env(ns, id), deps()),
        cniError(
          CniCode.Romanad,
          new RegExp(
            `^address ${name} \\(10\\.78\\.[0-9.]+\\) belongs to host edge-other, not ${HOST}$`,
          ),
          /romana_host_name/,
        ),
      );
      assert.equal((await api.getAddress(name))?.host, 'edge-other', 'left to its host');
    });

    it('takes the address a concurrent ADD of the same container allocated first', async () => {
      const ns = podNs();
      const id = `a2${tag}00000`;
      const name = deriveNames(env(ns, id)).addressName;
      // The other ADD allocates between this one's lookup and its allocation.
      const racing = new (class extends Romanad {
        override async allocateAll(req: Parameters<Romanad['allocateAll']>[0]) {
          assert.ok(await api.allocate(req));
          return super.allocateAll(req);
        }
      })({ url: romanad.url });
      const r = await cmdAdd(conf(), env(ns, id), deps([], real, racing));
      const held = await api.getAddress(name);
      assert.ok(held);
      assert.match(JSON.stringify(r), new RegExp(`"${held.ip.replaceAll('.', '\\.')}/32"`));
      assert.match(sh('ip', '-n', ns.name, '-o', 'addr', 'show', 'eth0'), new RegExp(held.ip));
      // Not allocated by this call: when a later step fails, the address is kept.
      const other = podNs();
      const id2 = `a7${tag}00000`;
      const failing = podWiringFails(real);
      const lines: string[] = [];
      await assert.rejects(cmdAdd(conf(), env(other, id2), deps(lines, failing, racing)), CniError);
      const kept = await api.getAddress(deriveNames(env(other, id2)).addressName);
      assert.ok(kept, 'the other ADD’s address is kept');
      assert.match(lines.at(-1)!, new RegExp(`^failed, kept ${kept.ip.replaceAll('.', '\\.')}: `));
    });

    it('answers code 11 when the concurrently allocated address vanished meanwhile', async () => {
      const ns = podNs();
      const id = `a3${tag}00000`;
      const name = deriveNames(env(ns, id)).addressName;
      const vanishing = new (class extends Romanad {
        override async allocateAll() {
          return undefined;
        }
      })({ url: romanad.url });
      await assert.rejects(
        cmdAdd(conf(), env(ns, id), deps([], real, vanishing)),
        cniError(CniCode.TryAgainLater, new RegExp(`^${name} vanished$`)),
      );
    });

    it('logs what a failed ADD released or kept, with the error and its details', async () => {
      const ns = podNs();
      const id = `a4${tag}00000`;
      const failing = podWiringFails(real);
      const first: string[] = [];
      await assert.rejects(cmdAdd(conf(), env(ns, id), deps(first, failing)), CniError);
      assert.match(
        first.at(-1)!,
        /^failed, released 10\.78\.[0-9.]+: setting up eth0 failed: planted$/,
      );
      await cmdAdd(conf(), env(ns, id), deps());
      const ip = (await api.getAddress(deriveNames(env(ns, id)).addressName))!.ip;
      const repeat: string[] = [];
      await assert.rejects(cmdAdd(conf(), env(ns, id), deps(repeat, failing)), CniError);
      assert.equal(repeat.at(-1), `failed, kept ${ip}: setting up eth0 failed: planted`);
    });

    it('with use_policy, a repeated ADD leaves one set of divert rules', async () => {
      const a = await added(`a5${tag}00000`, conf({ use_policy: true }));
      await cmdAdd(conf({ use_policy: true }), a.env, deps());
      const rules = diverts()
        .split('\n')
        .filter((l) => l.includes(a.names.hostVeth));
      assert.ok(rules.length > 0, 'divert rules installed');
      await cmdAdd(conf({ use_policy: true }), a.env, deps());
      assert.deepEqual(
        diverts()
          .split('\n')
          .filter((l) => l.includes(a.names.hostVeth)),
        rules,
        'not installed twice',
      );
    });
  });

  describe('DEL', () => {
    it('says whether it released the address; without use_policy it runs no iptables', async () => {
      const a = await added(`d0${tag}00000`);
      const ran: string[] = [];
      const recording: Exec = {
        run: (program, args, stdin) => {
          ran.push(program);
          return real.run(program, args, stdin);
        },
      };
      const lines: string[] = [];
      await cmdDel(conf(), { ...a.env, command: 'DEL' }, deps(lines, recording));
      await cmdDel(conf(), { ...a.env, command: 'DEL' }, deps(lines, recording));
      assert.deepEqual(lines, [
        `${a.names.addressName} released; deleted`,
        `${a.names.addressName} was not allocated; deleted`,
      ]);
      assert.equal(await api.getAddress(a.names.addressName), undefined);
      assert.ok(!hostLinks().includes(a.names.hostVeth), 'veth removed');
      assert.ok(ran.length > 0 && !ran.some((p) => p.startsWith('iptables')), ran.join(' '));
    });

    it('when romanad cannot release, logs why and keeps the cause', async () => {
      const a = await added(`d1${tag}00000`);
      const away = new Romanad({ url: 'http://127.0.0.1:9', timeoutMs: 2000 });
      const lines: string[] = [];
      await assert.rejects(
        cmdDel(conf(), { ...a.env, command: 'DEL' }, deps(lines, real, away)),
        (e: unknown) => {
          cniError(
            CniCode.TryAgainLater,
            new RegExp(`^could not release ${a.names.addressName}: romanad at .* is unreachable$`),
          )(e);
          assert.ok((e as Error).cause instanceof CniError, 'the cause kept');
          return true;
        },
      );
      assert.match(
        lines.join('\n'),
        new RegExp(`^DEL ${a.names.addressName}: release failed: romanad at .* is unreachable: `),
      );
      assert.ok(await api.getAddress(a.names.addressName), 'still allocated: DEL is retried');
    });
  });

  describe('CHECK', () => {
    const checkConf = (ip: string, version = '1.0.0') =>
      conf({
        cniVersion: version,
        prevResult: { cniVersion: version, ips: [{ address: `${ip}/32` }] },
      });

    it('passes for a pod as ADD left it, and names each thing that is no longer so', async () => {
      const a = await added(`c0${tag}00000`);
      await cmdCheck(checkConf(a.ip), a.env, deps());
      a.ns.ip('route', 'del', 'default');
      await assert.rejects(
        cmdCheck(checkConf(a.ip), a.env, deps()),
        cniError(
          CniCode.CheckFailed,
          new RegExp(`^${a.names.addressName} is not as ADD left it$`),
          /^default route via 172\.142\.0\.1 is missing$/,
        ),
      );
      await api.release(a.names.addressName);
      await assert.rejects(
        cmdCheck(checkConf(a.ip), a.env, deps()),
        cniError(
          CniCode.CheckFailed,
          /is not as ADD left it/,
          new RegExp(`^romanad has no address ${a.names.addressName}; default route`),
        ),
      );
    });

    it('names the address romanad gives when it is not the one of prevResult', async () => {
      const a = await added(`c1${tag}00000`);
      await assert.rejects(
        cmdCheck(checkConf('10.78.255.254'), a.env, deps()),
        cniError(
          CniCode.CheckFailed,
          /is not as ADD left it/,
          new RegExp(`^romanad gives ${a.names.addressName} ${a.ip}, not 10\\.78\\.255\\.254; `),
        ),
      );
    });

    it('refuses cniVersion 0.3.x and a prevResult without an address, before asking', async () => {
      const a = await added(`c2${tag}00000`);
      for (const v of ['0.3.0', '0.3.1']) {
        await assert.rejects(
          cmdCheck(checkConf(a.ip, v), a.env, deps()),
          cniError(CniCode.IncompatibleVersion, /^CHECK needs cniVersion 0\.4\.0 or later$/),
        );
      }
      await cmdCheck(checkConf(a.ip, '0.4.0'), a.env, deps());
      await assert.rejects(
        cmdCheck(conf({ cniVersion: '1.0.0', prevResult: { ips: [] } }), a.env, deps()),
        cniError(CniCode.InvalidConfig, /^prevResult: no pod address \(\/32 or \/128\) to check$/),
      );
    });
  });

  describe('STATUS', () => {
    it('is ready when romanad knows the host, code 50 otherwise, only in 1.1.0', async () => {
      await cmdStatus(conf(), deps());
      await assert.rejects(
        cmdStatus(conf({ romana_host_name: 'edge-nobody' }), deps()),
        cniError(
          CniCode.NotAvailable,
          /^romana cannot add pods: host edge-nobody is not known to romanad$/,
          /register it/,
        ),
      );
      await assert.rejects(
        cmdStatus(conf({ cniVersion: '1.0.0' }), deps()),
        cniError(CniCode.IncompatibleVersion, /^STATUS needs cniVersion 1\.1\.0$/),
      );
    });
  });

  describe('GC', () => {
    it('releases only the stale addresses this plugin made, with their veths and rules', async () => {
      const c = conf({ use_policy: true });
      const keep = await added(`g0${tag}00000`, c);
      const stale = await added(`g1${tag}00000`, c);
      await api.allocate({
        name: `byhand-${tag}`,
        host: HOST,
        tenant: 'default',
        segment: 'default',
      });
      assert.match(diverts(), new RegExp(stale.names.hostVeth));
      const lines: string[] = [];
      const valid = [{ containerID: keep.env.containerId, ifname: 'eth0' }];
      await cmdGc(conf({ use_policy: true, 'cni.dev/valid-attachments': valid }), deps(lines));
      assert.equal(await api.getAddress(stale.names.addressName), undefined, 'stale released');
      assert.ok(await api.getAddress(keep.names.addressName), 'valid kept');
      assert.ok(await api.getAddress(`byhand-${tag}`), 'a name the plugin does not make kept');
      assert.ok(!hostLinks().includes(stale.names.hostVeth), 'stale veth removed');
      assert.ok(hostLinks().includes(keep.names.hostVeth), 'valid veth kept');
      assert.doesNotMatch(diverts(), new RegExp(stale.names.hostVeth), 'stale rules removed');
      assert.match(diverts(), new RegExp(keep.names.hostVeth), 'valid rules kept');
      assert.ok(lines.includes(`GC released ${stale.names.addressName} ${stale.ip}`), lines[0]);
    });

    it('keeps an attachment listed by its container id only under another interface', async () => {
      const a = await added(`g2${tag}00000`);
      const valid = [{ containerID: a.env.containerId, ifname: 'eth9' }];
      await cmdGc(conf({ 'cni.dev/valid-attachments': valid }), deps());
      assert.ok(await api.getAddress(a.names.addressName), 'kept: its container is still valid');
    });

    it('keeps going past an address it cannot release, then answers code 11 naming it', async () => {
      const bad = await added(`g3${tag}00000`);
      const good = await added(`g4${tag}00000`);
      const failing: Exec = {
        run: (program, args, stdin) =>
          args.includes(`${bad.ip}/32`) && args.includes('route')
            ? Promise.reject(new Error('planted'))
            : real.run(program, args, stdin),
      };
      await assert.rejects(
        cmdGc(conf({ 'cni.dev/valid-attachments': [] }), deps([], failing)),
        cniError(
          CniCode.TryAgainLater,
          /^GC could not release every stale address$/,
          new RegExp(`^${bad.names.addressName}: Error: planted$`),
        ),
      );
      assert.equal(await api.getAddress(good.names.addressName), undefined, 'the other released');
      assert.ok(await api.getAddress(bad.names.addressName), 'the failed one kept');
      // GC of nothing stale then succeeds.
      await cmdGc(conf({ 'cni.dev/valid-attachments': [] }), deps());
      assert.equal(await api.getAddress(bad.names.addressName), undefined);
    });

    it('needs cniVersion 1.1.0 and the list of valid attachments', async () => {
      await assert.rejects(
        cmdGc(conf({ cniVersion: '1.0.0', 'cni.dev/valid-attachments': [] }), deps()),
        cniError(CniCode.IncompatibleVersion, /^GC needs cniVersion 1\.1\.0$/),
      );
      await assert.rejects(
        cmdGc(conf(), deps()),
        cniError(CniCode.InvalidConfig, /^GC needs cni\.dev\/valid-attachments$/),
      );
    });
  });
}
