/**
 * The test API server's three patch flavours, case by case and by property.
 */
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyPatch, jsonPatch, mergePatch, strategicMerge } from './patch.ts';
import { ApiError } from './status.ts';

/** JSON objects without nulls (null means "delete" in a merge patch). */
const jsonObject = fc.dictionary(
  fc.string({ minLength: 1, maxLength: 4 }),
  fc.oneof(fc.integer(), fc.string(), fc.boolean(), fc.array(fc.integer(), { maxLength: 3 })),
  { maxKeys: 5, noNullPrototype: true },
);

describe('merge patch (RFC 7386)', () => {
  it('merges maps, deletes on null, replaces lists and scalars', () => {
    const target = { a: 1, m: { x: 1, y: 2 }, l: [1, 2], keep: true };
    const patch = { a: null, m: { y: null, z: 3 }, l: [3], n: 'new' };
    assert.deepEqual(mergePatch(target, patch), {
      m: { x: 1, z: 3 },
      l: [3],
      keep: true,
      n: 'new',
    });
  });

  it('keeps a key named __proto__ as data, as JSON does', () => {
    const patch = JSON.parse('{"__proto__": {"polluted": 1}}') as unknown;
    assert.equal(JSON.stringify(mergePatch({}, patch)), '{"__proto__":{"polluted":1}}');
    assert.equal(JSON.stringify(strategicMerge({}, patch)), '{"__proto__":{"polluted":1}}');
  });

  it('patching with an object itself, or with {}, changes nothing', () => {
    fc.assert(
      fc.property(jsonObject, (o) => {
        assert.deepEqual(mergePatch(o, o), o);
        assert.deepEqual(mergePatch(o, {}), o);
      }),
    );
  });

  it('a patch of new keys only adds them: every old key keeps its value', () => {
    fc.assert(
      fc.property(jsonObject, jsonObject, (a, b) => {
        const fresh = Object.fromEntries(Object.entries(b).map(([k, v]) => [`new-${k}`, v]));
        const out = mergePatch(a, fresh) as Record<string, unknown>;
        for (const [k, v] of Object.entries(a)) assert.deepEqual(out[k], v);
        for (const [k, v] of Object.entries(fresh)) assert.deepEqual(out[k], v);
      }),
    );
  });
});

describe('strategic merge patch', () => {
  const pod = {
    metadata: { labels: { a: '1', b: '2' }, finalizers: ['x'] },
    spec: {
      containers: [
        { name: 'app', image: 'app:1', env: [{ name: 'A', value: '1' }] },
        { name: 'side', image: 'side:1' },
      ],
    },
  };

  it('merges containers by name and env by name, keeping unnamed order', () => {
    const out = strategicMerge(pod, {
      spec: {
        containers: [
          { name: 'side', image: 'side:2' },
          { name: 'app', env: [{ name: 'B', value: '2' }] },
          { name: 'new', image: 'new:1' },
        ],
      },
    }) as typeof pod;
    assert.deepEqual(out.spec.containers, [
      {
        name: 'app',
        image: 'app:1',
        env: [
          { name: 'A', value: '1' },
          { name: 'B', value: '2' },
        ],
      },
      { name: 'side', image: 'side:2' },
      { name: 'new', image: 'new:1' },
    ]);
  });

  it('understands kubectl directives: $patch delete and replace, $setElementOrder, $retainKeys, $deleteFromPrimitiveList', () => {
    const out = strategicMerge(pod, {
      metadata: {
        labels: { $patch: 'replace', c: '3' },
        '$deleteFromPrimitiveList/finalizers': ['x'],
      },
      spec: {
        '$setElementOrder/containers': [{ name: 'app' }],
        containers: [{ name: 'side', $patch: 'delete' }],
        strategy: { $retainKeys: ['type'], type: 'Recreate' },
      },
    });
    assert.deepEqual(out, {
      metadata: { labels: { c: '3' }, finalizers: [] },
      spec: {
        containers: [{ name: 'app', image: 'app:1', env: [{ name: 'A', value: '1' }] }],
        strategy: { type: 'Recreate' },
      },
    });
  });

  it('merges finalizers as a set, service ports by port and node conditions by type', () => {
    const svc = { metadata: { finalizers: ['a'] }, spec: { ports: [{ port: 80, name: 'http' }] } };
    assert.deepEqual(
      strategicMerge(svc, {
        metadata: { finalizers: ['a', 'b'] },
        spec: { ports: [{ port: 80, targetPort: 8080 }, { port: 443 }] },
      }),
      {
        metadata: { finalizers: ['a', 'b'] },
        spec: { ports: [{ port: 80, name: 'http', targetPort: 8080 }, { port: 443 }] },
      },
    );
    const node = {
      status: {
        conditions: [
          { type: 'Ready', status: 'True' },
          { type: 'DiskPressure', status: 'False' },
        ],
      },
    };
    assert.deepEqual(
      strategicMerge(node, { status: { conditions: [{ type: 'Ready', status: 'False' }] } }),
      {
        status: {
          conditions: [
            { type: 'Ready', status: 'False' },
            { type: 'DiskPressure', status: 'False' },
          ],
        },
      },
    );
  });

  it('replaces lists without a merge key (externalIPs)', () => {
    const out = strategicMerge(
      { spec: { externalIPs: ['10.0.0.1'] } },
      { spec: { externalIPs: ['10.0.0.2'] } },
    );
    assert.deepEqual(out, { spec: { externalIPs: ['10.0.0.2'] } });
  });
});

describe('JSON patch (RFC 6902)', () => {
  it('adds (also at the end with -), removes, replaces, moves, copies, tests', () => {
    const doc = { a: { b: 1 }, l: [1, 2] };
    const out = jsonPatch(doc, [
      { op: 'add', path: '/l/-', value: 3 },
      { op: 'add', path: '/l/0', value: 0 },
      { op: 'replace', path: '/a/b', value: 2 },
      { op: 'copy', from: '/a', path: '/c' },
      { op: 'move', from: '/a/b', path: '/d' },
      { op: 'remove', path: '/l/1' },
      { op: 'test', path: '/d', value: 2 },
      { op: 'add', path: '/e~1f', value: 'slash' },
    ]);
    assert.deepEqual(out, { a: {}, l: [0, 2, 3], c: { b: 2 }, d: 2, 'e/f': 'slash' });
    assert.deepEqual(doc, { a: { b: 1 }, l: [1, 2] }, 'the input is not changed');
  });

  it('a failed test, or a missing path, is 422 Invalid', () => {
    for (const ops of [
      [{ op: 'test', path: '/a', value: 2 }],
      [{ op: 'remove', path: '/nope' }],
      [{ op: 'replace', path: '/x/y', value: 1 }],
    ]) {
      assert.throws(
        () => jsonPatch({ a: 1 }, ops),
        (e: unknown) => e instanceof ApiError && e.code === 422,
      );
    }
  });

  it('replace at a random existing key sets exactly that key', () => {
    fc.assert(
      fc.property(jsonObject, fc.integer(), (o, v) => {
        fc.pre(Object.keys(o).length > 0);
        const key = Object.keys(o)[0] ?? '';
        const path = '/' + key.replace(/~/g, '~0').replace(/\//g, '~1');
        assert.deepEqual(jsonPatch(o, [{ op: 'replace', path, value: v }]), { ...o, [key]: v });
      }),
    );
  });
});

describe('patch types', () => {
  it('an unknown content type is 415', () => {
    assert.throws(
      () => applyPatch('application/apply-patch+yaml', {}, {}),
      (e: unknown) => e instanceof ApiError && e.code === 415,
    );
  });
});
