/** The policies and VIPs romanad holds, as tables. */
import type { Policy, Vip } from '../client/types.ts';
import { isKubePolicy, type LabelSelector } from '../policy/kube-model.ts';
import type { RomanaPolicy } from '../policy/model.ts';

type Endpoint = RomanaPolicy['applied_to'][number];
type Rule = RomanaPolicy['ingress'][number]['rules'][number];

/**
 * One endpoint of a policy in a few words.
 *
 * @example endpointText({ tenant_id: 'web', segment_id: 'fe' }) // 'tenant web / segment fe'
 */
export function endpointText(e: Endpoint): string {
  const parts: string[] = [];
  if (e.dest) parts.push(e.dest);
  if (e.peer) parts.push(`peer ${e.peer}`);
  if (e.cidr) parts.push(e.cidr);
  if (e.tenant_id) parts.push(`tenant ${e.tenant_id}`);
  if (e.segment_id) parts.push(`segment ${e.segment_id}`);
  return parts.join(' / ') || JSON.stringify(e);
}

/**
 * A rule in a few words.
 *
 * @example ruleText({ protocol: 'tcp', ports: [80], port_ranges: [[8000, 8080]] }) // 'tcp 80,8000-8080'
 */
export function ruleText(r: Rule): string {
  const ports = [
    ...(r.ports ?? []).map(String),
    ...(r.port_ranges ?? []).map(([a, b]) => `${a}-${b}`),
  ];
  return ports.length === 0 ? r.protocol : `${r.protocol} ${ports.join(',')}`;
}

function ingressText(p: RomanaPolicy): string {
  return p.ingress
    .map(
      (i) =>
        `${i.peers.map(endpointText).join(', ') || 'none'}: ${i.rules.map(ruleText).join(', ')}`,
    )
    .join('; ');
}

/**
 * A label selector in a few words.
 *
 * @example selectorText({ matchLabels: { app: 'web' } }) // 'app=web'
 */
export function selectorText(s: LabelSelector): string {
  const parts = Object.entries(s.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of s.matchExpressions ?? [])
    parts.push(`${e.key} ${e.operator}${e.values ? ` (${e.values.join(',')})` : ''}`);
  return parts.join(', ') || 'all pods';
}

/** The cells of one policy row, whichever form the policy has. */
function policyCells(p: Policy): [string, string, string] {
  if (!isKubePolicy(p)) {
    return [p.direction, p.applied_to.map(endpointText).join('; '), ingressText(p)];
  }
  const rules = `${p.ingress?.length ?? 0} ingress, ${p.egress?.length ?? 0} egress rule(s)`;
  return [
    (p.policyTypes ?? ['Ingress']).join(' + '),
    `namespace ${p.namespace}: ${selectorText(p.podSelector)}`,
    rules,
  ];
}

export function PolicyTable({ policies }: { policies: Policy[] }) {
  if (policies.length === 0) return <p class="empty">No policies.</p>;
  return (
    <table data-testid="policies">
      <thead>
        <tr>
          <th>id</th>
          <th>direction</th>
          <th>applied to</th>
          <th>peers: rules</th>
          <th>description</th>
        </tr>
      </thead>
      <tbody>
        {policies.map((p) => (
          <tr key={p.id}>
            <td>{p.id}</td>
            {policyCells(p).map((cell, i) => (
              <td key={i}>{cell}</td>
            ))}
            <td>{p.description ?? ''}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function VipTable({ vips }: { vips: Vip[] }) {
  if (vips.length === 0) return <p class="empty">No VIPs.</p>;
  return (
    <table data-testid="vips">
      <thead>
        <tr>
          <th>name</th>
          <th>IP</th>
          <th>host</th>
          <th>namespace</th>
        </tr>
      </thead>
      <tbody>
        {vips.map((v) => (
          <tr key={v.name}>
            <td>{v.name}</td>
            <td>{v.ip}</td>
            <td>{v.host}</td>
            <td>{v.namespace ?? ''}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
