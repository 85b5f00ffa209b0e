import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  compacted,
  ERROR_CATALOGUE,
  ERROR_CODES,
  httpStatusOf,
  invalidTopology,
  RomanaError,
} from './errors.ts';
import { FRAMEWORK_STATUS, toHttpFailure } from './server/http/routes/errors.ts';

const API_DOC = readFileSync(new URL('../docs/api.md', import.meta.url), 'utf8');

/** The rows `| status | `code` | when |` of the table under `## Errors` in docs/api.md. */
function documentedPairs(): Set<string> {
  const section = API_DOC.split(/^## Errors$/m)[1]!.split(/^## /m)[0]!;
  const pairs = new Set<string>();
  for (const m of section.matchAll(/^\| (\d{3}) \| `(\w+)` \|/gm)) pairs.add(`${m[1]} ${m[2]}`);
  return pairs;
}

describe('the error catalogue', () => {
  it('is documented: docs/api.md lists every status of every code the API can answer', () => {
    const documented = documentedPairs();
    const missing = ERROR_CODES.flatMap((code) =>
      ERROR_CATALOGUE[code].statuses.map((s) => `${s} ${code}`),
    ).filter((pair) => !documented.has(pair));
    assert.deepEqual(missing, [], 'add these rows to the table in docs/api.md#errors');
  });

  it('documents no code or status the catalogue does not have', () => {
    const known = new Set(
      ERROR_CODES.flatMap((code) => ERROR_CATALOGUE[code].statuses.map((s) => `${s} ${code}`)),
    );
    assert.deepEqual(
      [...documentedPairs()].filter((p) => !known.has(p)),
      [],
    );
  });

  it('gives every code its main status first in its list of statuses', () => {
    for (const code of ERROR_CODES) {
      const spec = ERROR_CATALOGUE[code];
      assert.equal(spec.statuses[0], spec.status, code);
      assert.equal(httpStatusOf(new RomanaError(code, 'x')), spec.status, code);
    }
  });

  it('answers every code with the catalogue’s status over HTTP', () => {
    for (const code of ERROR_CODES.filter((c) => c !== 'Internal')) {
      const f = toHttpFailure(new RomanaError(code, `a ${code}`), 'req-1');
      assert.equal(f.status, ERROR_CATALOGUE[code].status, code);
      assert.equal(f.body.code, code);
      assert.equal(f.body.status_code, f.status);
    }
    assert.equal(httpStatusOf(invalidTopology('bad')), 422);
  });

  it('answers fastify’s own refusals only with statuses listed for InvalidInput', () => {
    const listed: readonly number[] = ERROR_CATALOGUE.InvalidInput.statuses;
    for (const [fastifyCode, status] of Object.entries(FRAMEWORK_STATUS)) {
      assert.ok(listed.includes(status), `${fastifyCode} → ${status}`);
    }
  });

  it('builds the Compacted error with its code, the revisions and what to do', () => {
    const e = compacted(5, 120);
    assert.equal(e.code, 'Compacted');
    assert.equal(httpStatusOf(e), 409);
    assert.equal(e.resourceId, '5');
    assert.match(e.message, /revision 5 is compacted: the oldest revision kept is 120; list/);
  });
});
