/**
 * The bundled CNI plugin against a romanad whose datastore has gone away (romanad answers 503,
 * Unavailable) or that is not running at all: the plugin must answer CNI code 11, "try again
 * later", so that the runtime retries. For ADD nothing is left allocated; for DEL the address
 * stays allocated until a retried DEL, once romanad is back, releases it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hostVethName } from '../../src/cni/config.ts';
import { cniBundle, cniHarness } from '../helpers/cni.ts';
import { startEtcd, type EtcdHandle } from '../helpers/etcd.ts';
import { createNetns, netnsHandle, uniqueNetnsName } from '../helpers/netns.ts';
import { request, startRomanad, type Romanad } from '../helpers/romanad.ts';

const pod = netnsHandle(uniqueNetnsName('romana-cni-u'));
let etcd: EtcdHandle;
let romanad: Romanad;

/** Runs the plugin as a runtime would; returns its exit status and the JSON it printed. */
function cni(command: string, containerId: string): { status: number | null; out: unknown } {
  const conf = {
    cniVersion: '1.0.0',
    name: 'romana',
    type: 'romana',
    romanad_url: romanad.url,
    romana_host_name: 'node-1',
  };
  const r = spawnSync(process.execPath, [cniBundle()], {
    input: JSON.stringify(conf),
    encoding: 'utf8',
    timeout: 60_000,
    env: {
      PATH: process.env.PATH,
      CNI_COMMAND: command,
      CNI_CONTAINERID: containerId,
      CNI_NETNS: pod.path,
      CNI_IFNAME: 'eth0',
      CNI_ARGS: 'K8S_POD_NAMESPACE=team;K8S_POD_NAME=web-1',
      CNI_PATH: '/opt/cni/bin',
    },
  });
  return { status: r.status, out: r.stdout === '' ? null : JSON.parse(r.stdout) };
}

/** Waits until romanad answers `GET /readyz` with 200. */
async function ready(url: string): Promise<void> {
  for (let i = 0; i < 150; i++) {
    if ((await request(`${url}/readyz`, 'GET').catch(() => ({ status: 0 }))).status === 200) return;
    await new Promise((res) => setTimeout(res, 100));
  }
  assert.fail(`romanad at ${url} never became ready`);
}

