import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DIRECTIONS,
  VALID_COMBINATIONS,
  isValidCombination,
  peerTypeOf,
  targetTypeOf,
  type Endpoint,
  type PeerType,
  type TargetType,
} from './model.ts';

describe('targetTypeOf', () => {
  const cases: { endpoint: Endpoint; type: TargetType; why: string }[] = [
    { endpoint: { dest: 'local' }, type: 'local', why: 'dest local' },
    { endpoint: { dest: 'host' }, type: 'host', why: 'dest host' },
    { endpoint: { tenant_id: 't' }, type: 'tenant', why: 'a tenant alone' },
    {
      endpoint: { tenant_id: 't', segment_id: 's' },
      type: 'tenant-segment',
      why: 'tenant and segment',
    },
    { endpoint: { dest: 'host', tenant_id: 't' }, type: 'host', why: 'dest before tenant' },
    {
      endpoint: { tenant_id: '', segment_id: 's' },
      type: 'unknown',
      why: 'an empty tenant (absent)',
    },
    {
      endpoint: { tenant_id: 't', segment_id: '' },
      type: 'tenant',
      why: 'an empty segment (absent)',
    },
    { endpoint: { cidr: '10.0.0.0/8' }, type: 'unknown', why: 'a cidr (never a target)' },
    { endpoint: { peer: 'any' }, type: 'unknown', why: 'a peer field (not looked at)' },
    { endpoint: { dest: 'elsewhere' }, type: 'unknown', why: 'an unknown dest' },
    { endpoint: {}, type: 'unknown', why: 'an empty endpoint' },
  ];
  for (const c of cases) {
    it(`classifies ${c.why} as ${c.type}`, () => {
      assert.equal(targetTypeOf(c.endpoint), c.type);
    });
  }
});

describe('peerTypeOf', () => {
  const cases: { endpoint: Endpoint; type: PeerType; why: string }[] = [
    { endpoint: { peer: 'local' }, type: 'local', why: 'peer local' },
    { endpoint: { peer: 'host' }, type: 'host', why: 'peer host' },
    { endpoint: { peer: 'any' }, type: 'any', why: 'peer any' },
    { endpoint: { cidr: '10.0.0.0/8' }, type: 'cidr', why: 'a cidr' },
    { endpoint: { tenant_id: 't' }, type: 'tenant', why: 'a tenant alone' },
    {
      endpoint: { tenant_id: 't', segment_id: 's' },
      type: 'tenant-segment',
      why: 'tenant and segment',
    },
    { endpoint: { peer: 'any', cidr: '10.0.0.0/8' }, type: 'any', why: 'peer before cidr' },
    { endpoint: { cidr: '10.0.0.0/8', tenant_id: 't' }, type: 'cidr', why: 'cidr before tenant' },
    {
      endpoint: { peer: 'all', tenant_id: 't' },
      type: 'tenant',
      why: 'an unknown peer word (falls through)',
    },
    { endpoint: { dest: 'host' }, type: 'unknown', why: 'a dest field (not looked at)' },
    { endpoint: {}, type: 'unknown', why: 'an empty endpoint' },
  ];
  for (const c of cases) {
    it(`classifies ${c.why} as ${c.type}`, () => {
      assert.equal(peerTypeOf(c.endpoint), c.type);
    });
  }
});

describe('the combination table', () => {
  const TARGETS: TargetType[] = ['local', 'host', 'tenant', 'tenant-segment', 'unknown'];
  const PEERS: PeerType[] = ['local', 'host', 'any', 'cidr', 'tenant', 'tenant-segment', 'unknown'];
  const tenantTargets = new Set<TargetType>(['tenant', 'tenant-segment']);
  const tenantTargetPeers = new Set<PeerType>(['any', 'cidr', 'tenant', 'tenant-segment']);
  const hostTargetPeers = new Set<PeerType>(['tenant', 'tenant-segment', 'local']);

  /** §6.3 in words: both directions for tenant targets; ingress only for the host target. */
  function expected(direction: string, target: TargetType, peer: PeerType): boolean {
    if (tenantTargets.has(target)) return tenantTargetPeers.has(peer);
    return direction === 'ingress' && target === 'host' && hostTargetPeers.has(peer);
  }

  for (const direction of DIRECTIONS) {
    for (const target of TARGETS) {
      for (const peer of PEERS) {
        const ok = expected(direction, target, peer);
        it(`${ok ? 'translates' : 'rejects'} ${direction} to a ${target} target from a ${peer} peer`, () => {
          assert.equal(isValidCombination(direction, target, peer), ok);
        });
      }
    }
  }

  it('lists each valid combination once', () => {
    const keys = VALID_COMBINATIONS.map((c) => `${c.direction}/${c.target}/${c.peer}`);
    assert.equal(new Set(keys).size, keys.length);
    assert.equal(keys.length, 19);
  });
});
