import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { KubePolicy } from '../policy/index.ts';
import { KubeView, type AddressLike } from './policy-kube.ts';

const policies: KubePolicy[] = [
  {
    id: 'kube.x.a',
    namespace: 'x',
    podSelector: { matchLabels: { pod: 'a' } },
    ingress: [
      {
        from: [{ namespaceSelector: { matchLabels: { team: 'b' } } }],
        ports: [{ protocol: 'TCP', port: 'web' }],
      },
    ],
  },
  {
    id: 'kube.y.b',
    namespace: 'y',
    podSelector: {},
    policyTypes: ['Egress'],
    egress: [{ to: [{ podSelector: { matchLabels: { pod: 'b' } } }], ports: [] }],
  },
];
const extra: KubePolicy = {
  id: 'kube.z.c',
  namespace: 'z',
  podSelector: { matchLabels: { pod: 'c' } },
  ingress: [{ from: [{ podSelector: {} }], ports: [] }],
};

const address = (i: number, ns: string, pod: string, port: number): AddressLike => ({
  name: `p${i}`,
  ip: `10.0.0.${i + 1}`,
  tenant: ns,
  pod: {
    namespace: ns,
    name: `p${i}`,
    labels: { pod },
    ports: [{ name: 'web', port, protocol: 'TCP' }],
  },
});

describe('KubeView: sets kept current by events equal a fresh render', () => {
  it('after any sequence of pod and namespace events and a policy change', () => {
    const ns = fc.constantFrom('x', 'y', 'z');
    const label = fc.constantFrom('a', 'b', 'c');
    const event = fc.oneof(
      fc.record({
        kind: fc.constant('pod' as const),
        i: fc.nat(5),
        ns,
        label,
        port: fc.constantFrom(80, 81),
        gone: fc.boolean(),
      }),
      fc.record({ kind: fc.constant('ns' as const), ns, team: fc.option(label) }),
    );
    fc.assert(
      fc.property(fc.array(event, { maxLength: 12 }), (events) => {
        const live = new KubeView();
        live.replace(
          [address(0, 'x', 'a', 80), address(1, 'y', 'b', 81)],
          [{ name: 'y', labels: { team: 'b' } }],
        );
        live.render(policies, [], 'h');
        const addresses = new Map([
          [`p0`, address(0, 'x', 'a', 80)],
          [`p1`, address(1, 'y', 'b', 81)],
        ]);
        const namespaces = new Map<string, Record<string, string>>([['y', { team: 'b' }]]);
        for (const e of events) {
          if (e.kind === 'pod') {
            const a = address(e.i, e.ns, e.label, e.port);
            if (e.gone) addresses.delete(a.name);
            else addresses.set(a.name, a);
            live.apply('addresses', e.gone ? 'delete' : 'put', a.name, e.gone ? null : a);
          } else {
            const labels: Record<string, string> = e.team === null ? {} : { team: e.team };
            namespaces.set(e.ns, labels);
            live.apply('namespaces', 'put', e.ns, { name: e.ns, labels });
          }
        }
        const fresh = new KubeView();
        fresh.replace(
          [...addresses.values()],
          [...namespaces].map(([name, labels]) => ({ name, labels })),
        );
        const want = fresh.render([...policies, extra], [], 'h').sets;
        assert.deepEqual(live.render([...policies, extra], [], 'h').sets, want);
      }),
      { numRuns: 200 },
    );
  });
});

describe('KubeView: policies that cannot be enforced', () => {
  it('an invalid policy and a 2.x policy are skipped with their reasons; the others are enforced', () => {
    const v = new KubeView();
    v.replace([address(0, 'x', 'a', 80)], []);
    const bad = {
      ...extra,
      id: 'kube.z.bad',
      ingress: [{ from: [], ports: [{ protocol: 'ICMP' }] }],
    };
    const old = {
      id: 'old',
      applied_to: [{ tenant_id: 'x' }],
      ingress: [{ peers: [{ peer: 'any' }], rules: [{ protocol: 'tcp' }] }],
    };
    const d = v.render([...policies, bad as never, old as never], [], 'h');
    assert.deepEqual(
      d.skipped.map((s) => s.id),
      ['kube.z.bad', 'old'],
    );
    assert.match(
      d.skipped[0]!.problems[0]!,
      /^ingress\[0\]\.ports\[0\]\.protocol: must be one of TCP, UDP, SCTP/,
    );
    assert.equal(
      d.chains.filter((c) => /^ROMANA-K[IE]-/.test(c.name)).length,
      2,
      'the two valid policies',
    );
  });
});
