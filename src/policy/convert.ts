/**
 * Accepting policies as users write them: one 2.x policy, an array of them, or the documented
 * 1.x form `{"securitypolicies": [...]}` (reference §10.2), converted to 2.x objects that are
 * then validated like any other input.
 *
 * The 1.x form identified tenants and segments several ways (name, numeric database id,
 * external id, network id). 2.x knows names only, so anything else is converted only when a
 * name is also given (the name wins); otherwise it is reported, never guessed.
 */
import type { Policy } from './model.ts';
import { PolicyProblemsError } from './errors.ts';
import { checkKeys, describe, isJsonObject, joinPath, type Problem } from './shape.ts';
import { validatePolicies, validatePolicy } from './validate.ts';

type Json = Record<string, unknown>;

/**
 * Outcome of converting a 1.x document: 2.x policy objects, not yet validated.
 *
 * @example
 * const r: ConversionResult = convertV1(doc);
 * if (r.ok) validatePolicies(r.policies);
 */
export type ConversionResult = { ok: true; policies: Json[] } | { ok: false; problems: string[] };

const V1_POLICY_KEYS = [
  'name',
  'id',
  'external_id',
  'description',
  'direction',
  'applied_to',
  'peers',
  'rules',
  'ingress',
];
const V1_ENDPOINT_KEYS = [
  'peer',
  'cidr',
  'dest',
  'tenant',
  'tenant_id',
  'tenant_external_id',
  'tenant_network_id',
  'segment',
  'segment_id',
  'segment_external_id',
  'segment_network_id',
];

const present = (v: unknown) => v !== undefined && v !== null && v !== '';

/**
 * The key holding the 1.x policy list, if `input` is a 1.x document. Matched without regard to
 * case, as the original's JSON decoding did (old docs spell it `SecurityPolicies`).
 *
 * @example v1WrapperKey({ securitypolicies: [] }) // 'securitypolicies'
 * @example v1WrapperKey({ id: 'p' }) // undefined
 */
export function v1WrapperKey(input: unknown): string | undefined {
  if (!isJsonObject(input)) return undefined;
  return Object.keys(input).find((k) => k.toLowerCase() === 'securitypolicies');
}

/**
 * Converts a 1.x document to 2.x policy objects: `name` → `id`; `peers` + `rules` → one
 * `ingress` entry; `tenant` / `tenant_id` → `tenant_id`; `segment` / `segment_id` →
 * `segment_id`; `description`, `direction`, `applied_to`, `peer`, `cidr`, `dest` kept.
 * Problems name the 1.x field: `securitypolicies[0].applied_to[0].tenant_external_id: …`.
 *
 * @example
 * convertV1({ securitypolicies: [{ name: 'web', applied_to: [{ tenant: 'demo', segment: 'web' }],
 *   peers: [{ peer: 'any' }], rules: [{ protocol: 'tcp', ports: [80] }] }] })
 * // { ok: true, policies: [{ id: 'web', applied_to: [{ tenant_id: 'demo', segment_id: 'web' }],
 * //   ingress: [{ peers: [{ peer: 'any' }], rules: [{ protocol: 'tcp', ports: [80] }] }] }] }
 */
export function convertV1(input: unknown): ConversionResult {
  const key = v1WrapperKey(input);
  if (key === undefined || !isJsonObject(input)) {
    return { ok: false, problems: ['securitypolicies: is required (this is not a 1.x document)'] };
  }
  const list = input[key];
  if (!Array.isArray(list)) {
    return { ok: false, problems: [`${key}: must be an array of policies, got ${describe(list)}`] };
  }
  if (list.length === 0) {
    return { ok: false, problems: [`${key}: is empty; give at least one policy`] };
  }
  const problems: Problem[] = [];
  const policies = list.map((p: unknown, i) => convertPolicy(p, `${key}[${i}]`, problems));
  if (problems.length > 0) {
    return { ok: false, problems: problems.map((p) => `${p.path}: ${p.message}`) };
  }
  return { ok: true, policies: policies.filter((p): p is Json => p !== undefined) };
}

function convertPolicy(v: unknown, path: string, out: Problem[]): Json | undefined {
  if (!isJsonObject(v)) {
    out.push({ path, message: `must be an object, got ${describe(v)}` });
    return undefined;
  }
  checkKeys(v, V1_POLICY_KEYS, path, out);
  const p: Json = {};
  const id = policyId(v, path, out);
  if (id !== undefined) p['id'] = id;
  for (const k of ['direction', 'description']) if (v[k] !== undefined) p[k] = v[k];
  if (v['applied_to'] !== undefined) {
    p['applied_to'] = mapArray(v['applied_to'], joinPath(path, 'applied_to'), out, convertEndpoint);
  }
  const hasV1Entry = v['peers'] !== undefined || v['rules'] !== undefined;
  if (hasV1Entry && v['ingress'] !== undefined) {
    out.push({ path, message: 'give either peers and rules (1.x) or ingress (2.x), not both' });
  } else if (hasV1Entry) {
    const peers = mapArray(v['peers'] ?? [], joinPath(path, 'peers'), out, convertEndpoint);
    p['ingress'] = [{ peers, rules: v['rules'] ?? [] }];
  } else if (v['ingress'] !== undefined) {
    p['ingress'] = mapArray(v['ingress'], joinPath(path, 'ingress'), out, (entry, at) =>
      isJsonObject(entry)
        ? { ...entry, peers: mapArray(entry['peers'], joinPath(at, 'peers'), out, convertEndpoint) }
        : entry,
    );
  }
  return p;
}

