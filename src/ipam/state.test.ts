/**
 * The engine's host lookups and registrations refused, each with its code, whole message and
 * the resource it names: a name and IP that disagree, a host not found by IP, by name or by
 * nothing, a name or an address (either family) already taken, tags no group takes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isRomanaError } from '../errors.ts';
import { Ipam } from './ipam.ts';

function refused(f: () => unknown, want: [string, string, string, string]): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(isRomanaError(e), String(e));
    assert.deepEqual([e.code, e.message, e.resourceType, e.resourceId], want);
    return true;
  });
}

function engine(): Ipam {
  const ipam = new Ipam();
  ipam.updateTopology({
    networks: [{ name: 'n', cidr: '10.0.0.0/16' }],
    topologies: [{ networks: ['n'], map: [{ name: 'g', assignment: { rack: '1' } }] }],
  });
  ipam.addHost({ name: 'h', ip: '10.9.0.1', ip6: 'fd00::1', tags: { rack: '1' } });
  return ipam;
}

describe('host lookups', () => {
  it('finds a host by IP and name when they agree, and says which when they do not', () => {
    const ipam = engine();
    assert.equal(ipam.getHost({ ip: '10.9.0.1', name: 'h' }).name, 'h');
    assert.equal(ipam.getHost({ ip: 'fd00::1' }).name, 'h');
    refused(
      () => ipam.getHost({ ip: '10.9.0.1', name: 'other' }),
      ['InvalidInput', 'Found host with IP 10.9.0.1 but it has name h, not other', 'host', 'other'],
    );
  });

  it('names what it looked for when no host is found', () => {
    const ipam = engine();
    refused(
      () => ipam.getHost({ ip: '10.9.9.9' }),
      ['NotFound', 'No host with IP 10.9.9.9', 'host', '10.9.9.9'],
    );
    refused(
      () => ipam.getHost({ ip: '10.9.9.9', name: 'x' }),
      ['NotFound', 'No host with IP 10.9.9.9', 'host', 'x'],
    );
    refused(() => ipam.getHost({ name: 'x' }), ['NotFound', "No host named 'x'", 'host', 'x']);
    refused(() => ipam.getHost({}), ['NotFound', 'No host (no name or IP given)', 'host', '']);
  });
});

describe('host registration', () => {
  it('refuses a name or an address of either family already taken, naming the holder', () => {
    const ipam = engine();
    const tags = { rack: '1' };
    refused(
      () => ipam.addHost({ name: 'h', ip: '10.9.0.5', tags }),
      ['AlreadyExists', "a host named 'h' already exists: h (10.9.0.1)", 'host', 'h'],
    );
    refused(
      () => ipam.addHost({ name: 'h2', ip: '10.9.0.1', tags }),
      ['AlreadyExists', 'IP 10.9.0.1 already belongs to another host: h (10.9.0.1)', 'host', 'h2'],
    );
    refused(
      () => ipam.addHost({ name: 'h3', ip: '10.9.0.3', ip6: 'fd00::1', tags }),
      ['AlreadyExists', 'IP fd00::1 already belongs to another host: h (10.9.0.1)', 'host', 'h3'],
    );
    assert.equal(ipam.addHost({ name: 'h4', ip: '10.9.0.4', ip6: 'fd00::4', tags }).ip6, 'fd00::4');
  });

  it('refuses tags no group takes, naming the host and its tags', () => {
    refused(
      () => engine().addHost({ name: 'h5', ip: '10.9.0.5', tags: { rack: '2' } }),
      [
        'InvalidInput',
        "No group can take host h5 (10.9.0.5) with tags rack=2: no group's assignment matches them",
        'host',
        'h5',
      ],
    );
  });
});

describe('block bookkeeping', () => {
  it("gives an owner whose block emptied a block it owns again, not the freed one's ghost", () => {
    const ipam = engine();
    assert.equal(ipam.allocate({ name: 'a', host: 'h', tenant: 't' }).ip, '10.0.0.0');
    ipam.release('a');
    assert.equal(ipam.getBlock('n', '10.0.0.0/29').tenant, '');
    const b = ipam.allocate({ name: 'b', host: 'h', tenant: 't' });
    assert.deepEqual([b.ip, b.tenant, b.host], ['10.0.0.0', 't', 'h']);
    const block = ipam.getBlock('n', '10.0.0.0/29');
    assert.deepEqual([block.tenant, block.host, block.allocated_ip_count], ['t', 'h', 1]);
    // Another owner gets a block of its own, not the one `t` holds again.
    assert.equal(ipam.allocate({ name: 'c', host: 'h', tenant: 'u' }).ip, '10.0.0.8');
    assert.equal(ipam.getBlock('n', '10.0.0.0/29').tenant, 't');
  });

  it('finds no block, and makes none, in a network whose topology map is empty', () => {
    const ipam = new Ipam();
    ipam.updateTopology({
      networks: [{ name: 'n', cidr: '10.0.0.0/16' }],
      topologies: [{ networks: ['n'], map: [] }],
    });
    for (const cidr of ['10.0.0.0/29', '10.0.255.248/29']) {
      assert.throws(
        () => ipam.applyBlock('n', cidr, null),
        (e: unknown) =>
          isRomanaError(e, 'Internal') &&
          e.message ===
            `replicated IPAM state is inconsistent: ${cidr} is not a block of network n`,
      );
    }
    assert.deepEqual(ipam.listAllBlocks().blocks, []);
  });

  it("counts up the revisions of a removed host's blocks and of their network", () => {
    const ipam = engine();
    ipam.allocate({ name: 'a', host: 'h', tenant: 't' });
    ipam.setBlockRevision('n', '10.0.0.0/29', 7);
    const net = ipam.listNetworkBlocks('n').revision;
    assert.deepEqual(ipam.removeHost({ name: 'h' }).releasedAddresses, ['a']);
    assert.equal(ipam.getBlock('n', '10.0.0.0/29').revision, 8);
    assert.equal(ipam.listNetworkBlocks('n').revision, net + 1);
  });
});
