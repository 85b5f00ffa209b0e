import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runInstaller } from '../../src/cni/install.ts';
import { helpText, parseConfig } from '../../src/server/config.ts';
import { request, startRomanad, type Romanad } from '../helpers/romanad.ts';
import {
  allContainers,
  expandArgs,
  find,
  kustomize,
  readObjects,
  resolveEnv,
  ROOT,
  tokensSecret,
  validateObject,
  VERSION,
  workloads,
  type K8sObject,
  type Workload,
} from './manifests.ts';

const sources: Record<string, () => K8sObject[]> = {
  'romana.yaml': () => readObjects('romana.yaml'),
  'kubectl kustomize base': () => kustomize('base'),
  'kubectl kustomize overlays/etcd': () => kustomize('overlays/etcd'),
  'uninstall-cni.yaml': () => readObjects('uninstall-cni.yaml'),
  'the Secret of tokens.sh': () => [tokensSecret()],
};
const rendered: Record<string, K8sObject[]> = {};
before(() => {
  for (const [name, load] of Object.entries(sources)) rendered[name] = load();
});
const base = () => rendered['kubectl kustomize base']!;
const etcd = () => rendered['kubectl kustomize overlays/etcd']!;
const workload = (objs: K8sObject[], kind: string, name: string) =>
  find(objs, kind, name) as Workload;

/** What the kubelet would put in the downward-API fields and the romanad Service variables. */
const FIELDS = {
  'status.podIP': '10.0.0.11',
  'status.hostIP': '10.0.0.11',
  'spec.nodeName': 'node-1',
  'metadata.name': 'romana-listener-abc12',
};
const SERVICE_ENV = { ROMANAD_SERVICE_HOST: '10.96.0.20', ROMANAD_SERVICE_PORT: '9600' };

describe('every manifest validates against the Kubernetes schemas', () => {
  for (const name of Object.keys(sources)) {
    it(`${name}: every object`, async () => {
      const objs = rendered[name]!;
      assert.ok(objs.length > 0);
      for (const o of objs) await validateObject(o);
    });
  }

  it('a broken object, an unknown kind and an unknown apiVersion fail', async () => {
    const ds = structuredClone(workload(base(), 'DaemonSet', 'romana-agent'));
    ds.spec.template.spec.containers[0]!.name = 7 as unknown as string;
    await assert.rejects(validateObject(ds), /DaemonSet romana-agent: .*name must be string/);
    const kind = { apiVersion: 'v1', kind: 'Widget', metadata: { name: 'w' } };
    await assert.rejects(validateObject(kind), /no model for v1 Widget/);
    const version = { apiVersion: 'apps/v9', kind: 'Deployment', metadata: { name: 'd' } };
    await assert.rejects(validateObject(version), /no model for apps\/v9 Deployment/);
  });

  it('romana.yaml holds exactly what the kustomize base renders', () => {
    assert.deepEqual(rendered['romana.yaml'], base());
  });

  it('every namespaced object is in romana-system, and every image is this version', () => {
    const cluster = ['Namespace', 'ClusterRole', 'ClusterRoleBinding'];
    for (const objs of Object.values(rendered)) {
      for (const o of objs) {
        if (!cluster.includes(o.kind)) assert.equal(o.metadata.namespace, 'romana-system');
      }
      for (const w of workloads(objs)) {
        for (const c of allContainers(w)) {
          assert.equal(c.image, `ghcr.io/romana-ts/romana:${VERSION}`, `${w.kind}/${c.name}`);
        }
      }
    }
  });
});

