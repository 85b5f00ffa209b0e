/**
 * The plugin's input at its edges: the exact words of every refusal (the field or variable, the
 * value, what was expected), the limits of each value (mtu 68 and 65535, a container id of 200
 * characters, an interface name of 15), and the settings read with their defaults.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  containerKeyOf,
  deriveNames,
  isLinkLocal6,
  parseArgs,
  parseCommand,
  parseEnv,
  parseNetConf,
  parseVersion,
  type CniEnv,
} from './config.ts';
import { CniError } from './errors.ts';

/** The error `fn` throws, as `code message | details`. */
function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof CniError, String(err));
    return `${err.code} ${err.message}${err.details === '' ? '' : ` | ${err.details}`}`;
  }
  return 'accepted';
}

const conf = (fields: Record<string, unknown>) =>
  JSON.stringify({ cniVersion: '1.0.0', name: 'n', type: 'romana', ...fields });

describe('network configuration at its edges', () => {
  it('says what is wrong with stdin, and which versions it speaks', () => {
    assert.match(
      refusal(() => parseNetConf('{')),
      /^6 network configuration on stdin is not JSON \| SyntaxError: \S/,
    );
    for (const text of ['null', '[]', '"x"', '3']) {
      assert.equal(
        refusal(() => parseNetConf(text)),
        '6 network configuration on stdin is not a JSON object',
      );
    }
    assert.equal(
      refusal(() => parseVersion('')),
      '7 cniVersion: required (e.g. "1.1.0")',
    );
    assert.equal(
      refusal(() => parseVersion(1)),
      '7 cniVersion: required (e.g. "1.1.0")',
    );
    assert.equal(
      refusal(() => parseVersion('0.2.0')),
      '1 cniVersion 0.2.0 is not supported | supported: 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0',
    );
    for (const v of ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']) assert.equal(parseVersion(v), v);
  });

  it('takes an mtu from 68 to 65535, 0 or less or none as 1500, and refuses the rest by name', () => {
    assert.equal(parseNetConf(conf({ mtu: 68 })).mtu, 68);
    assert.equal(parseNetConf(conf({ mtu: 65535 })).mtu, 65535);
    assert.equal(parseNetConf(conf({})).mtu, 1500);
    assert.equal(parseNetConf(conf({ mtu: 0 })).mtu, 1500);
    assert.equal(
      refusal(() => parseNetConf(conf({ mtu: 67 }))),
      '7 mtu: 67 is outside 68–65535',
    );
    assert.equal(
      refusal(() => parseNetConf(conf({ mtu: 65536 }))),
      '7 mtu: 65536 is outside 68–65535',
    );
    assert.equal(parseNetConf(conf({ mtu: -1 })).mtu, 1500, 'docs/node.md: 0 or less is 1500');
    assert.equal(
      refusal(() => parseNetConf(conf({ mtu: 1500.5 }))),
      '7 mtu: must be an integer, got 1500.5',
    );
    assert.equal(
      refusal(() => parseNetConf(conf({ mtu: '1500' }))),
      '7 mtu: must be an integer, got "1500"',
    );
  });

  it('names each setting of the wrong type, with its value', () => {
    assert.equal(
      refusal(() => parseNetConf(conf({ token_file: 5 }))),
      '7 token_file: must be a string, got 5',
    );
    assert.equal(
      refusal(() => parseNetConf(conf({ use_annotations: 'yes' }))),
      '7 use_annotations: must be true or false, got "yes"',
    );
    assert.equal(
      refusal(() => parseNetConf(conf({ romanad_url: 'ftp://x' }))),
      "7 romanad_url: 'ftp://x' is not an http:// or https:// URL",
    );
    assert.equal(
      refusal(() => parseNetConf(conf({ romanad_url: 'http:///path' }))),
      "7 romanad_url: 'http:///path' is not an http:// or https:// URL",
    );
    assert.equal(
      refusal(() => parseNetConf(conf({ romanad_url: 'see http://x' }))),
      "7 romanad_url: 'see http://x' is not an http:// or https:// URL",
    );
    assert.equal(
      refusal(() => parseNetConf(conf({ gateway_ip: 'fe80::1' }))),
      "7 gateway_ip: 'fe80::1' is not an IPv4 address",
    );
    assert.equal(
      refusal(() => parseNetConf(conf({ gateway_ip6: 'fd00::1' }))),
      "7 gateway_ip6: 'fd00::1' is not a canonical IPv6 link-local address (fe80::/10)",
    );
  });

  it('takes the IPv6 link-local range fe80::/10 exactly', () => {
    assert.equal(isLinkLocal6('fe80::1'), true);
    assert.equal(isLinkLocal6('febf:ffff::1'), true);
    assert.equal(isLinkLocal6('fec0::1'), false);
    assert.equal(isLinkLocal6('fe7f::1'), false);
    assert.equal(isLinkLocal6('10.0.0.1'), false);
  });

  it('reads every string and flag setting, an empty or null one as not set', () => {
    const c = parseNetConf(
      conf({
        romanad_url: 'http://romanad:9600//',
        token_file: '',
        romanad_ca_file: '/etc/romana/ca.pem',
        romana_host_name: null,
        segment_label_name: 'example.com/seg',
        kubernetes_config: '/etc/kubernetes/kubelet.conf',
        use_policy: null,
        use_annotations: true,
        log_file: '/var/log/r.log',
        prevResult: { cniVersion: '1.0.0', ips: [] },
      }),
    );
    assert.equal(c.name, 'n');
    assert.equal(c.romanadUrl, 'http://romanad:9600');
    assert.equal(c.tokenFile, undefined);
    assert.equal(c.caFile, '/etc/romana/ca.pem');
    assert.equal(c.segmentLabelName, 'example.com/seg');
    assert.equal(c.kubernetesConfig, '/etc/kubernetes/kubelet.conf');
    assert.equal(c.usePolicy, false);
    assert.equal(c.useAnnotations, true);
    assert.equal(c.logFile, '/var/log/r.log');
    assert.deepEqual(c.prevResult, { cniVersion: '1.0.0', ips: [] });
    const bare = parseNetConf('{"cniVersion":"1.0.0"}');
    assert.equal(bare.name, '');
    assert.equal(bare.useAnnotations, false);
    assert.equal(bare.caFile, undefined);
    assert.equal(bare.kubernetesConfig, undefined);
    assert.equal(bare.prevResult, undefined);
    for (const prev of [null, [1], 'x']) {
      assert.equal(parseNetConf(conf({ prevResult: prev })).prevResult, undefined);
    }
  });

  it('reads GC attachments, an ifname missing as empty, and names a bad entry by index', () => {
    const list = (v: unknown) => parseNetConf(conf({ 'cni.dev/valid-attachments': v }));
    assert.equal(list(null).validAttachments, undefined);
    assert.deepEqual(list([]).validAttachments, []);
    assert.deepEqual(
      list([{ containerID: 'a' }, { containerID: 'b', ifname: 3 }]).validAttachments,
      [
        { containerID: 'a', ifname: '' },
        { containerID: 'b', ifname: '' },
      ],
    );
    assert.equal(
      refusal(() => list('all')),
      '7 cni.dev/valid-attachments: must be a list',
    );
    for (const bad of [null, 'x', { ifname: 'eth0' }, { containerID: 7 }]) {
      assert.equal(
        refusal(() => list([{ containerID: 'a', ifname: 'eth0' }, bad])),
        '7 cni.dev/valid-attachments[1]: must be {"containerID": string, "ifname": string}',
      );
    }
  });
});

describe('CNI environment at its edges', () => {
  const env = {
    CNI_COMMAND: 'ADD',
    CNI_CONTAINERID: 'abcdef0123456789',
    CNI_NETNS: '/var/run/netns/pod',
    CNI_IFNAME: 'eth0',
  };
  const parsed = (patch: Record<string, string | undefined>, cmd: CniEnv['command'] = 'ADD') =>
    parseEnv({ ...env, ...patch }, cmd);

  it('names the command it does not know, and every one it does', () => {
    assert.equal(
      refusal(() => parseCommand({})),
      "4 CNI_COMMAND: '' is not one of ADD, DEL, CHECK, VERSION, STATUS, GC",
    );
    for (const c of ['ADD', 'DEL', 'CHECK', 'VERSION', 'STATUS', 'GC']) {
      assert.equal(parseCommand({ CNI_COMMAND: c }), c);
    }
  });

  it('takes a container id of 1 to 200 characters and says what one is', () => {
    assert.equal(parsed({ CNI_CONTAINERID: 'a'.repeat(200) }).containerId, 'a'.repeat(200));
    assert.equal(parsed({ CNI_CONTAINERID: 'A' }).containerId, 'A');
    assert.equal(parsed({ CNI_CONTAINERID: '0a_b.c-d' }).containerId, '0a_b.c-d');
    assert.equal(
      refusal(() => parsed({ CNI_CONTAINERID: undefined })),
      "4 CNI_CONTAINERID: '' is not a container id (1-200 letters, digits, '_', '.', '-')",
    );
    for (const id of ['-ab', '.ab', 'ab c', 'a:b', 'ab\n']) {
      assert.match(
        refusal(() => parsed({ CNI_CONTAINERID: id })),
        /^4 CNI_CONTAINERID: /,
      );
    }
    assert.equal(
      refusal(() => parsed({ CNI_ARGS: 'K8S_POD_INFRA_CONTAINER_ID=x/y' })),
      "4 CNI_ARGS K8S_POD_INFRA_CONTAINER_ID: 'x/y' is not a container id (1-200 letters, digits, '_', '.', '-')",
    );
    assert.equal(
      parsed({ CNI_ARGS: 'K8S_POD_INFRA_CONTAINER_ID=' }).args['K8S_POD_INFRA_CONTAINER_ID'],
      '',
    );
  });

  it('takes an interface name of 1 to 15 characters without a slash, colon or space', () => {
    assert.equal(parsed({ CNI_IFNAME: 'a'.repeat(15) }).ifname, 'a'.repeat(15));
    assert.equal(parsed({ CNI_IFNAME: 'e' }).ifname, 'e');
    for (const name of ['', 'a'.repeat(16), 'a/b', 'a:b', 'a b', '.', '..', ' eth0', 'eth0 ']) {
      assert.equal(
        refusal(() => parsed({ CNI_IFNAME: name })),
        `4 CNI_IFNAME: '${name}' is not an interface name (1-15 characters, no '/')`,
      );
    }
    assert.equal(parsed({ CNI_IFNAME: '...' }).ifname, '...');
    assert.equal(
      refusal(() => parsed({ CNI_IFNAME: undefined })),
      "4 CNI_IFNAME: '' is not an interface name (1-15 characters, no '/')",
    );
  });

  it('wants an absolute namespace path, except an empty one for DEL', () => {
    assert.equal(parsed({ CNI_NETNS: '/' }).netns, '/');
    assert.equal(parsed({ CNI_NETNS: undefined }, 'DEL').netns, '');
    assert.equal(parsed({ CNI_NETNS: '/proc/1/ns/net' }, 'DEL').netns, '/proc/1/ns/net');
    for (const [ns, cmd] of [
      ['', 'ADD'],
      ['', 'CHECK'],
      ['rel', 'DEL'],
      ['/a b', 'ADD'],
      [' /a', 'ADD'],
    ] as const) {
      assert.equal(
        refusal(() => parsed({ CNI_NETNS: ns }, cmd)),
        `4 CNI_NETNS: '${ns}' is not the path of a network namespace`,
      );
    }
  });

  it('reads CNI_ARGS pairs, refusing one without a key or an =', () => {
    assert.deepEqual(parseArgs('A=1;;B=;C=x=y'), { A: '1', B: '', C: 'x=y' });
    assert.equal(
      refusal(() => parseArgs('=v')),
      "4 CNI_ARGS: '=v' is not KEY=VALUE",
    );
    assert.equal(
      refusal(() => parseArgs('A=1;B')),
      "4 CNI_ARGS: 'B' is not KEY=VALUE",
    );
    assert.deepEqual(parsed({}).args, {}, 'CNI_ARGS unset');
  });
});

describe('derived names at their edges', () => {
  it('needs both the pod name and its namespace for a Kubernetes name', () => {
    const only = (args: Record<string, string>) =>
      deriveNames({ containerId: 'abcdef0123', ifname: 'eth0', args });
    const n = only({ K8S_POD_NAME: 'web-1' });
    assert.equal(n.addressName, 'abcdef01.eth0');
    assert.equal(n.pod, undefined);
    assert.equal(n.tenant, 'default');
    const m = only({ K8S_POD_NAMESPACE: 'shop' });
    assert.equal(m.addressName, 'abcdef01.eth0');
    assert.equal(m.pod, undefined);
    assert.equal(m.tenant, 'shop', 'the namespace alone still names the tenant');
    assert.deepEqual(only({ K8S_POD_NAME: 'w', K8S_POD_NAMESPACE: 's' }).pod, {
      name: 'w',
      namespace: 's',
    });
    assert.equal(only({ K8S_POD_INFRA_CONTAINER_ID: '' }).infra8, 'abcdef01');
  });

  it('gives GC no key for a name that ends in a dot or has a long or odd first part', () => {
    assert.equal(containerKeyOf('a.b.'), undefined);
    assert.equal(containerKeyOf('abcdef012.eth0'), undefined, 'nine characters');
    assert.equal(containerKeyOf('abcdef01.eth0'), 'abcdef01');
    assert.equal(containerKeyOf('a.eth0'), 'a');
    assert.equal(containerKeyOf('-abc.eth0'), undefined);
    assert.equal(containerKeyOf('ab.c.eth0.x'), 'x');
    assert.equal(containerKeyOf('x y.eth0'), undefined);
    assert.equal(containerKeyOf(''), undefined);
  });
});
