/** Shared builders and assertions for the Ipam unit tests (src/ipam/ipam-*.test.ts). */
import assert from 'node:assert/strict';
import { isRomanaError, type ErrorCode } from '../errors.ts';
import { Ipam } from './ipam.ts';
import type { GroupOrHost, NetworkDefinition } from './topology.ts';

export function fourGroups(extra: Partial<NetworkDefinition> = {}, map?: GroupOrHost[]): Ipam {
  const ipam = new Ipam();
  ipam.updateTopology({
    networks: [{ name: 'net1', cidr: '10.0.0.0/16', block_mask: 29, ...extra }],
    topologies: [
      {
        networks: ['net1'],
        map: map ?? [{ name: 'g0' }, { name: 'g1' }, { name: 'g2' }, { name: 'g3' }],
      },
    ],
  });
  return ipam;
}

export function throwsCode(fn: () => unknown, code: ErrorCode, message: RegExp | string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isRomanaError(e, code), `expected ${code}, got ${String(e)}`);
    if (typeof message === 'string') assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  });
}

export const ips = (ipam: Ipam, reqs: Array<[string, string, string?, string?]>): string[] =>
  reqs.map(
    ([name, host, tenant = 't', segment = 's']) =>
      ipam.allocate({ name, host, tenant, segment }).ip,
  );

/**
 * One network `n` (10.0.0.0/16, blocks of `blockMask`) in two groups r1 and r2, hosts h1
 * (10.9.0.1) and h2 (10.9.0.2), and what the setup touched already taken.
 */
export function twoRacks(blockMask = 29): Ipam {
  const a = new Ipam();
  a.updateTopology({
    networks: [{ name: 'n', cidr: '10.0.0.0/16', block_mask: blockMask }],
    topologies: [{ networks: ['n'], map: [{ name: 'r1' }, { name: 'r2' }] }],
  });
  a.addHost({ name: 'h1', ip: '10.9.0.1' });
  a.addHost({ name: 'h2', ip: '10.9.0.2' });
  a.takeTouchedBlocks();
  return a;
}

/** `twoRacks` and a second engine restored from its snapshot: two replicas of one state. */
export function replicaPair(blockMask = 29): [Ipam, Ipam] {
  const a = twoRacks(blockMask);
  return [a, new Ipam(a.toSnapshot())];
}
