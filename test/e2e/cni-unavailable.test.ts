/**
 * The bundled CNI plugin against a romanad whose datastore has gone away: romanad answers 503
 * (Unavailable) and the plugin must answer CNI code 11, "try again later", so that the runtime
 * retries the pod instead of failing it for good; nothing is left allocated.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { cniBundle } from '../helpers/cni.ts';
import { startEtcd, type EtcdHandle } from '../helpers/etcd.ts';
import { request, startRomanad, type Romanad } from '../helpers/romanad.ts';

const POD_NS = `romana-cni-u${process.pid}`;
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
      CNI_NETNS: `/var/run/netns/${POD_NS}`,
      CNI_IFNAME: 'eth0',
      CNI_ARGS: 'K8S_POD_NAMESPACE=team;K8S_POD_NAME=web-1',
      CNI_PATH: '/opt/cni/bin',
    },
  });
  return { status: r.status, out: r.stdout === '' ? null : JSON.parse(r.stdout) };
}

describe('romana-cni when romanad cannot reach its datastore', { timeout: 120_000 }, () => {
  before(async () => {
    execFileSync('ip', ['netns', 'add', POD_NS]);
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
    execFileSync('ip', ['netns', 'del', POD_NS]);
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
    const links = execFileSync('ip', ['-n', POD_NS, '-o', 'link', 'show'], { encoding: 'utf8' });
    assert.deepEqual(
      links
        .trim()
        .split('\n')
        .map((l) => l.split(':')[1]!.trim()),
      ['lo'],
    );
  });
});
