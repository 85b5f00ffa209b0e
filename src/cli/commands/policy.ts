/** `romana policy list|show|add|remove`. */
import type { Command } from 'commander';
import type { Policy } from '../../client/index.ts';
import type { Endpoint, Rule } from '../../policy/index.ts';
import type { KubePolicy } from '../../policy/kube-model.ts';
import { examples, type Runner } from '../context.ts';
import { RefusedInput } from '../errors.ts';
import { parseDocument, readInput } from '../io.ts';
import { fields, table } from '../output.ts';

/** Defines the subcommands of `policy` (the command itself is made by main.ts). */
export function registerPolicies(policy: Command, run: Runner): void {
  examples(
    policy
      .command('list')
      .description('list policies')
      .action(
        run(async (ctx) => {
          const list = await ctx.client.listPolicies();
          ctx.show(list, () => policiesTable(list));
        }),
      ),
    'romana policy list',
  );
  examples(
    policy
      .command('show')
      .description('policies by id (JSON: always an array, in argument order)')
      .argument('<id...>')
      .action(
        run(async (ctx, ids: string[]) => {
          const list: Policy[] = [];
          for (const id of ids) list.push(await ctx.client.getPolicy(id));
          ctx.show(list, () => list.map(policyDetail).join('\n'));
        }),
      ),
    'romana policy show allow-web',
  );
  registerAdd(policy, run);
  examples(
    policy
      .command('remove')
      .description('remove a policy')
      .argument('<id>')
      .action(
        run(async (ctx, id: string) => {
          const answer = await ctx.client.removePolicy(id);
          ctx.show(answer, () => `Policy ${id} removed.\n`);
        }),
      ),
    'romana policy remove allow-web',
  );
}

function registerAdd(policy: Command, run: Runner): void {
  examples(
    policy
      .command('add')
      .description(
        'add (or replace, by id) policies from FILE or stdin: one policy, an array, or the 1.x ' +
          '{"securitypolicies": [...]} form (converted); all are checked before any is sent',
      )
      .argument('[file]', 'the document (JSON or YAML); "-" or nothing reads stdin')
      .action(
        run(async (ctx, file: string | undefined) => {
          const input = await readInput(ctx.io, file);
          const policies = await checkedPolicies(
            await parseDocument(input.text, input.name),
            input.name,
          );
          for (const p of policies) await ctx.client.addPolicy(p);
          const stored: Policy[] = [];
          for (const p of policies) stored.push(await ctx.client.getPolicy(p.id));
          ctx.show(stored, () => stored.map((p) => `Policy ${p.id} added.\n`).join(''));
        }),
      ),
    'romana policy add allow-web.json',
    'romana policy add - < v1-policies.json',
  );
}

/** The policies of a document, converted and validated locally (every problem reported). */
async function checkedPolicies(doc: unknown, name: string): Promise<Policy[]> {
  const { normalizePolicyInput, validatePolicies, PolicyProblemsError } =
    await import('../../policy/index.ts');
  let list: unknown[];
  try {
    list = normalizePolicyInput(doc);
  } catch (e) {
    if (e instanceof PolicyProblemsError)
      throw new RefusedInput(`${name}: not policies`, e.problems);
    throw e;
  }
  const checked = validatePolicies(list);
  if (!checked.ok) throw new RefusedInput(`${name}: invalid policy`, checked.problems);
  return checked.policies;
}

function policiesTable(list: Policy[]): string {
  return table(
    ['ID', 'DIRECTION', 'APPLIED TO', 'PEERS', 'RULES', 'DESCRIPTION'],
    list.map((p) =>
      isKubePolicy(p)
        ? kubeRow(p)
        : [
            p.id,
            p.direction,
            p.applied_to.map(endpointText).join(', '),
            p.ingress.reduce((n, e) => n + e.peers.length, 0),
            p.ingress.reduce((n, e) => n + e.rules.length, 0),
            p.description,
          ],
    ),
  );
}

/** A policy in Kubernetes form has a `podSelector` (kept here: the CLI loads no policy code at start-up). */
function isKubePolicy(p: Policy): p is KubePolicy {
  return 'podSelector' in p;
}

/** A Kubernetes-form policy in the table: its types, namespace, and rule counts. */
function kubeRow(p: KubePolicy): (string | number | undefined)[] {
  const ingress = p.ingress ?? [];
  const egress = p.egress ?? [];
  return [
    p.id,
    (p.policyTypes ?? []).join('+').toLowerCase(),
    `namespace ${p.namespace} ${JSON.stringify(p.podSelector)}`,
    ingress.reduce((n, r) => n + r.from.length, 0) + egress.reduce((n, r) => n + r.to.length, 0),
    ingress.length + egress.length,
    p.description,
  ];
}

function policyDetail(p: Policy): string {
  if (isKubePolicy(p)) return `${JSON.stringify(p, null, 2)}\n`;
  const head = fields([
    ['ID', p.id],
    ['Direction', p.direction],
    ['Description', p.description],
    ['Applied to', p.applied_to.map(endpointText).join(', ')],
  ]);
  const rows = p.ingress.map((e, i) => [
    i,
    e.peers.map(endpointText).join(', '),
    e.rules.map(ruleText).join(', '),
  ]);
  return head + table(['ENTRY', 'PEERS', 'RULES'], rows);
}

/**
 * An endpoint in a few words: `tenant/segment`, `tenant`, `cidr 10.0.0.0/8`, `peer any`, `dest host`.
 *
 * @example endpointText({ tenant_id: 'web', segment_id: 'fe' }) // 'web/fe'
 */
export function endpointText(e: Endpoint): string {
  const parts: string[] = [];
  if (e.tenant_id !== undefined) {
    parts.push(e.segment_id === undefined ? e.tenant_id : `${e.tenant_id}/${e.segment_id}`);
  } else if (e.segment_id !== undefined) parts.push(`segment ${e.segment_id}`);
  if (e.peer !== undefined) parts.push(`peer ${e.peer}`);
  if (e.cidr !== undefined) parts.push(`cidr ${e.cidr}`);
  if (e.dest !== undefined) parts.push(`dest ${e.dest}`);
  return parts.join(' ');
}

/**
 * A rule in a few words: `tcp 80,443,8000-8080`, `icmp 8/0`, `any`.
 *
 * @example ruleText({ protocol: 'tcp', ports: [80], port_ranges: [[8000, 8080]] }) // 'tcp 80,8000-8080'
 */
export function ruleText(r: Rule): string {
  const ports = [
    ...(r.ports ?? []).map(String),
    ...(r.port_ranges ?? []).map(([a, b]) => `${a}-${b}`),
  ];
  if (ports.length > 0) return `${r.protocol} ${ports.join(',')}`;
  if (r.icmp_type !== undefined) return `${r.protocol} ${r.icmp_type}/${r.icmp_code ?? 0}`;
  return r.protocol;
}
