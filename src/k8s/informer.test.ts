/**
 * The informer plumbing against the test Kubernetes API server (it speaks the real list/watch
 * protocol to the official client): first list, resume after a dropped watch without a relist,
 * relist on 410 with deletions reported, bookmarks asked for, restart after the server was away.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CoreV1Api, type V1Node } from '@kubernetes/client-node';
import { startKubeApiServer, type KubeApiServer } from '../../test/helpers/kube-apiserver/index.ts';
import { Informer, loadKubeConfig } from './informer.ts';

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const node = (name: string, labels: Record<string, string> = {}) => ({
  apiVersion: 'v1',
  kind: 'Node',
  metadata: { name, labels },
});

describe('informers over the official client', () => {
  let api: KubeApiServer;
  let inf: Informer<V1Node>;
  const seen: string[] = [];

  before(async () => {
    api = await startKubeApiServer({ bookmarkMs: 100 });
    api.create(node('n1'));
    api.create(node('n2'));
    const kc = loadKubeConfig(api.kubeconfigPath);
    const core = kc.makeApiClient(CoreV1Api);
    inf = new Informer<V1Node>(kc, {
      name: 'nodes',
      path: '/api/v1/nodes',
      list: () => core.listNode(),
      onAdd: (n) => seen.push(`add ${n.metadata?.name}`),
      onUpdate: (n) => seen.push(`update ${n.metadata?.name} ${n.metadata?.labels?.['v'] ?? ''}`),
      onDelete: (n) => seen.push(`delete ${n.metadata?.name}`),
      backoffMs: 20,
      maxBackoffMs: 100,
    });
    inf.start();
  });
  after(async () => {
    await inf.stop();
    await api.close();
  });

  it('lists, reports synced, then follows changes', async () => {
    await until('synced', () => inf.synced);
    assert.deepEqual(seen.sort(), ['add n1', 'add n2']);
    seen.length = 0;
    api.update({ ...node('n1', { v: '1' }) });
    await until('update', () => seen.includes('update n1 1'));
    assert.equal(inf.get('n1')?.metadata?.labels?.['v'], '1');
  });

  it('asks for bookmarks, and resumes a dropped watch from its resourceVersion without a relist', async () => {
    // another resource changes: only a bookmark can move the nodes' resourceVersion past it
    const before = Number(inf.resourceVersion);
    const ns = api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'x' } });
    const nsVersion = Number(ns.metadata.resourceVersion);
    assert.ok(nsVersion > before);
    await until('a bookmark', () => Number(inf.resourceVersion) >= nsVersion);
    const lists = inf.lists;
    await api.stopListening();
    api.create(node('n3'));
    await api.startListening();
    await until('n3 after reconnect', () => inf.get('n3') !== undefined);
    assert.equal(inf.lists, lists, 'no relist: the watch resumed from its version');
  });

  it('relists after 410 Gone and reports what vanished meanwhile as deleted', async () => {
    const lists = inf.lists;
    const resumeFrom = api.store.revision; // the informer has seen nothing later
    seen.length = 0;
    await api.stopListening();
    api.delete('v1', 'Node', 'n2');
    api.create(node('n4'));
    api.restart(); // history dropped: the resume point is gone
    await api.startListening();
    // A watch from there is now refused with 410 Gone (Expired), as the informer's is.
    const res = await fetch(`${api.url}/api/v1/nodes?watch=1&resourceVersion=${resumeFrom}`);
    assert.equal(res.status, 410);
    assert.equal(((await res.json()) as { reason: string }).reason, 'Expired');
    await until('relist', () => inf.lists === lists + 1 && inf.get('n4') !== undefined);
    assert.equal(inf.get('n2'), undefined);
    assert.ok(seen.includes('delete n2'), `deletions reported: ${seen.join(', ')}`);
    assert.ok(seen.includes('add n4'));
    assert.equal(seen.filter((s) => s === 'add n1').length, 0, 'nothing added twice');
  });
});
