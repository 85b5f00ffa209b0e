/**
 * The API fuzzed from its own schemas (issue 11): valid bodies generated from the route
 * schemas, broken by fast-check (wrong types, unknown and missing fields, odd strings, deep
 * nesting, huge values), plus odd paths and raw bodies, sent to the real service on the memory
 * store. Properties: never a 5xx; every error is our error body and a 400/422 names the field;
 * after every refused request the store revision and every list are unchanged.
 * `FUZZ_RUNS` (default 250 per property, 3,500 cases in all) sets the count.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { type FaultyService, realService } from '../../../test/helpers/service.ts';
import { type Mutation, mutated, ODD_STRINGS } from '../../../test/helpers/schema-fuzz.ts';
import { Type } from 'typebox';
import { buildApp } from './app.ts';
import { SimulateBody } from './routes/advisor.ts';
import {
  AllocateBody,
  BlackoutBody,
  HostBody,
  HostPatchBody,
  NamespaceBody,
  PodBody,
  PolicyShape,
  TopologyBody,
  VipBody,
} from './routes/schemas.ts';

const RUNS = Number(process.env['FUZZ_RUNS'] ?? 250);

let service: FaultyService;
let app: FastifyInstance;
/** What the reads answered after the last request that was accepted. */
let state: { revision: number; reads: string } | undefined;
const counts = { cases: 0, accepted: 0, refused: new Map<number, number>() };

before(async () => {
  // A small network (16 blocks), so that reading every list after every case stays cheap.
  service = await realService({
    initialTopology: {
      networks: [{ name: 'net1', cidr: '10.0.0.0/24', block_mask: 28 }],
      topologies: [{ networks: ['net1'], map: [{ name: 'rack-1' }, { name: 'rack-2' }] }],
    },
  });
  await service.addHost({ name: 'h1', ip: '192.168.0.1' });
  // An address whose pod link the fuzzed PUT /addresses/a1/pod replaces.
  await service.allocate({ name: 'a1', host: 'h1', pod: { namespace: 'shop', name: 'web-0' } });
  app = buildApp(service);
  await app.ready();
});

after(async () => {
  await app.close();
  await service.close();
  const refused = [...counts.refused].map(([s, n]) => `${s}: ${n}`).join(', ');
  console.log(`fuzz: ${counts.cases} cases, ${counts.accepted} accepted, refused ${refused}`);
});

/**
 * Every list a client can read, as the GET routes answer them (read from the service, not
 * over inject, to keep 2,000 cases well under a minute).
 */
async function reads(): Promise<string> {
  return JSON.stringify([
    service.listHosts(),
    service.listAddresses(),
    service.listPolicies(),
    service.getTopology(),
    service.listBlocks(),
    service.listVips(),
    service.listBlackouts(),
    service.listNetworks(),
    service.listNamespaces(),
  ]);
}

