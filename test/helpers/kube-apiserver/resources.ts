/**
 * The resources the test API server serves, as the real kube-apiserver 1.32 declares them:
 * group, version, plural, kind, scope, short names and subresources. Discovery documents and
 * routing are both derived from this one table.
 */

/** One served resource. `group` is '' for the core ("legacy") API under /api/v1. */
export interface ResourceInfo {
  group: string;
  version: string;
  /** Plural, lower case: the URL segment and the RBAC resource name. */
  resource: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  /** Subresources that exist: only 'status' is served. */
  status: boolean;
  /** Extra field selectors (beyond metadata.name/metadata.namespace) the real server allows. */
  fields: string[];
}

const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

function r(
  gv: string,
  resource: string,
  kind: string,
  namespaced: boolean,
  extra: Partial<Pick<ResourceInfo, 'shortNames' | 'categories' | 'status' | 'fields'>> = {},
): ResourceInfo {
  const [group, version] = gv.includes('/') ? (gv.split('/') as [string, string]) : ['', gv];
  return {
    group,
    version,
    resource,
    singular: kind.toLowerCase(),
    kind,
    namespaced,
    shortNames: extra.shortNames ?? [],
    categories: extra.categories ?? [],
    status: extra.status ?? false,
    fields: extra.fields ?? [],
  };
}

const ALL = ['all'];

export const RESOURCES: readonly ResourceInfo[] = [
  r('v1', 'configmaps', 'ConfigMap', true, { shortNames: ['cm'] }),
  r('v1', 'endpoints', 'Endpoints', true, { shortNames: ['ep'] }),
  r('v1', 'events', 'Event', true, {
    shortNames: ['ev'],
    fields: [
      'involvedObject.kind',
      'involvedObject.namespace',
      'involvedObject.name',
      'involvedObject.uid',
      'involvedObject.apiVersion',
      'involvedObject.resourceVersion',
      'involvedObject.fieldPath',
      'reason',
      'reportingComponent',
      'source',
      'type',
    ],
  }),
  r('v1', 'namespaces', 'Namespace', false, {
    shortNames: ['ns'],
    status: true,
    fields: ['status.phase'],
  }),
  r('v1', 'nodes', 'Node', false, {
    shortNames: ['no'],
    status: true,
    fields: ['spec.unschedulable'],
  }),
  r('v1', 'pods', 'Pod', true, {
    shortNames: ['po'],
    categories: ALL,
    status: true,
    fields: [
      'spec.nodeName',
      'spec.restartPolicy',
      'spec.schedulerName',
      'spec.serviceAccountName',
      'spec.hostNetwork',
      'status.phase',
      'status.podIP',
      'status.nominatedNodeName',
    ],
  }),
  r('v1', 'secrets', 'Secret', true, { fields: ['type'] }),
  r('v1', 'serviceaccounts', 'ServiceAccount', true, { shortNames: ['sa'] }),
  r('v1', 'services', 'Service', true, { shortNames: ['svc'], categories: ALL, status: true }),
  r('apps/v1', 'daemonsets', 'DaemonSet', true, {
    shortNames: ['ds'],
    categories: ALL,
    status: true,
  }),
  r('apps/v1', 'deployments', 'Deployment', true, {
    shortNames: ['deploy'],
    categories: ALL,
    status: true,
  }),
  r('apps/v1', 'statefulsets', 'StatefulSet', true, {
    shortNames: ['sts'],
    categories: ALL,
    status: true,
  }),
  r('coordination.k8s.io/v1', 'leases', 'Lease', true),
  r('discovery.k8s.io/v1', 'endpointslices', 'EndpointSlice', true),
  r('events.k8s.io/v1', 'events', 'Event', true, { shortNames: ['ev'] }),
  r('networking.k8s.io/v1', 'networkpolicies', 'NetworkPolicy', true, {
    shortNames: ['netpol'],
  }),
  r('rbac.authorization.k8s.io/v1', 'clusterrolebindings', 'ClusterRoleBinding', false),
  r('rbac.authorization.k8s.io/v1', 'clusterroles', 'ClusterRole', false),
  r('rbac.authorization.k8s.io/v1', 'rolebindings', 'RoleBinding', true),
  r('rbac.authorization.k8s.io/v1', 'roles', 'Role', true),
];

/** "v1" for the core group, else "group/version". */
export function groupVersion(info: Pick<ResourceInfo, 'group' | 'version'>): string {
  return info.group === '' ? info.version : `${info.group}/${info.version}`;
}

/** The resource served at group/version/plural, if any. */
export function findResource(
  group: string,
  version: string,
  resource: string,
): ResourceInfo | undefined {
  return RESOURCES.find(
    (x) => x.group === group && x.version === version && x.resource === resource,
  );
}

/** The resource whose kind and apiVersion an object declares. */
export function findByKind(apiVersion: string, kind: string): ResourceInfo | undefined {
  return RESOURCES.find((x) => groupVersion(x) === apiVersion && x.kind === kind);
}

/** Distinct API groups (without the core group), each with its one version. */
export function apiGroups(): { group: string; version: string }[] {
  const seen = new Map<string, string>();
  for (const x of RESOURCES) if (x.group !== '') seen.set(x.group, x.version);
  return [...seen].map(([group, version]) => ({ group, version }));
}

/** The APIResourceList document for one group/version, as /api/v1 or /apis/g/v serves it. */
export function resourceList(group: string, version: string): Record<string, unknown> {
  const resources: Record<string, unknown>[] = [];
  for (const x of RESOURCES) {
    if (x.group !== group || x.version !== version) continue;
    const main: Record<string, unknown> = {
      name: x.resource,
      singularName: x.singular,
      namespaced: x.namespaced,
      kind: x.kind,
      verbs: VERBS,
    };
    if (x.shortNames.length > 0) main['shortNames'] = x.shortNames;
    if (x.categories.length > 0) main['categories'] = x.categories;
    resources.push(main);
    if (x.status) {
      resources.push({
        name: `${x.resource}/status`,
        singularName: '',
        namespaced: x.namespaced,
        kind: x.kind,
        verbs: ['get', 'patch', 'update'],
      });
    }
  }
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: groupVersion({ group, version }),
    resources,
  };
}
