/**
 * Network policy with real traffic: two hosts, agents with `--policy`, pods wired with the
 * divert rules (`use_policy`). Ingress to pods is denied by default; a policy posted to
 * romanad opens exactly what it says (ports, single-port and multi-port ranges, ICMP types), on
 * every node, within seconds; removing it closes it.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { Fabric, sleep, until } from '../helpers/fabric.ts';

const f = new Fabric(`rp${process.pid % 100000}`, ['h1', 'h2'], { use_policy: true });

/** One TCP (or UDP) exchange from pod `from` to `to`:port; true when the answer came back. */
function talk(from: string, to: string, port: number, proto: 'tcp' | 'udp' = 'tcp'): boolean {
  const ip = f.pods.get(to)!.ip;
  const target = proto === 'tcp' ? `TCP:${ip}:${port},connect-timeout=1` : `UDP:${ip}:${port}`;
  const r = f.inPod(from, ['socat', '-T1', '-', target]);
  return String(r.stdout).includes('pong');
}

/**
 * Waits until `gets` answers `want` twice in a row, 300 ms apart (policies reach the nodes
 * through the watch stream; the second ask makes sure this is not a moment in between).
 */
async function expectStable(what: string, gets: () => boolean, want: boolean): Promise<void> {
  for (let i = 0; i < 40; i++) {
    if (gets() === want) {
      await sleep(300);
      if (gets() === want) return;
    }
    await sleep(250);
  }
  assert.fail(`${what} should ${want ? '' : 'not '}get through`);
}

/** Waits until `talk` gives `want`. */
function expectTalk(
  from: string,
  to: string,
  port: number,
  want: boolean,
  proto: 'tcp' | 'udp' = 'tcp',
): Promise<void> {
  return expectStable(`${from} -> ${to}:${port}/${proto}`, () => talk(from, to, port, proto), want);
}

/** TCP ports pod `back` listens on (and UDP 8080). */
const TCP_PORTS = [7070, 7100, 8080, 9090];

const allowTcp8080 = (peers: unknown[]) => ({
  id: 'back-8080',
  direction: 'ingress',
  applied_to: [{ tenant_id: 'a', segment_id: 'backend' }],
  ingress: [{ peers, rules: [{ protocol: 'tcp', ports: [8080] }] }],
});

