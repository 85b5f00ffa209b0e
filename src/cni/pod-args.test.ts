/** `podOf`: the pod link ADD sends with its allocation, from CNI_ARGS. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { podOf } from './commands.ts';

test('the pod of CNI_ARGS: sent when its names are Kubernetes names, the uid when valid', () => {
  assert.deepEqual(podOf({ namespace: 'shop', name: 'web-1' }, 'a1b2-c3'), {
    pod: { namespace: 'shop', name: 'web-1', uid: 'a1b2-c3' },
  });
  assert.deepEqual(podOf({ namespace: 'shop', name: 'web-1' }, undefined), {
    pod: { namespace: 'shop', name: 'web-1' },
  });
  // A uid romanad would refuse is left out rather than failing the ADD.
  assert.deepEqual(podOf({ namespace: 'shop', name: 'web-1' }, 'x'.repeat(65)), {
    pod: { namespace: 'shop', name: 'web-1' },
  });
  // Not from Kubernetes (or not Kubernetes names): no pod at all.
  assert.deepEqual(podOf(undefined, 'u'), {});
  assert.deepEqual(podOf({ namespace: 'Shop', name: 'web-1' }, 'u'), {});
  assert.deepEqual(podOf({ namespace: 'shop', name: 'web_1' }, 'u'), {});
});
