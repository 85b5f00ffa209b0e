/**
 * Address reuse in the IPAM engine, with enough space for one owner on one host: a released
 * address is handed out again, releasing everything leaks nothing, and allocating again repeats
 * the same blocks (and, in the same order, the same addresses).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { SEGMENTS, TENANTS } from '../../test/ipam/arbitraries.ts';
import { checkInvariants } from '../../test/ipam/invariants.ts';
import { Ipam } from './index.ts';

const spaciousArb = fc.record({
  mask: fc.constantFrom(19, 24, 28, 29, 30, 31, 32),
  groups: fc.integer({ min: 1, max: 4 }),
  n: fc.integer({ min: 1, max: 40 }),
  tenant: fc.constantFrom(...TENANTS),
  segment: fc.constantFrom(...SEGMENTS),
  again: fc.nat(),
  releaseOrder: fc.option(fc.array(fc.nat(), { minLength: 40, maxLength: 40 }), { nil: null }),
});

describe('IPAM engine with enough space for one owner on one host', () => {
  it('hands a released address out again, leaks nothing once all are released, and repeats itself', () => {
    fc.assert(
      fc.property(spaciousArb, ({ mask, groups, n, tenant, segment, again, releaseOrder }) => {
        const ipam = new Ipam();
        ipam.updateTopology({
          networks: [{ name: 'n', cidr: '10.0.0.0/16', block_mask: mask }],
          topologies: [
            { networks: ['n'], map: [...Array(groups).keys()].map((i) => ({ name: `g${i}` })) },
          ],
        });
        ipam.addHost({ name: 'h', ip: '192.168.0.1' });
        const names = [...Array(n).keys()].map((i) => `pod-${i}`);
        const alloc = (name: string) => ipam.allocate({ name, host: 'h', tenant, segment }).ip;
        const first = names.map(alloc);
        assert.equal(new Set(first).size, n, 'two names got one address');
        checkInvariants(ipam);

        // A released address is the next one handed out to the same owner on the same host.
        const j = again % n;
        assert.equal(ipam.release(names[j]!).ip, first[j]);
        assert.equal(alloc('again'), first[j], 'a released address did not come back');
        ipam.release('again');
        assert.equal(alloc(names[j]!), first[j]);

        // Release everything (in allocation order, or shuffled): nothing is left behind.
        const order =
          releaseOrder === null
            ? names
            : names
                .map((name, i) => ({ name, key: releaseOrder[i]! }))
                .sort((a, b) => a.key - b.key)
                .map((x) => x.name);
        for (const name of order) ipam.release(name);
        assert.deepEqual(ipam.listAddresses(), []);
        assert.equal(ipam.getHost({ name: 'h' }).address_count, 0);
        const used = ipam.listAllBlocks().blocks;
        for (const b of used) {
          assert.deepEqual(
            [b.host, b.tenant, b.segment, b.allocated_ip_count],
            ['', '', '', 0],
            `block ${b.cidr} is not free`,
          );
        }
        checkInvariants(ipam);

        // Allocating again uses the same blocks; in the same release order, the same addresses.
        const second = names.map(alloc);
        if (releaseOrder === null) assert.deepEqual(second, first);
        const blocksOf = () =>
          ipam
            .listAllBlocks()
            .blocks.filter((b) => b.allocated_ip_count > 0)
            .map((b) => b.cidr);
        assert.deepEqual(
          blocksOf(),
          used.map((b) => b.cidr),
        );
        checkInvariants(ipam);
      }),
      { numRuns: 150 },
    );
  });
});
