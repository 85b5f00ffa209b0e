import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { V1Node } from '@kubernetes/client-node';
import {
  DEFAULT_NODE_HOST_OPTIONS as OPTS,
  MANAGED_BY,
  MAX_TAGS,
  goneNodeAction,
  hostAction,
  hostOfNode,
  sameJson,
  tagsOfLabels,
  type HostRecord,
} from './node-host.ts';

function node(
  name: string,
  addresses: [string, string][],
  labels: Record<string, string> = {},
  spec: V1Node['spec'] = {},
): V1Node {
  return {
    metadata: { name, labels },
    spec,
    status: { addresses: addresses.map(([type, address]) => ({ type, address })) },
  };
}

describe('a node becomes a host', () => {
  it('takes the InternalIP before the ExternalIP, whatever their order in the node', () => {
    const n = node('n1', [
      ['ExternalIP', '203.0.113.5'],
      ['Hostname', 'n1'],
      ['InternalIP', '192.168.0.11'],
    ]);
    const r = hostOfNode(n, OPTS);
    assert.ok('host' in r);
    assert.equal(r.host.ip, '192.168.0.11');
  });

  it('follows a configured address-type order', () => {
    const n = node('n1', [
      ['InternalIP', '192.168.0.11'],
      ['ExternalIP', '203.0.113.5'],
    ]);
    const r = hostOfNode(n, { ...OPTS, addressTypes: ['ExternalIP', 'InternalIP'] });
    assert.ok('host' in r);
    assert.equal(r.host.ip, '203.0.113.5');
  });

  it('skips an IPv6 address and says why when no usable address is left', () => {
    const n = node('n1', [
      ['InternalIP', 'fd00::1'],
      ['Hostname', 'n1'],
    ]);
    const r = hostOfNode(n, OPTS);
    assert.ok('problem' in r);
    assert.match(r.problem, /node n1 has no IPv4 address of type InternalIP or ExternalIP/);
    assert.match(r.problem, /InternalIP=fd00::1/);
  });

  it("gives a dual-stack node's host its IPv6 address as ip6, by the same type order", () => {
    const n = node('n1', [
      ['InternalIP', 'fd00:1::11'],
      ['InternalIP', '192.168.0.11'],
      ['ExternalIP', '2001:db8::5'],
    ]);
    const r = hostOfNode(n, OPTS);
    assert.ok('host' in r);
    assert.equal(r.host.ip, '192.168.0.11');
    assert.equal(r.host.ip6, 'fd00:1::11');
    const v4only = hostOfNode(node('n2', [['InternalIP', '10.1.0.2']]), OPTS);
    assert.ok('host' in v4only);
    assert.equal('ip6' in v4only.host, false);
  });

  it('maps zone and rack labels to tags and leaves other labels out by default', () => {
    const n = node('n1', [['InternalIP', '10.1.0.1']], {
      'topology.kubernetes.io/zone': 'z1',
      'romana.io/rack': 'r7',
      'kubernetes.io/os': 'linux',
    });
    const r = hostOfNode(n, OPTS);
    assert.ok('host' in r);
    assert.deepEqual(r.host.tags, { zone: 'z1', rack: 'r7' });
  });

  it('fills k8s_info from the configured paths, only where the node has a value', () => {
    const n = node('n1', [['InternalIP', '10.1.0.1']], {}, { unschedulable: true });
    const r = hostOfNode(n, { ...OPTS, infoPaths: ['spec.unschedulable', 'spec.podCIDR'] });
    assert.ok('host' in r);
    assert.deepEqual(r.host.k8s_info, { 'spec.unschedulable': true });
  });

  it('with copyLabels, copies labels but never more than romanad takes, mapped ones first', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.string({ maxLength: 4 }), {
          maxKeys: 100,
        }),
        fc.string({ minLength: 1, maxLength: 4 }),
        (labels, zone) => {
          const all: Record<string, string> = { ...labels, 'topology.kubernetes.io/zone': zone };
          const tags = tagsOfLabels(all, { ...OPTS, copyLabels: true });
          assert.ok(Object.keys(tags).length <= MAX_TAGS);
          assert.equal(tags['zone'], zone);
          for (const [k, v] of Object.entries(tags)) {
            if (k !== 'zone' && k !== 'region' && k !== 'rack') assert.equal(all[k], v);
          }
        },
      ),
    );
  });
});

