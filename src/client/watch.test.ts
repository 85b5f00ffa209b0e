import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isCompacted } from './watch.ts';

describe('isCompacted', () => {
  const cases: Array<[string, { code?: string; details?: string }, boolean]> = [
    ['the Compacted code', { code: 'Compacted', details: 'revision 5 is compacted: …' }, true],
    ['an older romanad’s Conflict saying so', { code: 'Conflict', details: 'x compacted' }, true],
    ['another Conflict', { code: 'Conflict', details: 'host still holds addresses' }, false],
    ['another code whose text says compacted', { code: 'Internal', details: 'compacted' }, false],
    ['no code', { details: 'compacted' }, false],
  ];
  for (const [what, error, expected] of cases) {
    it(`is ${expected} for ${what}`, () => assert.equal(isCompacted(error), expected));
  }
});
