/**
 * Leader election against the test Kubernetes API server: of several candidates exactly one
 * leads; when the leader dies (stops renewing, without handing back) a standby takes over within
 * lease duration + retry period; a leader that stops cleanly hands over at once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CoordinationV1Api } from '@kubernetes/client-node';
import { startKubeApiServer, type KubeApiServer } from '../../test/helpers/kube-apiserver/index.ts';
import { loadKubeConfig } from './informer.ts';
import { LeaderElector } from './leader.ts';

const LEASE_MS = 1000;
const RETRY_MS = 100;

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('leader election on a Lease', () => {
  let api: KubeApiServer;
  let coord: CoordinationV1Api;
  const electors: LeaderElector[] = [];
  /** Number of candidates leading at once, sampled at every transition. */
  let maxLeaders = 0;

  const candidate = (identity: string): LeaderElector => {
    const e: LeaderElector = new LeaderElector({
      api: coord,
      namespace: 'kube-system',
      name: 'romana-listener-test',
      identity,
      leaseDurationMs: LEASE_MS,
      renewDeadlineMs: 600,
      retryPeriodMs: RETRY_MS,
      onStartedLeading: () => {
        maxLeaders = Math.max(maxLeaders, electors.filter((x) => x.leading || x === e).length);
      },
      onStoppedLeading: () => undefined,
    });
    electors.push(e);
    return e;
  };

  before(async () => {
    api = await startKubeApiServer();
    coord = loadKubeConfig(api.kubeconfigPath).makeApiClient(CoordinationV1Api);
  });
  after(async () => {
    for (const e of electors) await e.stop();
    await api.close();
  });

  it('of three candidates exactly one leads, and the Lease names it', async () => {
    const [a, b, c] = [candidate('a'), candidate('b'), candidate('c')];
    a.start();
    b.start();
    c.start();
    await until('a leader', () => electors.some((e) => e.leading));
    const readLease = () =>
      coord.readNamespacedLease({ name: 'romana-listener-test', namespace: 'kube-system' });
    const first = await readLease();
    const mark = api.requests.length;
    await new Promise((r) => setTimeout(r, 3 * LEASE_MS)); // several renewals and retries
    // They did run meanwhile: the leader renewed, the standbys kept reading the Lease.
    const leaseCalls = api.requests.slice(mark).filter((r) => r.resource === 'leases');
    const renewals = leaseCalls.filter((r) => r.verb === 'update').length;
    const reads = leaseCalls.filter((r) => r.verb === 'get').length;
    assert.ok(renewals >= 3, `${renewals} renewals`);
    assert.ok(reads >= 2 * 3 * (LEASE_MS / RETRY_MS) * 0.3, `${reads} reads of the Lease`);
    const leaders = [a, b, c].filter((e) => e.leading);
    assert.equal(leaders.length, 1);
    assert.equal(maxLeaders, 1);
    const lease = await readLease();
    assert.ok(
      new Date(String(lease.spec?.renewTime)) > new Date(String(first.spec?.renewTime)),
      'the renew time moved on',
    );
    assert.equal(lease.spec?.holderIdentity, ['a', 'b', 'c'][[a, b, c].indexOf(leaders[0]!)]);
    assert.equal(lease.spec?.leaseDurationSeconds, 1);
  });

  it('when the leader dies, a standby takes over within lease duration + retry period', async () => {
    const leader = electors.find((e) => e.leading)!;
    const t0 = Date.now();
    leader.abandon(); // no more renewals, no hand-back
    dead.add(leader);
    await until('a new leader', () => electors.some((e) => !dead.has(e) && e.leading));
    const took = Date.now() - t0;
    assert.ok(took <= LEASE_MS + 2 * RETRY_MS + 200, `took over after ${took} ms`);
    assert.equal(electors.filter((e) => e.leading).length, 1);
  });

  it('a leader that stops cleanly hands the Lease over at once', async () => {
    const leader = electors.find((e) => e.leading)!;
    dead.add(leader);
    const t0 = Date.now();
    await leader.stop();
    await until('the last candidate leads', () => electors.some((e) => !dead.has(e) && e.leading));
    assert.ok(Date.now() - t0 < LEASE_MS / 2, `took ${Date.now() - t0} ms: no wait for expiry`);
  });
});

const dead = new Set<LeaderElector>();
