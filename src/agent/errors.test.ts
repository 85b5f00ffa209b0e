/**
 * The agent's failures are typed: callers (and `romana-agent`'s exit) switch on `code`, never
 * on message text. Real commands in a throwaway network namespace.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isRomanaError } from '../errors.ts';
import { CommandFailedError } from '../exec.ts';
import { createNetns, uniqueNetnsName, type TestNetns } from '../../test/helpers/netns.ts';
import { applyBatch } from './kernel-routes.ts';
import { primaryLink, sysctls } from './provision.ts';

describe('the agent’s failures', { skip: process.getuid?.() !== 0 && 'needs root' }, () => {
  let ns: TestNetns;
  before(() => {
    ns = createNetns(uniqueNetnsName('seams-agent'));
  });
  after(() => ns.remove());

  it('an unknown --link-name is InvalidInput naming the interface', async () => {
    await assert.rejects(primaryLink(ns.exec, 'no-such-if'), (e: unknown) => {
      assert.ok(isRomanaError(e, 'InvalidInput'), String(e));
      assert.equal(e.resourceId, 'no-such-if');
      assert.match(e.message, /--link-name: there is no interface 'no-such-if'/);
      return true;
    });
  });

  it('no default route (and no --link-name) is InvalidInput saying which flag to give', async () => {
    await assert.rejects(primaryLink(ns.exec, undefined), (e: unknown) => {
      assert.ok(isRomanaError(e, 'InvalidInput'), String(e));
      assert.match(e.message, /give --link-name/);
      return true;
    });
  });

  it('a sysctl that is not 1 is InvalidInput naming the key', async () => {
    ns.run(['sysctl', '-qw', 'net.ipv4.ip_forward=0']);
    await assert.rejects(sysctls(ns.exec, false), (e: unknown) => {
      assert.ok(isRomanaError(e, 'InvalidInput'), String(e));
      assert.equal(e.resourceType, 'sysctl');
      assert.match(e.message, /is 0, not 1/);
      return true;
    });
  });

  it('a route batch the kernel refuses is a CommandFailedError with the exit status and stderr', async () => {
    await assert.rejects(applyBatch(ns.exec, ['route add 10.9.0.0/24 dev no-such-if']), (e) => {
      assert.ok(e instanceof CommandFailedError, String(e));
      assert.equal(e.code, 'Internal');
      assert.equal(e.command, 'ip -batch');
      assert.notEqual(e.exitCode, 0);
      assert.match(e.stderr, /Cannot find device|no-such-if/);
      return true;
    });
  });
});
