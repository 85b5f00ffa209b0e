import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { isRomanaError } from '../errors.ts';
import { EmbeddedStore } from './embedded.ts';
import { EtcdStore } from './etcd.ts';
import { MemoryStore } from './memory.ts';
import { openStore } from './open.ts';

describe('openStore', () => {
  it('opens an embedded store in the given directory', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'romana-open-'));
    try {
      const s = await openStore(`embedded:${dir}`);
      assert.ok(s instanceof EmbeddedStore);
      assert.equal(s.dir, path.resolve(dir));
      await s.close();
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('opens a memory store for memory: and memory', async () => {
    for (const spec of ['memory:', 'memory']) {
      const s = await openStore(spec);
      assert.ok(s instanceof MemoryStore);
      await s.close();
    }
  });

  it('builds an etcd store from options or from the spec, without connecting', async () => {
    const a = await openStore('etcd', { etcd: { endpoints: ['127.0.0.1:1'], prefix: '/x' } });
    assert.ok(a instanceof EtcdStore);
    assert.equal(a.endpoints, '127.0.0.1:1');
    const b = await openStore('etcd:127.0.0.1:1,127.0.0.1:2');
    assert.equal((b as EtcdStore).endpoints, '127.0.0.1:1,127.0.0.1:2');
    await Promise.all([a.close(), b.close()]);
  });

  const bad: Array<[string, RegExp]> = [
    ['sqlite:/tmp/x', /unknown store 'sqlite:\/tmp\/x'/],
    ['', /unknown store ''/],
    ['memory:/tmp', /memory store takes no argument/],
    ['etcd', /needs at least one etcd endpoint/],
  ];
  for (const [spec, msg] of bad) {
    it(`rejects '${spec}' with an error naming it`, async () => {
      await assert.rejects(
        openStore(spec),
        (err: unknown) => isRomanaError(err, 'InvalidInput') && msg.test(err.message),
      );
    });
  }

  it('refuses unreadable TLS files, naming the file', async () => {
    await assert.rejects(
      openStore('etcd', {
        etcd: { endpoints: ['127.0.0.1:1'], tls: { ca: '/nonexistent/ca.pem' } },
      }),
      (err: unknown) =>
        isRomanaError(err, 'InvalidInput') && err.message.includes('/nonexistent/ca.pem'),
    );
  });
});
