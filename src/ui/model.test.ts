/** The dashboard's model: the tree and its totals, events applied as the resume rules need. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Block, Host, Topology } from '../client/types.ts';
import { routeToPod } from './route.ts';
import {
  applyEvent,
  blockSize,
  buildView,
  groupOfHost,
  stateFromLists,
  type DashState,
  type WatchEvent,
} from './model.ts';

/** zone-a (rack-1: h1 h2, rack-2: h3), zone-b (rack-3: empty), a host list in `unlabelled`. */
const TOPOLOGY: Topology = {
  networks: [{ name: 'pods', cidr: '10.0.0.0/16', block_mask: 28 }],
  topologies: [
    {
      networks: ['pods'],
      map: [
        {
          name: 'zone-a',
          cidr: '10.0.0.0/17',
          groups: [
            {
              name: 'rack-1',
              cidr: '10.0.0.0/18',
              groups: [
                { name: 'h1', ip: '192.168.0.1' },
                { name: 'h2', ip: '192.168.0.2' },
              ],
            },
            { name: 'rack-2', cidr: '10.0.64.0/18', groups: [{ name: 'h3', ip: '192.168.0.3' }] },
          ],
        },
        {
          name: 'zone-b',
          cidr: '10.0.128.0/17',
          groups: [{ name: 'rack-3', cidr: '10.0.128.0/18' }],
        },
      ],
    },
  ],
};

const host = (name: string, ip: string): Host => ({
  name,
  ip,
  agent_port: 9604,
  tags: null,
  k8s_info: null,
});
const HOSTS = [host('h1', '192.168.0.1'), host('h2', '192.168.0.2'), host('h3', '192.168.0.3')];
const block = (cidr: string, h: string, n: number, revision = 1): Block => ({
  revision,
  cidr,
  network: 'pods',
  tenant: '',
  segment: '',
  host: h,
  allocated_ip_count: n,
});

function seeded(): DashState {
  return stateFromLists({
    topology: TOPOLOGY,
    hosts: HOSTS,
    blocks: [
      block('10.0.0.0/28', 'h1', 16),
      block('10.0.0.16/28', 'h1', 3),
      block('10.0.0.32/28', 'h2', 1),
      block('10.0.64.0/28', 'h3', 8),
      block('10.0.0.48/28', '', 0),
    ],
    policies: [],
    vips: [],
  });
}