describe('romana-cni when romanad cannot reach its datastore', { timeout: 120_000 }, () => {
  before(async () => {
    createNetns(pod.name);
    etcd = await startEtcd();
    romanad = await startRomanad(['--store', 'etcd', '--etcd-endpoints', etcd.endpoints.join(',')]);
    const topo = await request(`${romanad.url}/topology`, 'POST', {
      networks: [{ name: 'pods', cidr: '10.77.0.0/16', block_mask: 28 }],
      topologies: [
        {
          networks: ['pods'],
          map: [{ name: 'node-1', groups: [{ name: 'node-1', ip: '192.0.2.1' }] }],
        },
      ],
    });
    assert.equal(topo.status, 200, JSON.stringify(topo.body));
  });

  after(async () => {
    await romanad?.stop();
    await etcd?.stop();
    pod.remove();
  });

  it('answers ADD with code 11 while romanad answers 503, and leaves nothing behind', async () => {
    await etcd.kill();
    const direct = await request(`${romanad.url}/address`, 'POST', {
      name: 'probe',
      host: 'node-1',
      tenant: 'team',
      segment: 'default',
    });
    assert.equal(direct.status, 503, JSON.stringify(direct.body));
    const r = cni('ADD', 'c0ffee0001');
    assert.equal(r.status, 1);
    const err = r.out as { code: number; msg: string; details: string };
    assert.equal(err.code, 11, JSON.stringify(err));
    assert.match(err.details, /503 Unavailable/);
    await etcd.start();
    // romanad re-reads its state once etcd is back (until then its memory may still hold the
    // allocations it could not confirm); then nothing may be allocated.
    let list: unknown[] | undefined;
    for (let i = 0; i < 150; i++) {
      const a = await request(`${romanad.url}/addresses`, 'GET');
      list = a.status === 200 ? (a.body as unknown[]) : undefined;
      if (list?.length === 0) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.deepEqual(list, []);
    // The pod namespace holds nothing but its loopback.
    const links = pod.ip('-o', 'link', 'show');
    assert.deepEqual(
      links
        .trim()
        .split('\n')
        .map((l) => l.split(':')[1]!.trim()),
      ['lo'],
    );
  });

  it('answers DEL with code 11 while romanad answers 503; the retried DEL releases once etcd is back', async () => {
    // The address a successful ADD of this pod would hold (this plugin runs in the test's own
    // namespace here, so it is allocated directly rather than wired).
    const name = 'web-1.team.c0ffee00';
    const a = await request(`${romanad.url}/address`, 'POST', {
      name,
      host: 'node-1',
      tenant: 'team',
      segment: 'default',
    });
    assert.equal(a.status, 200, JSON.stringify(a.body));
    await etcd.kill();
    const r = cni('DEL', 'c0ffee0002');
    assert.equal(r.status, 1);
    const err = r.out as { code: number; msg: string; details: string };
    assert.equal(err.code, 11, JSON.stringify(err));
    assert.match(err.msg, new RegExp(`could not release ${name.replace(/\./g, '\\.')}`));
    assert.match(err.details, /503 Unavailable/);
    await etcd.start();
    await ready(romanad.url);
    // The release was never committed: once romanad has re-read the store (until then its
    // memory may still show the release it could not confirm), the address is there again.
    let status = 0;
    for (let i = 0; i < 150 && status !== 200; i++) {
      status = (await request(`${romanad.url}/address?addressName=${name}`, 'GET')).status;
      if (status !== 200) await new Promise((res) => setTimeout(res, 100));
    }
    assert.equal(status, 200);
    const again = cni('DEL', 'c0ffee0002');
    assert.equal(again.status, 0, JSON.stringify(again.out));
    assert.equal(again.out, null);
    assert.equal((await request(`${romanad.url}/address?addressName=${name}`, 'GET')).status, 404);
  });
});

describe('romana-cni DEL while romanad is stopped', { timeout: 120_000 }, () => {
  it('answers code 11 while romanad is stopped, removes the veth anyway, and the retried DEL releases', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'romana-cni-del-'));
    const h = cniHarness('node-del', ['--store', `embedded:${dir}`]);
    try {
      await h.start();
      const pod = await h.addPod('d1', '1.0.0');
      assert.equal(pod.run.code, 0, pod.run.stdout + pod.run.stderr);
      const ip = h.ipOf(pod.run);
      const del = () =>
        h.cni('DEL', {
          conf: h.baseConf('1.0.0'),
          containerId: pod.id,
          netns: pod.path,
          args: `K8S_POD_NAMESPACE=team-a;K8S_POD_NAME=d1;K8S_POD_INFRA_CONTAINER_ID=${pod.id}`,
        });
      await h.stopRomanad();
      const failed = await del();
      assert.equal(failed.code, 1);
      assert.equal(failed.out?.['code'], 11, failed.stdout);
      assert.equal(failed.out?.['cniVersion'], '1.0.0');
      assert.match(String(failed.out?.['msg']), /could not release d1\.team-a\./);
      assert.match(String(failed.out?.['details']), /ECONNREFUSED|ECONNRESET|socket hang up/);
      assert.ok(!h.hostLinks().includes(hostVethName(pod.id, 'eth0')));
      await h.restartRomanad();
      assert.equal((await h.addressOf(pod.name)).ip, ip);
      const retried = await del();
      assert.equal(retried.code, 0, retried.stdout);
      assert.equal(retried.stdout, '');
      assert.equal((await h.addressOf(pod.name)).status, 404);
    } finally {
      await h.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