describe('the workloads ask for what they need and no more', () => {
  it('only the agent adds capabilities (NET_ADMIN, NET_RAW), only its sysctls step is privileged', () => {
    for (const objs of Object.values(rendered)) {
      for (const w of workloads(objs)) {
        for (const c of allContainers(w)) {
          const where = `${w.metadata.name}/${c.name}`;
          const sc = c.securityContext ?? {};
          if (w.metadata.name === 'romana-agent' && c.name === 'sysctls') {
            assert.equal(sc.privileged, true);
            assert.deepEqual(c.command?.slice(0, 2), ['sh', '-c']);
            continue;
          }
          assert.notEqual(sc.privileged, true, where);
          assert.deepEqual(sc.capabilities?.drop, ['ALL'], where);
          assert.equal(sc['allowPrivilegeEscalation'], false, where);
          const add = sc.capabilities?.add ?? [];
          const expected = w.metadata.name === 'romana-agent' && c.name === 'agent';
          assert.deepEqual(add, expected ? ['NET_ADMIN', 'NET_RAW'] : [], where);
        }
      }
    }
  });

  it('the agent runs on every node in the host network; every container requests resources', () => {
    const agent = workload(base(), 'DaemonSet', 'romana-agent').spec.template.spec;
    assert.equal(agent.hostNetwork, true);
    assert.deepEqual(agent.tolerations, [{ operator: 'Exists' }]);
    for (const w of workloads(base())) {
      for (const c of allContainers(w)) {
        assert.ok(c.resources?.requests?.['cpu'] && c.resources.requests['memory'], c.name);
      }
    }
  });

  it('romanad probes /healthz and /readyz, keeps its store on a claim (embedded) or in etcd', () => {
    const sts = workload(base(), 'StatefulSet', 'romanad');
    const c = sts.spec.template.spec.containers[0]!;
    assert.equal(c.livenessProbe?.httpGet?.path, '/healthz');
    assert.equal(c.readinessProbe?.httpGet?.path, '/readyz');
    const claims = (sts.spec as { volumeClaimTemplates?: { metadata: { name: string } }[] })
      .volumeClaimTemplates;
    assert.equal(claims?.[0]?.metadata.name, 'data');
    assert.ok(c.volumeMounts?.some((m) => m.name === 'data' && m.mountPath === '/var/lib/romana'));
    const e = workload(etcd(), 'StatefulSet', 'romanad');
    assert.equal((e.spec as { volumeClaimTemplates?: unknown }).volumeClaimTemplates, undefined);
    assert.ok(!e.spec.template.spec.containers[0]!.volumeMounts?.some((m) => m.name === 'data'));
    assert.ok((e.spec.replicas ?? 1) > 1);
  });

  it('the listener runs two replicas; every workload has Prometheus scrape annotations', () => {
    assert.equal(workload(base(), 'Deployment', 'romana-listener').spec.replicas, 2);
    for (const w of workloads(base())) {
      const a = w.spec.template.metadata?.annotations ?? {};
      assert.equal(a['prometheus.io/scrape'], 'true', w.metadata.name);
      const ports = w.spec.template.spec.containers.flatMap(
        (c) => (c as { ports?: { containerPort: number }[] }).ports ?? [],
      );
      assert.ok(ports.some((p) => String(p.containerPort) === a['prometheus.io/port']));
    }
  });

  it('tokens come from the Secret tokens.sh makes, as files no one else may read', () => {
    const keys = Object.keys((tokensSecret() as K8sObject & { data: object }).data);
    for (const objs of [base(), etcd()]) {
      for (const w of workloads(objs)) {
        for (const v of w.spec.template.spec.volumes ?? []) {
          if (v.secret?.secretName !== 'romana-tokens') continue;
          assert.ok((v.secret.defaultMode ?? 0o644) <= 0o440, `${w.metadata.name}/${v.name}`);
          for (const item of v.secret.items ?? []) assert.ok(keys.includes(item.key), item.key);
          assert.ok((v.secret.items ?? []).length === 1, 'each pod mounts only its own token');
        }
      }
    }
  });
});

