/**
 * docs/kubernetes.md is what an operator follows: its JSON examples must be what the code
 * writes and reads, and the topology it shows must place labelled hosts as it says.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseNetConf } from '../../src/cni/config.ts';
import { conflist } from '../../src/cni/install.ts';
import { parseTopology } from '../../src/ipam/topology.ts';
import { request, startRomanad, type Romanad } from '../helpers/romanad.ts';
import { find, kustomize, ROOT, type K8sObject } from './manifests.ts';

const DOC = readFileSync(path.join(ROOT, 'docs/kubernetes.md'), 'utf8');
const json = [...DOC.matchAll(/```json\n([\s\S]*?)```/g)].map(
  (m) => JSON.parse(m[1]!) as Record<string, unknown>,
);
const [CONFLIST, TOPOLOGY] = json as [
  { cniVersion: string; name: string; plugins: Record<string, unknown>[] },
  object,
];

describe('docs/kubernetes.md', () => {
  it('shows the conflist install writes, which the plugin reads', () => {
    const written = conflist(
      {
        binDir: '/host/opt/cni/bin',
        confDir: '/host/etc/cni/net.d',
        hostRoot: '/host',
        romanadUrl: 'http://10.96.0.20:9600',
        tokenFile: '/etc/romana/token/node-token',
        plugin: '',
        node: undefined,
        logFile: undefined,
        hostName: 'node-1',
        usePolicy: true,
      },
      true,
    );
    assert.deepEqual(JSON.parse(written), CONFLIST);
    const conf = parseNetConf(
      JSON.stringify({
        cniVersion: CONFLIST.cniVersion,
        name: CONFLIST.name,
        ...CONFLIST.plugins[0],
      }),
    );
    assert.equal(conf.hostName, 'node-1');
    assert.equal(conf.tokenFile, '/etc/cni/net.d/romana-token');
    assert.equal(conf.usePolicy, true);
  });

  it("shows a valid topology, and the base's ConfigMap holds one too", () => {
    const cm = find(kustomize('base'), 'ConfigMap', 'romana-topology') as K8sObject & {
      data: Record<string, string>;
    };
    for (const doc of [TOPOLOGY, JSON.parse(cm.data['topology.json']!) as unknown]) {
      const r = parseTopology(doc);
      assert.ok(r.ok, r.ok ? '' : r.problems.join('\n'));
    }
  });
});

describe('the zone and rack topology of docs/kubernetes.md, in a real romanad', () => {
  let romanad: Romanad;
  before(async () => {
    romanad = await startRomanad(['--store', 'memory:']);
    const r = await request(`${romanad.url}/topology`, 'POST', TOPOLOGY);
    assert.ok(r.status < 300, JSON.stringify(r.body));
  });
  after(() => romanad?.stop());

  const group = async (name: string, ip: string, tags: Record<string, string>) => {
    const add = await request(`${romanad.url}/hosts`, 'POST', { name, ip, tags });
    if (add.status >= 300) return `refused: ${JSON.stringify(add.body)}`;
    const h = await request(`${romanad.url}/hosts/${name}`, 'GET');
    return JSON.stringify(h.body);
  };

  it('puts a node labelled zone and rack in its rack, and an unlabelled node apart', async () => {
    assert.match(
      await group('node-7', '192.168.0.7', { zone: 'eu-west-1a', rack: 'a2' }),
      /rack-a2/,
    );
    assert.match(
      await group('node-8', '192.168.0.8', { zone: 'eu-west-1b', rack: 'b1' }),
      /rack-b1/,
    );
    const plain = await group('node-9', '192.168.0.9', {});
    assert.match(plain, /unlabelled/);
    assert.doesNotMatch(plain, /rack-/);
  });

  it('refuses a label change that would move a host to another group', async () => {
    const r = await request(`${romanad.url}/hosts/node-7`, 'PATCH', {
      tags: { zone: 'eu-west-1a', rack: 'a1' },
    });
    assert.ok(r.status >= 400, `status ${r.status}`);
  });
});
