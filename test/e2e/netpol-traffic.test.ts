/**
 * Kubernetes NetworkPolicy semantics with real traffic (`romana-agent --policy-mode
 * kubernetes`): the upstream test model (netpol-model.ts), one fabric for every case; each case
 * sets NetworkPolicies and labels in the test Kubernetes API server (the listener carries them
 * into romanad) and compares all 81 pairs on TCP/UDP 80 and 81
 * with the oracle (src/policy/evaluate.ts).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { KubePeer, KubePolicy, KubePort, LabelSelector } from '../../src/policy/kube-model.ts';
import { netnsPath } from '../helpers/netns.ts';
import { sleep, until } from '../helpers/fabric.ts';
import { Model } from './netpol-model.ts';

const m = new Model(`np${process.pid % 100000}`);

let n = 0;
/** A policy in namespace `ns` (ids kept unique so every case starts clean). */
function policy(
  ns: string,
  spec: Omit<KubePolicy, 'id' | 'namespace'>,
  name = `p${n++}`,
): KubePolicy {
  return { id: `kube.${ns}.${name}`, namespace: ns, ...spec };
}
const pod = (p: string): LabelSelector => ({ matchLabels: { pod: p } });
const nsSel = (v: string): LabelSelector => ({ matchLabels: { ns: v } });
const tcp = (port: number | string, endPort?: number): KubePort =>
  endPort === undefined ? { protocol: 'TCP', port } : { protocol: 'TCP', port, endPort };

async function check(what: string, policies: KubePolicy[]): Promise<void> {
  await m.setPolicies(policies);
  await m.expectModel(what);
}

