/**
 * The agent's policy path fed by a real dual-stack romanad (needs root): romanad starts from
 * examples/topology-dualstack.json, allocates pods of two segments (one IPv4 and one IPv6
 * address each), stores a 2.x policy with an IPv6 CIDR peer; `PolicySync` lists policies and
 * blocks through the client and applies them in a network namespace. The kernel then holds
 * romanad's IPv4 blocks in `ROMANA-*` sets and its IPv6 blocks in `ROMANA6-*` inet6 sets, and
 * the IPv6 CIDR in ip6tables only. Kubernetes mode takes the pods' IPv6 addresses from the
 * address views' `ips`.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { PolicySync } from '../../src/agent/policy-sync.ts';
import { RomanadClient, type Block } from '../../src/client/index.ts';
import { parseIpsetSave } from '../../src/policy/firewall-state.ts';
import { segmentSetName } from '../../src/policy/render-sets.ts';
import { createNetns, type TestNetns } from '../helpers/netns.ts';
import { request, startRomanad, type Romanad } from '../helpers/romanad.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const isRoot = process.getuid?.() === 0;
const HOST = 'node-1';

async function ok(d: Romanad, method: string, url: string, body?: unknown): Promise<unknown> {
  const r = await request(`${d.url}${url}`, method, body);
  assert.equal(r.status, 200, `${method} ${url}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

describe('policy sync fed by dual-stack romanad', { skip: !isRoot && 'needs root' }, () => {
  let d: Romanad;
  let ns: TestNetns;
  let client: RomanadClient;
  let blocks: Block[] = [];
  const dir = mkdtempSync(path.join(tmpdir(), 'romanad-p6-'));
  const log: string[] = [];

  before(async () => {
    const topology = path.join(ROOT, 'examples/topology-dualstack.json');
    d = await startRomanad(['--store', `embedded:${dir}`, '--initial-topology-file', topology]);
    client = new RomanadClient({ baseUrl: d.url });
    await ok(d, 'POST', '/hosts', { name: HOST, ip: '192.168.0.11', ip6: 'fd00:ff::11' });
    for (const [name, segment] of [
      ['p6-front', 'front'],
      ['p6-back', 'back'],
    ]) {
      await ok(d, 'POST', '/address', { name, host: HOST, tenant: 'a', segment });
    }
    ns = createNetns(`p6rd-${randomBytes(2).toString('hex')}`);
  });
  after(async () => {
    ns?.remove();
    await d?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const sync = (mode: 'romana' | 'kubernetes') =>
    new PolicySync(
      ns.exec,
      HOST,
      () => blocks,
      (l, m, x) => log.push(`${l} ${m} ${JSON.stringify(x)}`),
      undefined,
      mode,
    );

  it('2.x mode: romanad blocks of each family in that family sets, the IPv6 CIDR in ip6tables', async () => {
    await ok(d, 'POST', '/policies', {
      id: 'p6-back',
      applied_to: [{ tenant_id: 'a', segment_id: 'back' }],
      ingress: [
        {
          peers: [{ tenant_id: 'a', segment_id: 'front' }, { cidr: 'fd00:99::/64' }],
          rules: [{ protocol: 'tcp', ports: [8080] }],
        },
      ],
    });
    blocks = (await client.listBlocks()).blocks;
    const front = blocks.filter((b) => b.segment === 'front').map((b) => b.cidr);
    assert.equal(front.length, 2, `one block per family: ${JSON.stringify(front)}`);
    const s = sync('romana');
    s.replace(await client.listPolicies());
    await s.sync();
    assert.ok(s.healthy, log.join('\n'));
    const sets = parseIpsetSave(ns.run(['ipset', 'save']));
    const sets6 = parseIpsetSave(ns.run(['ipset', 'save']), 'ROMANA6-');
    const name = segmentSetName('a', 'front');
    assert.deepEqual(
      [...sets.get(name)!.members],
      front.filter((c) => !c.includes(':')),
    );
    const v6 = sets6.get(name.replace('ROMANA-', 'ROMANA6-'))!;
    assert.deepEqual(
      [...v6.members],
      front.filter((c) => c.includes(':')),
    );
    assert.equal(v6.family, 'inet6');
    assert.match(ns.run(['ip6tables-save', '-t', 'filter']), / -s fd00:99::\/64 -j ROMANA-P-/);
    assert.doesNotMatch(ns.run(['iptables-save', '-t', 'filter']), /fd00:99/);
  });

  it('Kubernetes mode: pod sets hold both addresses of each pod from the views', async () => {
    const addresses = await client.listAddresses();
    const back = addresses.find((a) => a.name === 'p6-back')!;
    assert.equal(back.ips.length, 2);
    await ok(d, 'PUT', '/addresses/p6-back/pod', {
      namespace: 'a',
      name: 'p6-back',
      labels: { role: 'back' },
    });
    const netpol = {
      id: 'kube.a.p6-back',
      namespace: 'a',
      podSelector: { matchLabels: { role: 'back' } },
      ingress: [{ from: [{ podSelector: {} }] }],
    };
    await ok(d, 'POST', '/policies', netpol);
    const s = sync('kubernetes');
    await s.refresh({
      listPolicies: () => client.listPolicies(),
      listAddresses: () => client.listAddresses(),
      listNamespaces: async () => [],
    });
    await s.sync();
    assert.ok(s.healthy, log.join('\n'));
    const save = ns.run(['ipset', 'save']);
    const [v4ip, v6ip] = back.ips.map((x) => x.ip);
    assert.match(
      save,
      new RegExp(`^add ROMANA-KS-[0-9a-f]{16} ${v4ip!.replace(/\./g, '\\.')}$`, 'm'),
    );
    assert.match(save, new RegExp(`^add ROMANA6-KS-[0-9a-f]{16} ${v6ip}$`, 'm'));
  });
});