/** A 400 or 422 names the field: some line of `details` starts with a path and a colon. */
const NAMES_A_FIELD = /(^|\n)(?:[\w$.-]|\[(?:\d+|"(?:[^"\\]|\\.)*")\])+( key "(?:[^"\\]|\\.)*")?: /;

/** Sends one request and checks the properties; returns the status. */
async function check(
  method: 'POST' | 'PUT' | 'PATCH' | 'GET' | 'DELETE',
  url: string,
  payload?: string,
  contentType = 'application/json',
): Promise<number> {
  try {
    return await checkOnce(method, url, payload, contentType);
  } catch (err) {
    // fast-check reports the counterexample; this says what was wrong with it.
    console.error(String(err).slice(0, 2000));
    throw err;
  }
}

async function checkOnce(
  method: 'POST' | 'PUT' | 'PATCH' | 'GET' | 'DELETE',
  url: string,
  payload: string | undefined,
  contentType: string,
): Promise<number> {
  state ??= { revision: service.revision(), reads: await reads() };
  counts.cases++;
  const res = await app.inject({
    method,
    url,
    ...(payload === undefined ? {} : { payload, headers: { 'content-type': contentType } }),
  });
  const where = `${method} ${url.slice(0, 200)} ${String(payload).slice(0, 300)}`;
  // 507 is the documented answer to a valid allocation when the network is full, not a fault.
  const full = res.statusCode === 507 && res.body.includes('"NoAvailableIP"');
  assert.ok(res.statusCode < 500 || full, `${res.statusCode} for ${where}: ${res.body}`);
  if (res.statusCode < 400) {
    counts.accepted++;
    state = undefined;
    return res.statusCode;
  }
  counts.refused.set(res.statusCode, (counts.refused.get(res.statusCode) ?? 0) + 1);
  const body = JSON.parse(res.body) as Record<string, unknown>;
  assert.equal(body['status_code'], res.statusCode, where);
  assert.equal(typeof body['code'], 'string', where);
  assert.equal(body['see_also'], 'docs/api.md#errors', where);
  const details = String(body['details']);
  // A 400 names the field; a 422 names the field or the object it is about (e.g. the address
  // a topology update could not keep).
  if (res.statusCode === 400 || (res.statusCode === 422 && body['resource_id'] === undefined)) {
    assert.match(details, NAMES_A_FIELD, `${where}: details name no field: ${details}`);
  }
  assert.equal(service.revision(), state.revision, `revision moved on a refusal: ${where}`);
  const now = await reads();
  if (now !== state.reads) {
    let i = 0;
    while (now[i] === state.reads[i]) i++;
    assert.fail(
      `a read changed on a refusal: ${where}\nbefore: …${state.reads.slice(i - 150, i + 150)}\nafter:  …${now.slice(i - 150, i + 150)}`,
    );
  }
  return res.statusCode;
}

interface Target {
  method: 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  schema: object;
}

/** What `DELETE /policies` takes (checked by its handler, not by a route schema). */
const PolicyDeleteBody = Type.Object(
  { id: Type.String({ format: 'romana-lookup', maxLength: 1024 }) },
  { additionalProperties: false },
);

const TARGETS: Target[] = [
  { method: 'POST', url: '/address', schema: AllocateBody },
  { method: 'POST', url: '/hosts', schema: HostBody },
  { method: 'PATCH', url: '/hosts/h1', schema: HostPatchBody },
  { method: 'POST', url: '/topology', schema: TopologyBody },
  { method: 'POST', url: '/blackouts', schema: BlackoutBody },
  { method: 'PUT', url: '/vips/web', schema: VipBody },
  { method: 'POST', url: '/policies', schema: PolicyShape },
  { method: 'PUT', url: '/addresses/a1/pod', schema: PodBody },
  { method: 'PUT', url: '/namespaces/shop', schema: NamespaceBody },
  { method: 'POST', url: '/topology?dryRun=true', schema: TopologyBody },
  { method: 'DELETE', url: '/policies', schema: PolicyDeleteBody },
  { method: 'POST', url: '/topology/simulate', schema: SimulateBody },
];

describe('the API under fuzzing: no 5xx, every refusal names its field and changes nothing', () => {
  for (const t of TARGETS) {
    test(`${t.method} ${t.url}: mutated bodies from its schema`, async () => {
      await fc.assert(
        fc.asyncProperty(mutated(t.schema), async (m: Mutation) => {
          const status = await check(t.method, t.url, JSON.stringify(m.body));
          // An unknown field in the body's top object is always refused.
          if (m.kind === 'extra-field' && !m.path.includes('.')) assert.ok(status >= 400, m.path);
        }),
        { numRuns: RUNS, endOnFailure: true },
      );
    });
  }

  test('odd paths and queries, on every route that takes one', async () => {
    const raw = fc.oneof(
      fc.constantFrom(...ODD_STRINGS.map((s) => s.slice(0, 6000))).map((s) => encode(s)),
      fc.constantFrom('%ZZ', '%ED%A0%80', '%00', '%', 'a'.repeat(5000), '..%2F..', '%C0%AF'),
    );
    const route = fc.constantFrom(
      (x: string) => ['GET', `/hosts/${x}`] as const,
      (x: string) => ['DELETE', `/hosts/${x}?force=true`] as const,
      (x: string) => ['PATCH', `/hosts/${x}`] as const,
      (x: string) => ['GET', `/networks/${x}/blocks`] as const,
      (x: string) => ['GET', `/address?addressName=${x}`] as const,
      (x: string) => ['DELETE', `/address?addressName=${x}`] as const,
      (x: string) => ['GET', `/addresses?host=${x}`] as const,
      (x: string) => ['DELETE', `/blackouts?cidr=${x}`] as const,
      (x: string) => ['GET', `/policies/${x}`] as const,
      (x: string) => ['DELETE', `/policies/${x}`] as const,
      (x: string) => ['GET', `/vips/${x}`] as const,
      (x: string) => ['PUT', `/vips/${x}`] as const,
      (x: string) => ['DELETE', `/vips/${x}`] as const,
      (x: string) => ['GET', `/watch?revision=${x}`] as const,
      (x: string) => ['PUT', `/addresses/${x}/pod`] as const,
      (x: string) => ['DELETE', `/addresses/${x}/pod`] as const,
      (x: string) => ['GET', `/namespaces/${x}`] as const,
      (x: string) => ['PUT', `/namespaces/${x}`] as const,
      (x: string) => ['DELETE', `/namespaces/${x}`] as const,
    );
    await fc.assert(
      fc.asyncProperty(route, raw, async (r, x) => {
        const [method, url] = r(x);
        const body =
          method === 'PATCH'
            ? '{"tags":{}}'
            : method === 'PUT'
              ? url.startsWith('/vips/')
                ? '{"ip":"192.168.5.5","host":"h1"}'
                : url.startsWith('/addresses/')
                  ? '{"namespace":"shop","name":"web-1"}'
                  : '{"labels":{"a":"b"}}'
              : undefined;
        await check(method, url, body);
      }),
      { numRuns: RUNS, endOnFailure: true },
    );
  });

  test('raw bodies: broken JSON, wrong content types, huge and deeply nested documents', async () => {
    const text = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.constantFrom('{', '{"name":', '[]', 'null', '"x"', '{"name":"a","host":"h1"}}', '\u0000'),
      fc.integer({ min: 65, max: 20_000 }).map((n) => '['.repeat(n) + ']'.repeat(n)),
      fc.integer({ min: 65, max: 5_000 }).map((n) => '{"a":'.repeat(n) + '1' + '}'.repeat(n)),
      fc.constant(`{"name":"${'a'.repeat(1_100_000)}","host":"h1"}`),
    );
    const type = fc.constantFrom(
      'application/json',
      'text/plain',
      'application/xml',
      'application/json; charset=latin1',
    );
    const url = fc.constantFrom('/address', '/hosts', '/topology', '/policies', '/blackouts');
    await fc.assert(
      fc.asyncProperty(url, text, type, async (u, t, ct) => {
        const status = await check('POST', u, t, ct);
        assert.ok(status >= 400 || t.startsWith('{"name":"a"'), `${status} for ${t.slice(0, 80)}`);
      }),
      { numRuns: RUNS, endOnFailure: true },
    );
  });
});

/** Percent-encodes UTF-16 code units as UTF-8 would, lone surrogates included (as WTF-8). */
function encode(s: string): string {
  let out = '';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (/[A-Za-z0-9._~-]/.test(ch)) out += ch;
    else if (cp < 0x80) out += `%${cp.toString(16).padStart(2, '0').toUpperCase()}`;
    else {
      const bytes =
        cp < 0x800
          ? [0xc0 | (cp >> 6), 0x80 | (cp & 63)]
          : cp < 0x10000
            ? [0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63)]
            : [
                0xf0 | (cp >> 18),
                0x80 | ((cp >> 12) & 63),
                0x80 | ((cp >> 6) & 63),
                0x80 | (cp & 63),
              ];
      out += bytes.map((b) => `%${b.toString(16).toUpperCase()}`).join('');
    }
  }
  return out;
}
