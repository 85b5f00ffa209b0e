/**
 * `romana address show|release <IP>` acts on the pod at that IP, even when an address stored
 * before the name rule is named like another pod's IP (romanad looks a name up first).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { type FaultyService, seededService } from '../../test/helpers/service.ts';
import { buildApp } from '../server/http/app.ts';
import type { Io } from './io.ts';
import { main } from './main.ts';

const HOME = mkdtempSync(path.join(tmpdir(), 'romana-address-ip-'));
let service: FaultyService;
let app: FastifyInstance;
let url: string;

before(async () => {
  service = await seededService();
  app = buildApp(service);
  await app.listen({ host: '127.0.0.1', port: 0 });
  url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
});

after(async () => {
  await app.close();
  await service.close();
  rmSync(HOME, { recursive: true, force: true });
});

async function romana(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: Io = {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    readStdin: async () => undefined,
    env: {},
    home: HOME,
  };
  const code = await main(['-r', url, '-f', 'json', ...argv], io);
  return { code, out, err };
}

describe('romana address with an IP argument', () => {
  it('shows and releases the pod at that IP, not an address named like the IP', async () => {
    // Allocated through the service, as an address stored before the name rule would be.
    assert.equal((await service.allocate({ name: 'pod-a', host: 'h1' })).ip, '10.0.0.0');
    assert.equal((await service.allocate({ name: '10.0.0.0', host: 'h1' })).ip, '10.0.0.1');

    const shown = await romana('address', 'show', '10.0.0.0');
    assert.equal(shown.code, 0, shown.err);
    assert.equal((JSON.parse(shown.out) as { name: string }).name, 'pod-a');

    const released = await romana('address', 'release', '10.0.0.0');
    assert.equal(released.code, 0, released.err);
    assert.deepEqual(
      service.listAddresses().map((a) => [a.name, a.ip]),
      [['10.0.0.0', '10.0.0.1']],
    );
  });

  it('says no pod holds an IP that is free, and exits 1', async () => {
    const r = await romana('address', 'show', '10.0.0.200');
    assert.equal(r.code, 1);
    assert.match(r.err, /No pod holds IP 10\.0\.0\.200/);
  });

  it('still takes a name', async () => {
    await service.allocate({ name: 'pod-b', host: 'h1' });
    const r = await romana('address', 'show', 'pod-b');
    assert.equal(r.code, 0, r.err);
    assert.equal((JSON.parse(r.out) as { name: string }).name, 'pod-b');
  });
});
