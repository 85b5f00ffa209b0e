/**
 * Label and field selectors of the test API server against an oracle written from the
 * Kubernetes documentation of each operator.
 */
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findResource } from './resources.ts';
import { fieldPredicate, labelPredicate } from './selectors.ts';
import { ApiError } from './status.ts';
import type { KubeObject } from './store.ts';

const keys = fc.constantFrom('app', 'tier', 'example.com/zone');
const values = fc.constantFrom('a', 'b', 'c');
const labels = fc.dictionary(keys, values, { maxKeys: 3, noNullPrototype: true });

const obj = (l: Record<string, string>): KubeObject => ({ metadata: { name: 'x', labels: l } });

describe('label selectors', () => {
  it('each operator matches exactly as documented', () => {
    fc.assert(
      fc.property(labels, keys, values, values, (l, k, v1, v2) => {
        const o = obj(l);
        const has = k in l;
        const cases: [string, boolean][] = [
          [`${k}=${v1}`, l[k] === v1],
          [`${k}==${v1}`, l[k] === v1],
          [`${k}!=${v1}`, l[k] !== v1],
          [`${k} in (${v1},${v2})`, has && (l[k] === v1 || l[k] === v2)],
          [`${k} notin (${v1},${v2})`, !has || (l[k] !== v1 && l[k] !== v2)],
          [k, has],
          [`!${k}`, !has],
          [`${k},${k}=${v1}`, l[k] === v1],
        ];
        for (const [sel, want] of cases) assert.equal(labelPredicate(sel)(o), want, sel);
      }),
    );
  });

  it('an empty selector matches everything', () => {
    assert.equal(labelPredicate('')(obj({})), true);
    assert.equal(labelPredicate(undefined)(obj({ a: 'b' })), true);
  });

  it('refuses malformed selectors with 400', () => {
    for (const sel of ['a in (', 'a=b c', '-a=b', 'a=b=c']) {
      assert.throws(
        () => labelPredicate(sel),
        (e: unknown) => e instanceof ApiError && e.code === 400,
        sel,
      );
    }
  });
});

describe('field selectors', () => {
  const pods = findResource('', 'v1', 'pods');
  const nodes = findResource('', 'v1', 'nodes');
  assert.ok(pods !== undefined && nodes !== undefined);
  const pod: KubeObject = {
    metadata: { name: 'p', namespace: 'ns' },
    spec: { nodeName: 'n1' },
    status: { phase: 'Running' },
  };

  it('matches name, namespace, spec.nodeName and status.phase with = and !=', () => {
    const cases: [string, boolean][] = [
      ['metadata.name=p', true],
      ['metadata.namespace!=ns', false],
      ['spec.nodeName=n1,status.phase=Running', true],
      ['spec.nodeName==n2', false],
      ['status.phase!=Pending', true],
      ['spec.nodeName=', false],
    ];
    for (const [sel, want] of cases) assert.equal(fieldPredicate(sel, pods)(pod), want, sel);
  });

  it('treats a missing spec.unschedulable as false, like the real index', () => {
    const n: KubeObject = { metadata: { name: 'n' } };
    assert.equal(fieldPredicate('spec.unschedulable=false', nodes)(n), true);
  });

  it('refuses fields the resource does not index', () => {
    assert.throws(
      () => fieldPredicate('spec.nodeName=n1', nodes),
      (e: unknown) => e instanceof ApiError && e.code === 400,
    );
  });
});