/** 1.x policies are named; 2.x ones are identified by id, so the name becomes the id. */
function policyId(v: Json, path: string, out: Problem[]): unknown {
  const name = v['name'];
  const id = v['id'];
  if (present(name)) {
    if (typeof name !== 'string') {
      out.push({
        path: joinPath(path, 'name'),
        message: `must be a string, got ${describe(name)}`,
      });
    } else if (typeof id === 'string' && id !== '' && id !== name) {
      out.push({
        path,
        message: `name '${name}' and id '${id}' disagree; the name becomes the id`,
      });
    }
    return name;
  }
  if (typeof id === 'string' && id !== '') return id;
  out.push({ path: joinPath(path, 'name'), message: 'is required (it becomes the policy id)' });
  return undefined;
}

function convertEndpoint(v: unknown, path: string, out: Problem[]): unknown {
  if (!isJsonObject(v)) return v; // validation reports it, with its 2.x path
  checkKeys(v, V1_ENDPOINT_KEYS, path, out);
  const e: Json = {};
  for (const k of ['peer', 'cidr', 'dest']) if (v[k] !== undefined) e[k] = v[k];
  const tenant = nameOf(v, 'tenant', ['tenant_external_id', 'tenant_network_id'], path, out);
  if (tenant !== undefined) e['tenant_id'] = tenant;
  const segment = nameOf(v, 'segment', ['segment_external_id', 'segment_network_id'], path, out);
  if (segment !== undefined) e['segment_id'] = segment;
  return e;
}

/**
 * The tenant's (or segment's) name: `<kind>`, or `<kind>_id` when it is a string (2.x style).
 * A numeric `<kind>_id` (a 1.x database id), an external id or a network id cannot be turned
 * into a name; without a name they are reported.
 */
function nameOf(
  v: Json,
  kind: 'tenant' | 'segment',
  otherIds: string[],
  path: string,
  out: Problem[],
): string | undefined {
  const idKey = `${kind}_id`;
  const name = v[kind];
  const id = v[idKey];
  const idIsName = typeof id === 'string' && id !== '';
  if (present(name)) {
    if (typeof name !== 'string') {
      out.push({ path: joinPath(path, kind), message: `must be a string, got ${describe(name)}` });
      return undefined;
    }
    if (idIsName && id !== name) {
      out.push({ path, message: `${kind} '${name}' and ${idKey} '${id}' disagree` });
    }
    return name;
  }
  if (idIsName) return id;
  for (const k of [idKey, ...otherIds]) {
    if (!present(v[k])) continue;
    out.push({
      path: joinPath(path, k),
      message: `cannot be converted: 2.x identifies ${kind}s by name only; give the ${kind} name in '${kind}'`,
    });
  }
  return undefined;
}

function mapArray(
  value: unknown,
  path: string,
  out: Problem[],
  item: (v: unknown, path: string, out: Problem[]) => unknown,
): unknown {
  return Array.isArray(value) ? value.map((v: unknown, i) => item(v, `${path}[${i}]`, out)) : value;
}

/**
 * Turns any accepted input into the list of 2.x policy objects to validate: one policy object
 * → `[it]`; an array → its elements; a 1.x document → its converted policies. Never returns an
 * empty list: an empty array or an empty 1.x document is an error, as is anything else.
 *
 * @throws PolicyProblemsError (`InvalidInput`, 400) listing every problem found.
 * @example normalizePolicyInput({ id: 'p' }) // [{ id: 'p' }]
 * @example normalizePolicyInput({ securitypolicies: [] }) // throws: 'securitypolicies: is empty; …'
 */
export function normalizePolicyInput(input: unknown): unknown[] {
  if (Array.isArray(input)) {
    if (input.length === 0) {
      throw new PolicyProblemsError(
        ['policies: the list is empty; give at least one policy'],
        false,
      );
    }
    return [...input];
  }
  if (v1WrapperKey(input) !== undefined) {
    const converted = convertV1(input);
    if (!converted.ok) throw new PolicyProblemsError(converted.problems, false);
    return converted.policies;
  }
  if (isJsonObject(input)) return [input];
  throw new PolicyProblemsError(
    [
      `policy input must be a policy object, an array of policies or {"securitypolicies": [...]}, got ${describe(input)}`,
    ],
    false,
  );
}

/**
 * `normalizePolicyInput` followed by validation: the policies in normal form, or an error
 * listing every problem. A single policy's problems are unprefixed (`id: is required`); those of
 * a list are prefixed with the index (`[1].id: is required`).
 *
 * @throws PolicyProblemsError: `semantic` false (400) when the input is not policies at all,
 *   true (422) when policies fail validation.
 * @example parsePolicyInput({ securitypolicies: [v1Policy] }) // [Policy]
 */
export function parsePolicyInput(input: unknown): Policy[] {
  const list = normalizePolicyInput(input);
  if (isJsonObject(input) && v1WrapperKey(input) === undefined) {
    const one = validatePolicy(input);
    if (!one.ok) throw new PolicyProblemsError(one.problems, true);
    return [one.policy];
  }
  const all = validatePolicies(list);
  if (!all.ok) throw new PolicyProblemsError(all.problems, true);
  return all.policies;
}
