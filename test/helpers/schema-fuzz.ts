/**
 * fast-check arbitraries driven by the route schemas (src/server/http/routes/schemas.ts): `valid`
 * walks a JSON schema (as TypeBox emits it) and produces values it accepts, and `mutated`
 * breaks such a value in one of the ways a careless or hostile client would: a wrong type,
 * an unknown or a missing field, an odd string, deep nesting, a huge value.
 */
import fc from 'fast-check';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Schema = Record<string, unknown>;

/** Strings that names, labels and other fields have to survive. */
export const ODD_STRINGS: readonly string[] = [
  '',
  ' ',
  'a\ud800',
  '\udc00b',
  'a\u0000b',
  'row\nforged\t10.0.0.9',
  '\u001b[31mred',
  '\u0085',
  '10.112.0.3',
  '../../etc',
  '%2F%00',
  '__proto__',
  'constructor',
  'ä',
  '😀',
  '-leading',
  'trailing.',
  'x'.repeat(254),
  'y'.repeat(70_000),
];

/** Values by field name, so that a share of the valid bodies refer to what exists. */
const HINTS: Record<string, fc.Arbitrary<Json>> = {
  host: fc.constantFrom('h1', 'h1', 'h2', 'nope'),
  ip: fc.oneof(
    fc.constantFrom('192.168.0.1', '192.168.0.2', '10.0.0.5', '0.0.0.0', '255.255.255.255'),
    fc.ipV4(),
    fc.nat(255).map((n) => `192.168.1.${n}`),
  ),
  cidr: fc.oneof(
    // Small networks: a topology update carves every block of them.
    fc.constantFrom('10.0.0.0/24', '10.0.1.0/24', '10.0.0.0/28', '10.1.0.0/24', '10.0.0.1/24'),
    fc.tuple(fc.nat(255), fc.integer({ min: 22, max: 32 })).map(([n, p]) => `10.${n}.0.0/${p}`),
  ),
  tenant: fc.constantFrom('', 't', 'web', 'default'),
  tenant_id: fc.constantFrom('t', 'web'),
  networks: fc.constant(['net1']),
};

const NAME = fc.stringMatching(/^[a-z][a-z0-9-]{0,12}[a-z0-9]$/);
const LABEL = fc.stringMatching(/^[a-z][a-z0-9./_-]{0,8}$/);

function stringOf(s: Schema): fc.Arbitrary<Json> {
  switch (s['format']) {
    case 'romana-name':
    case 'romana-address-name':
    case 'romana-segment':
    case 'romana-group-name':
      return fc.oneof(NAME, fc.constantFrom('net1', 'rack-1', 'h1', 'pod-a'));
    case 'romana-tenant':
      return fc.constantFrom('t', 'web', 'default');
    case 'romana-lookup':
      return fc.oneof(NAME, fc.constantFrom('h1', 'net1', '10.0.0.0'));
    case 'romana-label':
    case 'romana-label-key':
      return LABEL;
    case 'k8s-namespace':
      return fc.oneof(fc.constantFrom('shop', 'default', 'kube-system'), NAME);
    case 'k8s-pod-name':
      return fc.oneof(NAME, fc.constantFrom('web-0', 'web-0.shop'));
    case 'k8s-uid':
      return fc.oneof(fc.uuid(), fc.constantFrom('u1'));
    case 'k8s-label-value':
      return fc.oneof(fc.constant(''), fc.stringMatching(/^[a-z0-9]([a-z0-9._-]{0,8}[a-z0-9])?$/));
    case 'k8s-port-name':
      return fc.constantFrom('http', 'dns-udp', 'metrics', 'h2c');
    default:
      return fc.string({ maxLength: 20 });
  }
}

/**
 * Values `schema` accepts; `field` is the property name (for hints); `$defs` of cyclic
 * schemas are followed up to `depth` levels.
 */
export function valid(
  schema: Schema,
  field = '',
  defs: Record<string, Schema> = {},
  depth = 0,
): fc.Arbitrary<Json> {
  const hint = HINTS[field];
  if (hint !== undefined && !('anyOf' in schema)) return hint;
  if (schema['$defs'] !== undefined)
    defs = { ...defs, ...(schema['$defs'] as Record<string, Schema>) };
  if (typeof schema['$ref'] === 'string') {
    const target = defs[schema['$ref']];
    if (target === undefined) throw new Error(`unknown $ref ${schema['$ref']}`);
    return valid(target, field, defs, depth + 1);
  }
  if (Array.isArray(schema['enum'])) return fc.constantFrom(...(schema['enum'] as Json[]));
  if (Array.isArray(schema['anyOf'])) {
    return fc.oneof(...(schema['anyOf'] as Schema[]).map((s) => valid(s, field, defs, depth)));
  }
  switch (schema['type']) {
    case 'null':
      return fc.constant(null);
    case 'boolean':
      return fc.boolean();
    case 'integer':
      return fc.integer({
        min: (schema['minimum'] as number | undefined) ?? -5,
        max: (schema['maximum'] as number | undefined) ?? 40,
      });
    case 'number':
      return fc.double({
        min: (schema['minimum'] as number | undefined) ?? -5,
        max: (schema['maximum'] as number | undefined) ?? 40,
        noNaN: true,
        noDefaultInfinity: true,
      });
    case 'string':
      return stringOf(schema);
    case 'array':
      return arrayOf(schema, field, defs, depth);
    case 'object':
      return objectOf(schema, defs, depth);
    default:
      throw new Error(`schema without a type: ${JSON.stringify(schema).slice(0, 100)}`);
  }
}

