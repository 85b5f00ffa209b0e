/**
 * Policy validation at its edges: each problem said once and only where it belongs (a broken
 * part is not blamed again by the checks that follow), and the 2.x-only reader's answers.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validatePolicies, validateRomanaPolicy } from './validate.ts';
import { policy, problemsOf } from './validate.fixtures.ts';

describe('validatePolicy: each problem once, where it belongs', () => {
  it('says an unknown direction only, without judging targets and peers against it', () => {
    assert.deepEqual(
      problemsOf(policy({ direction: 'sideways', applied_to: [{ dest: 'host' }] })),
      ["direction: must be 'ingress' or 'egress', got 'sideways'"],
    );
  });

  it('does not judge the combination of a peer that is already refused', () => {
    // host ← any is not a valid combination, but the peer's own problem says it all.
    const input = policy({
      applied_to: [{ dest: 'host' }],
      ingress: [{ peers: [{ peer: 'any', cidr: '10.0.0.0/8' }], rules: [{ protocol: 'tcp' }] }],
    });
    assert.deepEqual(problemsOf(input), [
      'ingress[0].peers[0]: ambiguous endpoint: give only one of peer, cidr, dest or tenant_id, got peer and cidr',
    ]);
  });

  it('says a combination once per kind of target when several targets meet the same peer', () => {
    const input = policy({
      applied_to: [{ tenant_id: 't' }, { tenant_id: 'u' }, { tenant_id: 'v', segment_id: 's' }],
      ingress: [{ peers: [{ peer: 'host' }], rules: [{ protocol: 'tcp' }] }],
    });
    assert.deepEqual(problemsOf(input), [
      'ingress[0].peers[0]: invalid combination of target=tenant, peer=host, direction=ingress',
      'ingress[0].peers[0]: invalid combination of target=tenant-segment, peer=host, direction=ingress',
    ]);
  });

  it('finds no family mismatch in an entry without peers (its own problem is enough)', () => {
    assert.deepEqual(
      problemsOf(policy({ ingress: [{ peers: [], rules: [{ protocol: 'icmp' }] }] })),
      ['ingress[0].peers: field empty; an ingress entry needs at least one peer'],
    );
  });

  it('judges the family of CIDR peers only, not the CIDR of a peer that is another kind', () => {
    const input = policy({
      ingress: [{ peers: [{ peer: 'any', cidr: '10.0.0.0/8' }], rules: [{ protocol: 'icmpv6' }] }],
    });
    assert.deepEqual(problemsOf(input), [
      'ingress[0].peers[0]: ambiguous endpoint: give only one of peer, cidr, dest or tenant_id, got peer and cidr',
    ]);
  });

  it('lists every peer of the other family when a one-family rule can never match', () => {
    const input = policy({
      ingress: [
        {
          peers: [{ cidr: '2001:db8::/32' }, { cidr: 'fd00::/8' }],
          rules: [{ protocol: 'icmp' }],
        },
      ],
    });
    assert.deepEqual(problemsOf(input), [
      "ingress[0].rules[0].protocol: 'icmp' is enforced on IPv4 only, but every peer of this entry is an IPv6 CIDR (2001:db8::/32, fd00::/8): the rule could never match; use 'icmpv6' or an IPv4 peer",
    ]);
  });
});

describe('validatePolicies: ids', () => {
  it('does not call two policies without an id duplicates: each lacks one', () => {
    const v = validatePolicies([policy({ id: undefined }), policy({ id: undefined })]);
    assert.deepEqual(v, { ok: false, problems: ['[0].id: is required', '[1].id: is required'] });
  });
});

describe('validateRomanaPolicy', () => {
  it('returns a valid 2.x policy in normal form', () => {
    assert.deepEqual(validateRomanaPolicy(policy({ description: '' })), {
      ok: true,
      policy: {
        id: 'allow-web',
        direction: 'ingress',
        applied_to: [{ tenant_id: 'tenant-a', segment_id: 'backend' }],
        ingress: [{ peers: [{ peer: 'any' }], rules: [{ protocol: 'tcp', ports: [80] }] }],
      },
    });
  });

  it('refuses a Kubernetes-form policy, naming its fields as unknown', () => {
    assert.deepEqual(validateRomanaPolicy({ ...policy(), podSelector: {} }), {
      ok: false,
      problems: [
        'podSelector: unknown field (known: id, direction, description, applied_to, ingress, peers, rules)',
      ],
    });
  });

  it('refuses input that is not an object as the whole policy', () => {
    const v = validateRomanaPolicy(42);
    assert.equal(v.ok, false);
    assert.ok(
      !v.ok && v.problems.length === 1 && v.problems[0]!.startsWith('policy: '),
      String(!v.ok && v.problems),
    );
    assert.deepEqual(validateRomanaPolicy(policy({ id: '' })), {
      ok: false,
      problems: ['id: required, must not be empty'],
    });
  });
});
