/**
 * RBAC as the API server decides it, for the rules of our manifests: which requests a
 * ServiceAccount's ClusterRoles and Roles allow, and which granted permissions no request used.
 * A request is the test API server's request-log record (test/helpers/kube-apiserver).
 */
import type { K8sObject } from './manifests.ts';

/** One API request, as the test API server logs it. */
export interface ApiRequest {
  verb: string;
  group?: string;
  version?: string;
  resource?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  /** A request that names no resource (discovery, /version). */
  nonResourceURL?: string;
}

export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

/** A rule and where it applies: everywhere (a ClusterRoleBinding) or in one namespace. */
export interface Grant {
  rule: PolicyRule;
  /** undefined: cluster-wide. */
  namespace: string | undefined;
  /** The binding and role it came through, for messages. */
  via: string;
}

interface Subject {
  kind: string;
  name: string;
  namespace?: string;
}
interface Binding extends K8sObject {
  roleRef: { kind: string; name: string };
  subjects?: Subject[];
}

/**
 * The rules bound to ServiceAccount `namespace/name` in `objects` (ClusterRoleBindings,
 * RoleBindings to Roles or ClusterRoles). A binding to a role that is not in `objects` throws.
 */
export function grantsOf(objects: K8sObject[], sa: { name: string; namespace: string }): Grant[] {
  const grants: Grant[] = [];
  const role = (kind: string, name: string, ns: string | undefined) => {
    const r = objects.find(
      (o) =>
        o.kind === kind &&
        o.metadata.name === name &&
        (kind === 'ClusterRole' || o.metadata.namespace === ns),
    );
    if (r === undefined) throw new Error(`a binding names ${kind} ${name}, which is not there`);
    return ((r as K8sObject & { rules?: PolicyRule[] }).rules ?? []).map((rule) => rule);
  };
  for (const o of objects) {
    if (o.kind !== 'ClusterRoleBinding' && o.kind !== 'RoleBinding') continue;
    const b = o as Binding;
    const bound = (b.subjects ?? []).some(
      (s) => s.kind === 'ServiceAccount' && s.name === sa.name && s.namespace === sa.namespace,
    );
    if (!bound) continue;
    const ns = o.kind === 'RoleBinding' ? o.metadata.namespace : undefined;
    const via = `${o.kind} ${o.metadata.name} → ${b.roleRef.kind} ${b.roleRef.name}`;
    for (const rule of role(b.roleRef.kind, b.roleRef.name, ns)) {
      grants.push({ rule, namespace: ns, via });
    }
  }
  return grants;
}

const has = (list: string[] | undefined, v: string) =>
  list !== undefined && (list.includes('*') || list.includes(v));

/** The URLs every authenticated client may read (the default system:discovery role). */
export const DISCOVERY_URLS = [
  '/api',
  '/api/*',
  '/apis',
  '/apis/*',
  '/healthz',
  '/livez',
  '/readyz',
  '/openapi',
  '/openapi/*',
  '/version',
  '/version/',
];

function urlMatches(patterns: string[] | undefined, url: string): boolean {
  return (patterns ?? []).some((p) =>
    p.endsWith('*') ? url.startsWith(p.slice(0, -1)) : p === url,
  );
}

/** Whether `g` allows `r`, by the API server's rules (RBAC's `RuleAllows`). */
export function allows(g: Grant, r: ApiRequest): boolean {
  const rule = g.rule;
  if (!has(rule.verbs, r.verb)) return false;
  if (r.nonResourceURL !== undefined) {
    return g.namespace === undefined && urlMatches(rule.nonResourceURLs, r.nonResourceURL);
  }
  if (r.resource === undefined) return false;
  if (g.namespace !== undefined && r.namespace !== g.namespace) return false;
  if (!has(rule.apiGroups, r.group ?? '')) return false;
  const res = r.subresource === undefined ? r.resource : `${r.resource}/${r.subresource}`;
  const resources = rule.resources ?? [];
  const resourceOk =
    resources.includes('*') ||
    resources.includes(res) ||
    (r.subresource !== undefined && resources.includes(`*/${r.subresource}`));
  if (!resourceOk) return false;
  if (rule.resourceNames !== undefined && rule.resourceNames.length > 0) {
    return r.name !== undefined && rule.resourceNames.includes(r.name);
  }
  return true;
}

/** The requests no grant allows (discovery URLs count as allowed: every client may read them). */
export function uncovered(grants: Grant[], requests: ApiRequest[]): ApiRequest[] {
  return requests.filter(
    (r) =>
      !grants.some((g) => allows(g, r)) &&
      !(
        r.nonResourceURL !== undefined &&
        r.verb === 'get' &&
        urlMatches(DISCOVERY_URLS, r.nonResourceURL)
      ),
  );
}

/** One granted permission: a verb on `group/resource[/sub]`, where. */
export interface Permission {
  verb: string;
  group: string;
  resource: string;
  namespace: string | undefined;
}

export const permissionKey = (p: Permission): string =>
  `${p.verb} ${p.group === '' ? 'core' : p.group}/${p.resource}` +
  (p.namespace === undefined ? '' : ` in ${p.namespace}`);

/** Every verb × group × resource the grants name (wildcards stay as '*'). */
export function permissions(grants: Grant[]): Permission[] {
  const out: Permission[] = [];
  for (const g of grants) {
    for (const verb of g.rule.verbs) {
      for (const group of g.rule.apiGroups ?? []) {
        for (const resource of g.rule.resources ?? []) {
          out.push({ verb, group, resource, namespace: g.namespace });
        }
      }
    }
  }
  return out;
}

/**
 * The granted permissions that no request used, except those in `allowlist` (by
 * `permissionKey`): what least privilege says to take away.
 */
export function unused(grants: Grant[], requests: ApiRequest[], allowlist: string[]): string[] {
  const used = (p: Permission) =>
    requests.some((r) => {
      if (r.resource === undefined) return false;
      const res = r.subresource === undefined ? r.resource : `${r.resource}/${r.subresource}`;
      const one: Grant = {
        rule: { verbs: [p.verb], apiGroups: [p.group], resources: [p.resource] },
        namespace: p.namespace,
        via: '',
      };
      return res !== '' && allows(one, r);
    });
  return permissions(grants)
    .filter((p) => !used(p))
    .map(permissionKey)
    .filter((k) => !allowlist.includes(k));
}
