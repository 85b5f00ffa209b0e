import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  containerKeyOf,
  deriveNames,
  hostVethName,
  parseArgs,
  parseCommand,
  parseEnv,
  parseNetConf,
} from './config.ts';
import { CniCode, CniError } from './errors.ts';

function code(fn: () => unknown): number {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof CniError, String(err));
    return err.code;
  }
  assert.fail('no error');
}

describe('network configuration', () => {
  it('applies the defaults of reference §7.1 and romanad_url', () => {
    const c = parseNetConf('{"cniVersion":"1.0.0","name":"romana","type":"romana","mtu":0}');
    assert.equal(c.mtu, 1500);
    assert.equal(c.romanadUrl, 'http://127.0.0.1:9600');
    assert.equal(c.gatewayIp, '172.142.0.1');
    assert.equal(c.gatewayIp6, 'fe80::1');
    assert.equal(c.hostName, hostname());
    assert.equal(c.usePolicy, false);
    assert.equal(c.segmentLabelName, 'romana.io/segment');
    assert.equal(c.validAttachments, undefined);
  });

  it('reads every setting it knows and ignores the rest (ipam, runtimeConfig)', () => {
    const c = parseNetConf(
      JSON.stringify({
        cniVersion: '1.1.0',
        name: 'n',
        type: 'romana',
        mtu: 9000,
        romanad_url: 'https://romanad:9600/',
        token_file: '/etc/romana/token',
        romana_host_name: 'node-1',
        gateway_ip: '10.255.0.1',
        gateway_ip6: 'fe80::42',
        use_policy: true,
        log_file: '/var/log/romana-cni.log',
        ipam: { type: 'romana-ipam' },
        'cni.dev/valid-attachments': [{ containerID: 'abc', ifname: 'eth0' }],
      }),
    );
    assert.equal(c.mtu, 9000);
    assert.equal(c.romanadUrl, 'https://romanad:9600');
    assert.equal(c.tokenFile, '/etc/romana/token');
    assert.equal(c.hostName, 'node-1');
    assert.equal(c.gatewayIp, '10.255.0.1');
    assert.equal(c.gatewayIp6, 'fe80::42');
    assert.equal(c.usePolicy, true);
    assert.deepEqual(c.validAttachments, [{ containerID: 'abc', ifname: 'eth0' }]);
  });

  const cases: [string, string, number][] = [
    ['stdin that is not JSON', '{', CniCode.DecodingFailure],
    ['a JSON array', '[]', CniCode.DecodingFailure],
    ['no cniVersion', '{"name":"n"}', CniCode.InvalidConfig],
    ['cniVersion 0.2.0', '{"cniVersion":"0.2.0"}', CniCode.IncompatibleVersion],
    ['cniVersion 2.0.0', '{"cniVersion":"2.0.0"}', CniCode.IncompatibleVersion],
    ['an mtu that is a string', '{"cniVersion":"1.0.0","mtu":"1500"}', CniCode.InvalidConfig],
    ['an mtu below 68', '{"cniVersion":"1.0.0","mtu":20}', CniCode.InvalidConfig],
    ['a romanad_url without scheme', '{"cniVersion":"1.0.0","romanad_url":"romanad:9600"}', 7],
    ['a gateway with leading zeros', '{"cniVersion":"1.0.0","gateway_ip":"172.142.0.01"}', 7],
    ['an IPv6 gateway that is not link-local', '{"cniVersion":"1.0.0","gateway_ip6":"fd00::1"}', 7],
    ['an IPv6 gateway written loosely', '{"cniVersion":"1.0.0","gateway_ip6":"FE80::1"}', 7],
    ['an IPv4 address as IPv6 gateway', '{"cniVersion":"1.0.0","gateway_ip6":"10.0.0.1"}', 7],
    ['use_policy as a string', '{"cniVersion":"1.0.0","use_policy":"yes"}', 7],
    ['attachments that are no list', '{"cniVersion":"1.1.0","cni.dev/valid-attachments":{}}', 7],
  ];
  for (const [what, text, expected] of cases) {
    it(`refuses ${what} with code ${expected}`, () => {
      assert.equal(
        code(() => parseNetConf(text)),
        expected,
      );
    });
  }
});

