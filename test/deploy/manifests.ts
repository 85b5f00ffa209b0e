/**
 * The deploy manifests as objects: romana.yaml, the kustomize renders (kubectl 1.32 has
 * kustomize built in), and their validation against the Kubernetes OpenAPI schemas through
 * `kubernetes-models` (one model class per apiVersion and kind; an unknown kind fails).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const KUBE = path.join(ROOT, 'deploy/kubernetes');
export const VERSION = (
  JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }
).version;

/** A Kubernetes object as parsed: only the fields every object has are typed. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [k: string]: unknown };
  [k: string]: unknown;
}

/** Parses a multi-document YAML stream; a syntax error or a non-object document throws. */
export function parseObjects(text: string, where: string): K8sObject[] {
  const out: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`${where}: ${doc.errors[0]!.message}`);
    const v: unknown = doc.toJS();
    if (v === null || v === undefined) continue;
    const o = v as Partial<K8sObject>;
    if (typeof o.apiVersion !== 'string' || typeof o.kind !== 'string' || !o.metadata?.name) {
      throw new Error(`${where}: a document without apiVersion, kind or metadata.name`);
    }
    out.push(o as K8sObject);
  }
  return out;
}

export function readObjects(file: string): K8sObject[] {
  return parseObjects(readFileSync(path.join(KUBE, file), 'utf8'), file);
}

/** `kubectl kustomize <dir>` (relative to deploy/kubernetes), parsed. */
export function kustomize(dir: string): K8sObject[] {
  const text = execFileSync('kubectl', ['kustomize', path.join(KUBE, dir)], { encoding: 'utf8' });
  return parseObjects(text, `kubectl kustomize ${dir}`);
}

/** The Secret deploy/kubernetes/tokens.sh prints. */
export function tokensSecret(): K8sObject {
  const text = execFileSync(path.join(KUBE, 'tokens.sh'), { encoding: 'utf8' });
  const [secret] = parseObjects(text, 'tokens.sh');
  return secret!;
}

interface Model {
  validate(): void;
}
type ModelClass = new (data: object) => Model;

/**
 * The kubernetes-models class for an apiVersion and kind (`v1` is the core group), or an error
 * naming them when the package has none.
 */
export async function modelFor(apiVersion: string, kind: string): Promise<ModelClass> {
  if (!/^([a-z0-9.-]+\/)?v[0-9a-z]+$/.test(apiVersion) || !/^[A-Z][A-Za-z0-9]*$/.test(kind)) {
    throw new Error(`no model for ${apiVersion} ${kind}: not an apiVersion and kind`);
  }
  let mod: Record<string, unknown>;
  try {
    mod = (await import(`kubernetes-models/${apiVersion}/${kind}`)) as Record<string, unknown>;
  } catch {
    throw new Error(`no model for ${apiVersion} ${kind} in kubernetes-models`);
  }
  const cls = mod[kind];
  if (typeof cls !== 'function') throw new Error(`no model for ${apiVersion} ${kind}`);
  return cls as ModelClass;
}

/** Validates one object against its schema; throws naming the object and the first problem. */
export async function validateObject(o: K8sObject): Promise<void> {
  const Cls = await modelFor(o.apiVersion, o.kind);
  try {
    new Cls(o).validate();
  } catch (err) {
    throw new Error(`${o.kind} ${o.metadata.name}: ${(err as Error).message}`);
  }
}

export function find(objects: K8sObject[], kind: string, name: string): K8sObject {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  if (o === undefined) throw new Error(`no ${kind} ${name}`);
  return o;
}

/** The parts of a pod spec the tests read. */
export interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: Record<string, Record<string, string>> }[];
  securityContext?: {
    privileged?: boolean;
    capabilities?: { add?: string[]; drop?: string[] };
    [k: string]: unknown;
  };
  resources?: { requests?: Record<string, string> };
  livenessProbe?: { httpGet?: { path: string } };
  readinessProbe?: { httpGet?: { path: string } };
  volumeMounts?: { name: string; mountPath: string }[];
}
export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes?: {
    name: string;
    secret?: { secretName: string; defaultMode?: number; items?: { key: string }[] };
  }[];
  serviceAccountName?: string;
  hostNetwork?: boolean;
  tolerations?: { operator?: string; key?: string }[];
}
export interface Workload extends K8sObject {
  spec: {
    replicas?: number;
    template: { metadata?: { annotations?: Record<string, string> }; spec: PodSpec };
  };
}

export const WORKLOAD_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet'];

export function workloads(objects: K8sObject[]): Workload[] {
  return objects.filter((o) => WORKLOAD_KINDS.includes(o.kind)) as Workload[];
}

export function allContainers(w: Workload): Container[] {
  return [...(w.spec.template.spec.initContainers ?? []), ...w.spec.template.spec.containers];
}

/**
 * A container's environment as the kubelet would set it: field references from `fields`,
 * ConfigMap keys from the ConfigMaps in `objects`, and `$(VAR)` expanded from earlier entries
 * and `extra` (the Service variables).
 */
export function resolveEnv(
  c: Container,
  objects: K8sObject[],
  fields: Record<string, string>,
  extra: Record<string, string>,
): Record<string, string> {
  const env: Record<string, string> = { ...extra };
  const expand = (s: string) => s.replace(/\$\(([A-Z0-9_]+)\)/g, (m, k: string) => env[k] ?? m);
  for (const e of c.env ?? []) {
    if (e.value !== undefined) env[e.name] = expand(e.value);
    else if (e.valueFrom?.['fieldRef'] !== undefined) {
      const f = e.valueFrom['fieldRef']['fieldPath']!;
      if (fields[f] === undefined) throw new Error(`${c.name}: ${e.name}: no field ${f}`);
      env[e.name] = fields[f];
    } else if (e.valueFrom?.['configMapKeyRef'] !== undefined) {
      const ref = e.valueFrom['configMapKeyRef'];
      const cm = find(objects, 'ConfigMap', ref['name']!) as K8sObject & {
        data: Record<string, string>;
      };
      const v = cm.data[ref['key']!];
      if (v === undefined) throw new Error(`${c.name}: ${e.name}: no key ${ref['key']}`);
      env[e.name] = v;
    } else throw new Error(`${c.name}: ${e.name}: a source the tests do not know`);
  }
  return env;
}

/** `$(VAR)` in a command line expanded from `env`; an unknown variable throws. */
export function expandArgs(args: string[], env: Record<string, string>): string[] {
  return args.map((a) =>
    a.replace(/\$\(([A-Z0-9_]+)\)/g, (_, k: string) => {
      if (env[k] === undefined) throw new Error(`$(${k}) is not set`);
      return env[k];
    }),
  );
}
