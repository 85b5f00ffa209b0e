/**
 * What the real API server checks and fills in on write, for the resources a test uses:
 * names (DNS-1123), labels, the namespace name label, a pod's Pending phase, a Service's
 * type, cluster IP and port defaults. No controllers run: nothing else is ever filled in.
 */
import type { ResourceInfo } from './resources.ts';
import { invalid } from './status.ts';
import type { KubeObject } from './store.ts';

const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_KEY_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

/** Resources whose names must be DNS labels (no dots) rather than subdomains. */
const LABEL_NAMED = new Set(['namespaces', 'services']);

function checkName(info: ResourceInfo, obj: KubeObject): void {
  const name = obj.metadata.name;
  if (name === undefined || name === '') {
    throw invalid(info, '', 'metadata.name', '', 'name or generateName is required');
  }
  const label = LABEL_NAMED.has(info.resource) && info.group === '';
  const ok = label ? LABEL.test(name) && name.length <= 63 : SUBDOMAIN.test(name);
  if (!ok || name.length > 253) {
    const what = label ? 'RFC 1123 label' : 'RFC 1123 subdomain';
    throw invalid(
      info,
      name,
      'metadata.name',
      name,
      `a lowercase ${what} must consist of lower case alphanumeric characters, '-' or '.'`,
    );
  }
}

function checkLabels(info: ResourceInfo, obj: KubeObject): void {
  const name = obj.metadata.name ?? '';
  for (const [k, v] of Object.entries(obj.metadata.labels ?? {})) {
    const slash = k.lastIndexOf('/');
    const prefix = slash >= 0 ? k.slice(0, slash) : '';
    const base = slash >= 0 ? k.slice(slash + 1) : k;
    const keyOk =
      LABEL_KEY_NAME.test(base) &&
      base.length <= 63 &&
      (slash < 0 || (SUBDOMAIN.test(prefix) && prefix.length <= 253));
    if (!keyOk) {
      throw invalid(info, name, 'metadata.labels', k, 'name part must consist of alphanumerics');
    }
    if (typeof v !== 'string' || !LABEL_VALUE.test(v) || v.length > 63) {
      throw invalid(
        info,
        name,
        'metadata.labels',
        v,
        'a valid label must be 63 characters or less',
      );
    }
  }
  for (const [k, v] of Object.entries(obj.metadata.annotations ?? {})) {
    if (typeof v !== 'string') {
      throw invalid(info, name, `metadata.annotations[${k}]`, v, 'must be a string');
    }
  }
}

/** Throws 422 Invalid for a bad name or bad labels. */
export function validateObject(info: ResourceInfo, obj: KubeObject): void {
  checkName(info, obj);
  checkLabels(info, obj);
}

let nextClusterIp = 1;

function allocateClusterIp(): string {
  const n = nextClusterIp++;
  return `10.96.${Math.floor(n / 254) % 256}.${(n % 254) + 1}`;
}

function record(obj: KubeObject, key: string): Record<string, unknown> {
  const v = obj[key];
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    return v as Record<string, unknown>;
  }
  const fresh: Record<string, unknown> = {};
  obj[key] = fresh;
  return fresh;
}

function serviceDefaults(obj: KubeObject): void {
  const spec = record(obj, 'spec');
  spec['type'] ??= 'ClusterIP';
  spec['sessionAffinity'] ??= 'None';
  if (spec['type'] !== 'ExternalName') {
    if (spec['clusterIP'] === undefined || spec['clusterIP'] === '') {
      spec['clusterIP'] = allocateClusterIp();
    }
    spec['clusterIPs'] ??= [spec['clusterIP']];
    spec['ipFamilies'] ??= ['IPv4'];
    spec['ipFamilyPolicy'] ??= 'SingleStack';
    spec['internalTrafficPolicy'] ??= 'Cluster';
  }
  const ports = Array.isArray(spec['ports']) ? (spec['ports'] as Record<string, unknown>[]) : [];
  for (const p of ports) {
    p['protocol'] ??= 'TCP';
    p['targetPort'] ??= p['port'];
  }
  if (obj['status'] === undefined) obj['status'] = { loadBalancer: {} };
}

/** A NetworkPolicy's port protocols default to TCP; policyTypes follow the rules given. */
function networkPolicyDefaults(obj: KubeObject): void {
  const spec = record(obj, 'spec');
  for (const dir of ['ingress', 'egress']) {
    const rules = Array.isArray(spec[dir]) ? (spec[dir] as Record<string, unknown>[]) : [];
    for (const rule of rules) {
      const ports = Array.isArray(rule['ports'])
        ? (rule['ports'] as Record<string, unknown>[])
        : [];
      for (const p of ports) p['protocol'] ??= 'TCP';
    }
  }
  if (spec['policyTypes'] === undefined) {
    spec['policyTypes'] = spec['egress'] === undefined ? ['Ingress'] : ['Ingress', 'Egress'];
  }
}

/** Fills in what the real server adds on create and update. */
export function applyDefaults(info: ResourceInfo, obj: KubeObject): void {
  if (info.group === 'networking.k8s.io' && info.resource === 'networkpolicies') {
    networkPolicyDefaults(obj);
  }
  if (info.group !== '') return;
  const name = obj.metadata.name ?? '';
  switch (info.resource) {
    case 'namespaces':
      obj.metadata.labels = { ...obj.metadata.labels, 'kubernetes.io/metadata.name': name };
      record(obj, 'spec')['finalizers'] ??= ['kubernetes'];
      obj['status'] = { phase: 'Active' };
      break;
    case 'pods': {
      const status = record(obj, 'status');
      status['phase'] ??= 'Pending';
      const spec = record(obj, 'spec');
      spec['restartPolicy'] ??= 'Always';
      spec['schedulerName'] ??= 'default-scheduler';
      spec['serviceAccountName'] ??= 'default';
      break;
    }
    case 'services':
      serviceDefaults(obj);
      break;
    case 'secrets':
      obj['type'] ??= 'Opaque';
      break;
  }
}

/** What the real server restores on every update: a namespace keeps its name label. */
export function keepOnUpdate(info: ResourceInfo, obj: KubeObject): void {
  if (info.group === 'networking.k8s.io' && info.resource === 'networkpolicies') {
    networkPolicyDefaults(obj);
  }
  if (info.group === '' && info.resource === 'namespaces') {
    const name = obj.metadata.name ?? '';
    obj.metadata.labels = { ...obj.metadata.labels, 'kubernetes.io/metadata.name': name };
  }
}
