import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { policy, problemsOf, withEnds } from './validate.fixtures.ts';

type Json = Record<string, unknown>;

describe('validatePolicy: endpoints', () => {
  const T = { tenant_id: 't' };
  const cases: { name: string; target: unknown; peer: unknown; problems: string[] }[] = [
    {
      name: 'rejects a CIDR with host bits, naming the network',
      target: T,
      peer: { cidr: '10.1.2.3/16' },
      problems: [
        "ingress[0].peers[0].cidr: '10.1.2.3/16' has host bits set; the network address of that /16 is 10.1.0.0/16",
      ],
    },
    {
      name: 'rejects text that is not a CIDR',
      target: T,
      peer: { cidr: '10.0.0.0' },
      problems: ["ingress[0].peers[0].cidr: '10.0.0.0' is not a CIDR (expected a.b.c.d/n)"],
    },
    {
      name: 'rejects an unknown peer word',
      target: T,
      peer: { peer: 'all' },
      problems: [
        "ingress[0].peers[0].peer: must be 'any', 'local' or 'host', got 'all'",
        'ingress[0].peers[0]: invalid combination of target=tenant, peer=unknown, direction=ingress',
      ],
    },
    {
      name: 'rejects an unknown dest word',
      target: { dest: 'remote' },
      peer: { tenant_id: 't' },
      problems: [
        "applied_to[0].dest: must be 'local' or 'host', got 'remote'",
        'ingress[0].peers[0]: invalid combination of target=unknown, peer=tenant, direction=ingress',
      ],
    },
    {
      name: 'rejects an endpoint that says two things',
      target: T,
      peer: { peer: 'any', cidr: '10.0.0.0/8' },
      problems: [
        'ingress[0].peers[0]: ambiguous endpoint: give only one of peer, cidr, dest or tenant_id, got peer and cidr',
      ],
    },
    {
      name: 'rejects an empty endpoint',
      target: {},
      peer: { peer: 'any' },
      problems: ['applied_to[0]: empty endpoint: give one of peer, cidr, dest or tenant_id'],
    },
    {
      name: 'rejects a segment without its tenant',
      target: { segment_id: 's' },
      peer: { peer: 'any' },
      problems: ['applied_to[0].segment_id: needs tenant_id (a segment belongs to a tenant)'],
    },
    {
      name: 'rejects a tenant that is not a string',
      target: { tenant_id: 5 },
      peer: { peer: 'any' },
      problems: [
        'applied_to[0].tenant_id: must be a string, got number 5',
        'applied_to[0]: empty endpoint: give one of peer, cidr, dest or tenant_id',
      ],
    },
    {
      name: 'rejects an endpoint that is not an object',
      target: T,
      peer: 'any',
      problems: ["ingress[0].peers[0]: must be an object, got the string 'any'"],
    },
  ];
  for (const c of cases) {
    it(`${c.name}`, () => assert.deepEqual(problemsOf(withEnds(c.target, c.peer)), c.problems));
  }
});

describe('validatePolicy: target and peer combinations (rule 2)', () => {
  const cases: { target: Json; peer: Json; direction: string; problem?: string }[] = [
    { target: { tenant_id: 't' }, peer: { peer: 'any' }, direction: 'egress' },
    {
      target: { tenant_id: 't', segment_id: 's' },
      peer: { cidr: '0.0.0.0/0' },
      direction: 'egress',
    },
    { target: { dest: 'host' }, peer: { peer: 'local' }, direction: 'ingress' },
    { target: { dest: 'host' }, peer: { tenant_id: 't' }, direction: 'ingress' },
    {
      target: { dest: 'host' },
      peer: { tenant_id: 't' },
      direction: 'egress',
      problem: 'invalid combination of target=host, peer=tenant, direction=egress',
    },
    {
      target: { tenant_id: 't' },
      peer: { peer: 'host' },
      direction: 'ingress',
      problem: 'invalid combination of target=tenant, peer=host, direction=ingress',
    },
    {
      target: { dest: 'local' },
      peer: { peer: 'host' },
      direction: 'ingress',
      problem: 'invalid combination of target=local, peer=host, direction=ingress',
    },
    {
      target: { cidr: '10.0.0.0/8' },
      peer: { peer: 'any' },
      direction: 'ingress',
      problem: 'invalid combination of target=unknown, peer=any, direction=ingress',
    },
    {
      target: { dest: 'host' },
      peer: { cidr: '10.0.0.0/8' },
      direction: 'ingress',
      problem: 'invalid combination of target=host, peer=cidr, direction=ingress',
    },
  ];
  for (const c of cases) {
    const what = `${c.direction} to ${JSON.stringify(c.target)} from ${JSON.stringify(c.peer)}`;
    it(`${c.problem ? 'rejects' : 'accepts'} ${what}`, () => {
      const expected = c.problem ? [`ingress[0].peers[0]: ${c.problem}`] : [];
      assert.deepEqual(problemsOf(withEnds(c.target, c.peer, c.direction)), expected);
    });
  }

  it('checks every target against every peer of every entry, naming the peer', () => {
    const input = policy({
      applied_to: [{ tenant_id: 't' }, { dest: 'host' }],
      ingress: [
        { peers: [{ peer: 'any' }], rules: [{ protocol: 'tcp' }] },
        { peers: [{ tenant_id: 'u' }, { peer: 'host' }], rules: [{ protocol: 'udp' }] },
      ],
    });
    assert.deepEqual(problemsOf(input), [
      'ingress[1].peers[1]: invalid combination of target=tenant, peer=host, direction=ingress',
      'ingress[0].peers[0]: invalid combination of target=host, peer=any, direction=ingress',
      'ingress[1].peers[1]: invalid combination of target=host, peer=host, direction=ingress',
    ]);
  });
});
