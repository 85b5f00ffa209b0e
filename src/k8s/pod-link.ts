/**
 * Pods → endpoints, as plain data: the link romanad keeps from an address to its pod (namespace,
 * name, uid, labels, container ports), so that policies can select pods by label and name ports.
 */
import type { V1Pod } from '@kubernetes/client-node';
import type { ContainerPort, PodInput } from '../client/types.ts';
import { sameJson } from './node-host.ts';

/** Body of `PUT /addresses/{name}/pod` (romanad answers it with labels and ports filled in). */
export type PodLink = PodInput;

/**
 * The link an address of `pod` should carry: its labels, and every container port (named or
 * not) in a stable order.
 *
 * @example
 * podLink({ metadata: { namespace: 'web', name: 'a', uid: 'u1', labels: { app: 'a' } },
 *   spec: { containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 80 }] }] } })
 * // { namespace: 'web', name: 'a', uid: 'u1', labels: { app: 'a' },
 * //   ports: [{ name: 'http', port: 80, protocol: 'TCP' }] }
 */
export function podLink(pod: V1Pod): PodLink {
  const ports: ContainerPort[] = [];
  for (const c of pod.spec?.containers ?? []) {
    for (const p of c.ports ?? []) {
      ports.push({
        ...(p.name ? { name: p.name } : {}),
        port: p.containerPort,
        protocol: (p.protocol ?? 'TCP') as ContainerPort['protocol'],
      });
    }
  }
  ports.sort((a, b) => a.port - b.port || a.protocol.localeCompare(b.protocol));
  return {
    namespace: pod.metadata?.namespace ?? 'default',
    name: pod.metadata?.name ?? '',
    ...(pod.metadata?.uid ? { uid: pod.metadata.uid } : {}),
    labels: { ...(pod.metadata?.labels ?? {}) },
    ports,
  };
}

/**
 * Whether romanad's link (`have`, from the address view) already says what `want` says. Absent
 * labels and ports count as empty.
 */
export function sameLink(have: PodLink | undefined, want: PodLink): boolean {
  if (have === undefined) return false;
  return (
    have.namespace === want.namespace &&
    have.name === want.name &&
    (have.uid ?? '') === (want.uid ?? '') &&
    sameJson(have.labels ?? {}, want.labels ?? {}) &&
    sameJson(have.ports ?? [], want.ports ?? [])
  );
}
