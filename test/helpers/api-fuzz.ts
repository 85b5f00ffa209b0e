/**
 * The checks of romanad's API fuzz tests, for any way of reaching romanad: in process
 * (src/server/http/fuzz.test.ts, fastify's inject on the memory store) or over HTTP to a real
 * process on its embedded store (test/e2e/romanad-fuzz.test.ts). Properties of every request:
 * never a 5xx (but the documented 507 of a full network); every error is our error body and a
 * 400/422 names the field; after a refusal the store revision and every read are unchanged.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Type } from 'typebox';
import { SimulateBody } from '../../src/server/http/routes/advisor.ts';
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
} from '../../src/server/http/routes/schemas.ts';
import { type Mutation, mutated, ODD_STRINGS } from './schema-fuzz.ts';

export type Method = 'POST' | 'PUT' | 'PATCH' | 'GET' | 'DELETE';

/** How the checks reach romanad. */
export interface FuzzTarget {
  /**
   * Sends one request. Over a real connection, status `CUT_OFF`: the server closed the
   * connection while a body above its size limit was still being sent, so its 413 could be
   * lost with the reset.
   */
  send(
    method: Method,
    url: string,
    payload: string | undefined,
    contentType: string,
  ): Promise<{ status: number; body: string }>;
  /** The store revision and every list a client can read, as one string. */
  observe(): Promise<{ revision: number; reads: string }>;
}

/**
 * The status a target answers when the server cut the connection while a body larger than its
 * limit was being sent (no answer to read: the reset may discard it). Still a refusal: the
 * checks that nothing changed apply; the body checks cannot.
 */
export const CUT_OFF = 0;

/** A 400 or 422 names the field: some line of `details` starts with a path and a colon. */
export const NAMES_A_FIELD =
  /(^|\n)(?:[\w$.-]|\[(?:\d+|"(?:[^"\\]|\\.)*")\])+( key "(?:[^"\\]|\\.)*")?: /;

export interface FuzzCounts {
  cases: number;
  accepted: number;
  refused: Map<number, number>;
}

/** A line for the test's log: cases, accepted, refusals per status. */
export function describeCounts(name: string, c: FuzzCounts): string {
  const refused = [...c.refused].map(([s, n]) => `${s}: ${n}`).join(', ');
  return `${name}: ${c.cases} cases, ${c.accepted} accepted, refused ${refused}`;
}

/** Sends one request, asserts the properties, returns the status. */
export type Check = (
  method: Method,
  url: string,
  payload?: string,
  contentType?: string,
) => Promise<number>;

/** The checker: sends one request, asserts the properties, returns the status. */
export function fuzzChecker(target: FuzzTarget, counts: FuzzCounts): Check {
  /** What the reads answered after the last request that was accepted. */
  let state: { revision: number; reads: string } | undefined;
  const once = async (method: Method, url: string, payload: string | undefined, ct: string) => {
    state ??= await target.observe();
    counts.cases++;
    const res = await target.send(method, url, payload, ct);
    const where = `${method} ${url.slice(0, 200)} ${String(payload).slice(0, 300)}`;
    // 507 is the documented answer to a valid allocation when the network is full, not a fault.
    const full = res.status === 507 && res.body.includes('"NoAvailableIP"');
    assert.ok(res.status < 500 || full, `${res.status} for ${where}: ${res.body}`);
    if (res.status < 400) {
      counts.accepted++;
      state = undefined;
      return res.status;
    }
    counts.refused.set(res.status, (counts.refused.get(res.status) ?? 0) + 1);
    if (res.status === CUT_OFF) return unchanged(state, where);
    const body = JSON.parse(res.body) as Record<string, unknown>;
    assert.equal(body['status_code'], res.status, where);
    assert.equal(typeof body['code'], 'string', where);
    assert.equal(body['see_also'], 'docs/api.md#errors', where);
    const details = String(body['details']);
    // A 400, 413, 414 or 415 names the field (or the body, path, header); a 422 names the field
    // or the object it is about (e.g. the address a topology update could not keep).
    const named = [400, 413, 414, 415].includes(res.status);
    if (named || (res.status === 422 && body['resource_id'] === undefined)) {
      assert.match(details, NAMES_A_FIELD, `${where}: details name no field: ${details}`);
    }
    return unchanged(state, where).then(() => res.status);
  };
  /** After a refusal: the revision and every read are as they were before it. */
  const unchanged = async (before: { revision: number; reads: string }, where: string) => {
    const now = await target.observe();
    assert.equal(now.revision, before.revision, `revision moved on a refusal: ${where}`);
    if (now.reads !== before.reads) {
      let i = 0;
      while (now.reads[i] === before.reads[i]) i++;
      assert.fail(
        `a read changed on a refusal: ${where}\nbefore: …${before.reads.slice(i - 150, i + 150)}\nafter:  …${now.reads.slice(i - 150, i + 150)}`,
      );
    }
    return CUT_OFF;
  };
  return async (
    method: Method,
    url: string,
    payload?: string,
    contentType = 'application/json',
  ): Promise<number> => {
    try {
      return await once(method, url, payload, contentType);
    } catch (err) {
      // fast-check reports the counterexample; this says what was wrong with it.
      console.error(String(err).slice(0, 2000));
      throw err;
    }
  };
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

/**
 * Registers the fuzz tests (run inside a `describe`): mutated bodies for every route that takes
 * one, odd paths and queries, raw bodies; `runs` cases each. The state they expect: host h1
 * and address a1 (pod shop/web-0), as both fuzz tests seed it.
 */
export function fuzzTests(check: Check, runs: number): void {
  for (const t of TARGETS) {
    test(`${t.method} ${t.url}: mutated bodies from its schema`, async () => {
      await fc.assert(
        fc.asyncProperty(mutated(t.schema), async (m: Mutation) => {
          const status = await check(t.method, t.url, JSON.stringify(m.body));
          // An unknown field in the body's top object is always refused.
          if (m.kind === 'extra-field' && !m.path.includes('.')) assert.ok(status >= 400, m.path);
        }),
        { numRuns: runs, endOnFailure: true, includeErrorInReport: true },
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
      { numRuns: runs, endOnFailure: true, includeErrorInReport: true },
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
      { numRuns: runs, endOnFailure: true, includeErrorInReport: true },
    );
  });
}

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
