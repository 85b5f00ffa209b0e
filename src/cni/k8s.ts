/**
 * The pod's segment from the Kubernetes API (reference §7.2.1): one GET of the pod with the
 * credentials of a kubeconfig file, reading the label (or annotation) `segment_label_name`.
 * The YAML parser is loaded only when a kubeconfig is configured, so it costs the plugin's
 * start nothing otherwise.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { CniCode, CniError } from './errors.ts';

/** Where and how to reach the API server, from a kubeconfig's current context. */
export interface KubeAccess {
  server: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  token?: string;
  insecure: boolean;
}

type Obj = Record<string, unknown>;

function named(list: unknown, name: unknown, field: string): Obj {
  const entry = Array.isArray(list)
    ? (list as Obj[]).find((e) => e && e['name'] === name)
    : undefined;
  const inner = entry?.[field];
  if (typeof inner !== 'object' || inner === null) {
    throw new CniError(
      CniCode.InvalidConfig,
      `kubernetes_config: no ${field} named '${String(name)}'`,
    );
  }
  return inner as Obj;
}

/**
 * Reads the current context of the kubeconfig at `file`: server, CA, client certificate or
 * token (inline `*-data` or files relative to the kubeconfig).
 *
 * @example
 * const access = await readKubeconfig('/var/run/romana/kubeconfig');
 */
export async function readKubeconfig(file: string): Promise<KubeAccess> {
  let doc: Obj;
  try {
    const { parse } = await import('yaml');
    doc = parse(readFileSync(file, 'utf8')) as Obj;
  } catch (err) {
    throw new CniError(
      CniCode.InvalidConfig,
      `kubernetes_config: cannot read ${file}`,
      String(err),
    );
  }
  const dir = path.dirname(file);
  const ctx = named(doc['contexts'], doc['current-context'], 'context');
  const cluster = named(doc['clusters'], ctx['cluster'], 'cluster');
  const user = doc['users'] === undefined ? {} : named(doc['users'], ctx['user'], 'user');
  const bytes = (o: Obj, key: string): Buffer | undefined => {
    const data = o[`${key}-data`];
    if (typeof data === 'string') return Buffer.from(data, 'base64');
    const f = o[key];
    return typeof f === 'string' ? readFileSync(path.resolve(dir, f)) : undefined;
  };
  const tokenFile = user['tokenFile'];
  const token =
    typeof user['token'] === 'string'
      ? user['token']
      : typeof tokenFile === 'string'
        ? readFileSync(path.resolve(dir, tokenFile), 'utf8').trim()
        : undefined;
  if (typeof cluster['server'] !== 'string') {
    throw new CniError(CniCode.InvalidConfig, 'kubernetes_config: the cluster has no server');
  }
  return {
    server: cluster['server'].replace(/\/+$/, ''),
    ca: bytes(cluster, 'certificate-authority'),
    cert: bytes(user, 'client-certificate'),
    key: bytes(user, 'client-key'),
    token,
    insecure: cluster['insecure-skip-tls-verify'] === true,
  };
}

/**
 * The pod's label (or, with `useAnnotations`, annotation) `name`; undefined when the pod has
 * none. Unreachable API server → code 11; any refusal → code 103.
 */
export async function podTag(
  access: KubeAccess,
  pod: { name: string; namespace: string },
  name: string,
  useAnnotations: boolean,
): Promise<string | undefined> {
  const url = `${access.server}/api/v1/namespaces/${encodeURIComponent(pod.namespace)}/pods/${encodeURIComponent(pod.name)}`;
  const tls = url.startsWith('https:');
  const headers: Record<string, string> = { accept: 'application/json' };
  if (access.token) headers['authorization'] = `Bearer ${access.token}`;
  const { status, text } = await new Promise<{ status: number; text: string }>(
    (resolve, reject) => {
      const opts = { method: 'GET', headers, agent: false as const, timeout: 10_000 };
      const tlsOpts = {
        ...opts,
        ca: access.ca,
        cert: access.cert,
        key: access.key,
        rejectUnauthorized: !access.insecure,
      };
      const req = (tls ? https : http).request(url, tls ? tlsOpts : opts, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: body }));
      });
      req.on('timeout', () => req.destroy(new Error('no answer within 10 s')));
      req.on('error', (err) =>
        reject(
          new CniError(
            CniCode.TryAgainLater,
            `Kubernetes API at ${access.server} is unreachable`,
            err.message,
          ),
        ),
      );
      req.end();
    },
  );
  if (status !== 200) {
    throw new CniError(
      CniCode.Kubernetes,
      `reading pod ${pod.namespace}/${pod.name} from Kubernetes failed`,
      `${status}: ${text.slice(0, 300)}`,
    );
  }
  const meta = ((JSON.parse(text) as Obj)['metadata'] ?? {}) as Obj;
  const tags = (meta[useAnnotations ? 'annotations' : 'labels'] ?? {}) as Obj;
  const v = tags[name];
  return typeof v === 'string' && v !== '' ? v : undefined;
}
