import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isRomanaError } from '../errors.ts';
import { startEtcd, type EtcdHandle } from '../../test/helpers/etcd.ts';
import { makeCerts, type TestCerts } from '../../test/helpers/tls.ts';
import { EtcdStore } from './etcd.ts';

describe('etcd store over TLS with client certificates', () => {
  let certs: TestCerts;
  let etcd: EtcdHandle;
  before(async () => {
    certs = makeCerts();
    etcd = await startEtcd({ tls: { ca: certs.ca, cert: certs.serverCert, key: certs.serverKey } });
  });
  after(async () => {
    await etcd?.stop();
    certs?.remove();
  });

  it('writes and reads with a client certificate', async () => {
    const store = new EtcdStore({
      endpoints: etcd.endpoints,
      tls: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey },
    });
    try {
      const r = await store.txn(
        [{ key: 'k', modRevision: 0 }],
        [{ type: 'put', key: 'k', value: 'v' }],
      );
      assert.equal(r.succeeded, true);
      assert.equal((await store.get('k'))?.value, 'v');
    } finally {
      await store.close();
    }
  });

  it('is refused without a client certificate, as unavailable', async () => {
    const store = new EtcdStore({
      endpoints: etcd.endpoints,
      tls: { ca: certs.ca },
      requestTimeoutMs: 2000,
      attempts: 1,
    });
    try {
      await assert.rejects(store.get('k'), (e: unknown) => isRomanaError(e, 'Unavailable'));
    } finally {
      await store.close();
    }
  });
});
