/**
 * Watches and informers of the official client against the test API server: resume from a
 * resourceVersion, bookmarks, 410 Expired after compaction (as an HTTP status and as an ERROR
 * event), relist after a restart, selector transitions, timeouts, stop and start listening.
 */
import * as k8s from '@kubernetes/client-node';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startKubeApiServer, type KubeApiServer } from './index.ts';
import { collectWatch, waitFor } from './testing.ts';

let api: KubeApiServer;
let kc: k8s.KubeConfig;
let core: k8s.CoreV1Api;

before(async () => {
  api = await startKubeApiServer({ bookmarkMs: 50 });
  kc = new k8s.KubeConfig();
  kc.loadFromFile(api.kubeconfigPath);
  core = kc.makeApiClient(k8s.CoreV1Api);
});
after(() => api.close());

const node = (name: string, labels: Record<string, string> = {}) => ({
  apiVersion: 'v1',
  kind: 'Node',
  metadata: { name, labels },
});

describe('watch', () => {
  it('from a resourceVersion sees exactly the later changes, in order, with their versions', async () => {
    api.create(node('before'));
    const rv = api.store.revision;
    const w = await collectWatch(kc, '/api/v1/nodes', { resourceVersion: String(rv) });
    api.create(node('a'));
    const a = api.get('v1', 'Node', 'a');
    assert.ok(a !== undefined);
    api.update({ ...a, metadata: { ...a.metadata, labels: { x: '1' } } });
    api.delete('v1', 'Node', 'a');
    await waitFor(() => w.events.length >= 3, 'three events');
    w.abort();
    assert.deepEqual(
      w.events.map((e) => [
        e.type,
        e.object.metadata?.name,
        Number(e.object.metadata?.resourceVersion),
      ]),
      [
        ['ADDED', 'a', rv + 1],
        ['MODIFIED', 'a', rv + 2],
        ['DELETED', 'a', rv + 3],
      ],
    );
    assert.deepEqual(w.events[1]?.object.metadata?.labels, { x: '1' });
  });

  it('replays retained changes made before the watch started', async () => {
    const rv = api.store.revision;
    api.create(node('r1'));
    api.create(node('r2'));
    const w = await collectWatch(kc, '/api/v1/nodes', { resourceVersion: String(rv) });
    await waitFor(() => w.events.length >= 2, 'two replayed events');
    w.abort();
    assert.deepEqual(
      w.events.map((e) => e.object.metadata?.name),
      ['r1', 'r2'],
    );
  });

  it('without a resourceVersion starts with ADDED for every object', async () => {
    const w = await collectWatch(kc, '/api/v1/nodes', { labelSelector: 'kind=initial' });
    api.create(node('i1', { kind: 'initial' }));
    await waitFor(() => w.events.length >= 1, 'one event');
    const w2 = await collectWatch(kc, '/api/v1/nodes', { labelSelector: 'kind=initial' });
    await waitFor(() => w2.events.length >= 1, 'the initial ADDED');
    w.abort();
    w2.abort();
    assert.deepEqual(w2.events[0]?.type, 'ADDED');
    assert.equal(w2.events[0]?.object.metadata?.name, 'i1');
  });

  it('sends BOOKMARKs with only kind, apiVersion and the latest resourceVersion', async () => {
    const w = await collectWatch(kc, '/api/v1/nodes', {
      resourceVersion: String(api.store.revision),
      allowWatchBookmarks: true,
    });
    api.create(node('b1'));
    await waitFor(() => w.events.some((e) => e.type === 'BOOKMARK'), 'a bookmark');
    w.abort();
    const bm = w.events.find((e) => e.type === 'BOOKMARK');
    assert.deepEqual(bm?.object, {
      kind: 'Node',
      apiVersion: 'v1',
      metadata: { resourceVersion: String(api.store.revision) },
    });
  });

  it('with a selector, an object leaving it is DELETED and one entering it is ADDED', async () => {
    api.create(node('sel', { role: 'x' }));
    const w = await collectWatch(kc, '/api/v1/nodes', {
      resourceVersion: String(api.store.revision),
      labelSelector: 'role=y',
    });
    const n = api.get('v1', 'Node', 'sel');
    assert.ok(n !== undefined);
    const y = api.update({ ...n, metadata: { ...n.metadata, labels: { role: 'y' } } });
    api.update({ ...y, metadata: { ...y.metadata, labels: { role: 'z' } } });
    await waitFor(() => w.events.length >= 2, 'two events');
    w.abort();
    assert.deepEqual(
      w.events.map((e) => [e.type, e.object.metadata?.labels?.['role']]),
      [
        ['ADDED', 'y'],
        ['DELETED', 'z'],
      ],
    );
  });

  it('ends cleanly after timeoutSeconds', async () => {
    const w = await collectWatch(kc, '/api/v1/nodes', {
      resourceVersion: String(api.store.revision),
      timeoutSeconds: 1,
    });
    await waitFor(() => w.done !== undefined, 'the end of the watch', 3000);
    assert.equal(w.done?.err, null);
  });
});

