/**
 * Policies enforced on both families with real traffic (needs root). A router namespace stands
 * for the node: one veth per pod namespace, each pod with an IPv4 and an IPv6 address (/32 and
 * /128, IPv6 without DAD), IPv4 through a link-scope gateway and IPv6 through the link-local
 * `fe80::1`, so every IPv6 packet needs neighbour discovery first. The node's divert rules send
 * pod traffic to the Romana chains in iptables and in ip6tables alike, and the agent's policy
 * path (`PolicySync`, both families) renders and applies.
 *
 * The same probes run over IPv4 and IPv6 and are compared with an oracle written here: 2.x mode
 * (default deny, a policy opening TCP 8080 and ping from one segment) and Kubernetes mode (a
 * NetworkPolicy isolating one pod). A rule deleted from ip6tables and a member taken out of an
 * inet6 set by hand are put back by a resync, as in iptables.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { Block, Policy } from '../../src/client/index.ts';
import { PolicySync, type PolicyMode } from '../../src/agent/policy-sync.ts';
import type { Family } from '../../src/net/addr.ts';
import { createNetns, type TestNetns } from '../helpers/netns.ts';

const run = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const tag = `p6${randomBytes(2).toString('hex')}`;
const HOST = 'node-p6';

interface Pod {
  name: string;
  tenant: string;
  segment: string;
  /** Last byte of both addresses. */
  n: number;
  ns?: TestNetns;
}

const PODS: Pod[] = [
  { name: 'front', tenant: 'a', segment: 'front', n: 2 },
  { name: 'back', tenant: 'a', segment: 'back', n: 3 },
  { name: 'other', tenant: 'b', segment: 'front', n: 4 },
  { name: 'side', tenant: 'a', segment: 'side', n: 5 },
];
const PORTS = [8080, 9090];
const ip = (p: Pod, family: Family) => (family === 4 ? `10.66.0.${p.n}` : `fd00:66::${p.n}`);

/** One block per pod and family: the sets the policies match on. */
const BLOCKS: Block[] = PODS.flatMap((p) =>
  (['10.66.0.%/32', 'fd00:66::%/128'] as const).map((cidr) => ({
    revision: 1,
    cidr: cidr.replace('%', String(p.n)),
    network: 'pods',
    tenant: p.tenant,
    segment: p.segment,
    host: HOST,
    allocated_ip_count: 1,
  })),
);

let node: TestNetns;

function setUp(): void {
  node = createNetns(`${tag}-node`);
  node.run([
    'sysctl',
    '-qw',
    'net.ipv4.ip_forward=1',
    'net.ipv6.conf.all.forwarding=1',
    'net.ipv6.conf.default.accept_dad=0',
  ]);
  for (const p of PODS) {
    const ns = createNetns(`${tag}-${p.name}`);
    p.ns = ns;
    const host = `${tag}h${p.n}`;
    node.ip('link', 'add', host, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns.name);
    ns.run(['sysctl', '-qw', 'net.ipv6.conf.eth0.accept_ra=0', 'net.ipv6.conf.eth0.accept_dad=0']);
    node.ip('addr', 'add', '169.254.1.1/32', 'dev', host);
    node.ip('addr', 'add', 'fe80::1/64', 'dev', host, 'nodad');
    node.ip('link', 'set', host, 'up');
    node.ip('route', 'add', `${ip(p, 4)}/32`, 'dev', host);
    node.ip('-6', 'route', 'add', `${ip(p, 6)}/128`, 'dev', host);
    ns.ip('addr', 'add', `${ip(p, 4)}/32`, 'dev', 'eth0');
    ns.ip('addr', 'add', `${ip(p, 6)}/128`, 'dev', 'eth0', 'nodad');
    ns.ip('link', 'set', 'eth0', 'up');
    ns.ip('route', 'add', '169.254.1.1', 'dev', 'eth0', 'scope', 'link');
    ns.ip('route', 'add', 'default', 'via', '169.254.1.1', 'dev', 'eth0');
    ns.ip('-6', 'route', 'add', 'default', 'via', 'fe80::1', 'dev', 'eth0');
    for (const port of PORTS) {
      ns.spawn(['socat', `TCP4-LISTEN:${port},reuseaddr,fork`, 'SYSTEM:echo pong']);
      ns.spawn(['socat', `TCP6-LISTEN:${port},reuseaddr,fork,ipv6only=1`, 'SYSTEM:echo pong']);
    }
  }
}