describe(
  'NetworkPolicy on real traffic (upstream model, 9 pods on 2 hosts)',
  { timeout: 300_000 },
  () => {
    before(() => m.start());
    after(() => m.close());

    it('no policy: every pod reaches every pod', () => check('allow all', []));

    it('default-deny ingress in x; then default-deny all (ingress and egress) in x', async () => {
      await check('deny ingress x', [policy('x', { podSelector: {}, policyTypes: ['Ingress'] })]);
      await check('deny all x', [
        policy('x', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] }),
      ]);
    });

    it('podSelector peer: x/a takes only x/b', () =>
      check('podSelector', [
        policy('x', {
          podSelector: pod('a'),
          ingress: [{ from: [{ podSelector: pod('b') }], ports: [] }],
        }),
      ]));

    it('namespaceSelector peer: x/a takes only namespace y', () =>
      check('namespaceSelector', [
        policy('x', {
          podSelector: pod('a'),
          ingress: [{ from: [{ namespaceSelector: nsSel('y') }], ports: [] }],
        }),
      ]));

    it('matchExpressions on pods and on namespaces', () =>
      check('matchExpressions', [
        policy('x', {
          podSelector: { matchExpressions: [{ key: 'pod', operator: 'In', values: ['a', 'b'] }] },
          ingress: [
            {
              from: [
                {
                  namespaceSelector: {
                    matchExpressions: [
                      { key: 'ns', operator: 'NotIn', values: ['y'] },
                      { key: 'team', operator: 'NotIn', values: ['red'] },
                    ],
                  },
                  podSelector: {
                    matchExpressions: [
                      { key: 'pod', operator: 'Exists' },
                      { key: 'pod', operator: 'NotIn', values: ['c'] },
                    ],
                  },
                },
              ],
              ports: [],
            },
          ],
        }),
      ]));

    it('podSelector AND namespaceSelector in one peer; OR as two peers; stacked policies', async () => {
      await check('AND', [
        policy('x', {
          podSelector: pod('a'),
          ingress: [
            { from: [{ namespaceSelector: nsSel('y'), podSelector: pod('b') }], ports: [] },
          ],
        }),
      ]);
      await check('OR', [
        policy('x', {
          podSelector: pod('a'),
          ingress: [
            { from: [{ namespaceSelector: nsSel('y') }, { podSelector: pod('b') }], ports: [] },
          ],
        }),
      ]);
      await check('stacked', [
        policy('x', {
          podSelector: pod('a'),
          ingress: [{ from: [{ podSelector: pod('b') }], ports: [tcp(80)] }],
        }),
        policy('x', {
          podSelector: {},
          ingress: [{ from: [{ namespaceSelector: nsSel('z') }], ports: [tcp(81)] }],
        }),
      ]);
    });

    it('ports: numbers, names (ingress and egress), endPort ranges, UDP only blocks TCP', async () => {
      await check('TCP 81 only', [
        policy('x', { podSelector: pod('a'), ingress: [{ from: [], ports: [tcp(81)] }] }),
      ]);
      await check('named ingress from a namespace', [
        policy('x', {
          podSelector: {},
          ingress: [
            {
              from: [{ namespaceSelector: nsSel('y') }],
              ports: [tcp('serve-80-tcp'), { protocol: 'UDP', port: 'serve-81-udp' }],
            },
          ],
        }),
      ]);
      await check('named egress', [
        policy('y', {
          podSelector: pod('a'),
          policyTypes: ['Egress'],
          egress: [{ to: [], ports: [{ protocol: 'UDP', port: 'serve-80-udp' }] }],
        }),
      ]);
      await check('endPort', [
        policy('z', {
          podSelector: {},
          ingress: [{ from: [], ports: [tcp(79, 80), { protocol: 'UDP', port: 81, endPort: 90 }] }],
        }),
      ]);
      await check('UDP only', [
        policy('x', { podSelector: {}, ingress: [{ from: [], ports: [{ protocol: 'UDP' }] }] }),
      ]);
    });

    it('egress: denied by pod and by namespace, to a namespace only, with ingress together; allow-all wins', async () => {
      await check('deny egress of y/b', [
        policy('y', { podSelector: pod('b'), policyTypes: ['Egress'] }),
      ]);
      await check('deny egress of every pod of namespace y', [
        policy('y', { podSelector: {}, policyTypes: ['Egress'] }),
      ]);
      await check('egress to namespace z only', [
        policy('y', {
          podSelector: {},
          egress: [{ to: [{ namespaceSelector: nsSel('z') }], ports: [] }],
        }),
      ]);
      await check('ingress and egress together', [
        policy('x', {
          podSelector: pod('c'),
          policyTypes: ['Ingress', 'Egress'],
          ingress: [{ from: [{ podSelector: {} }], ports: [] }],
          egress: [{ to: [{ namespaceSelector: {}, podSelector: pod('a') }], ports: [] }],
        }),
      ]);
      await check('allow-all over deny', [
        policy('x', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] }),
        policy('x', {
          podSelector: {},
          ingress: [{ from: [], ports: [] }],
          egress: [{ to: [], ports: [] }],
        }),
      ]);
    });

    it('CIDR egress with except, overlapping blocks; the metadata.name namespace label', async () => {
      const ip = (k: string) => m.pods.get(k)!.ip;
      await check('CIDR except', [
        policy('z', {
          podSelector: pod('c'),
          policyTypes: ['Egress'],
          egress: [
            {
              to: [
                {
                  ipBlock: { cidr: '10.66.0.0/16', except: [`${ip('x/b')}/32`, `${ip('y/a')}/32`] },
                },
              ],
              ports: [],
            },
            { to: [{ ipBlock: { cidr: `${ip('y/a')}/32` } }], ports: [tcp(81)] },
          ],
        }),
      ]);
      await check('metadata.name', [
        policy('y', {
          podSelector: {},
          ingress: [
            {
              from: [
                { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'z' } } },
              ],
              ports: [],
            },
          ],
        }),
      ]);
    });

    it('a policy update and deletion, a pod label update, a namespace label update apply', async () => {
      const p = policy(
        'x',
        { podSelector: pod('a'), ingress: [{ from: [{ podSelector: pod('b') }], ports: [] }] },
        'upd',
      );
      await check('before update', [p]);
      await check('after update', [
        { ...p, ingress: [{ from: [{ podSelector: pod('c') }], ports: [tcp(80)] }] },
      ]);
      await m.setPodLabels('x/b', { pod: 'c' });
      await m.expectModel('x/b relabelled pod=c');
      await m.setPodLabels('x/b', { pod: 'b' });
      await m.setNamespaceLabels('y', { ns: 'y', team: 'red' });
      await m.setPolicies([
        policy('x', {
          podSelector: {},
          ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'red' } } }], ports: [] }],
        }),
      ]);
      await m.expectModel('namespace y team=red');
      await m.setNamespaceLabels('z', { ns: 'z', team: 'red' });
      await m.expectModel('namespace z labelled team=red too');
      await m.setNamespaceLabels('y', { ns: 'y' });
      await m.setNamespaceLabels('z', { ns: 'z' });
      await check('deleted', []);
    });

    it('an established connection survives a policy that denies new ones; new ones are refused', async () => {
      await m.setPolicies([]);
      const server = m.f.spawnInPod('xa', ['socat', 'TCP-LISTEN:82,reuseaddr,fork', 'EXEC:cat']);
      assert.ok(server.pid);
      await until('the echo server in x/a', () =>
        String(m.f.inPod('xa', ['ss', '-lnt']).stdout).includes(':82 '),
      );
      const target = `TCP:${m.pods.get('x/a')!.ip}:82`;
      const conn = spawn('nsenter', [
        `--net=${netnsPath(`${m.f.prefix}-ya`)}`,
        'socat',
        '-',
        target,
      ]);
      let echoed = '';
      conn.stdout.setEncoding('utf8').on('data', (d: string) => (echoed += d));
      const roundTrip = async (word: string) => {
        conn.stdin.write(`${word}\n`);
        for (let i = 0; i < 50 && !echoed.includes(word); i++) await sleep(100);
        return echoed.includes(word);
      };
      try {
        for (let i = 0; i < 30 && !(await roundTrip('one')); i++) await sleep(200);
        assert.ok(echoed.includes('one'), 'the connection works before the policy');
        await check('deny ingress x', [policy('x', { podSelector: {}, policyTypes: ['Ingress'] })]);
        assert.equal(await roundTrip('two'), true, 'the established connection still carries data');
      } finally {
        conn.kill('SIGKILL');
        server.kill('SIGKILL');
      }
    });

    it('property: random policies over the 9 pods agree with the oracle', async () => {
      const label = fc.constantFrom('a', 'b', 'c');
      const nsName = fc.constantFrom('x', 'y', 'z');
      const selector: fc.Arbitrary<LabelSelector> = fc.oneof(
        fc.constant({}),
        label.map((v) => pod(v)),
        fc.subarray(['a', 'b', 'c'], { minLength: 1 }).map((vs) => ({
          matchExpressions: [{ key: 'pod', operator: 'NotIn' as const, values: vs }],
        })),
      );
      const peer: fc.Arbitrary<KubePeer> = fc.oneof(
        selector.map((s) => ({ podSelector: s })),
        nsName.map((v) => ({ namespaceSelector: nsSel(v) })),
        fc
          .tuple(nsName, selector)
          .map(([v, s]) => ({ namespaceSelector: nsSel(v), podSelector: s })),
      );
      const ports = fc.subarray<KubePort>([
        tcp(80),
        { protocol: 'UDP', port: 81 },
        tcp('serve-81-tcp'),
      ]);
      const rule = fc.record({ peers: fc.array(peer, { maxLength: 2 }), ports });
      const pol = fc.record({
        ns: nsName,
        podSelector: selector,
        types: fc.constantFrom(['Ingress'], ['Egress'], ['Ingress', 'Egress']) as fc.Arbitrary<
          ('Ingress' | 'Egress')[]
        >,
        ingress: fc.array(rule, { maxLength: 2 }),
        egress: fc.array(rule, { maxLength: 2 }),
      });
      await fc.assert(
        fc.asyncProperty(fc.array(pol, { minLength: 1, maxLength: 3 }), async (ps) => {
          const policies = ps.map((p) =>
            policy(p.ns, {
              podSelector: p.podSelector,
              policyTypes: p.types,
              ingress: p.ingress.map((r) => ({ from: r.peers, ports: r.ports })),
              egress: p.egress.map((r) => ({ to: r.peers, ports: r.ports })),
            }),
          );
          await check(`random ${JSON.stringify(policies)}`, policies);
        }),
        { numRuns: 4, seed: Number(process.env['NETPOL_SEED'] ?? 1127) },
      );
    });
  },
);
