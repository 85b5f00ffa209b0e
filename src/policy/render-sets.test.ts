import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { tenantSetName } from './hash.ts';
import {
  LOCAL_BLOCKS_SET,
  makeBlockSets,
  segmentSetName,
  targetValid,
  tenantListName,
  type RenderBlock,
} from './render-sets.ts';

const BLOCKS: RenderBlock[] = [
  { cidr: '10.0.0.0/28', tenant: 'T800', segment: 'john', host: 'host1' },
  { cidr: '10.1.0.0/28', tenant: 'T100k', segment: 'skynet', host: 'host1' },
  { cidr: '192.168.1.0/28', tenant: 'T34', segment: 'pirozhok', host: 'host2' },
];

describe('makeBlockSets (cases of the original enforcer)', () => {
  const sets = makeBlockSets(BLOCKS, 'host1');
  const byName = (n: string) => sets.find((s) => s.name === n);

  it("puts this host's blocks, and only them, in the local blocks set", () => {
    const local = byName(LOCAL_BLOCKS_SET)!;
    assert.ok(local.members.includes('10.0.0.0/28'));
    assert.ok(local.members.includes('10.1.0.0/28'));
    assert.ok(!local.members.includes('192.168.1.0/28'));
  });

  it('puts a block in its tenant/segment set', () => {
    assert.deepEqual(byName(tenantSetName('T800', 'john')), {
      name: tenantSetName('T800', 'john'),
      type: 'hash:net',
      members: ['10.0.0.0/28'],
    });
  });

  it("puts the segment set in its tenant's list:set", () => {
    const t = byName(tenantSetName('T800'))!;
    assert.equal(t.type, 'list:set');
    assert.ok(t.members.includes(tenantSetName('T800', 'john')));
  });

  it('makes sets for blocks of other hosts too (they are peers)', () => {
    assert.deepEqual(byName(tenantSetName('T34', 'pirozhok'))!.members, ['192.168.1.0/28']);
  });

  it('lists hash:net sets before list:set sets', () => {
    const types = sets.map((s) => s.type);
    assert.deepEqual(types, [...types].sort());
  });

  it('keeps a tenant-only block apart from the tenant list:set name', () => {
    const s = makeBlockSets([{ cidr: '10.2.0.0/28', tenant: 'solo', segment: '', host: 'h' }], 'h');
    const seg = segmentSetName('solo', '');
    assert.notEqual(seg, tenantSetName('solo'));
    assert.deepEqual(s.find((x) => x.name === tenantSetName('solo'))!.members, [seg]);
  });

  it('leaves blocks without tenant out of tenant sets but in the local set', () => {
    const s = makeBlockSets([{ cidr: '10.3.0.0/28', tenant: '', segment: '', host: 'h' }], 'h');
    assert.deepEqual(s, [{ name: LOCAL_BLOCKS_SET, type: 'hash:net', members: ['10.3.0.0/28'] }]);
  });
});

describe('makeBlockSets: order', () => {
  it('sorts hash sets, then list sets, by name, and the members of each', () => {
    const blocks: RenderBlock[] = [
      { cidr: '10.0.0.32/28', tenant: 't2', segment: 's1', host: 'h' },
      { cidr: '10.0.0.16/28', tenant: 't1', segment: 's2', host: 'other' },
      { cidr: '10.0.0.0/28', tenant: 't1', segment: 's1', host: 'h' },
      { cidr: '10.0.0.48/28', tenant: 't1', segment: 's1', host: 'h' },
      { cidr: '10.0.0.64/28', tenant: 't1', segment: 's1', host: 'h' },
      { cidr: '10.0.0.80/28', tenant: '', segment: '', host: 'h' },
    ];
    const byName = (a: { name: string }, b: { name: string }) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
    const hash = [
      {
        name: segmentSetName('t1', 's1'),
        type: 'hash:net',
        members: ['10.0.0.0/28', '10.0.0.48/28', '10.0.0.64/28'],
      },
      { name: segmentSetName('t1', 's2'), type: 'hash:net', members: ['10.0.0.16/28'] },
      { name: segmentSetName('t2', 's1'), type: 'hash:net', members: ['10.0.0.32/28'] },
      {
        name: LOCAL_BLOCKS_SET,
        type: 'hash:net',
        members: ['10.0.0.0/28', '10.0.0.32/28', '10.0.0.48/28', '10.0.0.64/28', '10.0.0.80/28'],
      },
    ].sort(byName);
    const list = [
      {
        name: tenantListName('t1'),
        type: 'list:set',
        members: [segmentSetName('t1', 's1'), segmentSetName('t1', 's2')].sort(),
      },
      { name: tenantListName('t2'), type: 'list:set', members: [segmentSetName('t2', 's1')] },
    ].sort(byName);
    for (const order of [blocks, [...blocks].reverse()]) {
      assert.deepEqual(makeBlockSets(order, 'h'), [...hash, ...list]);
    }
  });
});

describe('targetValid (cases of the original enforcer)', () => {
  it('refuses a tenant target when there are no blocks', () => {
    assert.equal(targetValid({ tenant_id: 'T800' }, []), false);
  });
  it('accepts a non-tenant target', () => {
    assert.equal(targetValid({ dest: 'host' }, []), true);
  });
  it('refuses a tenant without a matching block', () => {
    assert.equal(targetValid({ tenant_id: 'T1000' }, BLOCKS), false);
  });
  it('refuses a tenant and segment without a matching segment', () => {
    assert.equal(targetValid({ tenant_id: 'T800', segment_id: 'sarah' }, BLOCKS), false);
  });
  it('accepts a tenant match without segment', () => {
    assert.equal(targetValid({ tenant_id: 'T800' }, BLOCKS), true);
  });
  it('accepts a tenant and segment match', () => {
    assert.equal(targetValid({ tenant_id: 'T800', segment_id: 'john' }, BLOCKS), true);
  });
});

describe('set names', () => {
  it('names each (tenant, segment) apart, even when tenant and segment join to the same text', () => {
    assert.equal(segmentSetName('ab', 'c'), tenantSetName('ab', 'c'));
    assert.equal(segmentSetName('a', 'bc'), tenantSetName('a', 'bc'));
    assert.notEqual(segmentSetName('a', 'bc'), segmentSetName('ab', 'c'));
    assert.equal(tenantListName('ab'), tenantSetName('ab'));
    assert.equal(segmentSetName('ab', ''), segmentSetName('ab', ''));
    assert.notEqual(segmentSetName('ab', ''), tenantListName('ab'));
  });

  it('names the set of a tenant without segment by the SHA-1 of tenant_<t>_segment_', () => {
    for (const tenant of ['solo', 'T800']) {
      const sha = createHash('sha1').update(`tenant_${tenant}_segment_`).digest('hex');
      assert.equal(segmentSetName(tenant, ''), `ROMANA-${sha.slice(0, 16)}`);
    }
  });
});
