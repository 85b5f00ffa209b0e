/**
 * ADD with real parts (an in-process romanad over HTTP, the test Kubernetes API server, real
 * namespaces and `ip`): the pod's segment read from its label or annotation through the
 * kubeconfig of `kubernetes_config`, `default` when it has none; and the log of a failed ADD
 * whose rollback cannot release the address.
 *
 * ADD writes the host veth's sysctls under /proc/sys/net of its own namespace, so (as
 * commands.test.ts) the cases run inside a host namespace of their own: this file runs itself
 * again there with `nsenter`, and the outer run checks that the inner one passed. Needs root.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createNetns, uniqueNetnsName, type TestNetns } from '../../test/helpers/netns.ts';
import { inOwnHostNamespace } from '../../test/helpers/own-host-netns.ts';
import type { CniRomanad } from '../../test/helpers/cni-romanad.ts';
import type { KubeApiServer } from '../../test/helpers/kube-apiserver/index.ts';
import { ProcessExec, type Exec } from '../exec.ts';
import { cmdAdd, type Deps } from './commands.ts';
import { deriveNames, type CniEnv, type NetConf } from './config.ts';
import { netConf, podWiringFails } from '../../test/helpers/cni-conf.ts';
import { CniError } from './errors.ts';
import { Romanad } from './romanad.ts';

const tag = randomBytes(3).toString('hex');

inOwnHostNamespace(
  import.meta.url,
  {
    suite: 'CNI ADD: segment and rollback',
    envVar: 'ROMANA_CNI_SEG_HOST_NS',
    netnsPrefix: 'mc-seg',
  },
  inner,
);

function inner(): void {
  const HOST = 'seg-h';
  let romanad: CniRomanad;
  let kube: KubeApiServer;
  const pods: TestNetns[] = [];
  const real = new ProcessExec();

  function conf(extra: Record<string, unknown> = {}): NetConf {
    return netConf(HOST, romanad.url, { kubernetes_config: kube.kubeconfigPath, ...extra });
  }

  /** A fresh pod namespace and the environment of an ADD of pod `name` (namespace default). */
  function podEnv(id: string, name?: string): CniEnv {
    const ns = createNetns(uniqueNetnsName(`mc-${tag}`));
    pods.push(ns);
    const args: Record<string, string> =
      name === undefined ? {} : { K8S_POD_NAMESPACE: 'default', K8S_POD_NAME: name };
    return { command: 'ADD', containerId: id, netns: ns.path, ifname: 'eth0', args };
  }

  function deps(lines: string[] = [], exec: Exec = real, api: Romanad = romanad.api): Deps {
    return { api, exec, log: (l) => lines.push(l) };
  }

  function pod(name: string, labels: Record<string, string>, annotations = {}) {
    kube.create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: 'default', labels, annotations },
      spec: { containers: [{ name: 'c', image: 'x' }] },
    });
  }

  /** ADDs the environment and answers the segment romanad holds the address under. */
  async function segmentAfterAdd(c: NetConf, e: CniEnv): Promise<string | undefined> {
    await cmdAdd(c, e, deps());
    return (await romanad.api.getAddress(deriveNames(e).addressName))?.segment;
  }

  before(async () => {
    // Loaded here, in the inner run only: the outer one needs no server.
    const { startCniRomanad } = await import('../../test/helpers/cni-romanad.ts');
    romanad = await startCniRomanad('10.79.0.0/16', [{ name: HOST, ip: '192.168.97.1' }]);
    const { startKubeApiServer } = await import('../../test/helpers/kube-apiserver/index.ts');
    kube = await startKubeApiServer();
  });

  after(async () => {
    await romanad.close();
    await kube.close();
    for (const p of pods) p.remove();
  });

  describe('the pod’s segment', () => {
    it('is its segment label, read through kubernetes_config', async () => {
      pod(`lab-${tag}`, { 'romana.io/segment': 'frontend' }, { 'romana.io/segment': 'annot' });
      const e = podEnv(`s0${tag}00000`, `lab-${tag}`);
      assert.equal(await segmentAfterAdd(conf(), e), 'frontend');
      assert.ok(
        kube.requests.some((r) => r.verb === 'get' && r.name === `lab-${tag}`),
        'the pod was read from the API',
      );
    });

    it('is its annotation with use_annotations, under segment_label_name', async () => {
      pod(`ann-${tag}`, { seg: 'from-label' }, { seg: 'backend' });
      const e = podEnv(`s1${tag}00000`, `ann-${tag}`);
      const c = conf({ use_annotations: true, segment_label_name: 'seg' });
      assert.equal(await segmentAfterAdd(c, e), 'backend');
    });

    it('is default when the pod has no such label', async () => {
      pod(`none-${tag}`, { app: 'web' });
      const e = podEnv(`s2${tag}00000`, `none-${tag}`);
      assert.equal(await segmentAfterAdd(conf(), e), 'default');
    });

    it('is default, without asking Kubernetes, when CNI_ARGS name no pod', async () => {
      const before = kube.requests.length;
      const e = podEnv(`s3${tag}00000`);
      assert.equal(await segmentAfterAdd(conf(), e), 'default');
      assert.equal(kube.requests.length, before, 'no request to the API');
    });
  });

  it('logs a failed ADD whose rollback cannot release the address, and keeps the error', async () => {
    const e = podEnv(`s4${tag}00000`);
    const name = deriveNames(e).addressName;
    const stuck = new (class extends Romanad {
      override release(): Promise<boolean> {
        return Promise.reject(new Error('romanad went away'));
      }
    })({ url: romanad.url });
    const failing = podWiringFails(real);
    const lines: string[] = [];
    await assert.rejects(cmdAdd(conf(), e, deps(lines, failing, stuck)), (err: unknown) => {
      assert.ok(err instanceof CniError);
      assert.match(err.message, /^setting up eth0 failed$/);
      return true;
    });
    const ip = (await romanad.api.getAddress(name))?.ip;
    assert.ok(ip, 'still allocated: the release failed');
    assert.deepEqual(lines.slice(-2), [
      `rollback: releasing ${name} failed: Error: romanad went away`,
      `failed, released ${ip}: setting up eth0 failed: planted`,
    ]);
  });
}
