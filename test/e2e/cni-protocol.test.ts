/**
 * The bundled CNI plugin (dist/romana-cni.cjs, built by `npm run build:cni`) run for real, as a
 * container runtime would, against a real romanad (see test/helpers/cni.ts): VERSION, STATUS,
 * the spec's error codes for bad input, and the cleanup after an ADD that fails half-way.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { cniHarness } from '../helpers/cni.ts';
import { request, type Romanad } from '../helpers/romanad.ts';

const harness = cniHarness('protocol');
const { PREFIX, HOST, NOT_A_NETNS, baseConf, cni, addPod, hostLinks, json } = harness;
let romanad: Romanad | undefined;

before(async () => {
  romanad = await harness.start();
});

after(() => harness.stop());

describe('romana-cni, the bundled plugin against a real romanad', () => {
  it('VERSION lists every supported version, in the version asked for', async () => {
    const r = await cni('VERSION', { stdin: '{"cniVersion":"0.4.0"}' });
    assert.equal(r.code, 0);
    assert.deepEqual(r.out, {
      cniVersion: '0.4.0',
      supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'],
    });
  });

  it('STATUS succeeds when romanad knows the host, and answers 50 when it does not', async () => {
    const ok = await cni('STATUS');
    assert.equal(ok.code, 0, ok.stdout);
    assert.equal(ok.stdout, '');
    const bad = await cni('STATUS', { conf: { ...baseConf(), romana_host_name: 'nobody' } });
    assert.equal(bad.code, 1);
    assert.equal(bad.out?.['code'], 50);
    const old = await cni('STATUS', { conf: baseConf('1.0.0') });
    assert.equal(old.out?.['code'], 1);
  });

  it('refuses bad input with the spec codes and prints nothing but the error', async () => {
    const notJson = await cni('ADD', { stdin: '{', containerId: 'x1', netns: '/var/run/netns/x' });
    assert.equal(notJson.out?.['code'], 6);
    const oldVersion = await cni('ADD', {
      conf: baseConf('0.2.0'),
      containerId: 'x1',
      netns: '/var/run/netns/x',
    });
    assert.equal(oldVersion.out?.['code'], 1);
    const noId = await cni('ADD', { netns: '/var/run/netns/x' });
    assert.equal(noId.out?.['code'], 4);
    assert.match(String(noId.out?.['msg']), /CNI_CONTAINERID/);
    const badMtu = await cni('ADD', {
      conf: { ...baseConf(), mtu: 'big' },
      containerId: 'x1',
      netns: '/var/run/netns/x',
    });
    assert.equal(badMtu.out?.['code'], 7);
  });

  it('a failure half-way leaves no address allocated and no veth behind', async () => {
    const before = (await request(`${romanad!.url}/addresses?host=${HOST}`, 'GET')).body;
    const links = hostLinks();
    const missing = await cni('ADD', {
      containerId: 'f1f1f1f1aa',
      netns: `/var/run/netns/${PREFIX}-missing`,
    });
    assert.equal(missing.out?.['code'], 4);
    // Exists but is no namespace: fails after the allocation, which is then released.
    const notNs = await cni('ADD', { containerId: 'f2f2f2f2aa', netns: NOT_A_NETNS });
    assert.equal(notNs.out?.['code'], 101, notNs.stdout);
    // Divert rules without the agent's chains: fails after the veth is made.
    const noChains = await addPod('f3', '1.1.0', { use_policy: true });
    assert.equal(noChains.run.out?.['code'], 101, noChains.run.stdout);
    assert.match(String(noChains.run.out?.['details']), /ROMANA/);
    assert.deepEqual((await request(`${romanad!.url}/addresses?host=${HOST}`, 'GET')).body, before);
    assert.deepEqual(hostLinks(), links);
    assert.deepEqual(
      json<{ ifname: string }[]>(noChains.ns, ['link', 'show']).map((l) => l.ifname),
      ['lo'],
    );
  });
});
