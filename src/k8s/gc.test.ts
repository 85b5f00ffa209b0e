import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { gcVerdict, podOfAddressName, type PodFacts, type PodRef } from './gc.ts';

const GRACE = 300_000;

describe('address GC decisions', () => {
  const ref: PodRef = { namespace: 'web', name: 'a', uid: 'u1' };

  it('keeps an address that is not linked to a pod', () => {
    assert.equal(gcVerdict(undefined, undefined, 0, 10 ** 9, GRACE).kind, 'keep');
  });

  it("keeps a running pod's address", () => {
    assert.deepEqual(gcVerdict(ref, { uid: 'u1', phase: 'Running' }, undefined, 5, GRACE), {
      kind: 'keep',
      why: 'pod web/a (uid u1) exists',
    });
  });

  it('releases at once the address of a pod that has finished', () => {
    for (const phase of ['Succeeded', 'Failed']) {
      const v = gcVerdict(ref, { uid: 'u1', phase }, undefined, 5, GRACE);
      assert.equal(v.kind, 'release');
      assert.match((v as { why: string }).why, new RegExp(phase));
    }
  });

  it('waits for the grace period when the pod is gone, then releases', () => {
    assert.deepEqual(gcVerdict(ref, undefined, 1000, 2000, GRACE), {
      kind: 'wait',
      atMs: 1000 + GRACE,
    });
    const v = gcVerdict(ref, undefined, 1000, 1000 + GRACE, GRACE);
    assert.equal(v.kind, 'release');
    assert.match((v as { why: string }).why, /pod web\/a \(uid u1\) gone for 300 s/);
  });

  it('treats a pod recreated under the same name as another pod', () => {
    const v = gcVerdict(ref, { uid: 'u2', phase: 'Running' }, 0, GRACE, GRACE);
    assert.equal(v.kind, 'release');
    assert.match((v as { why: string }).why, /replaced by uid u2/);
  });

  it('keeps an address without uid while a pod of that name runs', () => {
    const v = gcVerdict({ namespace: 'web', name: 'a' }, { uid: 'u9' }, 0, 10 ** 9, GRACE);
    assert.equal(v.kind, 'keep');
  });

  it("never releases a live pod's address, whatever the clock and the grace", () => {
    fc.assert(
      fc.property(
        fc.record({
          namespace: fc.string(),
          name: fc.string(),
          uid: fc.option(fc.string(), { nil: undefined }),
        }),
        fc.string(),
        fc.constantFrom(undefined, 'Pending', 'Running', 'Unknown'),
        fc.option(fc.nat(), { nil: undefined }),
        fc.nat(),
        fc.nat(),
        (r, uid, phase, since, now, grace) => {
          const pod: PodFacts = { uid: r.uid ?? uid, phase };
          assert.equal(gcVerdict(r, pod, since, now, grace).kind, 'keep');
        },
      ),
    );
  });

  it('never releases before the grace period has passed since the pod was missed', () => {
    fc.assert(
      fc.property(
        fc.nat(10 ** 9),
        fc.nat(10 ** 9),
        fc.integer({ min: 1, max: 10 ** 7 }),
        (since, dt, grace) => {
          const v = gcVerdict(ref, undefined, since, since + dt, grace);
          assert.equal(v.kind, dt >= grace ? 'release' : 'wait');
        },
      ),
    );
  });
});

describe('the pod of a CNI address name', () => {
  it('splits <pod>.<namespace>.<8 hex>, the pod name keeping its dots', () => {
    assert.deepEqual(podOfAddressName('web-0.shop.0123abcd'), { namespace: 'shop', name: 'web-0' });
    assert.deepEqual(podOfAddressName('a.b.c.ns.deadbeef'), { namespace: 'ns', name: 'a.b.c' });
  });

  it('does not take other names for pod addresses', () => {
    assert.equal(podOfAddressName('pod-a'), undefined);
    assert.equal(podOfAddressName('a.ns.0123abc'), undefined);
    assert.equal(podOfAddressName('a.NS.0123abcd'), undefined);
  });
});