describe('what to do with the host romanad holds', () => {
  const want = { name: 'n1', ip: '10.1.0.1', tags: { zone: 'a' }, k8s_info: {} };
  const have = (h: Partial<HostRecord>): HostRecord => ({
    name: 'n1',
    ip: '10.1.0.1',
    tags: { zone: 'a' },
    k8s_info: {},
    managed_by: MANAGED_BY,
    ...h,
  });

  it('adds a missing host', () => {
    assert.deepEqual(hostAction(want, undefined), { kind: 'add', host: want });
  });

  it('does nothing when tags and k8s_info already match', () => {
    assert.deepEqual(hostAction(want, have({})), { kind: 'none' });
  });

  it('patches only the tags when only the labels changed', () => {
    assert.deepEqual(hostAction(want, have({ tags: { zone: 'b' } })), {
      kind: 'patch',
      tags: { zone: 'a' },
    });
  });

  it('does not send again tags romanad refused, but still sends a k8s_info change', () => {
    const refused = { zone: 'a' };
    assert.deepEqual(hostAction(want, have({ tags: { zone: 'b' } }), refused), { kind: 'none' });
    const w2 = { ...want, k8s_info: { 'spec.unschedulable': true } };
    assert.deepEqual(hostAction(w2, have({ tags: { zone: 'b' } }), refused), {
      kind: 'patch',
      k8s_info: { 'spec.unschedulable': true },
    });
  });

  it('leaves alone a host it did not create', () => {
    assert.deepEqual(hostAction(want, have({ managed_by: undefined, tags: {} })), {
      kind: 'foreign',
    });
  });

  it('reports a changed node address', () => {
    assert.deepEqual(hostAction(want, have({ ip: '10.1.0.9' })), {
      kind: 'ip-changed',
      from: '10.1.0.9',
      to: '10.1.0.1',
    });
  });
});

describe("a deleted node's host", () => {
  const mine: HostRecord = { name: 'n1', ip: '10.1.0.1', tags: {}, managed_by: MANAGED_BY };

  it('is removed at once when no address remains on it', () => {
    assert.deepEqual(goneNodeAction(mine, 0, 1000, 1000, 60_000), { kind: 'remove' });
  });

  it('waits for the grace period while addresses remain, then removes it releasing them', () => {
    assert.deepEqual(goneNodeAction(mine, 2, 1000, 11_000, 60_000), { kind: 'wait', ms: 50_000 });
    assert.deepEqual(goneNodeAction(mine, 2, 1000, 61_000, 60_000), {
      kind: 'force-remove',
      addresses: 2,
    });
  });

  it('is never removed when the listener did not create it (the 2.x sync removed it)', () => {
    fc.assert(
      fc.property(
        fc.option(fc.string(), { nil: undefined }).filter((m) => m !== MANAGED_BY),
        fc.nat(10),
        fc.nat(),
        fc.nat(),
        (managedBy, count, gone, now) => {
          const a = goneNodeAction({ ...mine, managed_by: managedBy }, count, gone, now, 0);
          assert.equal(a.kind, 'keep');
        },
      ),
    );
  });
});

describe('sameJson', () => {
  it('ignores key order and tells arrays from objects', () => {
    assert.ok(sameJson({ a: 1, b: [1, { c: 2 }] }, { b: [1, { c: 2 }], a: 1 }));
    assert.ok(!sameJson({ 0: 1 }, [1]));
    assert.ok(!sameJson({ a: 1 }, { a: 1, b: undefined }));
  });
});
