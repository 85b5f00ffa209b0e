/** The policies and VIPs romanad holds, as tables. */
import type { Policy, Vip } from '../client/types.ts';

type Endpoint = Policy['applied_to'][number];
type Rule = Policy['ingress'][number]['rules'][number];

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

function ingressText(p: Policy): string {
  return p.ingress
    .map(
      (i) =>
        `${i.peers.map(endpointText).join(', ') || 'none'}: ${i.rules.map(ruleText).join(', ')}`,
    )
    .join('; ');
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
            <td>{p.direction}</td>
            <td>{p.applied_to.map(endpointText).join('; ')}</td>
            <td>{ingressText(p)}</td>
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
