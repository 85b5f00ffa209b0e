/** Which groups the tree opens at first: whole levels, within a budget of rows. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { GroupView } from './model.ts';
import { defaultOpen, fillColour } from './tree.tsx';

/** A group of `kids` subgroups (each of `hosts` hosts), keys `z<i>` and `z<i>/r<j>`. */
function shape(zones: number, racks: number, hosts: number): GroupView {
  const g = (key: string, depth: number, groups: GroupView[], n: number): GroupView => ({
    key,
    name: key,
    cidr: '',
    network: 'pods',
    depth,
    groups,
    hosts: Array.from({ length: n }, (_, i) => ({
      name: `${key}-h${i}`,
      ip: '',
      blocks: [],
      usage: { blocks: 0, allocated: 0, capacity: 0 },
    })),
    hostCount: 0,
    groupCount: 0,
    usage: { blocks: 0, allocated: 0, capacity: 0 },
  });
  const zs = Array.from({ length: zones }, (_, z) =>
    g(
      `z${z}`,
      1,
      Array.from({ length: racks }, (_, r) => g(`z${z}/r${r}`, 2, [], hosts)),
      0,
    ),
  );
  return g('pods', 0, zs, 0);
}

describe('the groups open at first', () => {
  it('the 1,024-host example (8 zones of 16 racks of 8 hosts) starts as its 8 zones', () => {
    assert.deepEqual([...defaultOpen([shape(8, 16, 8)])], []);
    // With room for 8 + 128 rows, the zones open and the racks stay closed.
    const open = defaultOpen([shape(8, 16, 8)], 136);
    assert.deepEqual([...open].sort(), ['z0', 'z1', 'z2', 'z3', 'z4', 'z5', 'z6', 'z7']);
  });

  it('a small topology opens all the way down', () => {
    const open = defaultOpen([shape(2, 2, 5)]);
    assert.deepEqual([...open].sort(), ['z0', 'z0/r0', 'z0/r1', 'z1', 'z1/r0', 'z1/r1']);
  });

  it('a level too big for the budget stays closed, and so does everything below it', () => {
    assert.deepEqual([...defaultOpen([shape(400, 1, 1)])], []);
  });

  it('colours a fill from green (empty) to red (full), clamped', () => {
    assert.equal(fillColour(0), 'hsl(120 70% 45%)');
    assert.equal(fillColour(0.5), 'hsl(60 70% 45%)');
    assert.equal(fillColour(1), 'hsl(0 70% 45%)');
    assert.equal(fillColour(7), 'hsl(0 70% 45%)');
  });
});
