/**
 * `romana-listener`: follows a Kubernetes cluster into romanad. Nodes become hosts, namespaces
 * carry their labels, pod addresses are linked to their pods (labels, ports) and released when
 * their pod is gone, and Services annotated `romana.io/vip` get a VIP. Several replicas may run:
 * one holds the leader Lease and acts, the others wait warm.
 */
import { readFileSync } from 'node:fs';
import { CoordinationV1Api } from '@kubernetes/client-node';
import { Command } from 'commander';
import { pino } from 'pino';
import { readTokenFile } from '../client/token-file.ts';
import { RomanadClient } from '../client/index.ts';
import { VERSION } from '../version.ts';
import { readBooleanEnv } from '../env-flags.ts';
import { runProgram } from '../program.ts';
import { declareFlags, listenAddress, type Flags } from './flags.ts';
import { loadKubeConfig } from './informer.ts';
import { LeaderElector } from './leader.ts';
import { Listener } from './listener.ts';
import { ListenerMetrics, serveProbes } from './metrics.ts';

async function run(f: Flags): Promise<number> {
  if (f.leaderElect && f.renewDeadline >= f.leaseDuration) {
    process.stderr.write(
      `romana-listener: --renew-deadline (${f.renewDeadline} ms) must be shorter than --lease-duration (${f.leaseDuration} ms)\n`,
    );
    return 2;
  }
  const log = pino({ level: f.logLevel, base: { program: 'romana-listener', id: f.identity } });
  const { host, port } = listenAddress(f.listen);
  const kc = loadKubeConfig(f.kubeconfig);
  const token =
    f.tokenFile === undefined
      ? undefined
      : readTokenFile(f.tokenFile, '--token-file', (msg) => log.warn(msg));
  const ca = f.caFile === undefined ? undefined : readFileSync(f.caFile);
  const transport = { token, ca };
  const client = new RomanadClient({ baseUrl: f.romanadUrl, ...transport, timeoutMs: 15_000 });
  const metrics = new ListenerMetrics();
  const listener = new Listener({
    kc,
    client,
    romanadUrl: f.romanadUrl,
    transport,
    log,
    metrics,
    nodeHost: {
      addressTypes: f.nodeAddressTypes,
      labelTags: f.labelTag,
      copyLabels: f.copyNodeLabels,
      infoPaths: f.nodeInfoPaths,
    },
    gcGraceMs: f.gcGrace,
    nodeGraceMs: f.nodeGrace,
    resyncMs: f.resyncInterval,
    vipPool: f.vipCidr,
    networkPolicies: f.networkPolicies,
  });
  const probes = await serveProbes(metrics, host, port, () => listener.notReady());
  log.info(
    {
      url: probes.url,
      cluster: kc.getCurrentCluster()?.server,
      romanad: f.romanadUrl,
      leaderElect: f.leaderElect,
    },
    `romana-listener ${VERSION} listening on ${probes.url}`,
  );
  await listener.start();
  const lead = () => {
    metrics.leader.set(1);
    log.info({ identity: f.identity }, 'leading: acting on the cluster');
    void listener.lead();
  };
  const follow = () => {
    metrics.leader.set(0);
    log.info({ identity: f.identity }, 'not leading: standing by');
    listener.follow();
  };
  const elector = f.leaderElect
    ? new LeaderElector({
        api: kc.makeApiClient(CoordinationV1Api),
        namespace: f.leaseNamespace,
        name: f.leaseName,
        identity: f.identity,
        leaseDurationMs: f.leaseDuration,
        renewDeadlineMs: f.renewDeadline,
        retryPeriodMs: f.retryPeriod,
        onStartedLeading: lead,
        onStoppedLeading: follow,
        onError: (err) => {
          metrics.errors.inc({ where: 'leader-election' });
          log.warn({ err: String(err) }, 'leader election: Lease call failed');
        },
      })
    : undefined;
  if (elector) elector.start();
  else lead();
  return new Promise((resolve) => {
    const stop = async () => {
      log.info('stopping');
      listener.follow();
      await elector?.stop();
      await listener.stop();
      probes.server.close();
      probes.server.closeAllConnections();
      resolve(0);
    };
    process.once('SIGTERM', () => void stop());
    process.once('SIGINT', () => void stop());
  });
}

const DESCRIPTION = `What it does:
  nodes       → hosts (IP by address type, tags from labels, k8s_info); a deleted node's host
                is removed once its addresses are gone; hosts it did not create are never touched
  namespaces  → PUT /namespaces/{name} with their labels
  pods        → each pod address linked to its pod (labels, container ports); an address whose
                pod is gone is released after --gc-grace, a finished pod's at once
  NetworkPolicies → romanad policies kube.<namespace>.<name> (created, edited, deleted)
  services    → annotation romana.io/vip {"ip":"a.b.c.d"} or {"auto":true} (from --vip-cidr,
                else the topology's vip_cidr):
                a VIP on a Ready node with a ready endpoint, in spec.externalIPs
Several replicas may run: the holder of the Lease --lease-namespace/--lease-name acts.
Durations: 500ms, 10s, 5m, 1h (a plain number is seconds). Every flag is also an environment
variable ROMANA_LISTENER_<FLAG> (e.g. ROMANA_LISTENER_ROMANAD_URL).`;

/** Exit statuses: 0 done, 1 failure, 2 bad usage. */
export async function main(argv: string[]): Promise<number> {
  const program = declareFlags(new Command('romana-listener'))
    .description('Follows a Kubernetes cluster into romanad (see docs/listener.md)')
    .addHelpText('after', `\n${DESCRIPTION}`)
    .version(`romana-listener ${VERSION}`, '--version', 'print the version')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .hook('preAction', () => readBooleanEnv(program));
  let code = 0;
  program.action(async (f: Flags) => {
    code = await run(f);
  });
  return runProgram(program, argv, () => code);
}