describe('CNI environment', () => {
  const env = {
    CNI_COMMAND: 'ADD',
    CNI_CONTAINERID: 'abcdef0123456789',
    CNI_NETNS: '/var/run/netns/pod',
    CNI_IFNAME: 'eth0',
    CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=web;K8S_POD_NAME=front-1',
  };

  it('parses the command, the variables and CNI_ARGS', () => {
    assert.equal(parseCommand(env), 'ADD');
    const e = parseEnv(env, 'ADD');
    assert.equal(e.netns, '/var/run/netns/pod');
    assert.deepEqual(e.args, {
      IgnoreUnknown: '1',
      K8S_POD_NAMESPACE: 'web',
      K8S_POD_NAME: 'front-1',
    });
  });

  it('refuses missing or malformed variables with code 4, naming them', () => {
    for (const [patch, cmd, name] of [
      [{ CNI_COMMAND: 'UP' }, undefined, 'CNI_COMMAND'],
      [{ CNI_CONTAINERID: '' }, 'ADD', 'CNI_CONTAINERID'],
      [{ CNI_CONTAINERID: 'a/b' }, 'ADD', 'CNI_CONTAINERID'],
      [{ CNI_IFNAME: 'a-very-long-interface' }, 'ADD', 'CNI_IFNAME'],
      [{ CNI_NETNS: '' }, 'ADD', 'CNI_NETNS'],
      [{ CNI_NETNS: 'relative' }, 'CHECK', 'CNI_NETNS'],
      [{ CNI_ARGS: 'K8S_POD_NAME' }, 'ADD', 'CNI_ARGS'],
      // It becomes the host veth's alias, on an `ip -batch` line.
      [{ CNI_ARGS: 'K8S_POD_INFRA_CONTAINER_ID=ab cd\nlink del lo' }, 'ADD', 'K8S_POD_INFRA'],
      [{ CNI_CONTAINERID: 'a'.repeat(201) }, 'DEL', 'CNI_CONTAINERID'],
    ] as const) {
      const e = { ...env, ...patch };
      try {
        if (cmd) parseEnv(e, cmd);
        else parseCommand(e);
        assert.fail(`accepted ${JSON.stringify(patch)}`);
      } catch (err) {
        assert.ok(err instanceof CniError);
        assert.equal(err.code, CniCode.InvalidEnvironment);
        assert.match(err.message, new RegExp(name));
      }
    }
  });

  it('lets DEL go without a network namespace', () => {
    assert.equal(parseEnv({ ...env, CNI_NETNS: '' }, 'DEL').netns, '');
  });

  it('parses an empty CNI_ARGS and values holding "="', () => {
    assert.deepEqual(parseArgs(''), {});
    assert.deepEqual(parseArgs('A=b=c;'), { A: 'b=c' });
  });
});

describe('derived names', () => {
  it('are <pod>.<namespace>.<infra8> and a host veth of the infra container under Kubernetes', () => {
    const n = deriveNames({
      containerId: 'ffff0000aaaa',
      ifname: 'eth0',
      args: {
        K8S_POD_NAME: 'web-1',
        K8S_POD_NAMESPACE: 'shop',
        K8S_POD_INFRA_CONTAINER_ID: '0123456789ab',
      },
    });
    assert.equal(n.addressName, 'web-1.shop.01234567');
    assert.equal(n.hostVeth, hostVethName('0123456789ab', 'eth0'));
    assert.equal(n.legacyHostVeth, 'romana-01234567');
    assert.equal(n.owner, '0123456789ab/eth0');
    assert.equal(n.tenant, 'shop');
  });

  it('are <containerId8>.<ifname> with tenant default outside Kubernetes', () => {
    const n = deriveNames({ containerId: 'abcdef0123', ifname: 'net1', args: {} });
    assert.equal(n.addressName, 'abcdef01.net1');
    assert.equal(n.hostVeth, hostVethName('abcdef0123', 'net1'));
    assert.equal(n.legacyHostVeth, 'romana-abcdef01');
    assert.equal(n.tenant, 'default');
  });

  it('give each (container, interface) its own host veth name, stable and within 15 characters', () => {
    const id = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,70}$/);
    const ifname = fc.stringMatching(/^[a-z][a-z0-9]{0,14}$/);
    fc.assert(
      fc.property(id, ifname, ifname, (c, a, b) => {
        const va = hostVethName(c, a);
        assert.match(va, /^romana-[0-9a-v]{8}$/);
        assert.equal(va, hostVethName(c, a));
        if (a !== b) assert.notEqual(va, hostVethName(c, b));
      }),
      { numRuns: 2000 },
    );
    // The case podman hit: one container on two networks.
    assert.notEqual(hostVethName('cca05500bece', 'eth0'), hostVethName('cca05500bece', 'eth1'));
    assert.notEqual(hostVethName('cca05500bece', 'eth0'), hostVethName('cca05500beff', 'eth0'));
  });

  it('give GC the container key, and none for names the plugin does not make', () => {
    assert.equal(containerKeyOf('web-1.shop.01234567'), '01234567');
    assert.equal(containerKeyOf('my.dotted.pod.shop.01234567'), '01234567');
    assert.equal(containerKeyOf('abcdef01.eth0'), 'abcdef01');
    assert.equal(containerKeyOf('pod-1'), undefined);
  });
});
