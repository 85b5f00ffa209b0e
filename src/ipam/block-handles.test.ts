import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { replicaPair } from './ipam.fixtures.ts';
import { Ipam } from './ipam.ts';

/** Two engines with the same state: one reports through handles, the other by CIDR. */
const twins = (): [Ipam, Ipam] => replicaPair(30);

describe('touched blocks through handles', () => {
  it('report what takeTouchedBlocks reports, and stamp each block as setBlockRevision does', () => {
    const [a, b] = twins();
    for (const ipam of [a, b]) {
      // Four names fill h1's first /30 and open a second; h2 gets one; p2 goes away.
      for (const [name, host] of [
        ['p1', 'h1'],
        ['p2', 'h1'],
        ['p3', 'h1'],
        ['p4', 'h1'],
        ['p5', 'h1'],
        ['q1', 'h2'],
      ] as const) {
        ipam.allocate({ name, host, tenant: 't' });
      }
      ipam.release('p2');
    }
    const { changes, handles } = a.takeTouchedBlockHandles();
    const expected = b.takeTouchedBlocks();
    assert.deepEqual(changes, expected);
    assert.equal(handles.length, changes.length);
    assert.deepEqual(
      handles.map((h) => h.cidr),
      changes.map((c) => c.cidr),
      'one handle per change, in the same order',
    );
    assert.equal(changes.length, 3);
    assert.deepEqual(a.takeTouchedBlockHandles(), { changes: [], handles: [] }, 'cleared');

    const views = a.commitBlocks(handles, 42);
    for (const c of expected) b.setBlockRevision(c.network, c.cidr, 42);
    assert.deepEqual(
      views,
      expected.map((c) => b.getBlock(c.network, c.cidr)),
    );
    assert.deepEqual(
      views.map((v) => v.revision),
      [42, 42, 42],
    );
    assert.deepEqual(a.listAllBlocks(), b.listAllBlocks(), 'the engines agree');
  });
});
