/**
 * Random topologies and random operation sequences against the IPAM engine. After every step
 * the invariant checker runs and the engine is compared with a model: which name holds which
 * address (and for whom), and, for each operation, what the reference rules (§2.3–2.9) say must
 * happen, computed from the state's public views before the step. A failed operation must leave
 * `toSnapshot()` unchanged. Generators: test/ipam/arbitraries.ts; the model's predictions:
 * test/ipam/prediction.ts; the scenario driver: test/ipam/scenario.ts. Also the regressions
 * these properties found.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { scenarioArb } from '../../test/ipam/arbitraries.ts';
import { runScenario } from '../../test/ipam/scenario.ts';
import { RomanaError } from '../errors.ts';
import { Ipam } from './index.ts';

describe('IPAM engine under random topologies and operation sequences', () => {
  it('keeps every invariant and agrees with the model after every step', () => {
    fc.assert(
      fc.property(scenarioArb, ({ topology, ops }) => runScenario(topology, ops)),
      { numRuns: 600 },
    );
  });
});

describe('IPAM engine regressions found by the properties', () => {
  it('leaves the state unchanged when addHost finds no suitable group', () => {
    const ipam = new Ipam();
    ipam.updateTopology({
      networks: [{ name: 'n', cidr: '10.0.0.0/28' }],
      topologies: [{ networks: ['n'], map: [{ name: 'a', assignment: { rack: 'r1' } }] }],
    });
    const before = ipam.toSnapshot();
    assert.throws(() => ipam.addHost({ name: 'h', ip: '192.168.0.1' }), RomanaError);
    assert.deepEqual(ipam.toSnapshot(), before);
  });

  it('leaves the state unchanged when allocate fails in a group whose only block is blacked out', () => {
    const ipam = new Ipam();
    ipam.updateTopology({
      networks: [{ name: 'n', cidr: '10.0.0.0/28', block_mask: 29 }],
      topologies: [{ networks: ['n'], map: [{ name: 'a' }, { name: 'b' }] }],
    });
    ipam.addHost({ name: 'h', ip: '192.168.0.1' }); // in a = 10.0.0.0/29, one block
    ipam.blackOut('10.0.0.0/29');
    const before = ipam.toSnapshot();
    assert.throws(() => ipam.allocate({ name: 'p', host: 'h', tenant: 't', segment: 's' }), {
      code: 'NoAvailableIP',
    });
    assert.deepEqual(ipam.listAllBlocks().blocks, []);
    assert.deepEqual(ipam.toSnapshot(), before);
  });

  it('re-posting getTopology() keeps a network whose map is a host list open to new hosts', () => {
    const ipam = new Ipam();
    ipam.updateTopology({
      networks: [{ name: 'n', cidr: '10.0.0.0/28' }],
      topologies: [{ networks: ['n'], map: [{ name: 'd0', ip: '192.168.1.0' }] }],
    });
    ipam.removeHost({ name: 'd0' });
    const copy = new Ipam(ipam.toSnapshot());
    ipam.addHost({ name: 'h0', ip: '192.168.0.0' }); // the network is one host group: accepted
    copy.updateTopology(copy.getTopology()); // posts back "map: []", which accepts no host
    assert.doesNotThrow(() => copy.addHost({ name: 'h0', ip: '192.168.0.0' }));
  });
});
