/**
 * Allocation's request checks and error messages, written to kill the mutants of
 * `src/ipam/alloc.ts` the other tests let live (docs/testing.md, "Mutation testing"). Each
 * refused request names the field and value and changes nothing.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AllocationRequest } from './alloc.ts';
import { fourGroups, throwsCode } from './ipam.fixtures.ts';

function withHost() {
  const ipam = fourGroups();
  ipam.addHost({ name: 'A', ip: '192.168.0.1' });
  return ipam;
}

describe('allocation requests at the edges', () => {
  it('refuses a request without a name or host, or with a bad tenant or segment', () => {
    const ipam = withHost();
    const cases: Array<[AllocationRequest, string]> = [
      [{ name: '', host: 'A' }, 'Name required'],
      [{ name: 'p', host: '' }, 'Host required'],
      [
        { name: 'p', host: 'A', tenant: 'a b' },
        "tenant: 'a b' may hold only letters, digits, '_' and '-'",
      ],
      [
        { name: 'p', host: 'A', tenant: 'x.y' },
        "tenant: 'x.y' may hold only letters, digits, '_' and '-'",
      ],
      [
        { name: 'p', host: 'A', segment: 'a/b' },
        "segment: 'a/b' may hold only letters, digits, '_', '.' and '-'",
      ],
      [
        { name: 'p', host: 'A', segment: '/ab' },
        "segment: '/ab' may hold only letters, digits, '_', '.' and '-'",
      ],
      [
        { name: 'p', host: 'A', segment: 'ab/' },
        "segment: 'ab/' may hold only letters, digits, '_', '.' and '-'",
      ],
      [{ name: 7 as unknown as string, host: 'A' }, 'Name required'],
      [{ name: 'p', host: 7 as unknown as string }, 'Host required'],
      [
        { name: 'p', host: 'A', tenant: 7 as unknown as string },
        "tenant: '7' may hold only letters, digits, '_' and '-'",
      ],
      [
        { name: 'p', host: 'A', segment: 7 as unknown as string },
        "segment: '7' may hold only letters, digits, '_', '.' and '-'",
      ],
    ];
    for (const [r, message] of cases) throwsCode(() => ipam.allocate(r), 'InvalidInput', message);
    assert.deepEqual(ipam.listAddresses(), [], 'nothing allocated');
    // The allowed characters are allowed.
    assert.ok(ipam.allocate({ name: 'ok', host: 'A', tenant: 'a_B-9', segment: 'x.y_Z-1' }).ip);
  });

  it('says which name is taken, which host is unknown and which address is not found', () => {
    const ipam = withHost();
    const ip = ipam.allocate({ name: 'p', host: 'A' }).ip;
    throwsCode(
      () => ipam.allocate({ name: 'p', host: 'A' }),
      'AlreadyExists',
      `Address with name p already allocated: ${ip}`,
    );
    throwsCode(
      () => ipam.allocate({ name: 'q', host: 'nobody' }),
      'NotFound',
      'Host nobody not found: add it before allocating on it',
    );
    throwsCode(
      () => ipam.getAddress('10.9.9.9'),
      'NotFound',
      'No address named or holding IP 10.9.9.9',
    );
    // Each error names the kind of resource and which one.
    const resource = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        const r = e as { resourceType?: string; resourceId?: string };
        return [r.resourceType, r.resourceId];
      }
      assert.fail('no error');
    };
    assert.deepEqual(
      resource(() => ipam.allocate({ name: 'p', host: 'A' })),
      ['address', 'p'],
    );
    assert.deepEqual(
      resource(() => ipam.allocate({ name: 'q', host: 'nobody' })),
      ['host', 'nobody'],
    );
    assert.deepEqual(
      resource(() => ipam.getAddress('10.9.9.9')),
      ['IP', '10.9.9.9'],
    );
    assert.deepEqual(
      resource(() => ipam.getAddress('ghost')),
      ['address', 'ghost'],
    );
    assert.equal(ipam.listAddresses().length, 1);
  });
});
