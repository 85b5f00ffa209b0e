import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Policy } from '../client/index.ts';
import { allowed } from '../policy/evaluate.ts';
import type {
  KubeNamespace,
  KubePeer,
  KubePod,
  KubePolicy,
  LabelSelector,
} from '../policy/kube-model.ts';
import { validatePolicy } from '../policy/validate.ts';
import { closedForm } from './policy-sync.ts';

const NS = ['x', 'y'] as const;
const NAMES = ['a', 'b'] as const;
const pods: KubePod[] = NS.flatMap((ns, i) =>
  NAMES.map((n, j) => ({
    namespace: ns,
    name: n,
    ip: `10.9.${i}.${j + 2}`,
    labels: { pod: n },
    ports: [],
  })),
);
const namespaces: KubeNamespace[] = NS.map((name) => ({ name, labels: { ns: name } }));

const selector: fc.Arbitrary<LabelSelector> = fc.oneof(
  fc.constant({}),
  fc.constantFrom(...NAMES).map((v) => ({ matchLabels: { pod: v } })),
);
const peer: fc.Arbitrary<KubePeer> = fc.oneof(
  selector.map((s) => ({ podSelector: s })),
  fc.constantFrom(...NS).map((v) => ({ namespaceSelector: { matchLabels: { ns: v } } })),
  fc.constant<KubePeer>({ ipBlock: { cidr: '10.9.0.0/24', except: [] } }),
);
const rule = fc.record({ peers: fc.array(peer, { maxLength: 2 }), ports: fc.subarray([80, 81]) });
const policy = (id: number): fc.Arbitrary<KubePolicy> =>
  fc
    .record({
      ns: fc.constantFrom(...NS),
      podSelector: selector,
      types: fc.option(
        fc.constantFrom<('Ingress' | 'Egress')[]>(['Ingress'], ['Egress'], ['Ingress', 'Egress']),
      ),
      ingress: fc.array(rule, { maxLength: 2 }),
      egress: fc.array(rule, { maxLength: 2 }),
    })
    .map((p) => {
      const ports = (ps: number[]) =>
        ps.map((n) => ({ protocol: n === 80 ? ('TCP' as const) : ('UDP' as const), port: n }));
      return {
        id: `kube.${p.ns}.p${id}`,
        namespace: p.ns,
        podSelector: p.podSelector,
        ...(p.types === null ? {} : { policyTypes: p.types }),
        ingress: p.ingress.map((r) => ({ from: r.peers, ports: ports(r.ports) })),
        egress: p.egress.map((r) => ({ to: r.peers, ports: ports(r.ports) })),
      };
    });

/** What a set of policies allows, as the evaluator says, for every pod pair and port. */
function table(policies: KubePolicy[]): boolean[] {
  const out: boolean[] = [];
  for (const from of pods) {
    for (const to of pods) {
      for (const p of [80, 81]) {
        const proto = p === 80 ? 'TCP' : 'UDP';
        out.push(allowed(policies, pods, namespaces, from, to, p, proto));
      }
    }
  }
  return out;
}

describe('closedForm', () => {
  it('is valid, never allows more, and isolates what the policy isolates', () => {
    fc.assert(
      fc.property(
        fc.tuple(policy(0), policy(1), policy(2)),
        fc.subarray([0, 1, 2]),
        (ps, closedAt) => {
          const closed = ps.map((p, i) => {
            if (!closedAt.includes(i)) return p;
            const c = closedForm(p as Policy);
            assert.ok(c !== false && c !== undefined);
            const v = validatePolicy(c);
            assert.ok(v.ok, JSON.stringify(v));
            return v.policy as KubePolicy;
          });
          const full = table(ps);
          const narrowed = table(closed);
          narrowed.forEach((a, i) => assert.ok(!a || full[i], `cell ${i} widened`));
          // Isolation alone (every policy closed) is what each policy makes of its pods.
          const isolation = table(ps.map((p) => closedForm(p as Policy) as KubePolicy));
          const validated = ps.map((p) => {
            const v = validatePolicy(p);
            assert.ok(v.ok);
            return v.policy as KubePolicy;
          });
          const isolatedByOriginal = table(
            validated.map((p) => ({ ...p, ingress: [], egress: [] })),
          );
          assert.deepEqual(isolation, isolatedByOriginal);
        },
      ),
    );
  });

  it('2.x: an ingress policy is left out, an egress policy has none', () => {
    const base = { applied_to: [{ tenant_id: 't' }], ingress: [] };
    assert.equal(closedForm({ id: 'i', direction: 'ingress', ...base } as Policy), undefined);
    assert.equal(closedForm({ id: 'e', direction: 'egress', ...base } as Policy), false);
  });
});
