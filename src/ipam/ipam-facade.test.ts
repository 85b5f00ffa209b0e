/**
 * The engine's own methods beside the operations it delegates: revisions handed out as copies,
 * whether a topology is set, one host's view by name, a network's blackouts, one block's view
 * and revision, and the touched-block list a store persists.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Ipam } from './ipam.ts';
import { fourGroups, throwsCode } from './ipam.fixtures.ts';

describe('the Ipam engine', () => {
  it('hands out its revisions as a copy', () => {
    const ipam = fourGroups();
    const r = ipam.revisions;
    r.allocation = 99;
    r.topology = 99;
    assert.deepEqual(ipam.revisions, { allocation: 1, topology: 1 });
  });

  it('has a topology once one is applied', () => {
    assert.equal(new Ipam().hasTopology, false);
    assert.equal(fourGroups().hasTopology, true);
  });

  it("gives one host's view by name, and nothing for a name it does not know", () => {
    const ipam = fourGroups();
    ipam.addHost({ name: 'A', ip: '10.9.0.1', tags: { k: 'v' } });
    assert.deepEqual(ipam.hostView('A'), {
      name: 'A',
      ip: '10.9.0.1',
      agent_port: 9604,
      tags: { k: 'v' },
      k8s_info: null,
    });
    assert.equal(ipam.hostView('B'), undefined);
    assert.deepEqual(ipam.hostRecord('A').tags, { k: 'v' });
    throwsCode(() => ipam.hostRecord('B'), 'NotFound', "No host named 'B'");
  });

  it("lists a network's blackouts, and none for a network it does not know", () => {
    const ipam = fourGroups();
    ipam.blackOut('10.0.1.0/24');
    assert.deepEqual(ipam.blackoutsOf('net1'), ['10.0.1.0/24']);
    assert.deepEqual(ipam.blackoutsOf('nope'), []);
  });

  it('shows one block, sets its revision, and says when a network has no such block', () => {
    const ipam = fourGroups();
    ipam.addHost({ name: 'A', ip: '10.9.0.1' });
    ipam.allocate({ name: 'p', host: 'A', tenant: 't', segment: 's' });
    ipam.setBlockRevision('net1', '10.0.0.0/29', 42);
    assert.deepEqual(ipam.getBlock('net1', '10.0.0.0/29'), {
      revision: 42,
      cidr: '10.0.0.0/29',
      network: 'net1',
      tenant: 't',
      segment: 's',
      host: 'A',
      allocated_ip_count: 1,
    });
    throwsCode(() => ipam.getBlock('net1', '10.0.0.4/29'), 'InvalidInput', /host bits/);
    throwsCode(
      () => ipam.getBlock('nope', '10.0.0.0/29'),
      'Internal',
      'replicated IPAM state is inconsistent: block 10.0.0.0/29 of unknown network nope',
    );
  });

  it("lists one network's blocks with its revision, and names a network it does not know", () => {
    const ipam = fourGroups();
    ipam.addHost({ name: 'A', ip: '10.9.0.1' });
    ipam.allocate({ name: 'p', host: 'A' });
    const view = ipam.listNetworkBlocks('net1');
    assert.deepEqual(
      [view.revision, view.blocks.map((b) => [b.cidr, b.allocated_ip_count])],
      [2, [['10.0.0.0/29', 1]]],
    );
    throwsCode(
      () => ipam.listNetworkBlocks('nope'),
      'NotFound',
      'Network with name nope not defined',
    );
  });

  it('lists the blocks changed since the last call, with their states, once', () => {
    const ipam = fourGroups();
    ipam.addHost({ name: 'A', ip: '10.9.0.1' });
    ipam.allocate({ name: 'p', host: 'A', tenant: 't', segment: 's' });
    assert.deepEqual(ipam.takeTouchedBlocks(), [
      {
        network: 'net1',
        cidr: '10.0.0.0/29',
        state: { owner: 't:s', host: 'A', acquired: 2, released: 0, names: [[0, 'p']] },
      },
    ]);
    assert.deepEqual(ipam.takeTouchedBlocks(), []);
  });
});