/** The CNI plugin's divert rules for every pod veth, in both families (`p6…h+` matches them). */
function divert(): void {
  const veths = `${tag}h+`;
  for (const tables of ['iptables', 'ip6tables']) {
    node.run([tables, '-w', '-A', 'INPUT', '-i', veths, '-j', 'ROMANA-INPUT']);
    node.run([tables, '-w', '-A', 'OUTPUT', '-o', veths, '-j', 'ROMANA-OUTPUT']);
    node.run([tables, '-w', '-A', 'FORWARD', '-i', veths, '-j', 'ROMANA-FORWARD-OUT']);
    node.run([tables, '-w', '-A', 'FORWARD', '-o', veths, '-j', 'ROMANA-FORWARD-IN']);
  }
}

/** One TCP exchange from pod `from` to `to`:`port` over `family`; true when the answer came. */
async function talk(from: Pod, to: Pod, port: number, family: Family): Promise<boolean> {
  const target = family === 4 ? `TCP4:${ip(to, 4)}:${port}` : `TCP6:[${ip(to, 6)}]:${port}`;
  const argv = ['--net=' + from.ns!.path, 'socat', '-T1', '-', `${target},connect-timeout=1`];
  try {
    const r = await run('nsenter', argv, { encoding: 'utf8', timeout: 5000 });
    return r.stdout.includes('pong');
  } catch {
    return false;
  }
}

