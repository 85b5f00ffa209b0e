/**
 * The JSON built from known fields is `JSON.stringify`'s, character for character: strings of
 * any UTF-16 content (quotes, backslashes, control characters, lone surrogates), both address
 * families, blocks with and without owner.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  addressViewJson,
  blockStateJson,
  type AddressView,
  type BlockState,
} from './ipam/index.ts';
import { jsonString, jsonStringOrNull } from './json-text.ts';
import { auditJson, type AuditRecord } from './server/http/request-log.ts';
import { storedAddressJson } from './server/state/keys.ts';

/** Mostly plain names, sometimes anything UTF-16 can hold. */
const text = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9._:/-]{0,20}$/),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.constantFrom('', '"', '\\', '\n', '\u0000', '\u007f', '\ud800', 'é', '</script>'),
);

const ip = fc.record({ ip: text, network: text, block: text });

// Built in the order the engine's views have their fields, which JSON.stringify follows.
const view: fc.Arbitrary<AddressView> = fc
  .record({
    name: text,
    host: text,
    tenant: text,
    segment: text,
    ips: fc.array(ip, { minLength: 1, maxLength: 2 }),
  })
  .map(({ name, host, tenant, segment, ips }) => ({
    name,
    ip: ips[0]!.ip,
    host,
    tenant,
    segment,
    network: ips[0]!.network,
    block: ips[0]!.block,
    ips,
  }));

test('jsonString quotes every string as JSON.stringify does', () => {
  fc.assert(
    fc.property(text, (s) => {
      assert.equal(jsonString(s), JSON.stringify(s));
      assert.equal(jsonStringOrNull(s), JSON.stringify(s));
    }),
    { numRuns: 2000 },
  );
  assert.equal(jsonStringOrNull(null), 'null');
});

test('an address view, its stored value and a block state are JSON.stringify of the same', () => {
  fc.assert(
    fc.property(view, (v) => {
      assert.equal(addressViewJson(v), JSON.stringify(v));
      const stored: Record<string, unknown> = { ip: v.ip, host: v.host, network: v.network };
      if (v.ips.length > 1) stored['ips'] = v.ips.map((a) => ({ ip: a.ip, network: a.network }));
      assert.equal(storedAddressJson(v), JSON.stringify(stored));
    }),
    { numRuns: 500 },
  );
  const block: fc.Arbitrary<BlockState> = fc.record({
    owner: fc.option(text),
    host: fc.option(text),
    acquired: fc.nat(),
    released: fc.nat(),
    names: fc.array(fc.tuple(fc.nat({ max: 65535 }), text), { maxLength: 8 }),
  });
  fc.assert(
    fc.property(block, (b) => assert.equal(blockStateJson(b), JSON.stringify(b))),
    { numRuns: 500 },
  );
});

test('an audit record is JSON.stringify of it, in the order auditOf builds it', () => {
  const rec: fc.Arbitrary<AuditRecord> = fc
    .record({
      who: text,
      route: text,
      status: fc.integer({ min: 100, max: 599 }),
      role: fc.option(text, { nil: undefined }),
      object: fc.option(text, { nil: undefined }),
      code: fc.option(text, { nil: undefined }),
    })
    .map(({ who, route, status, role, object, code }) => {
      const r: AuditRecord = { who, route, status };
      if (role !== undefined) r.role = role;
      if (object !== undefined) r.object = object;
      if (code !== undefined) r.code = code;
      return r;
    });
  fc.assert(
    fc.property(rec, (r) => assert.equal(auditJson(r), JSON.stringify(r))),
    { numRuns: 500 },
  );
});
