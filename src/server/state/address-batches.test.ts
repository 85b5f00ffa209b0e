/**
 * Address operations combined into one transaction never pass etcd's limit of 128 compares and
 * 128 writes (`--max-txn-ops`), however many keys each one holds: dual-stack allocations, each
 * in networks of its own on a host of its own, add six compares apiece, and a batch takes only
 * as many as fit. Over the memory store, which records each transaction's size.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryStore } from '../../store/memory.ts';
import type { Compare, Op, TxnResult } from '../../store/store.ts';
import { createRomanaService } from './romana-service.ts';

class SizedStore extends MemoryStore {
  readonly sizes: Array<{ compares: number; ops: number; addresses: number }> = [];
  override async txn(compares: Compare[], ops: Op[]): Promise<TxnResult> {
    const addresses = ops.filter((o) => o.key.startsWith('addresses/')).length;
    this.sizes.push({ compares: compares.length, ops: ops.length, addresses });
    return super.txn(compares, ops);
  }
}

const TENANTS = 30;
const HOSTS = 48;

/** Per tenant an IPv4 and an IPv6 network of its own; every host takes them all. */
function topology() {
  const networks = [];
  for (let t = 0; t < TENANTS; t++) {
    networks.push({ name: `v4-${t}`, cidr: `10.${t}.0.0/16`, block_mask: 29, tenants: [`t${t}`] });
    networks.push({ name: `v6-${t}`, cidr: `fd00:${t + 1}::/48`, tenants: [`t${t}`] });
  }
  return {
    networks,
    topologies: [{ networks: networks.map((n) => n.name), map: [{ name: 'r1' }] }],
  };
}

describe('address operations combined in one transaction', () => {
  it('stay within 128 compares and 128 writes, and all succeed, each with its own addresses', async () => {
    const store = new SizedStore();
    const svc = await createRomanaService({ store, initialTopology: topology() });
    for (let h = 0; h < HOSTS; h++) await svc.addHost({ name: `h${h}`, ip: `192.168.1.${h + 1}` });
    store.sizes.length = 0;
    const answers = await Promise.all(
      Array.from({ length: HOSTS }, (_, i) =>
        svc.allocate({ name: `p${i}`, host: `h${i}`, tenant: `t${i % TENANTS}` }),
      ),
    );
    const ips = answers.flatMap((a) => a.ips.map((x) => x.ip));
    assert.equal(ips.length, 2 * HOSTS, 'two families each');
    assert.equal(new Set(ips).size, ips.length, 'no address given twice');
    assert.equal(
      store.sizes.reduce((n, s) => n + s.addresses, 0),
      HOSTS,
      'every allocation committed once',
    );
    for (const s of store.sizes) {
      assert.ok(s.compares <= 128 && s.ops <= 128, `a transaction of ${JSON.stringify(s)}`);
    }
    // Batches did combine, up to the limit: 24 such operations would need 145 compares.
    const largest = Math.max(...store.sizes.map((s) => s.addresses));
    assert.ok(largest >= 16 && largest < 24, `largest batch: ${largest} allocations`);
    assert.ok(Math.max(...store.sizes.map((s) => s.compares)) > 100);
    await svc.close();
  });
});
