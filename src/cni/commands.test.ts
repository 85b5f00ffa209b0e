/**
 * `cmdAdd`'s failure paths with real parts: a real romanad (in-process, memory store, over
 * HTTP), real network namespaces and real `ip`/`iptables`, and a fault planted at one command
 * through the `Exec` seam. A half-done ADD leaves nothing behind (no address, veth, route or
 * divert rule); a failed repeated ADD, or one into a namespace deleted meanwhile, keeps the
 * running pod's address.
 *
 * The plugin writes the host veth's sysctls under /proc/sys/net of its own namespace, so the
 * tests run inside a host namespace of their own: this file runs itself again there (with
 * `nsenter`), and the outer run only checks that the inner one passed. Needs root.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createNetns, uniqueNetnsName, type TestNetns } from '../../test/helpers/netns.ts';
import { inOwnHostNamespace } from '../../test/helpers/own-host-netns.ts';
import type { CniRomanad } from '../../test/helpers/cni-romanad.ts';
import type { FaultyService } from '../../test/helpers/service.ts';
import { ProcessExec, type Exec } from '../exec.ts';
import { cmdAdd, type Deps } from './commands.ts';
import { type CniEnv } from './config.ts';
import { netConf } from '../../test/helpers/cni-conf.ts';
import { CniCode, CniError } from './errors.ts';
import { Romanad } from './romanad.ts';

const tag = randomBytes(3).toString('hex');

inOwnHostNamespace(
  import.meta.url,
  { suite: 'cmdAdd failure paths', envVar: 'ROMANA_CNI_TEST_HOST_NS', netnsPrefix: 'trust-cni' },
  inner,
);

function inner(): void {
  const HOST = 'trust-h';
  let service: FaultyService;
  let romanad: CniRomanad;
  let api: Romanad;
  const pods: TestNetns[] = [];
  const real = new ProcessExec();

  /** A fresh pod namespace (removed in `after`). */
  function podNs(): string {
    const pod = createNetns(uniqueNetnsName(`trust-pod-${tag}`));
    pods.push(pod);
    return pod.name;
  }

  /**
   * Real commands; the first command `matches` picks (by its whole argument vector) fails
   * instead (or runs `then` first).
   */
  function faulty(matches: (argv: string[]) => boolean, then?: () => void) {
    const seen = { fired: false };
    const exec: Exec = {
      run: (program, args, stdin) => {
        if (!seen.fired && matches([program, ...args])) {
          seen.fired = true;
          if (then === undefined) {
            return Promise.resolve({ code: 1, stdout: '', stderr: `planted failure` });
          }
          then();
        }
        return real.run(program, args, stdin);
      },
    };
    return { exec, seen };
  }

  function conf(usePolicy = false) {
    return netConf(HOST, romanad.url, { use_policy: usePolicy });
  }

  function env(ns: string, id: string): CniEnv {
    return {
      command: 'ADD',
      containerId: id,
      netns: `/var/run/netns/${ns}`,
      ifname: 'eth0',
      args: {},
    };
  }

  function deps(exec: Exec): Deps {
    return { api, exec, log: () => undefined };
  }

  const sh = (...argv: string[]) => execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  const hostLinks = () => sh('ip', '-o', 'link', 'show');
  const hostRoutes = () => sh('ip', 'route', 'show');
  const podLinks = (ns: string) => sh('ip', '-n', ns, '-o', 'link', 'show');

  /** What a failed ADD must leave as it found: links, routes, rules, sets of the host. */
  const hostState = () => ({
    links: sh('ip', '-o', 'link', 'show').replace(/^\d+: /gm, ''),
    routes: hostRoutes(),
    rules: sh('iptables-save', '-t', 'filter')
      .replace(/^#.*\n/gm, '')
      .replace(/\[\d+:\d+\]/g, ''),
  });

  /** Nothing of container `id` is left: no address, veth, host route, divert rule, pod link. */
  async function assertNothingLeft(id: string, ns: string, was: ReturnType<typeof hostState>) {
    assert.equal(await api.getAddress(`${id.slice(0, 8)}.eth0`), undefined, 'address released');
    assert.ok(!hostLinks().includes(`romana-${id.slice(0, 8)}`), 'veth removed');
    assert.deepEqual(hostState(), was, 'the host is as before');
    assert.doesNotMatch(podLinks(ns), /eth0/, 'no interface in the pod');
  }

  before(async () => {
    // Loaded here, in the inner run only: the outer one needs no server.
    const { startCniRomanad } = await import('../../test/helpers/cni-romanad.ts');
    romanad = await startCniRomanad('10.77.0.0/16', [{ name: HOST, ip: '192.168.99.1' }]);
    ({ service, api } = romanad);
  });

  after(async () => {
    await romanad.close();
    for (const pod of pods) pod.remove();
  });

  describe('a half-done ADD leaves nothing', () => {
    const cases: Array<[string, (argv: string[]) => boolean]> = [
      ['the host side', (a) => a[0] === 'ip' && a[1] === '-batch'],
      ['the pod side', (a) => a[0] === 'nsenter' && a.includes('-batch')],
      ['the divert rules', (a) => a[0] === 'iptables-restore'],
    ];
    cases.forEach(([step, matches], i) => {
      it(`when ${step} fails`, async () => {
        const ns = podNs();
        const id = `f${i}${tag}00000`;
        const { exec, seen } = faulty(matches);
        const was = hostState();
        await assert.rejects(cmdAdd(conf(true), env(ns, id), deps(exec)), (e: unknown) => {
          assert.ok(e instanceof CniError);
          assert.equal(e.code, CniCode.Wiring);
          return true;
        });
        assert.ok(seen.fired, `the fault at ${step} was reached`);
        await assertNothingLeft(id, ns, was);
        // And the same ADD then succeeds: nothing in the way.
        const ok = await cmdAdd(conf(true), env(ns, id), deps(real));
        assert.match(JSON.stringify(ok), /10\.77\./);
      });
    });
  });

  describe('the pod of CNI_ARGS', () => {
    it('is linked to the address in the allocation (namespace, name, uid)', async () => {
      const ns = podNs();
      const id = `k0${tag}00000`;
      const args = {
        K8S_POD_NAMESPACE: 'shop',
        K8S_POD_NAME: `web-${tag}`,
        K8S_POD_UID: `uid-${tag}`,
        K8S_POD_INFRA_CONTAINER_ID: id,
      };
      await cmdAdd(conf(), { ...env(ns, id), args }, deps(real));
      const a = service.getAddress(`web-${tag}.shop.${id.slice(0, 8)}`);
      assert.deepEqual(a.pod, {
        namespace: 'shop',
        name: `web-${tag}`,
        uid: `uid-${tag}`,
        labels: {},
        ports: [],
      });
    });
  });

  describe('a failed repeated ADD keeps the running pod’s address', () => {
    it('when the repeat fails at the pod side', async () => {
      const ns = podNs();
      const id = `r0${tag}00000`;
      const first = await api.getAddress(`${id.slice(0, 8)}.eth0`);
      assert.equal(first, undefined);
      await cmdAdd(conf(), env(ns, id), deps(real));
      const before = await api.getAddress(`${id.slice(0, 8)}.eth0`);
      assert.ok(before, 'allocated by the first ADD');
      const { exec, seen } = faulty((a) => a[0] === 'nsenter' && a.includes('-batch'));
      await assert.rejects(cmdAdd(conf(), env(ns, id), deps(exec)), CniError);
      assert.ok(seen.fired);
      assert.deepEqual(await api.getAddress(`${id.slice(0, 8)}.eth0`), before, 'kept');
      // A later repeat wires the pod again with the same address.
      const again = (await cmdAdd(conf(), env(ns, id), deps(real))) as {
        ips: Array<{ address: string }>;
      };
      assert.equal(again.ips[0]!.address, `${before.ip}/32`);
      assert.match(sh('ip', '-n', ns, '-o', 'addr', 'show', 'eth0'), new RegExp(before.ip));
    });

    it('when the pod’s namespace is deleted while the repeat runs', async () => {
      const ns = podNs();
      const id = `r1${tag}00000`;
      await cmdAdd(conf(), env(ns, id), deps(real));
      const before = await api.getAddress(`${id.slice(0, 8)}.eth0`);
      assert.ok(before);
      // The namespace goes after the plugin checked it exists, before it wires anything.
      const { exec, seen } = faulty(
        (a) => a[0] === 'ip' && a[1] === '-batch',
        () => pods.find((p) => p.name === ns)!.remove(),
      );
      await assert.rejects(cmdAdd(conf(), env(ns, id), deps(exec)), (e: unknown) => {
        assert.ok(e instanceof CniError);
        assert.equal(e.code, CniCode.Wiring);
        return true;
      });
      assert.ok(seen.fired);
      assert.deepEqual(await api.getAddress(`${id.slice(0, 8)}.eth0`), before, 'kept');
      assert.ok(!hostLinks().includes(`romana-${id.slice(0, 8)}`), 'no veth left');
    });

    it('when the pod’s namespace is already gone (code 4, nothing run)', async () => {
      const ns = podNs();
      const id = `r2${tag}00000`;
      await cmdAdd(conf(), env(ns, id), deps(real));
      const before = await api.getAddress(`${id.slice(0, 8)}.eth0`);
      assert.ok(before);
      pods.find((p) => p.name === ns)!.remove();
      const ran: string[][] = [];
      const recording: Exec = {
        run: (program, args, stdin) => {
          ran.push([program, ...args]);
          return real.run(program, args, stdin);
        },
      };
      await assert.rejects(cmdAdd(conf(), env(ns, id), deps(recording)), (e: unknown) => {
        assert.ok(e instanceof CniError);
        assert.equal(e.code, CniCode.InvalidEnvironment);
        return true;
      });
      assert.deepEqual(ran, []);
      assert.deepEqual(await api.getAddress(`${id.slice(0, 8)}.eth0`), before, 'kept');
    });
  });
}
