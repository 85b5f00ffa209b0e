/**
 * The bundled CNI plugin (dist/romana-cni.cjs, built by `npm run build:cni`) run for real, as a
 * container runtime would, against a real romanad (see test/helpers/cni.ts): the life of pods,
 * from ADD in each cniVersion through CHECK, DEL, the policy divert rules and GC, with pings
 * between pods.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { hostVethName } from '../../src/cni/config.ts';
import { cniHarness } from '../helpers/cni.ts';
import { request, type Romanad } from '../helpers/romanad.ts';

const harness = cniHarness('pods');
const {
  HOST_NS,
  HOST,
  KUBECONFIG,
  GW,
  baseConf,
  cni,
  addPod,
  addressOf,
  hostLinks,
  ipOf,
  inNs,
  json,
} = harness;
let romanad: Romanad | undefined;

before(async () => {
  romanad = await harness.start();
});

after(() => harness.stop());

describe('romana-cni, the bundled plugin against a real romanad', () => {
  const versions = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'];
  const pods: Awaited<ReturnType<typeof addPod>>[] = [];

  it('ADD answers in each cniVersion and wires eth0 with the /32 and the default route', async () => {
    for (const [i, v] of versions.entries()) {
      const pod = await addPod(`p${i}`, v);
      pods.push(pod);
      const { run } = pod;
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.equal(run.out?.['cniVersion'], v);
      const ip = (run.out?.['ips'] as Record<string, unknown>[])[0]!;
      assert.match(String(ip['address']), /^10\.200\.\d+\.\d+\/32$/);
      assert.equal(ip['gateway'], GW);
      assert.equal(ip['interface'], 1);
      assert.equal(ip['version'], v.startsWith('0.') ? '4' : undefined);
      const ifs = run.out?.['interfaces'] as Record<string, unknown>[];
      assert.equal(ifs[0]!['name'], hostVethName(pod.id, 'eth0'));
      assert.equal(ifs[1]!['name'], 'eth0');
      assert.equal(ifs[1]!['sandbox'], pod.path);
      assert.equal(ifs[1]!['mtu'], v === '1.1.0' ? 1400 : undefined);
      assert.deepEqual(run.out?.['routes'], [{ dst: '0.0.0.0/0', gw: GW }]);

      const [eth0] = json<{ mtu: number; addr_info: { local: string; prefixlen: number }[] }[]>(
        pod.ns,
        ['-4', 'addr', 'show', 'dev', 'eth0'],
      );
      assert.equal(eth0!.mtu, 1400);
      assert.deepEqual(
        eth0!.addr_info.map((a) => `${a.local}/${a.prefixlen}`),
        [ip['address']],
      );
      const [def] = json<{ gateway: string; dev: string }[]>(pod.ns, ['route', 'show', 'default']);
      assert.equal(def!.gateway, GW);
      assert.equal((await addressOf(pod.name)).ip, ipOf(run));
      const [hostRoute] = json<{ dev: string }[]>(HOST_NS, [
        'route',
        'show',
        'exact',
        `${ipOf(run)}/32`,
      ]);
      assert.equal(hostRoute!.dev, hostVethName(pod.id, 'eth0'));
    }
  });

  it('with a kubeconfig, the segment is the pod label read from Kubernetes', async () => {
    const pod = await addPod('k1', '1.0.0', { kubernetes_config: KUBECONFIG });
    assert.equal(pod.run.code, 0, pod.run.stdout + pod.run.stderr);
    const a = await request(`${romanad!.url}/address?addressName=${pod.name}`, 'GET');
    assert.equal((a.body as { segment: string; tenant: string }).segment, 'frontend');
    assert.equal((a.body as { segment: string; tenant: string }).tenant, 'team-a');
    // The plugin linked the address to its pod (from CNI_ARGS) in the allocation.
    assert.deepEqual((a.body as { pod?: unknown }).pod, {
      namespace: 'team-a',
      name: 'k1',
      labels: {},
      ports: [],
    });
    const del = await cni('DEL', {
      containerId: pod.id,
      netns: pod.path,
      args: `K8S_POD_NAMESPACE=team-a;K8S_POD_NAME=k1;K8S_POD_INFRA_CONTAINER_ID=${pod.id}`,
    });
    assert.equal(del.code, 0);
  });

  it('two pods on the host ping each other', () => {
    inNs(pods[0]!.ns, ['ping', '-c', '1', '-W', '2', ipOf(pods[1]!.run)]);
    inNs(pods[4]!.ns, ['ping', '-c', '1', '-W', '2', ipOf(pods[2]!.run)]);
  });

  it('a repeated ADD returns the same address and keeps it', async () => {
    const again = await addPod('p1', '1.0.0');
    assert.equal(again.run.code, 0, again.run.stdout + again.run.stderr);
    assert.equal(ipOf(again.run), ipOf(pods[1]!.run));
    assert.equal((await addressOf(again.name)).ip, ipOf(pods[1]!.run));
    inNs(pods[0]!.ns, ['ping', '-c', '1', '-W', '2', ipOf(again.run)]);
  });

  it('CHECK passes on a wired pod and fails once a route is gone', async () => {
    const pod = pods[3]!;
    const conf = { ...baseConf('1.0.0'), prevResult: pod.run.out };
    const check = () =>
      cni('CHECK', {
        conf,
        containerId: pod.id,
        netns: pod.path,
        args: `K8S_POD_NAMESPACE=team-a;K8S_POD_NAME=p3;K8S_POD_INFRA_CONTAINER_ID=${pod.id}`,
      });
    const ok = await check();
    assert.equal(ok.code, 0, ok.stdout);
    assert.equal(ok.stdout, '');
    inNs(pod.ns, ['ip', 'route', 'del', 'default']);
    const broken = await check();
    assert.equal(broken.out?.['code'], 102);
    assert.match(String(broken.out?.['details']), /default route/);
    const old = await cni('CHECK', {
      conf: { ...conf, cniVersion: '0.3.1' },
      containerId: pod.id,
      netns: pod.path,
    });
    assert.equal(old.out?.['code'], 1);
  });

  it('DEL releases the address and removes the veth; DEL again succeeds', async () => {
    const pod = pods[3]!;
    const del = () =>
      cni('DEL', {
        containerId: pod.id,
        netns: pod.path,
        args: `K8S_POD_NAMESPACE=team-a;K8S_POD_NAME=p3;K8S_POD_INFRA_CONTAINER_ID=${pod.id}`,
      });
    const first = await del();
    assert.equal(first.code, 0);
    assert.equal(first.stdout, '');
    assert.equal((await addressOf(pod.name)).status, 404);
    assert.ok(!hostLinks().includes(hostVethName(pod.id, 'eth0')));
    const listed = await request(`${romanad!.url}/addresses?host=${HOST}`, 'GET');
    assert.ok(!(listed.body as { name: string }[]).some((a) => a.name === pod.name));
    const second = await del();
    assert.equal(second.code, 0);
    assert.equal(second.stdout, '');
    const unknown = await cni('DEL', { containerId: 'never-added' });
    assert.equal(unknown.code, 0);
  });

  it('with use_policy, ADD installs the divert rules and DEL removes them', async () => {
    for (const chain of [
      'ROMANA-INPUT',
      'ROMANA-FORWARD-OUT',
      'ROMANA-FORWARD-IN',
      'ROMANA-OUTPUT',
    ]) {
      inNs(HOST_NS, ['iptables', '-w', '-N', chain]);
    }
    const pod = await addPod('q1', '1.1.0', { use_policy: true });
    assert.equal(pod.run.code, 0, pod.run.stdout + pod.run.stderr);
    const veth = hostVethName(pod.id, 'eth0');
    const rules = () =>
      inNs(HOST_NS, ['iptables', '-w', '-S'])
        .split('\n')
        .filter((l) => l.includes(veth));
    assert.deepEqual(rules().sort(), [
      `-A FORWARD -i ${veth} -j ROMANA-FORWARD-OUT`,
      `-A FORWARD -o ${veth} -j ROMANA-FORWARD-IN`,
      `-A INPUT -i ${veth} -j ROMANA-INPUT`,
      `-A OUTPUT -o ${veth} -j ROMANA-OUTPUT`,
    ]);
    const again = await addPod('q1', '1.1.0', { use_policy: true });
    assert.equal(again.run.code, 0);
    assert.equal(rules().length, 4);
    const del = await cni('DEL', {
      conf: { ...baseConf(), use_policy: true },
      containerId: pod.id,
      netns: pod.path,
      args: `K8S_POD_NAMESPACE=team-a;K8S_POD_NAME=q1;K8S_POD_INFRA_CONTAINER_ID=${pod.id}`,
    });
    assert.equal(del.code, 0);
    assert.deepEqual(rules(), []);
  });

  it('one container on two networks keeps both interfaces; DEL of one leaves the other', async () => {
    // A namespace of its own (made by addPod, then emptied) for a container that podman
    // attaches to two networks: no Kubernetes names, interfaces eth0 and eth1.
    const pod = await addPod('m1', '1.0.0');
    const k8sArgs = `K8S_POD_NAMESPACE=team-a;K8S_POD_NAME=m1;K8S_POD_INFRA_CONTAINER_ID=${pod.id}`;
    assert.equal((await cni('DEL', { containerId: pod.id, args: k8sArgs })).code, 0);
    const plain = (command: string, ifname: string) =>
      cni(command, { conf: baseConf('1.0.0'), containerId: pod.id, netns: pod.path, ifname });
    const eth0 = await plain('ADD', 'eth0');
    const eth1 = await plain('ADD', 'eth1');
    assert.equal(eth0.code, 0, eth0.stdout + eth0.stderr);
    assert.equal(eth1.code, 0, eth1.stdout + eth1.stderr);
    const ips = [ipOf(eth0), ipOf(eth1)];
    assert.notEqual(ips[0], ips[1]);
    const veths = [hostVethName(pod.id, 'eth0'), hostVethName(pod.id, 'eth1')];
    for (const v of veths) assert.ok(hostLinks().includes(v), `${v} is missing`);
    const addrs = json<{ ifname: string; addr_info: { local: string }[] }[]>(pod.ns, [
      '-4',
      'addr',
      'show',
    ]);
    const on = (ifname: string) =>
      addrs.find((l) => l.ifname === ifname)?.addr_info.map((a) => a.local);
    assert.deepEqual(on('eth0'), [ips[0]]);
    assert.deepEqual(on('eth1'), [ips[1]]);
    for (const ip of ips) inNs(pods[0]!.ns, ['ping', '-c', '1', '-W', '2', ip]);

    // Either interface may go first; the other keeps its address, veth and routes.
    const key = pod.id.slice(0, 8);
    for (const [gone, kept] of [
      [1, 0],
      [0, 1],
    ] as const) {
      const del = await plain('DEL', `eth${gone}`);
      assert.equal(del.code, 0, del.stdout);
      assert.equal((await addressOf(`${key}.eth${gone}`)).status, 404);
      assert.equal((await addressOf(`${key}.eth${kept}`)).ip, ips[kept]);
      assert.ok(!hostLinks().includes(veths[gone]!));
      assert.ok(hostLinks().includes(veths[kept]!));
      inNs(pods[0]!.ns, ['ping', '-c', '1', '-W', '2', ips[kept]!]);
      if (gone === 1) {
        const back = await plain('ADD', 'eth1');
        assert.equal(back.code, 0, back.stdout);
        ips[1] = ipOf(back);
      }
    }
    assert.equal((await plain('DEL', 'eth1')).code, 0);
    assert.deepEqual(
      hostLinks().filter((l) => veths.includes(l)),
      [],
    );
  });

  it('ADD never takes over a host veth another attachment owns; veths named the old way are replaced, checked and deleted', async () => {
    const id = 'n1000000c0ffee';
    const veth = hostVethName(id, 'eth0');
    inNs(HOST_NS, ['ip', 'link', 'add', veth, 'type', 'veth', 'peer', 'name', 'node-x1']);
    inNs(HOST_NS, ['ip', 'link', 'set', 'dev', veth, 'alias', 'someone-else/eth0']);
    const pod = await addPod('n1', '1.0.0');
    assert.equal(pod.id, id);
    assert.equal(pod.run.out?.['code'], 101, pod.run.stdout);
    assert.match(String(pod.run.out?.['msg']), /belongs to attachment someone-else\/eth0/);
    const [kept] = json<{ ifalias: string }[]>(HOST_NS, ['link', 'show', 'dev', veth]);
    assert.equal(kept!.ifalias, 'someone-else/eth0');
    assert.equal((await addressOf(pod.name)).status, 404);
    inNs(HOST_NS, ['ip', 'link', 'del', veth]);

    // A pod wired by the 2.x plugin (or an older romana-cni): host veth romana-<id8>, its peer
    // eth0 in the pod. A repeated ADD rewires it under the new name.
    const legacy = `romana-${id.slice(0, 8)}`;
    inNs(HOST_NS, ['ip', 'link', 'add', legacy, 'type', 'veth', 'peer', 'name', 'eth0']);
    inNs(HOST_NS, ['ip', 'link', 'set', 'eth0', 'netns', pod.path]);
    const again = await addPod('n1', '1.0.0');
    assert.equal(again.run.code, 0, again.run.stdout);
    assert.ok(!hostLinks().includes(legacy));
    assert.ok(hostLinks().includes(veth));
    const args = `K8S_POD_NAMESPACE=team-a;K8S_POD_NAME=n1;K8S_POD_INFRA_CONTAINER_ID=${id}`;
    // Until then CHECK accepts the host route on the legacy veth.
    inNs(HOST_NS, ['ip', 'link', 'add', legacy, 'type', 'veth', 'peer', 'name', 'node-x2']);
    inNs(HOST_NS, ['ip', 'link', 'set', legacy, 'up']);
    inNs(HOST_NS, ['ip', 'route', 'replace', `${ipOf(again.run)}/32`, 'dev', legacy]);
    const conf = { ...baseConf('1.0.0'), prevResult: again.run.out };
    const check = await cni('CHECK', { conf, containerId: id, netns: again.path, args });
    assert.equal(check.code, 0, check.stdout);
    // DEL removes both.
    const del = await cni('DEL', { containerId: id, netns: again.path, args });
    assert.equal(del.code, 0, del.stdout);
    assert.ok(!hostLinks().includes(legacy));
    assert.ok(!hostLinks().includes(veth));
  });

  it('GC releases addresses of containers not in the valid list, and nothing else', async () => {
    const manual = await request(`${romanad!.url}/address`, 'POST', {
      name: 'manual-1',
      host: HOST,
    });
    assert.equal(manual.status, 200);
    const keep = pods.filter((_, i) => i !== 3 && i !== 4);
    const gc = await cni('GC', {
      conf: {
        ...baseConf(),
        'cni.dev/valid-attachments': keep.map((p) => ({ containerID: p.id, ifname: 'eth0' })),
      },
    });
    assert.equal(gc.code, 0, gc.stdout);
    assert.equal(gc.stdout, '');
    const names = (
      (await request(`${romanad!.url}/addresses?host=${HOST}`, 'GET')).body as {
        name: string;
      }[]
    ).map((a) => a.name);
    assert.deepEqual(names.sort(), [...keep.map((p) => p.name), 'manual-1'].sort());
    assert.ok(!hostLinks().includes(hostVethName(pods[4]!.id, 'eth0')));
  });
});