describe('the dashboard view', () => {
  it('counts groups and hosts at every level, and sums the blocks held', () => {
    const v = buildView(seeded());
    assert.deepEqual(v.totals, {
      networks: 1,
      groups: 5,
      hosts: 3,
      blocks: 4,
      allocated: 28,
      capacity: 64,
    });
    const [zoneA, zoneB] = v.networks[0]!.root.groups;
    assert.equal(zoneA!.groupCount, 2);
    assert.equal(zoneA!.hostCount, 3);
    assert.deepEqual(zoneA!.usage, { blocks: 4, allocated: 28, capacity: 64 });
    assert.equal(zoneB!.hostCount, 0);
    assert.equal(v.networks[0]!.freeBlocks, 1);
    const rack1 = zoneA!.groups[0]!;
    assert.deepEqual(
      rack1.hosts.map((h) => [h.name, h.blocks.map((b) => b.cidr), h.usage.allocated]),
      [
        ['h1', ['10.0.0.0/28', '10.0.0.16/28'], 19],
        ['h2', ['10.0.0.32/28'], 1],
      ],
    );
    assert.equal(groupOfHost(v, 'pods', 'h3')?.name, 'rack-2');
    assert.equal(groupOfHost(v, 'other', 'h3'), undefined);
  });

  it('sizes blocks of both families', () => {
    assert.equal(blockSize('10.0.0.0/28'), 16);
    assert.equal(blockSize('10.0.0.0/32'), 1);
    assert.equal(blockSize('fd00::/120'), 256);
  });

  it('a new or removed host asks for the placement again; a changed one does not', () => {
    const s = seeded();
    const put = (id: string): WatchEvent => ({
      revision: 9,
      kind: 'hosts',
      type: 'put',
      id,
      value: host(id, '192.168.0.9'),
    });
    assert.equal(applyEvent(s, put('h9')).placementChanged, true);
    assert.equal(applyEvent(s, put('h9')).placementChanged, false);
    const del: WatchEvent = { revision: 10, kind: 'hosts', type: 'delete', id: 'h9', value: null };
    assert.equal(applyEvent(s, del).placementChanged, true);
    assert.equal(s.hosts.has('h9'), false);
  });

  it('an event of a kind the page does not know changes nothing', () => {
    const s = seeded();
    const before = buildView(s);
    const e = { revision: 9, kind: 'addresses', type: 'put', id: 'x', value: {} };
    assert.deepEqual(applyEvent(s, e as unknown as WatchEvent), { placementChanged: false });
    assert.deepEqual(buildView(s), before);
  });

  it('a stream resumed from the last revision seen (its events again) ends in the same state', () => {
    const cidrs = ['10.0.0.0/28', '10.0.0.16/28', '10.0.0.32/28', '10.0.64.0/28'];
    const change = fc.record({
      cidr: fc.constantFrom(...cidrs),
      host: fc.constantFrom('h1', 'h2', 'h3', ''),
      n: fc.integer({ min: 0, max: 16 }),
      del: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(change, { maxLength: 30 }), fc.nat(), (changes, cutAt) => {
        // Revisions of 1 or 2 events each, as one transaction may touch several blocks.
        const events: WatchEvent[] = changes.map((c, i) => ({
          revision: 10 + Math.floor(i / 2),
          kind: 'blocks',
          type: c.del ? 'delete' : 'put',
          id: c.cidr,
          value: c.del ? null : block(c.cidr, c.host, c.n, 10 + Math.floor(i / 2)),
        }));
        const once = seeded();
        for (const e of events) applyEvent(once, e);
        // The connection breaks after `cut` events; the page asks again from the revision of
        // the last event it applied, which replays that revision whole.
        const cut = events.length === 0 ? 0 : cutAt % (events.length + 1);
        const resumed = seeded();
        for (const e of events.slice(0, cut)) applyEvent(resumed, e);
        const from = cut === 0 ? 0 : events[cut - 1]!.revision;
        for (const e of events.filter((x) => x.revision >= from)) applyEvent(resumed, e);
        assert.deepEqual(buildView(resumed), buildView(once));
        assert.deepEqual([...resumed.blocks.entries()].sort(), [...once.blocks.entries()].sort());
      }),
    );
  });
});

describe('the route to a pod', () => {
  const s = seeded();
  const hosts = [...s.hosts.values()];
  it('is its host group when that group holds only this host', () => {
    const r = routeToPod({
      topology: TOPOLOGY,
      hosts,
      block: block('10.0.64.0/28', 'h3', 8),
      ip: '10.0.64.5',
    });
    assert.deepEqual(r, {
      dst: '10.0.64.0/18',
      via: '192.168.0.3',
      reason: 'group rack-2 holds only host h3',
      kind: 'group',
    });
  });

  it('is its block when the group holds other hosts too', () => {
    const r = routeToPod({
      topology: TOPOLOGY,
      hosts,
      block: block('10.0.0.16/28', 'h1', 3),
      ip: '10.0.0.17',
    });
    assert.deepEqual(r, {
      dst: '10.0.0.16/28',
      via: '192.168.0.1',
      reason: 'block 10.0.0.16/28 of host h1',
      kind: 'block',
    });
  });

  it('is none for a free block or an unknown host', () => {
    assert.equal(
      routeToPod({
        topology: TOPOLOGY,
        hosts,
        block: block('10.0.0.48/28', '', 0),
        ip: '10.0.0.49',
      }),
      undefined,
    );
    assert.equal(
      routeToPod({
        topology: TOPOLOGY,
        hosts,
        block: block('10.0.0.64/28', 'h7', 1),
        ip: '10.0.0.65',
      }),
      undefined,
    );
  });
});