describe('the programs accept the settings the manifests give them', () => {
  it("romanad's environment is all known settings, and parses (embedded and etcd)", () => {
    const help = helpText().replace(/\s+/g, ' ');
    const known = new Set([...help.matchAll(/env (ROMANAD_[A-Z_]+)/g)].map((m) => m[1]));
    const cases = [
      [base(), { kind: 'embedded', dir: '/var/lib/romana' }],
      [etcd(), { kind: 'etcd' }],
    ] as const;
    for (const [objs, store] of cases) {
      const c = workload(objs, 'StatefulSet', 'romanad').spec.template.spec.containers[0]!;
      const env = resolveEnv(c, objs, FIELDS, {});
      for (const k of Object.keys(env)) assert.ok(known.has(k), `${k} is not a romanad setting`);
      const cfg = parseConfig([], env);
      assert.deepEqual(cfg.store, store);
      assert.equal(cfg.tokenFile, '/etc/romana/tokens/tokens.yaml');
    }
  });

  it("the agent's environment is all options of romana-agent --help, NetworkPolicies enforced", () => {
    const help = execFileSync(
      process.execPath,
      [path.join(ROOT, 'bin/romana-agent.js'), '--help'],
      {
        encoding: 'utf8',
      },
    );
    const c = workload(base(), 'DaemonSet', 'romana-agent').spec.template.spec.containers[0]!;
    const env = resolveEnv(c, base(), FIELDS, SERVICE_ENV);
    assert.equal(env['ROMANA_AGENT_ROMANAD_URL'], 'http://10.96.0.20:9600');
    // NetworkPolicies are enforced as the API defines them (the plugin diverts: use_policy).
    assert.equal(env['ROMANA_AGENT_POLICY'], 'true');
    assert.equal(env['ROMANA_AGENT_POLICY_MODE'], 'kubernetes');
    const flat = help.replace(/\s+/g, ' ');
    for (const e of c.env ?? []) {
      assert.ok(flat.includes(`env: ${e.name})`), `${e.name} is not in romana-agent --help`);
      // commander turns a switch on for any value of its variable, 'false' included.
      assert.notEqual(e.value, 'false', `${e.name}: leave a switch out to keep it off`);
    }
  });

  it('the install-cni step installs for real (host directories in a temp dir)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'romana-deploy-init-'));
    try {
      const ds = workload(base(), 'DaemonSet', 'romana-agent');
      const c = ds.spec.template.spec.initContainers!.find((x) => x.name === 'install-cni')!;
      const env = resolveEnv(c, base(), FIELDS, SERVICE_ENV);
      const token = path.join(dir, 'node-token');
      writeFileSync(token, 'abcdefabcdefabcdef\n');
      const argv = expandArgs(c.command!.slice(1), env).map((a) =>
        a.replace('/host', path.join(dir, 'host')).replace('/etc/romana/token/node-token', token),
      );
      const err: string[] = [];
      const code = runInstaller(argv, {
        out: () => undefined,
        err: (t) => void err.push(t),
        script: path.join(ROOT, 'bin/romana-cni.js'),
        execPath: process.execPath,
      });
      assert.equal(code, 0, err.join(''));
      const conf = JSON.parse(
        readFileSync(path.join(dir, 'host/etc/cni/net.d/10-romana.conflist'), 'utf8'),
      ) as { plugins: Record<string, string>[] };
      assert.deepEqual(conf.plugins[0], {
        type: 'romana',
        romanad_url: 'http://10.96.0.20:9600',
        token_file: '/etc/cni/net.d/romana-token',
        romana_host_name: 'node-1',
        use_policy: true,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the tokens tokens.sh makes', () => {
  let romanad: Romanad;
  let dir: string;
  let token: Record<string, string>;
  before(async () => {
    const secret = tokensSecret() as K8sObject & { data: Record<string, string> };
    token = Object.fromEntries(
      Object.entries(secret.data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]),
    );
    dir = mkdtempSync(path.join(tmpdir(), 'romana-deploy-tokens-'));
    const file = path.join(dir, 'tokens.yaml');
    writeFileSync(file, token['tokens.yaml']!, { mode: 0o600 });
    romanad = await startRomanad(['--store', 'memory:', '--token-file', file]);
  });
  after(async () => {
    await romanad?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('are random, and romanad gives each the role its name says', async () => {
    const again = tokensSecret() as K8sObject & { data: Record<string, string> };
    assert.notEqual(
      again.data['admin-token'],
      Buffer.from(token['admin-token']!).toString('base64'),
    );
    const as = async (t: string | undefined, method: string, p: string) =>
      (await request(romanad.url + p, method, undefined, t === undefined ? {} : { token: t }))
        .status;
    assert.equal(await as(undefined, 'GET', '/hosts'), 401);
    assert.equal(await as(token['read-only-token'], 'GET', '/hosts'), 200);
    assert.equal(await as(token['read-only-token'], 'DELETE', '/hosts/h1'), 403);
    assert.equal(await as(token['node-token'], 'DELETE', '/hosts/h1'), 403);
    assert.equal(await as(token['admin-token'], 'DELETE', '/hosts/h1'), 404);
  });
});
