/**
 * GC's choice of what to remove, and what DEL and STATUS answer when the romanad client fails
 * in an unexpected way, with real parts (an in-process romanad over HTTP with a memory store,
 * real namespaces, links and routes): a valid attachment whose interface name has a dot is
 * kept; a stale address's veth named the old way goes even without a host route; a device that
 * is not a plugin veth stays though a stale address's route goes through it; without
 * use_policy GC runs no iptables.
 *
 * As commands.test.ts, the cases run inside a host namespace of their own: this file runs
 * itself again there with `nsenter`, and the outer run checks that the inner one passed.
 * Needs root.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { CniRomanad } from '../../test/helpers/cni-romanad.ts';
import { inOwnHostNamespace } from '../../test/helpers/own-host-netns.ts';
import { ProcessExec, type Exec } from '../exec.ts';
import { cmdDel, cmdGc, cmdStatus, type Deps } from './commands.ts';
import { type NetConf } from './config.ts';
import { netConf } from '../../test/helpers/cni-conf.ts';
import { CniCode, CniError } from './errors.ts';
import { Romanad } from './romanad.ts';

const tag = randomBytes(3).toString('hex');

inOwnHostNamespace(
  import.meta.url,
  { suite: 'CNI GC and unexpected errors', envVar: 'ROMANA_CNI_GC_HOST_NS', netnsPrefix: 'mc-gc' },
  inner,
);

function inner(): void {
  const HOST = 'gc-h';
  let romanad: CniRomanad;
  const real = new ProcessExec();
  const sh = (...argv: string[]) => execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  const hostLinks = () => sh('ip', '-o', 'link', 'show');

  function conf(extra: Record<string, unknown> = {}): NetConf {
    return netConf(HOST, romanad.url, { cniVersion: '1.1.0', ...extra });
  }

  function deps(lines: string[] = [], exec: Exec = real, api: Romanad = romanad.api): Deps {
    return { api, exec, log: (l) => lines.push(l) };
  }

  /** Allocates `name` on this host, as ADD would; its IPv4 address. */
  async function allocated(name: string): Promise<string> {
    const ip = await romanad.api.allocate({
      name,
      host: HOST,
      tenant: 'default',
      segment: 'default',
    });
    assert.ok(ip);
    return ip;
  }

  const gcNone = (extra: Record<string, unknown> = {}) =>
    conf({ 'cni.dev/valid-attachments': [], ...extra });

  before(async () => {
    // Loaded here, in the inner run only: the outer one needs no server.
    const { startCniRomanad } = await import('../../test/helpers/cni-romanad.ts');
    romanad = await startCniRomanad('10.82.0.0/16', [{ name: HOST, ip: '192.168.95.1' }]);
  });

  after(async () => {
    await romanad.close();
  });

  describe('GC', () => {
    it('keeps a valid attachment whose interface name has a dot', async () => {
      const id = `b0${tag}00000000`;
      const name = `${id.slice(0, 8)}.net.1`;
      await allocated(name);
      const valid = [{ containerID: id, ifname: 'net.1' }];
      await cmdGc(conf({ 'cni.dev/valid-attachments': valid }), deps());
      assert.ok(await romanad.api.getAddress(name), 'kept');
      await cmdGc(gcNone(), deps());
      assert.equal(await romanad.api.getAddress(name), undefined, 'released once not valid');
    });

    it('removes a stale address’s veth named the old way, also without a host route', async () => {
      const key = `b1${tag}`;
      const name = `${key}.eth0`;
      await allocated(name);
      sh('ip', 'link', 'add', `romana-${key}`, 'type', 'veth', 'peer', 'name', `mcp-${tag}`);
      const lines: string[] = [];
      await cmdGc(gcNone(), deps(lines));
      assert.equal(await romanad.api.getAddress(name), undefined, 'released');
      assert.doesNotMatch(hostLinks(), new RegExp(`romana-${key}`), 'old-style veth removed');
      assert.match(lines.join('\n'), new RegExp(`^GC released ${name} 10\\.82\\.`, 'm'));
    });

    it('leaves a device that is no plugin veth alone, though the stale route goes through it', async () => {
      const name = `b2${tag}.eth0`;
      const ip = await allocated(name);
      const dev = `mcd-${tag}`;
      sh('ip', 'link', 'add', dev, 'type', 'veth', 'peer', 'name', `mce-${tag}`);
      sh('ip', 'link', 'set', dev, 'up');
      sh('ip', 'route', 'add', `${ip}/32`, 'dev', dev);
      try {
        await cmdGc(gcNone(), deps());
        assert.equal(await romanad.api.getAddress(name), undefined, 'released');
        assert.match(hostLinks(), new RegExp(`: ${dev}@`), 'the device is still there');
      } finally {
        sh('ip', 'link', 'del', dev);
      }
    });

    it('without use_policy runs no iptables', async () => {
      const name = `b3${tag}.eth0`;
      await allocated(name);
      const ran: string[] = [];
      const recording: Exec = {
        run: (program, args, stdin) => {
          ran.push(program);
          return real.run(program, args, stdin);
        },
      };
      await cmdGc(gcNone(), deps([], recording));
      assert.equal(await romanad.api.getAddress(name), undefined, 'released');
      assert.ok(ran.length > 0 && !ran.some((p) => p.includes('tables')), ran.join(' '));
    });
  });

  it('GC names every address it could not release, one after the other', async () => {
    const names = [`b5${tag}.eth0`, `b6${tag}.eth0`];
    const ips = await Promise.all(names.map((n) => allocated(n)));
    const failing: Exec = {
      run: (program, args, stdin) =>
        args.includes('route') && ips.some((ip) => args.includes(`${ip}/32`))
          ? Promise.reject(new Error('planted'))
          : real.run(program, args, stdin),
    };
    await assert.rejects(cmdGc(gcNone(), deps([], failing)), (e: unknown) => {
      assert.ok(e instanceof CniError);
      assert.equal(e.code, CniCode.TryAgainLater);
      assert.equal(e.details, names.map((n) => `${n}: Error: planted`).join('; '));
      return true;
    });
    await cmdGc(gcNone(), deps());
  });

  describe('an unexpected failure of the romanad client', () => {
    const broken = () =>
      new (class extends Romanad {
        override release(): Promise<boolean> {
          return Promise.reject(new TypeError('boom'));
        }
        override checkHost(): Promise<void> {
          return Promise.reject(new TypeError('boom'));
        }
      })({ url: romanad.url });

    it('fails DEL with code 999 and its text, after the local cleanup', async () => {
      const env = {
        command: 'DEL' as const,
        containerId: `b4${tag}00`,
        netns: '',
        ifname: 'eth0',
        args: {},
      };
      await assert.rejects(cmdDel(conf(), env, deps([], real, broken())), (e: unknown) => {
        assert.ok(e instanceof CniError);
        assert.equal(e.code, CniCode.Internal);
        assert.equal(e.message, `could not release b4${tag}.eth0: TypeError: boom`);
        return true;
      });
    });

    it('fails STATUS with code 50 and its text', async () => {
      await assert.rejects(cmdStatus(conf(), deps([], real, broken())), (e: unknown) => {
        assert.ok(e instanceof CniError);
        assert.equal(e.code, CniCode.NotAvailable);
        assert.equal(e.message, 'romana cannot add pods: TypeError: boom');
        return true;
      });
    });
  });
}