describe('410 Expired', () => {
  it('a watch from a compacted version is an HTTP 410 with an Expired Status body', async () => {
    const old = api.store.revision;
    api.create(node('c1'));
    api.compact();
    const w = await collectWatch(kc, '/api/v1/nodes', { resourceVersion: String(old) });
    await waitFor(() => w.done !== undefined, 'the refusal');
    assert.equal((w.done?.err as { statusCode?: number }).statusCode, 410);
    const res = await fetch(`${api.url}/api/v1/nodes?watch=1&resourceVersion=${old}`);
    assert.equal(res.status, 410);
    assert.deepEqual(await res.json(), {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: `too old resource version: ${old} (${api.store.revision})`,
      reason: 'Expired',
      code: 410,
    });
    const ok = await collectWatch(kc, '/api/v1/nodes', {
      resourceVersion: String(api.store.revision),
    });
    // Accepted: it delivers a later change, and is still open after it.
    api.create(node('c2'));
    await waitFor(() => ok.events.length > 0 || ok.done !== undefined, 'the next event');
    assert.equal(ok.done, undefined, 'a watch from the latest version is accepted');
    assert.deepEqual(
      ok.events.map((e) => `${e.type} ${e.object.metadata?.name}`),
      ['ADDED c2'],
    );
    ok.abort();
  });

  it('a running watch that falls behind compaction gets an ERROR event with the Status', async () => {
    const w = await collectWatch(kc, '/api/v1/nodes', {
      resourceVersion: String(api.store.revision),
    });
    await waitFor(() => api.watchCount > 0, 'the watch to start');
    api.compact({ expireWatches: true });
    await waitFor(() => w.done !== undefined, 'the watch to end');
    assert.equal(w.events.length, 1);
    assert.equal(w.events[0]?.type, 'ERROR');
    assert.equal(w.events[0]?.object.code, 410);
    assert.equal(w.events[0]?.object.reason, 'Expired');
  });

  it("with tooOldWatch 'event', an expired version is a 200 stream with one ERROR event", async () => {
    const other = await startKubeApiServer({ tooOldWatch: 'event' });
    try {
      other.create(node('e1'));
      other.compact();
      const res = await fetch(`${other.url}/api/v1/nodes?watch=true&resourceVersion=1`);
      assert.equal(res.status, 200);
      const lines = (await res.text())
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as unknown);
      assert.equal(lines.length, 1);
      assert.deepEqual(lines[0], {
        type: 'ERROR',
        object: {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          message: `too old resource version: 1 (${other.store.revision})`,
          reason: 'Expired',
          code: 410,
        },
      });
    } finally {
      await other.close();
    }
  });

  it('a continue token whose version was compacted away is 410', async () => {
    for (const n of ['p1', 'p2', 'p3']) api.create(node(n, { page: 'yes' }));
    const first = await core.listNode({ labelSelector: 'page=yes', limit: 1 });
    const ok = await fetch(
      `${api.url}/api/v1/nodes?labelSelector=page%3Dyes&limit=1&continue=${first.metadata?._continue ?? ''}`,
    );
    assert.equal(ok.status, 200, 'the snapshot version is still retained');
    api.create(node('p4'));
    api.compact();
    const res = await fetch(
      `${api.url}/api/v1/nodes?labelSelector=page%3Dyes&limit=1&continue=${first.metadata?._continue ?? ''}`,
    );
    assert.equal(res.status, 410);
    assert.equal(((await res.json()) as { reason: string }).reason, 'Expired');
  });
});

