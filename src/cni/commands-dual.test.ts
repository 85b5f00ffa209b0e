/**
 * The plugin's commands for a dual-stack pod, with real parts (the real service over a memory
 * store with an IPv4 and an IPv6 network, served over HTTP in-process; real namespaces and
 * `ip`): what ADD, a repeated ADD, a failed ADD and CHECK log and answer names both addresses,
 * IPv4 first, each once.
 *
 * ADD writes the host veth's sysctls under /proc/sys/net of its own namespace, so (as
 * commands.test.ts) the cases run inside a host namespace of their own: this file runs itself
 * again there with `nsenter`, and the outer run checks that the inner one passed. Needs root.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createNetns, uniqueNetnsName, type TestNetns } from '../../test/helpers/netns.ts';
import { inOwnHostNamespace } from '../../test/helpers/own-host-netns.ts';
import { ProcessExec, type Exec } from '../exec.ts';
import { cmdAdd, cmdCheck, type Deps } from './commands.ts';
import { deriveNames, type CniEnv, type NetConf } from './config.ts';
import { netConf, podWiringFails } from '../../test/helpers/cni-conf.ts';
import { CniCode, CniError } from './errors.ts';
import { Romanad } from './romanad.ts';

const tag = randomBytes(3).toString('hex');

inOwnHostNamespace(
  import.meta.url,
  { suite: 'CNI commands, dual-stack', envVar: 'ROMANA_CNI_DUAL_HOST_NS', netnsPrefix: 'mc-dual' },
  inner,
);

function inner(): void {
  const HOST = 'dual-h';
  let url = '';
  let api: Romanad;
  let close: () => Promise<void>;
  const pods: TestNetns[] = [];
  const real = new ProcessExec();
  /** Real commands, but the pod side of the wiring fails. */
  const failing = podWiringFails(real);

  function conf(extra: Record<string, unknown> = {}): NetConf {
    return netConf(HOST, url, extra);
  }

  function podEnv(id: string): CniEnv {
    const ns = createNetns(uniqueNetnsName(`mcd-${tag}`));
    pods.push(ns);
    return { command: 'ADD', containerId: id, netns: ns.path, ifname: 'eth0', args: {} };
  }

  function deps(lines: string[] = [], exec: Exec = real): Deps {
    return { api, exec, log: (l) => lines.push(l) };
  }

  /** The addresses romanad holds under `name`, IPv4 first. */
  async function held(name: string): Promise<[string, string]> {
    const a = await api.getAddress(name);
    const ips = (a?.ips ?? []).map((x) => x.ip);
    assert.equal(ips.length, 2, `both families allocated: ${JSON.stringify(a)}`);
    assert.match(ips[0]!, /^10\.81\./);
    assert.match(ips[1]!, /^fd00:81:/);
    return [ips[0]!, ips[1]!];
  }

  before(async () => {
    // Loaded here, in the inner run only: the outer one needs no server.
    const { realService } = await import('../../test/helpers/service.ts');
    const { buildApp } = await import('../server/http/app.ts');
    const service = await realService({
      initialTopology: {
        networks: [
          { name: 'pods', cidr: '10.81.0.0/16', block_mask: 28 },
          { name: 'pods6', cidr: 'fd00:81::/48' },
        ],
        topologies: [{ networks: ['pods', 'pods6'], map: [{ name: 'rack' }] }],
      },
    });
    await service.addHost({ name: HOST, ip: '192.168.96.1' });
    const app = buildApp(service);
    await app.listen({ host: '127.0.0.1', port: 0 });
    url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    api = new Romanad({ url });
    // The chains romana-agent makes in both families, which divert rules jump to.
    for (const tool of ['iptables', 'ip6tables']) {
      for (const c of [
        'ROMANA-INPUT',
        'ROMANA-OUTPUT',
        'ROMANA-FORWARD-IN',
        'ROMANA-FORWARD-OUT',
      ]) {
        execFileSync(tool, ['-w', '-N', c]);
      }
    }
    close = async () => {
      await app.close();
      await service.close();
    };
  });

  after(async () => {
    await close();
    for (const p of pods) p.remove();
  });

  describe('a dual-stack pod', () => {
    it('ADD, a repeated ADD and CHECK name both addresses, IPv4 first', async () => {
      const e = podEnv(`e0${tag}00000`);
      const names = deriveNames(e);
      const lines: string[] = [];
      const r = (await cmdAdd(conf(), e, deps(lines))) as { ips: Array<{ address: string }> };
      const [v4, v6] = await held(names.addressName);
      assert.deepEqual(
        r.ips.map((x) => x.address),
        [`${v4}/32`, `${v6}/128`],
      );
      assert.deepEqual(lines, [`${names.addressName} ${v4} ${v6} on ${names.hostVeth}`]);
      lines.length = 0;
      await cmdAdd(conf(), e, deps(lines));
      assert.deepEqual(lines, [
        `${names.addressName} already has ${v4} ${v6}: reusing it`,
        `${names.addressName} ${v4} ${v6} on ${names.hostVeth}`,
      ]);
      const prev = (v6Shown: string) =>
        conf({
          prevResult: {
            cniVersion: '1.0.0',
            ips: [{ address: `${v4}/32` }, { address: `${v6Shown}/128` }],
          },
        });
      await cmdCheck(prev(v6), e, deps());
      await assert.rejects(cmdCheck(prev('fd00:81::ffff'), e, deps()), (err: unknown) => {
        assert.ok(err instanceof CniError);
        assert.equal(err.code, CniCode.CheckFailed);
        assert.match(
          err.details ?? '',
          new RegExp(`^romanad gives ${names.addressName} ${v4} ${v6}, not ${v4} fd00:81::ffff; `),
        );
        return true;
      });
    });

    it('with use_policy, ADD diverts the pod’s traffic of both families', async () => {
      const e = podEnv(`e2${tag}00000`);
      const { hostVeth } = deriveNames(e);
      await cmdAdd(conf({ use_policy: true }), e, deps());
      for (const tool of ['iptables-save', 'ip6tables-save']) {
        const rules = execFileSync(tool, ['-t', 'filter'], { encoding: 'utf8' })
          .split('\n')
          .filter((l) => l.includes(hostVeth));
        assert.equal(rules.length, 4, `${tool}: ${rules.join(' | ')}`);
      }
    });

    it('a failed ADD logs both addresses it released; a failed repeat both it kept', async () => {
      const e = podEnv(`e1${tag}00000`);
      const names = deriveNames(e);
      const first: string[] = [];
      await assert.rejects(cmdAdd(conf(), e, deps(first, failing)), CniError);
      assert.match(
        first.at(-1)!,
        /^failed, released 10\.81\.[0-9.]+ fd00:81:[0-9a-f:]+: setting up eth0 failed: planted$/,
      );
      assert.equal(await api.getAddress(names.addressName), undefined, 'released');
      await cmdAdd(conf(), e, deps());
      const [v4, v6] = await held(names.addressName);
      const repeat: string[] = [];
      await assert.rejects(cmdAdd(conf(), e, deps(repeat, failing)), CniError);
      assert.equal(repeat.at(-1), `failed, kept ${v4} ${v6}: setting up eth0 failed: planted`);
      assert.deepEqual(await held(names.addressName), [v4, v6], 'kept');
    });
  });
}