function arrayOf(
  schema: Schema,
  field: string,
  defs: Record<string, Schema>,
  depth: number,
): fc.Arbitrary<Json> {
  const items = schema['items'];
  if (Array.isArray(items)) {
    return fc.tuple(...(items as Schema[]).map((s) => valid(s, field, defs, depth)));
  }
  const min = (schema['minItems'] as number | undefined) ?? 0;
  // Nested groups: two levels, then empty lists (the arbitrary is built eagerly).
  if (typeof (items as Schema)['$ref'] === 'string' && depth >= 2) return fc.constant([]);
  return fc.array(valid(items as Schema, '', defs, depth), {
    minLength: min,
    maxLength: Math.max(min, 3),
  });
}

function objectOf(schema: Schema, defs: Record<string, Schema>, depth: number): fc.Arbitrary<Json> {
  const pattern = schema['patternProperties'] as Record<string, Schema> | undefined;
  if (pattern !== undefined) {
    const value = Object.values(pattern)[0]!;
    return fc.dictionary(LABEL, valid(value, '', defs, depth) as fc.Arbitrary<string>, {
      maxKeys: 3,
    });
  }
  const props = (schema['properties'] as Record<string, Schema> | undefined) ?? {};
  if (Object.keys(props).length === 0) {
    return fc.dictionary(LABEL, fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>, {
      maxKeys: 3,
    });
  }
  const required = (schema['required'] as string[] | undefined) ?? [];
  const model: Record<string, fc.Arbitrary<Json>> = {};
  for (const [k, s] of Object.entries(props)) model[k] = valid(s, k, defs, depth);
  return fc.record(model, { requiredKeys: required }) as fc.Arbitrary<Json>;
}

/** Every path into a JSON value (the root is `[]`). */
function paths(v: Json, at: Array<string | number> = [], out: Array<Array<string | number>> = []) {
  out.push(at);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, i], out));
  else if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) paths(x, [...at, k], out);
  }
  return out;
}

function getAt(v: Json, at: Array<string | number>): Json {
  let cur = v;
  for (const k of at) cur = (cur as Record<string | number, Json>)[k]!;
  return cur;
}

function setAt(v: Json, at: Array<string | number>, value: Json | undefined): Json {
  if (at.length === 0) return value ?? null;
  const copy = structuredClone(v);
  const parent = getAt(copy, at.slice(0, -1)) as Record<string | number, Json>;
  const key = at[at.length - 1]!;
  if (value === undefined) {
    if (Array.isArray(parent)) parent.splice(key as number, 1);
    else delete parent[key];
  } else {
    // defineProperty, so that a key `__proto__` is an own field of the JSON, as a client sends it.
    Object.defineProperty(parent, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return copy;
}

function nested(depth: number): Json {
  let v: Json = 1;
  for (let i = 0; i < depth; i++) v = i % 2 === 0 ? [v] : { a: v };
  return v;
}

/** What a mutation did, for the assertions and the counterexample's report. */
export interface Mutation {
  kind: 'wrong-type' | 'extra-field' | 'missing-field' | 'odd-string' | 'deep' | 'huge';
  /** The path changed, as `a.0.b`. */
  path: string;
  body: Json;
}

const WRONG: fc.Arbitrary<Json> = fc.constantFrom<Json>(null, true, 0, -1, 1.5, 'x', [], {}, [1], {
  a: 1,
});
const HUGE: fc.Arbitrary<Json> = fc.constantFrom<Json>(
  1e308,
  -1e308,
  2 ** 53 + 2,
  -2147483649,
  'z'.repeat(1_100_000),
  Array.from({ length: 20_000 }, (_, i) => i),
);

/** A valid value of `schema`, then broken once. */
export function mutated(schema: object): fc.Arbitrary<Mutation> {
  return valid(schema as Schema).chain((body) => {
    const all = paths(body);
    const objects = all.filter((p) => {
      const v = getAt(body, p);
      return v !== null && typeof v === 'object' && !Array.isArray(v);
    });
    const keyed = all.filter((p) => p.length > 0 && typeof p[p.length - 1] === 'string');
    const strings = all.filter((p) => typeof getAt(body, p) === 'string');
    const at = (list: Array<Array<string | number>>) =>
      fc.constantFrom(...(list.length > 0 ? list : [[]]));
    const show = (p: Array<string | number>) => p.join('.');
    const options: Array<fc.Arbitrary<Mutation>> = [
      fc
        .tuple(at(all), WRONG)
        .map(([p, w]) => ({ kind: 'wrong-type' as const, path: show(p), body: setAt(body, p, w) })),
      fc
        .tuple(
          at(objects),
          fc.constantFrom('port', 'cidrr', 'asignment', 'extra', '__proto__', 'x\ud800'),
          fc.jsonValue({ maxDepth: 1 }),
        )
        .map(([p, k, v]) => ({
          kind: 'extra-field' as const,
          path: show([...p, k]),
          body: setAt(body, [...p, k], v as Json),
        })),
      fc.tuple(at(all), fc.integer({ min: 70, max: 400 })).map(([p, d]) => ({
        kind: 'deep' as const,
        path: show(p),
        body: setAt(body, p, nested(d)),
      })),
      fc
        .tuple(at(all), HUGE)
        .map(([p, h]) => ({ kind: 'huge' as const, path: show(p), body: setAt(body, p, h) })),
    ];
    if (keyed.length > 0) {
      options.push(
        at(keyed).map((p) => ({
          kind: 'missing-field' as const,
          path: show(p),
          body: setAt(body, p, undefined),
        })),
      );
    }
    if (strings.length > 0) {
      options.push(
        fc.tuple(at(strings), fc.constantFrom(...ODD_STRINGS)).map(([p, s]) => ({
          kind: 'odd-string' as const,
          path: show(p),
          body: setAt(body, p, s),
        })),
      );
    }
    return fc.oneof(...options);
  });
}
