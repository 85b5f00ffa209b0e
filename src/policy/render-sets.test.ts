import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tenantSetName } from './hash.ts';
import {
  LOCAL_BLOCKS_SET,
  makeBlockSets,
  segmentSetName,
  targetValid,
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
