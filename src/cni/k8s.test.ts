import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CniError } from './errors.ts';
import { podTag, readKubeconfig } from './k8s.ts';

describe('segment lookup in the Kubernetes API', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'romana-cni-k8s-'));
  const seen: { url?: string; auth?: string }[] = [];
  const server = http.createServer((req, res) => {
    seen.push({ url: req.url, auth: req.headers.authorization });
    if (req.url === '/api/v1/namespaces/shop/pods/web-1') {
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          metadata: {
            name: 'web-1',
            labels: { 'romana.io/segment': 'frontend' },
            annotations: { 'romana.io/segment': 'from-annotation' },
          },
        }),
      );
    } else {
      res.statusCode = 404;
      res.end('{"kind":"Status","reason":"NotFound"}');
    }
  });
  let kubeconfig = '';

  before(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    writeFileSync(path.join(dir, 'token'), 'sekret-token\n');
    kubeconfig = path.join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'current-context: romana',
        'clusters:',
        '- name: other',
        '  cluster: { server: "http://192.0.2.1:1" }',
        '- name: local',
        `  cluster: { server: "http://127.0.0.1:${port}/" }`,
        'users:',
        '- name: cni',
        '  user: { tokenFile: token }',
        'contexts:',
        '- name: romana',
        '  context: { cluster: local, user: cni }',
        '',
      ].join('\n'),
    );
  });
  after(async () => {
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads the current context, with a token file relative to the kubeconfig', async () => {
    const a = await readKubeconfig(kubeconfig);
    assert.match(a.server, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(a.token, 'sekret-token');
    assert.equal(a.insecure, false);
  });

  it('finds the label, or the annotation when asked, and sends the token', async () => {
    const a = await readKubeconfig(kubeconfig);
    const pod = { name: 'web-1', namespace: 'shop' };
    assert.equal(await podTag(a, pod, 'romana.io/segment', false), 'frontend');
    assert.equal(await podTag(a, pod, 'romana.io/segment', true), 'from-annotation');
    assert.equal(await podTag(a, pod, 'other', false), undefined);
    assert.equal(seen.at(-1)?.auth, 'Bearer sekret-token');
  });

  it('fails with code 103 when the pod cannot be read and 11 when the API is unreachable', async () => {
    const a = await readKubeconfig(kubeconfig);
    await assert.rejects(
      podTag(a, { name: 'nope', namespace: 'shop' }, 'x', false),
      (e: unknown) => e instanceof CniError && e.code === 103,
    );
    await assert.rejects(
      podTag(
        { ...a, server: 'http://127.0.0.1:1' },
        { name: 'web-1', namespace: 'shop' },
        'x',
        false,
      ),
      (e: unknown) => e instanceof CniError && e.code === 11,
    );
  });

  it('refuses a kubeconfig whose context names no cluster (code 7)', async () => {
    const bad = path.join(dir, 'bad');
    writeFileSync(bad, 'current-context: x\ncontexts: []\n');
    await assert.rejects(
      readKubeconfig(bad),
      (e: unknown) => e instanceof CniError && e.code === 7,
    );
  });
});
