/**
 * Test files whose code writes the host side's sysctls (under /proc/sys/net of its own network
 * namespace) run again inside a host namespace of their own: the outer run creates the
 * namespace, runs the same file there with `nsenter`, and passes when the inner run passed.
 * Needs root.
 *
 * @example
 * inOwnHostNamespace(import.meta.url, { suite: 'CNI wiring', envVar: 'ROMANA_X_HOST_NS',
 *   netnsPrefix: 'x-h' }, inner);
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createNetns, uniqueNetnsName } from './netns.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

export interface OwnHostNamespace {
  /** The outer suite's title. */
  suite: string;
  /** Set (to the namespace's name) in the inner run, so that it runs the tests themselves. */
  envVar: string;
  /** Prefix of the namespace's name (unique per test file). */
  netnsPrefix: string;
}

/** In the outer run, one test that runs `fileUrl` inside a new namespace; in the inner, `inner`. */
export function inOwnHostNamespace(fileUrl: string, o: OwnHostNamespace, inner: () => void): void {
  if (process.env[o.envVar] !== undefined) {
    inner();
    return;
  }
  const isRoot = process.getuid?.() === 0;
  describe(o.suite, { skip: !isRoot && 'needs root' }, () => {
    it('passes inside a host network namespace of its own', () => {
      const host = createNetns(uniqueNetnsName(o.netnsPrefix));
      try {
        const file = fileURLToPath(fileUrl);
        // without NODE_TEST_CONTEXT, the inner `node --test` reports TAP here, not to a parent
        const { NODE_TEST_CONTEXT: _, ...env } = process.env;
        const r = spawnSync(
          'nsenter',
          [
            `--net=${host.path}`,
            process.execPath,
            '--import',
            'tsx',
            '--test',
            '--test-reporter=tap',
            file,
          ],
          { cwd: ROOT, env: { ...env, [o.envVar]: host.name }, encoding: 'utf8', timeout: 120_000 },
        );
        assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
        assert.match(r.stdout, /^# pass [1-9]/m);
        assert.match(r.stdout, /^# fail 0$/m);
      } finally {
        host.remove();
      }
    });
  });
}
