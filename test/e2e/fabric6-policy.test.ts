/**
 * Policies on the three-host fabric dual-stack: agents with `--policy`, pods wired with the
 * divert rules (`use_policy`) in both families, one IPv4 and one IPv6 address each. A policy
 * allowing TCP 8080 from one segment is enforced identically over IPv4 and IPv6: every
 * (source, port) pair is tried over each family and compared with the oracle written below.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { Fabric, sleep, until } from '../helpers/fabric.ts';
import { netnsPath } from '../helpers/netns.ts';

const run = promisify(execFile);
const f = new Fabric(
  `n6p${process.pid % 10000}`,
  ['h1', 'h2', 'h3'],
  { use_policy: true },
  {
    ipv6: true,
  },
);
const hostEntry = (h: string) => ({ name: h, ip: f.hostIp(h), ip6: f.hostIp6(h) });

/** Pods: name, host, tenant, segment. `back` serves TCP 8080 and 9090 on both families. */
const PODS = [
  ['front', 'h1', 'a', 'frontend'],
  ['back', 'h2', 'a', 'backend'],
  ['side', 'h3', 'a', 'other'],
  ['stranger', 'h3', 'b', 'frontend'],
  ['front2', 'h2', 'a', 'frontend'],
] as const;
const SOURCES = ['front', 'side', 'stranger', 'front2'];
const PORTS = [8080, 9090];
type Probe = { from: string; port: number; family: 4 | 6 };
const PROBES: Probe[] = SOURCES.flatMap((from) =>
  PORTS.flatMap((port) => [4, 6].map((family) => ({ from, port, family: family as 4 | 6 }))),
);
const key = (p: Probe) => `${p.from} -> back:${p.port} over IPv${p.family}`;

/**
 * The oracle of the policy `back-8080`: back (tenant a, segment backend) lets in TCP 8080 from
 * tenant a's segment frontend, whatever the family; everything else is denied by default.
 */
function allowed(p: Probe, policy: 'none' | 'probe-9090' | 'back-8080'): boolean {
  const [, , tenant, segment] = PODS.find(([n]) => n === p.from)!;
  if (policy === 'probe-9090') return p.port === 9090;
  if (policy === 'back-8080') return p.port === 8080 && tenant === 'a' && segment === 'frontend';
  return false;
}

/** One TCP exchange from `p.from` to back over `p.family`; true when the answer came back. */
async function talk(p: Probe): Promise<boolean> {
  const ip = f.pods.get('back')!.ips.find((a) => a.includes(':') === (p.family === 6))!;
  const target = p.family === 4 ? `TCP4:${ip}:${p.port}` : `TCP6:[${ip}]:${p.port}`;
  const r = await run(
    'nsenter',
    [
      `--net=${netnsPath(f.pods.get(p.from)!.ns)}`,
      'socat',
      '-T1',
      '-',
      `${target},connect-timeout=1`,
    ],
    { encoding: 'utf8', timeout: 5000 },
  ).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }));
  return r.stdout.includes('pong');
}

/** Every probe at once: the ones whose outcome differs from the oracle (empty when none). */
async function mismatches(policy: Parameters<typeof allowed>[1]): Promise<string[]> {
  const got = await Promise.all(PROBES.map(talk));
  return PROBES.filter((p, i) => got[i] !== allowed(p, policy)).map(
    (p) => `${key(p)}: ${allowed(p, policy) ? 'denied' : 'allowed'}, expected the other`,
  );
}

/** Waits until the probes match the oracle twice in a row (policies reach the nodes by watch). */
async function expectOracle(policy: Parameters<typeof allowed>[1]): Promise<void> {
  let last: string[] = [];
  for (let i = 0; i < 20; i++) {
    last = await mismatches(policy);
    if (last.length === 0) {
      await sleep(300);
      last = await mismatches(policy);
      if (last.length === 0) return;
    }
    await sleep(300);
  }
  assert.deepEqual(last, [], `policy ${policy}`);
}

const policy = (id: string, port: number, peers: unknown[]) => ({
  id,
  direction: 'ingress',
  applied_to: [{ tenant_id: 'a', segment_id: 'backend' }],
  ingress: [{ peers, rules: [{ protocol: 'tcp', ports: [port] }] }],
});

describe('three hosts dual-stack: one policy, both families', { timeout: 180_000 }, () => {
  before(async () => {
    await f.start({
      networks: [
        { name: 'pods', cidr: '10.65.0.0/16', block_mask: 28 },
        { name: 'pods6', cidr: 'fd00:65::/48', block_mask: 120 },
      ],
      topologies: [
        {
          networks: ['pods', 'pods6'],
          map: [
            { name: 'rack-a', groups: [hostEntry('h1'), hostEntry('h2')] },
            { name: 'rack-b', groups: [hostEntry('h3')] },
          ],
        },
      ],
    });
    await f.startAgents(['--policy']);
    for (const [name, host, tenant, segment] of PODS) await f.addPod(name, host, tenant, segment);
    for (const port of PORTS) {
      f.spawnInPod('back', ['socat', `TCP4-LISTEN:${port},reuseaddr,fork`, 'SYSTEM:echo pong']);
      f.spawnInPod('back', [
        'socat',
        `TCP6-LISTEN:${port},ipv6only=1,reuseaddr,fork`,
        'SYSTEM:echo pong',
      ]);
    }
    await until('the listeners in back', () => {
      const ss = String(f.inPod('back', ['ss', '-lnt']).stdout);
      return PORTS.every((p) => ss.includes(`0.0.0.0:${p} `) && ss.includes(`[::]:${p} `));
    });
  });
  after(() => f.close());

  it('both families work end to end: a probe policy opens 9090 to every source over each', async () => {
    assert.equal(
      (await f.admin('POST', '/policies', policy('probe', 9090, [{ peer: 'any' }]))).status,
      200,
    );
    await expectOracle('probe-9090');
    assert.equal((await f.admin('DELETE', '/policies/probe')).status, 200);
  });

  it('default deny holds for both families once no policy is left', async () => {
    await expectOracle('none');
  });

  it('TCP 8080 from tenant a/frontend: allowed and denied pairs match the oracle over each family', async () => {
    const r = await f.admin(
      'POST',
      '/policies',
      policy('back-8080', 8080, [{ tenant_id: 'a', segment_id: 'frontend' }]),
    );
    assert.equal(r.status, 200, JSON.stringify(r.body));
    await expectOracle('back-8080');
    // The oracle allows some pairs and denies others, in both families alike.
    const verdicts = PROBES.map((p) => allowed(p, 'back-8080'));
    assert.ok(verdicts.includes(true) && verdicts.includes(false));
  });
});