describe('policies enforced on real traffic', { timeout: 240_000 }, () => {
  before(async () => {
    await f.start({
      networks: [{ name: 'pods', cidr: '10.65.0.0/16', block_mask: 28 }],
      topologies: [
        {
          networks: ['pods'],
          map: [
            { name: 'h1', groups: [{ name: 'h1', ip: f.hostIp('h1') }] },
            { name: 'h2', groups: [{ name: 'h2', ip: f.hostIp('h2') }] },
          ],
        },
      ],
    });
    await f.startAgents(['--policy']);
    // Two tenants with two segments each; the segment is the pod's romana.io/segment label.
    await f.addPod('front', 'h1', 'a', 'frontend');
    await f.addPod('back', 'h2', 'a', 'backend');
    await f.addPod('other', 'h1', 'b', 'frontend');
    await f.addPod('b-back', 'h2', 'b', 'backend');
    for (const port of TCP_PORTS) {
      f.spawnInPod('back', ['socat', `TCP-LISTEN:${port},reuseaddr,fork`, 'SYSTEM:echo pong']);
    }
    f.spawnInPod('back', ['socat', 'UDP-LISTEN:8080,reuseaddr,fork', 'SYSTEM:echo pong']);
    await until('the listeners in back', () => {
      const ss = String(f.inPod('back', ['ss', '-lntu']).stdout);
      return [...TCP_PORTS, 8080].every((p) => ss.includes(`:${p} `));
    });
  });
  after(() => f.close());

  it('denies ingress to pods when no policy allows it', async () => {
    // First the datapath and the listener are shown to work: a policy opens 9090, then goes.
    const probe = { ...allowTcp8080([{ peer: 'any' }]), id: 'probe' };
    probe.ingress[0]!.rules = [{ protocol: 'tcp', ports: [9090] }];
    assert.equal((await f.admin('POST', '/policies', probe)).status, 200);
    await expectTalk('front', 'back', 9090, true);
    await expectTalk('other', 'back', 9090, true);
    assert.equal((await f.admin('DELETE', '/policies/probe')).status, 200);
    await expectTalk('front', 'back', 9090, false);
    await expectTalk('front', 'back', 8080, false);
    await expectTalk('other', 'back', 8080, false);
  });

  it('tenant-a/frontend -> tenant-a/backend on TCP 8080 opens exactly that', async () => {
    const addrs = (await f.admin('GET', '/addresses')).body as Array<{
      tenant: string;
      segment: string;
    }>;
    assert.deepEqual(
      addrs.map((a) => `${a.tenant}/${a.segment}`).sort(),
      ['a/backend', 'a/frontend', 'b/backend', 'b/frontend'],
      'segments come from the pod labels',
    );
    const r = await f.admin(
      'POST',
      '/policies',
      allowTcp8080([{ tenant_id: 'a', segment_id: 'frontend' }]),
    );
    assert.equal(r.status, 200, JSON.stringify(r.body));
    await expectTalk('front', 'back', 8080, true);
    await expectTalk('other', 'back', 8080, false);
    await expectTalk('front', 'back', 9090, false);
    await expectTalk('front', 'back', 8080, false, 'udp');
  });

  it('removing the policy closes it again', async () => {
    assert.equal((await f.admin('DELETE', '/policies/back-8080')).status, 200);
    await expectTalk('front', 'back', 8080, false);
  });

  it('a CIDR peer and an any peer each open what they say', async () => {
    await f.admin('POST', '/policies', allowTcp8080([{ cidr: `${f.pods.get('other')!.ip}/32` }]));
    await expectTalk('other', 'back', 8080, true);
    await expectTalk('front', 'back', 8080, false);
    await f.admin('POST', '/policies', allowTcp8080([{ peer: 'any' }]));
    await expectTalk('front', 'back', 8080, true);
    await expectTalk('other', 'back', 8080, true);
  });

  it('an egress policy drops what it names', async () => {
    const r = await f.admin('POST', '/policies', {
      id: 'no-front-egress',
      direction: 'egress',
      applied_to: [{ tenant_id: 'a', segment_id: 'frontend' }],
      ingress: [
        {
          peers: [{ cidr: `${f.pods.get('back')!.ip}/32` }],
          rules: [{ protocol: 'tcp', ports: [8080] }],
        },
      ],
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    await expectTalk('front', 'back', 8080, false);
    await expectTalk('other', 'back', 8080, true);
  });

  it('an icmp rule opens only the ICMP type it names', async () => {
    const pingPolicy = (icmp_type: number) => ({
      id: 'b-back-ping',
      direction: 'ingress',
      applied_to: [{ tenant_id: 'b', segment_id: 'backend' }],
      ingress: [{ peers: [{ tenant_id: 'a' }], rules: [{ protocol: 'icmp', icmp_type }] }],
    });
    const expectPing = (want: boolean) =>
      expectStable('front -> b-back ping', () => f.ping('front', 'b-back'), want);
    await expectPing(false);
    // Timestamp requests (13) only: once h2 holds that rule, an echo request is still dropped.
    assert.equal((await f.admin('POST', '/policies', pingPolicy(13))).status, 200);
    const rules = () =>
      execFileSync('ip', ['netns', 'exec', f.nsOf('h2'), 'iptables-save', '-t', 'filter'], {
        encoding: 'utf8',
      });
    for (let i = 0; i < 40 && !rules().includes('--icmp-type 13 '); i++) await sleep(250);
    assert.match(rules(), /-p icmp -m icmp --icmp-type 13 -j ACCEPT/);
    assert.equal(f.ping('front', 'b-back'), false);
    assert.equal((await f.admin('POST', '/policies', pingPolicy(8))).status, 200);
    await expectPing(true);
    assert.equal((await f.admin('DELETE', '/policies/b-back-ping')).status, 200);
    await expectPing(false);
  });

  it('refuses an invalid policy at POST, and keeps enforcing the others', async () => {
    const r = await f.admin('POST', '/policies', {
      id: 'broken',
      applied_to: [{ tenant_id: 'a' }],
      ingress: [{ peers: [], rules: [] }],
    });
    assert.equal(r.status, 422);
    await expectTalk('other', 'back', 8080, true);
  });
  it('a single-port range opens that port only, a multi-port range each port in it', async () => {
    await expectTalk('other', 'back', 9090, false);
    const r = await f.admin('POST', '/policies', {
      id: 'back-ranges',
      direction: 'ingress',
      applied_to: [{ tenant_id: 'a', segment_id: 'backend' }],
      ingress: [
        {
          peers: [{ tenant_id: 'b' }],
          rules: [
            {
              protocol: 'tcp',
              port_ranges: [
                [9090, 9090],
                [7000, 7080],
              ],
            },
          ],
        },
      ],
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    await expectTalk('other', 'back', 9090, true);
    await expectTalk('other', 'back', 7070, true);
    await expectTalk('other', 'back', 7100, false);
  });
});
