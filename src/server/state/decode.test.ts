/**
 * Values read from the store are checked when read: every value romanad writes decodes, and a
 * value that is not what its key holds is refused with an error naming the key, when loading
 * and when it arrives through the watch.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PODS_TOPOLOGY, serviceWithHosts } from '../../../test/helpers/service.ts';
import { isRomanaError } from '../../errors.ts';
import { MemoryStore } from '../../store/memory.ts';
import {
  decodeAddress,
  decodeBlock,
  decodeHost,
  decodeNamespace,
  decodeNetwork,
  decodeOperation,
  decodePlacement,
  decodePod,
  decodePolicy,
  decodeTopologyRecord,
  decodeVip,
} from './decode.ts';
import { parseKey } from './keys.ts';
import { loadState } from './load.ts';
import { createRomanaService } from './romana-service.ts';

const POLICY = {
  id: 'p1',
  direction: 'ingress',
  applied_to: [{ tenant_id: 't' }],
  ingress: [{ peers: [{ peer: 'any' }], rules: [{ protocol: 'tcp', ports: [80] }] }],
};

/** The decoder of each kind of key that holds JSON. */
const DECODERS: Record<string, ((key: string, raw: string) => unknown) | undefined> = {
  topology: decodeTopologyRecord,
  host: decodeHost,
  placement: decodePlacement,
  block: decodeBlock,
  network: decodeNetwork,
  address: decodeAddress,
  vip: decodeVip,
  policy: decodePolicy,
  pod: decodePod,
  namespace: decodeNamespace,
};

function refusedNaming(key: string, field: RegExp) {
  return (err: unknown) =>
    isRomanaError(err, 'Internal') && err.message.includes(key) && field.test(err.message);
}

describe('store value decoders', () => {
  it('decode every value romanad writes, unchanged', async () => {
    const store = new MemoryStore();
    const svc = await serviceWithHosts(store);
    await svc.allocate({ name: 'pod-a', host: 'h1', tenant: 't', segment: 's' });
    await svc.addBlackout('10.0.1.0/24');
    await svc.putVip('web', { ip: '192.0.2.10', host: 'h1', namespace: 'default' });
    await svc.putPolicy(POLICY);
    await svc.patchHost('h2', { tags: { rack: 'r2' } });
    await svc.addHost({ name: 'h3', ip: '192.168.0.3', managed_by: 'romana-listener' });
    await svc.allocate({ name: 'pod-b', host: 'h1', pod: { namespace: 'shop', name: 'b' } });
    await svc.setAddressPod('pod-a', {
      namespace: 'shop',
      name: 'a',
      uid: 'u',
      labels: { app: 'a' },
      ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
    });
    await svc.putNamespace('shop', { team: 'x' });
    const { kvs } = await store.range('');
    const kinds = new Set<string>();
    for (const kv of kvs) {
      const decode = DECODERS[parseKey(kv.key).kind];
      if (decode === undefined) continue;
      kinds.add(parseKey(kv.key).kind);
      assert.deepEqual(decode(kv.key, kv.value), JSON.parse(kv.value), kv.key);
    }
    assert.deepEqual([...kinds].sort(), Object.keys(DECODERS).sort());
    await svc.close();
  });

  it('refuse a value that is not what the key holds, naming the key and the field', () => {
    assert.throws(() => decodeHost('hosts/h1', 'not json'), refusedNaming('hosts/h1', /JSON/));
    assert.throws(() => decodeHost('hosts/h1', '[1]'), refusedNaming('hosts/h1', /a host/));
    assert.throws(
      () => decodeHost('hosts/h1', '{"name":"h1","ip":5,"seq":1,"agent_port":9604}'),
      refusedNaming('hosts/h1', /ip: expected a string, got 5/),
    );
    assert.throws(
      () =>
        decodeBlock(
          'g/1/blocks/pods/10.0.0.0_29',
          '{"owner":null,"host":"h1","acquired":1,"released":0,"names":[[3,"b"],[1,"a"]]}',
        ),
      refusedNaming('g/1/blocks/pods/10.0.0.0_29', /names: expected .*ascending/),
    );
    assert.throws(
      () => decodeTopologyRecord('topology', '{"generation":1,"doc":{}}'),
      refusedNaming('topology', /doc: expected a topology document/),
    );
    assert.throws(
      () => decodeNetwork('g/1/networks/pods', '{"blackouts":[1]}'),
      refusedNaming('g/1/networks/pods', /blackouts/),
    );
    assert.throws(
      () => decodeVip('vips/web', '{"name":"web","ip":"192.0.2.1"}'),
      refusedNaming('vips/web', /host: expected a string, got undefined/),
    );
    assert.throws(
      () =>
        decodeHost(
          'hosts/h1',
          '{"name":"h1","ip":"1.2.3.4","seq":1,"agent_port":9604,"tags":null,"k8s_info":null,"managed_by":7}',
        ),
      refusedNaming('hosts/h1', /managed_by: expected a string, got 7/),
    );
    assert.throws(
      () => decodePod('pods/a', '{"namespace":"shop","name":"a","labels":{"x":1},"ports":[]}'),
      refusedNaming('pods/a', /labels: expected an object of strings/),
    );
    assert.throws(
      () =>
        decodePod(
          'pods/a',
          '{"namespace":"shop","name":"a","labels":{},"ports":[{"port":80,"protocol":"ICMP"}]}',
        ),
      refusedNaming('pods/a', /ports: expected a list of \{ name\?, port, protocol \}/),
    );
    assert.throws(
      () => decodeNamespace('namespaces/shop', '{"name":"shop"}'),
      refusedNaming('namespaces/shop', /labels/),
    );
    assert.throws(
      () => decodePolicy('policies/p', '{"id":"p"}'),
      refusedNaming('policies/p', /applied_to/),
    );
    assert.throws(
      () => decodeOperation('ops/x', '{"kind":"grow","owner":"o","since":1}'),
      refusedNaming('ops/x', /kind: expected 'topology' or 'remove-host'/),
    );
    assert.deepEqual(
      decodeOperation(
        'ops/x',
        '{"kind":"remove-host","owner":"o","since":1,"host":"h1","ip":"192.168.0.1"}',
      ),
      { kind: 'remove-host', owner: 'o', since: 1, host: 'h1', ip: '192.168.0.1' },
    );
  });

  it('a bad value in the store stops the load with an error naming its key', async () => {
    const store = new MemoryStore();
    const svc = await serviceWithHosts(store);
    await svc.close();
    await store.txn([], [{ type: 'put', key: 'hosts/h2', value: '{"name":"h2","ip":null}' }]);
    await assert.rejects(loadState(store), refusedNaming('hosts/h2', /ip: expected a string/));
    await assert.rejects(
      createRomanaService({ store, startTimeoutMs: 0 }),
      refusedNaming('hosts/h2', /ip/),
    );
  });

  it('a bad value arriving through the watch is not applied', async () => {
    const store = new MemoryStore();
    const logs: string[] = [];
    const svc = await createRomanaService({
      store,
      initialTopology: PODS_TOPOLOGY,
      log: (_level, msg, extra) => logs.push(`${msg} ${JSON.stringify(extra)}`),
    });
    await store.txn([], [{ type: 'put', key: 'vips/web', value: '{"name":"web"}' }]);
    const end = Date.now() + 2000;
    while (!logs.some((l) => l.includes('vips/web')) && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.ok(
      logs.some((l) => /could not apply a store change/.test(l) && l.includes('vips/web')),
      logs.join('\n'),
    );
    assert.deepEqual(svc.listVips(), []);
    await svc.close();
  });
});
