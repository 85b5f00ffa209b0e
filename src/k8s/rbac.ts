/**
 * Every Kubernetes API call romana-listener makes, as RBAC rules: what its ClusterRole must
 * grant, and no more. The e2e tests check each request the test API server logged from the
 * listener against this table, so that it cannot fall behind the code.
 *
 * @example
 * LISTENER_RBAC.find((r) => r.resources.includes('leases'))?.verbs // ['get', 'create', 'update']
 */
export interface RbacRule {
  /** API group ('' for the core group). */
  apiGroup: string;
  /** Resources, with `/status` for a status subresource. */
  resources: readonly string[];
  verbs: readonly string[];
  /** Why the listener needs it. */
  why: string;
}

export const LISTENER_RBAC: readonly RbacRule[] = [
  {
    apiGroup: '',
    resources: ['nodes', 'namespaces', 'pods', 'services'],
    verbs: ['list', 'watch'],
    why: 'informers: nodes → hosts, namespaces, pods → endpoints and GC, services → VIPs',
  },
  {
    apiGroup: 'discovery.k8s.io',
    resources: ['endpointslices'],
    verbs: ['list', 'watch'],
    why: "which nodes hold a Service's ready endpoints (VIP placement)",
  },
  {
    apiGroup: 'networking.k8s.io',
    resources: ['networkpolicies'],
    verbs: ['list', 'watch'],
    why: 'NetworkPolicies → Romana policies kube.<namespace>.<name>',
  },
  {
    apiGroup: '',
    resources: ['services'],
    verbs: ['patch'],
    why: 'spec.externalIPs of a Service with a VIP',
  },
  {
    apiGroup: '',
    resources: ['services/status'],
    verbs: ['patch'],
    why: 'status.loadBalancer.ingress of a LoadBalancer Service of class romana.io/vip',
  },
  {
    apiGroup: '',
    resources: ['events'],
    verbs: ['create'],
    why: 'a Warning Event on a Node whose labels romanad refused, or a NetworkPolicy Romana cannot enforce',
  },
  {
    apiGroup: 'coordination.k8s.io',
    resources: ['leases'],
    verbs: ['get', 'create', 'update'],
    why: 'leader election (the Lease of --lease-namespace/--lease-name)',
  },
];

/** Whether the rules allow `verb` on `resource` (with `/subresource`) of `apiGroup`. */
export function allows(
  rules: readonly RbacRule[],
  apiGroup: string,
  resource: string,
  verb: string,
): boolean {
  return rules.some(
    (r) => r.apiGroup === apiGroup && r.resources.includes(resource) && r.verbs.includes(verb),
  );
}
