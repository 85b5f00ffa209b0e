/**
 * A 3-member etcd cluster whose members can be cut off from each other: each member runs in its
 * own network namespace on a bridge (in a namespace of its own too), and this namespace joins
 * the bridge through one veth, so tests reach every member's client port. `isolate(i)` drops
 * member i's peer traffic (port 2380) while its clients still reach it: the member stays up,
 * answers, and silently falls behind the cluster — the case keepalives cannot see.
 *
 * Addresses come from 198.18.0.0/15 (reserved for benchmarks), one /24 per test process.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { startEtcdCluster, type EtcdCluster } from './etcd.ts';
import { createNetns, netnsHandle, type TestNetns } from './netns.ts';

export interface PartitionableCluster {
  cluster: EtcdCluster;
  /** Client endpoint of each member. */
  endpoints: string[];
  /** Cuts member i off from the other members (clients still reach it). */
  isolate(i: number): void;
  /** Refuses (TCP reset) client connections to member i, or lets them in again. */
  refuseClients(i: number, refuse: boolean): void;
  /** Stops etcd and removes every namespace and link made. */
  stop(): Promise<void>;
}

export async function startPartitionableCluster(n = 3): Promise<PartitionableCluster> {
  const tag = `etp${process.pid % 100000}`;
  const net = `198.18.${process.pid % 250}`;
  const sw = `${tag}-sw`;
  const rootLink = `${tag}-r`;
  const namespaces: TestNetns[] = [];
  const ip = (...args: string[]) => execFileSync('ip', args);
  const addNs = (name: string) => {
    const ns = createNetns(name);
    namespaces.push(ns);
    return ns;
  };
  const cleanup = () => {
    spawnSync('ip', ['link', 'del', rootLink]);
    for (const ns of namespaces.reverse()) ns.remove();
  };
  const memberNs = (i: number) => `${tag}-m${i}`;
  const inNs = (i: number, ...argv: string[]) => netnsHandle(memberNs(i)).run(argv);
  try {
    const bridge = addNs(sw);
    bridge.ip('link', 'add', 'br0', 'type', 'bridge');
    bridge.ip('link', 'set', 'br0', 'up');
    ip('link', 'add', rootLink, 'type', 'veth', 'peer', 'name', 'p-root', 'netns', sw);
    bridge.ip('link', 'set', 'p-root', 'master', 'br0', 'up');
    ip('addr', 'add', `${net}.254/24`, 'dev', rootLink);
    ip('link', 'set', rootLink, 'up');
    for (let i = 0; i < n; i++) {
      addNs(memberNs(i));
      bridge.addVeth({
        name: `p-m${i}`,
        peer: 'eth0',
        peerNs: memberNs(i),
        peerAddress: `${net}.${i + 1}/24`,
      });
      bridge.ip('link', 'set', `p-m${i}`, 'master', 'br0');
    }
    const cluster = await startEtcdCluster(n, {
      placement: Array.from({ length: n }, (_, i) => ({
        netns: memberNs(i),
        ip: `${net}.${i + 1}`,
      })),
    });
    return {
      cluster,
      endpoints: cluster.endpoints,
      isolate: (i) => {
        for (const chain of ['INPUT', 'OUTPUT']) {
          for (const dir of ['--dport', '--sport']) {
            inNs(i, 'iptables', '-A', chain, '-p', 'tcp', dir, '2380', '-j', 'DROP');
          }
        }
      },
      refuseClients: (i, refuse) => {
        const rule = [
          'INPUT',
          '-p',
          'tcp',
          '--dport',
          '2379',
          '-j',
          'REJECT',
          '--reject-with',
          'tcp-reset',
        ];
        inNs(i, 'iptables', refuse ? '-A' : '-D', ...rule);
      },
      stop: async () => {
        await cluster.stopAll();
        cleanup();
      },
    };
  } catch (err) {
    cleanup();
    throw err;
  }
}