describe('informer', () => {
  it('follows adds, updates and deletes, and relists after a restart', async () => {
    const informer = k8s.makeInformer(kc, '/api/v1/nodes', () => core.listNode());
    const seen: string[] = [];
    informer.on('add', (n) => seen.push(`add ${n.metadata?.name ?? ''}`));
    informer.on('update', (n) => seen.push(`update ${n.metadata?.name ?? ''}`));
    informer.on('delete', (n) => seen.push(`delete ${n.metadata?.name ?? ''}`));
    // client-node stops an informer on a connection error; a listener starts it again, unless
    // the test has stopped it (stopping can itself report an error: restarting then would
    // keep the informer, and this file, running forever).
    let stopped = false;
    informer.on('error', () => setTimeout(() => stopped || void informer.start(), 20));
    await informer.start();
    try {
      await waitFor(() => api.watchCount > 0, 'the informer to watch');
      const count = (): number => informer.list().length;
      assert.equal(count(), api.list('v1', 'Node').length);
      api.create(node('inf1'));
      await waitFor(() => informer.get('inf1') !== undefined, 'inf1 in the cache');
      const lists = (): number =>
        api.requests.filter((r) => r.verb === 'list' && r.resource === 'nodes').length;
      const listsBefore = lists();
      await api.stopListening();
      api.delete('v1', 'Node', 'inf1');
      api.create(node('inf2'));
      api.restart();
      await api.startListening();
      await waitFor(() => informer.get('inf2') !== undefined, 'inf2 after the relist');
      assert.equal(informer.get('inf1'), undefined);
      assert.ok(lists() > listsBefore, 'the informer listed again');
      assert.ok(seen.includes('delete inf1'));
      assert.deepEqual(
        informer
          .list()
          .map((n) => n.metadata?.name)
          .sort(),
        api
          .list('v1', 'Node')
          .map((n) => n.metadata.name)
          .sort(),
      );
    } finally {
      stopped = true;
      await informer.stop();
    }
  });

  it('relists after a 410 on its watch and ends with the same objects as the server', async () => {
    const informer = k8s.makeInformer(kc, '/api/v1/nodes', () => core.listNode());
    await informer.start();
    try {
      await waitFor(() => api.watchCount > 0, 'the informer to watch');
      api.requests.length = 0;
      api.restart();
      api.create(node('after-restart'));
      await waitFor(() => informer.get('after-restart') !== undefined, 'the new node');
      await waitFor(() => api.watchCount > 0, 'the informer to watch again');
      // The resumed watch (refused with 410: its version is gone) comes first, then a relist,
      // then a watch from the list's version. The client may retry the watch once more before
      // it lists, depending on when it sees the connection close.
      const verbs = api.requests.filter((r) => r.resource === 'nodes').map((r) => r.verb);
      assert.equal(verbs[0], 'watch', verbs.join(','));
      const listed = verbs.indexOf('list');
      assert.ok(listed > 0, `a relist after the refused watch: ${verbs.join(',')}`);
      assert.ok(
        verbs.slice(1, listed).every((v) => v === 'watch'),
        verbs.join(','),
      );
      assert.equal(verbs[listed + 1], 'watch', verbs.join(','));
    } finally {
      await informer.stop();
    }
  });
});
