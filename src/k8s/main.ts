import { notYet } from '../not-yet.ts';

export const main = notYet(
  'romana-listener',
  'not yet filed',
  'The Kubernetes listener, one per cluster: turns nodes into Romana hosts, namespaces into\n' +
    'tenants with their default policy, NetworkPolicies into Romana policies, and Service\n' +
    'external IPs into VIPs, through romanad.',
);