async function ping(from: Pod, to: Pod, family: Family): Promise<boolean> {
  const argv = ['--net=' + from.ns!.path, 'ping', `-${family}`, '-c1', '-W1', ip(to, family)];
  try {
    await run('nsenter', argv, { timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

type Oracle = (from: Pod, to: Pod, port: number | 'ping') => boolean;

/**
 * Every ordered pair of pods, every port and ping, over both families: the outcome must equal
 * the oracle's on each family (so also on both alike). Probes run concurrently.
 */
async function checkAll(oracle: Oracle): Promise<void> {
  const probes: Promise<string | undefined>[] = [];
  for (const from of PODS) {
    for (const to of PODS) {
      if (from === to) continue;
      for (const family of [4, 6] as const) {
        for (const port of [...PORTS, 'ping' as const]) {
          probes.push(
            (port === 'ping' ? ping(from, to, family) : talk(from, to, port, family)).then(
              (got) => {
                const want = oracle(from, to, port);
                if (got === want) return undefined;
                return `${from.name} -> ${to.name} ${port} IPv${family}: got ${got}, oracle ${want}`;
              },
            ),
          );
        }
      }
    }
  }
  const wrong = (await Promise.all(probes)).filter((w) => w !== undefined);
  assert.deepEqual(wrong, [], 'every probe as the oracle says, on both families');
}

function flushNeighbours(): void {
  node.ip('-6', 'neigh', 'flush', 'all');
  for (const p of PODS) p.ns!.ip('-6', 'neigh', 'flush', 'all');
}

/** romanad's address view of a pod (both families in `ips`), with its `role` label. */
function address(p: Pod, role: string) {
  return {
    name: p.name,
    ip: ip(p, 4),
    ips: [{ ip: ip(p, 4) }, { ip: ip(p, 6) }],
    tenant: p.tenant,
    pod: {
      namespace: p.tenant,
      name: p.name,
      labels: { role },
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    },
  };
}

const logs: string[] = [];
function sync(mode: PolicyMode): PolicySync {
  return new PolicySync(
    node.exec,
    HOST,
    () => BLOCKS,
    (level, msg, extra) => {
      logs.push(`${level} ${msg} ${JSON.stringify(extra ?? {})}`);
    },
    undefined,
    mode,
  );
}

const allow8080: Policy = {
  id: 'p6-back-8080',
  direction: 'ingress',
  applied_to: [{ tenant_id: 'a', segment_id: 'back' }],
  ingress: [
    {
      peers: [{ tenant_id: 'a', segment_id: 'front' }],
      rules: [
        { protocol: 'tcp', ports: [8080] },
        { protocol: 'icmp', icmp_type: 8 },
        { protocol: 'icmpv6', icmp_type: 128 },
      ],
    },
  ],
} as Policy;

describe(
  'policies on IPv4 and IPv6 alike',
  { skip: !isRoot && 'needs root', timeout: 120_000 },
  () => {
    before(setUp);
    after(() => {
      for (const p of PODS) p.ns?.remove();
      node?.remove(); // its chains and sets go with it
    });

    it('2.x mode: default deny on both families, TCP 8080 and ping open from a/front only', async () => {
      const s = sync('romana');
      s.replace([allow8080]);
      await s.sync();
      assert.ok(s.healthy, logs.join('\n'));
      divert();
      flushNeighbours();
      const fromFront = (from: Pod, to: Pod) => from.name === 'front' && to.name === 'back';
      await checkAll((from, to, port) => fromFront(from, to) && (port === 8080 || port === 'ping'));
      // ping6 got through with empty neighbour caches: neighbour discovery passed both ways.
      assert.match(node.ip('-6', 'neigh', 'show', ip(PODS[1]!, 6)), /lladdr/);
      assert.match(PODS[0]!.ns!.ip('-6', 'neigh', 'show', 'fe80::1'), /lladdr/);
      // And the ping6 probe does depend on neighbour discovery: with solicitations dropped ahead
      // of Romana's chains it fails, and passes again once they are not.
      const nd = [
        'INPUT',
        '-i',
        `${tag}h+`,
        '-p',
        'ipv6-icmp',
        '--icmpv6-type',
        '135',
        '-j',
        'DROP',
      ];
      node.run(['ip6tables', '-w', '-I', ...nd]);
      flushNeighbours();
      assert.equal(await ping(PODS[0]!, PODS[1]!, 6), false, 'no ND, no ping6');
      assert.equal(await ping(PODS[0]!, PODS[1]!, 4), true, 'IPv4 unaffected');
      node.run(['ip6tables', '-w', '-D', ...nd]);
      // entries that failed while solicitations were dropped are forgotten first; a loaded
      // machine may lose one probe, so a few are allowed
      flushNeighbours();
      let back = false;
      for (let i = 0; i < 5 && !back; i++) back = await ping(PODS[0]!, PODS[1]!, 6);
      assert.equal(back, true, 'ND back, ping6 back');
    });

    it('2.x mode: drift in ip6tables and in an inet6 set is repaired by a resync', async () => {
      const s = sync('romana');
      s.replace([allow8080]);
      await s.sync();
      const save = () => node.run(['ip6tables-save', '-t', 'filter']);
      const accept = save()
        .split('\n')
        .find((l) => l.includes('--dport 8080 -j ACCEPT'));
      assert.ok(accept, 'the 8080 rule is in ip6tables');
      node.run(['ip6tables', '-w', ...accept.replace(/^-A/, '-D').split(' ')]);
      const frontSet = node
        .run(['ipset', 'save'])
        .split('\n')
        .find((l) => l.startsWith('add ROMANA6-') && l.endsWith(' fd00:66::2'));
      assert.ok(frontSet, 'the front pod is in an inet6 set');
      node.run(['ipset', 'del', frontSet.split(' ')[1]!, 'fd00:66::2']);
      assert.equal(await talk(PODS[0]!, PODS[1]!, 8080, 6), false, 'drift closed it');
      assert.equal(await talk(PODS[0]!, PODS[1]!, 8080, 4), true, 'IPv4 untouched');
      s.requestFull();
      await s.sync();
      assert.ok(s.healthy);
      assert.ok(save().includes(accept), 'rule back');
      assert.ok(node.run(['ipset', 'save']).includes(frontSet), 'member back');
      const plans = await s.plan();
      for (const [family, plan] of plans) {
        assert.equal(plan.iptables + plan.ipsetBefore + plan.ipsetAfter, '', `IPv${family} no-op`);
      }
      assert.equal(await talk(PODS[0]!, PODS[1]!, 8080, 6), true);
    });

    it('Kubernetes mode: a NetworkPolicy isolates the same pod on both families', async () => {
      const s = sync('kubernetes');
      const netpol = {
        id: 'kube.a.p6-back',
        namespace: 'a',
        podSelector: { matchLabels: { role: 'back' } },
        policyTypes: ['Ingress'],
        ingress: [
          {
            from: [{ podSelector: { matchLabels: { role: 'front' } } }],
            ports: [{ protocol: 'TCP', port: 'http' }],
          },
        ],
      };
      await s.refresh({
        listPolicies: async () => [netpol as unknown as Policy],
        listAddresses: async () => PODS.map((p) => address(p, p.name)),
        listNamespaces: async () => [{ name: 'a' }, { name: 'b' }],
      });
      await s.sync();
      assert.ok(s.healthy, logs.join('\n'));
      flushNeighbours();
      // Only `back` is isolated: from `front` (same namespace) on the named port 8080.
      await checkAll(
        (from, to, port) => to.name !== 'back' || (from.name === 'front' && port === 8080),
      );
      assert.match(node.ip('-6', 'neigh', 'show', ip(PODS[0]!, 6)), /lladdr/);
      // `side` relabelled `front`: only set members change (one ipset restore per family).
      const side = PODS[3]!;
      const value = address(side, 'front');
      s.apply({ revision: 2, kind: 'addresses', type: 'put', id: side.name, value });
      await s.sync();
      assert.ok(s.healthy, logs.join('\n'));
      await checkAll((from, to, port) => {
        if (to.name !== 'back') return true;
        return (from.name === 'front' || from.name === 'side') && port === 8080;
      });
    });
  },
);
